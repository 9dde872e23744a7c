import SpamtuneClassifier
import SpamtuneMail

@testable import SpamtuneDaemon

// The tests hand the store raw bytes; the daemon hands it the message it has parsed.
extension FeedbackStore {
    @discardableResult
    func record(_ bytes: [UInt8], label: Label, source: String, reporter: String = "unknown") throws -> FeedbackChange {
        try record(MailMessage(bytes: bytes), label: label, source: source, reporter: reporter)
    }

    @discardableResult
    func remove(_ bytes: [UInt8], label: Label? = nil) throws -> Bool { try remove(MailMessage(bytes: bytes), label: label) }

    func entry(for bytes: [UInt8]) throws -> FeedbackEntry? { try entry(for: MailMessage(bytes: bytes)) }
}

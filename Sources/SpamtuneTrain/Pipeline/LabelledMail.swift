import Foundation
import SpamtuneClassifier
import SpamtuneMail
import SpamtuneSupport

/// Mail labelled by the admin (folders given as ham or spam) and by users (spamtuned's
/// feedback store: TELL, Junk moves), as training examples. The same message labelled
/// twice counts once (by content hash); labelled both ways, its newest label wins.
enum LabelledMail {
    struct Item {
        let bytes: [UInt8]
        let label: Label
        let hash: [UInt8]
        let date: Date
        let source: String
    }

    /// Enough of a message for any text layout's token limit; the rest is not read.
    static let maximumBytes = 1 << 20

    static func collect(ham: [String], spam: [String], feedback: String?, log: TrainingLog) throws -> [Item] {
        var sources = ham.map { ($0, Label.ham) } + spam.map { ($0, Label.spam) }
        if let feedback {
            for label in Label.allCases {
                let path = (feedback as NSString).appendingPathComponent(label.name)
                if FileManager.default.fileExists(atPath: path) { sources.append((path, label)) }
            }
        }
        guard !sources.isEmpty else { return [] }
        var byHash: [[UInt8]: Item] = [:]
        var read = 0
        for (path, label) in sources {
            var reader: any MailboxReader
            do {
                reader = try Mailbox.open(path: path, maxMessageBytes: maximumBytes)
            } catch {
                throw TrainingError.data("labelled \(label.name) mail: \(error)")
            }
            var count = 0
            while let message = try reader.nextMessage() {
                count += 1
                let hash = SHA256.hash(message.bytes)
                let item = Item(bytes: message.bytes, label: label, hash: hash, date: modificationDate(message.source), source: "\(message.source)")
                if let existing = byHash[hash], existing.date > item.date { continue }
                byHash[hash] = item
            }
            log("labelled mail: \(count) \(label.name) message(s) from \(path)")
            read += count
        }
        let items = byHash.values.sorted { $0.hash.lexicographicallyPrecedes($1.hash) }
        if read > 0 {
            let spamCount = items.count { $0.label == .spam }
            log("labelled mail: \(items.count) distinct messages (\(spamCount) spam, \(items.count - spamCount) ham) after dropping \(read - items.count) duplicate(s)")
        }
        return items
    }

    private static func modificationDate(_ source: MailSource) -> Date {
        let path: String
        switch source {
        case let .file(p), let .maildir(p, _): path = p
        case let .mbox(p, _, _): path = p
        }
        return ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? .distantPast
    }
}

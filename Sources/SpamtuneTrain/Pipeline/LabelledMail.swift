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
        var labelledBothWays = 0
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
                if let existing = byHash[hash] {
                    if existing.label != item.label { labelledBothWays += 1 }
                    if existing.date > item.date { continue }
                }
                byHash[hash] = item
            }
            log("labelled mail: \(count) \(label.name) message(s) from \(path)")
            reportUnread(reader, count: count, path: path, what: "labelled mail", log: log)
            read += count
        }
        let items = byHash.values.sorted { $0.hash.lexicographicallyPrecedes($1.hash) }
        if read > 0 {
            let spamCount = items.count { $0.label == .spam }
            log("labelled mail: \(items.count) distinct messages (\(spamCount) spam, \(items.count - spamCount) ham) after dropping \(read - items.count) duplicate(s)")
        }
        if labelledBothWays > 0 {
            log.warning("labelled mail: \(labelledBothWays) message(s) labelled both ham and spam; each keeps its newest file's label")
        }
        return items
    }

    /// Says which files of a folder were not read as mail, and when a folder given as
    /// mail held none: either means the model learns from less than the admin gave it.
    static func reportUnread(_ reader: any MailboxReader, count: Int, path: String, what: String, log: TrainingLog) {
        let skipped = reader.skippedFiles
        if !skipped.isEmpty {
            let shown = skipped.prefix(3).map { ($0 as NSString).lastPathComponent }.joined(separator: ", ")
            log("\(what): skipped \(skipped.count) file(s) in \(path) that do not read as mail (no header with From, To, Subject, Date, Received or the like): \(shown)\(skipped.count > 3 ? ", ..." : "")")
        }
        if count == 0 { log.warning("\(what): no messages in \(path)") }
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

/// The site's mail without labels (`--unlabelled`): text for next-token pretraining, so
/// the model learns how this site's mail reads before it learns what is spam. A message
/// that is also a held-out example is left out: those stay unseen, text and label.
enum UnlabelledMail {
    /// Pretraining time grows with every message; past this many the rest is not read.
    static let maximumMessages = 10_000

    static func read(_ paths: [String], excluding heldOut: Set<[UInt8]>, log: TrainingLog) throws -> [[UInt8]] {
        var messages: [[UInt8]] = []
        var seen = Set<[UInt8]>()
        var skipped = 0
        for path in paths {
            var reader: any MailboxReader
            do {
                reader = try Mailbox.open(path: path, maxMessageBytes: LabelledMail.maximumBytes)
            } catch {
                throw TrainingError.data("unlabelled mail: \(error)")
            }
            var count = 0
            while messages.count < maximumMessages, let message = try reader.nextMessage() {
                count += 1
                let hash = SHA256.hash(message.bytes)
                guard !heldOut.contains(hash) else { skipped += 1; continue }
                if seen.insert(hash).inserted { messages.append(message.bytes) }
            }
            log("unlabelled mail: \(count) message(s) from \(path)")
            LabelledMail.reportUnread(reader, count: count, path: path, what: "unlabelled mail", log: log)
            if messages.count >= maximumMessages {
                log("unlabelled mail: read the first \(maximumMessages) messages; the rest is left for another run")
                break
            }
        }
        if skipped > 0 { log("unlabelled mail: \(skipped) message(s) left out: they are held-out validation or test examples") }
        return messages
    }
}

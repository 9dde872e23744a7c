import Foundation
import SpamtuneMail
import SpamtuneTestSupport
import Testing

@testable import SpamtuneDaemon

@Suite("Feedback store")
struct SpamdFeedbackStoreTests {
    let root: URL
    let store: FeedbackStore

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("spamtune-feedback-\(UUID().uuidString)")
        store = try FeedbackStore(directory: root.appendingPathComponent("feedback"), maxMessageBytes: 4096)
    }

    func message(_ subject: String) -> [UInt8] {
        Array("From: a@example.test\r\nSubject: \(subject)\r\n\r\nBody of \(subject)\r\n".utf8)
    }

    @Test func recordsIntoTwoMaildirsTheMailboxReaderReads() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(try store.record(message("one"), label: .spam, source: "spamd-tell") == .added)
        #expect(try store.record(message("two"), label: .ham, source: "maildir-junk") == .added)
        #expect(try store.counts() == FeedbackCounts(spam: 1, ham: 1))

        var spam = try MaildirReader(path: store.maildir(for: .spam).path)
        let messages = try spam.readAll()
        #expect(messages.map(\.bytes) == [message("one")])
        // Nothing is left behind in tmp/.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: store.maildir(for: .spam).appendingPathComponent("tmp").path)
        #expect(leftovers.isEmpty)

        let entries = try store.entries()
        #expect(Set(entries.map(\.label)) == [.spam, .ham])
        let spamEntry = try #require(entries.first { $0.label == .spam })
        #expect(spamEntry.source == "spamd-tell")
        #expect(spamEntry.url.deletingLastPathComponent().lastPathComponent == "new")
        #expect(abs(spamEntry.date.timeIntervalSinceNow) < 60)
    }

    @Test func theSameMessageTwiceIsOneEntryAndTheNewestLabelWins() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let bytes = message("bulk")
        #expect(try store.record(bytes, label: .spam, source: "spamd-tell") == .added)
        #expect(try store.record(bytes, label: .spam, source: "spamd-tell") == .unchanged)
        #expect(try store.counts() == FeedbackCounts(spam: 1, ham: 0))
        #expect(try store.record(bytes, label: .ham, source: "maildir") == .relabelled(from: .spam))
        #expect(try store.counts() == FeedbackCounts(spam: 0, ham: 1))
        #expect(try store.entry(for: bytes)?.label == .ham)
        #expect(try store.entry(for: bytes)?.source == "maildir")
    }

    @Test func removeForgetsAMessage() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let bytes = message("forget me")
        try store.record(bytes, label: .spam, source: "x")
        #expect(try store.remove(bytes, label: .ham) == false)
        #expect(try store.remove(bytes) == true)
        #expect(try store.remove(bytes) == false)
        #expect(try store.entry(for: bytes) == nil)
        #expect(try store.counts().total == 0)
    }

    @Test func refusesEmptyAndOversizedMessages() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(throws: FeedbackError.emptyMessage) { try store.record([], label: .ham, source: "x") }
        let big = [UInt8](repeating: UInt8(ascii: "a"), count: 5000)
        #expect(throws: FeedbackError.messageTooLarge(bytes: 5000, limit: 4096)) { try store.record(big, label: .spam, source: "x") }
        #expect(try store.counts().total == 0)
    }

    @Test func hostileSourceNamesStayInTheirDirectory() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try store.record(message("s"), label: .spam, source: "../../etc/passwd\nx")
        let entry = try #require(try store.entries().first)
        #expect(entry.url.deletingLastPathComponent().path == store.maildir(for: .spam).appendingPathComponent("new").path)
        #expect(!entry.source.contains("/"))
    }

    @Test func verdictHeadersAreStrippedSoDeliveredAndOriginalAreOneEntry() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let stripping = try FeedbackStore(
            directory: root.appendingPathComponent("stripping"), strippedFieldNames: ["X-Spam-Flag", "X-Spam-Status"])
        let original = Array("From: a@example.test\nSubject: hi\n\nbody\n".utf8)
        let delivered = Array("X-Spam-Flag: YES\nX-Spam-Status: Yes, score=9.1\n\trequired=5.0\nFrom: a@example.test\nSubject: hi\n\nbody\n".utf8)
        #expect(try stripping.record(delivered, label: .spam, source: "spamd-tell") == .added)
        #expect(try stripping.record(original, label: .ham, source: "maildir") == .relabelled(from: .spam))
        let entry = try #require(try stripping.entry(for: delivered))
        #expect(try Array(Data(contentsOf: entry.url)) == original)
        #expect(try stripping.remove(delivered) == true)
    }

    @Test func concurrentRelabelsLeaveExactlyOneEntry() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let bytes = message("contested")
        DispatchQueue.concurrentPerform(iterations: 40) { index in
            _ = try? store.record(bytes, label: index % 2 == 0 ? .spam : .ham, source: "race")
        }
        #expect(try store.counts().total == 1)
    }
}

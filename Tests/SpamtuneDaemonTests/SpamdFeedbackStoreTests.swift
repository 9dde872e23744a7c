import Foundation
import SpamtuneControl
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

    @Test func eachEntryRecordsItsReporter() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try store.record(message("r"), label: .spam, source: "spamd-tell", reporter: "user-alice")
        try store.record(message("t"), label: .ham, source: "spamd-tell", reporter: "ip-fd00--1")
        try store.record(message("u"), label: .ham, source: "spamd-tell", reporter: "../evil:2,S")
        let reporters = Set(try store.entries().map(\.reporter))
        #expect(reporters == ["user-alice", "ip-fd00--1", ".._evil_2_S"])
        // Entries stored before reporters were recorded read as unknown.
        let old = store.maildir(for: .spam).appendingPathComponent("new/\(String(repeating: "a", count: 64)).spamd-tell")
        try Data(message("old")).write(to: old)
        #expect(try store.entries().first { $0.url == old }?.reporter == "unknown")
    }

    @Test func aFloodStaysWithinTheBoundsAndTheOldestGoFirst() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let lines = LogCollector()
        let bounded = try FeedbackStore(
            directory: root.appendingPathComponent("bounded"),
            limits: FeedbackLimits(maxMessages: 10, maxBytes: 100_000, maxPerReporter: 4), log: lines.logger)
        // One reporter floods: it only ever holds its quota, its newest.
        for index in 0..<30 {
            try bounded.record(message("flood \(index)"), label: .spam, source: "spamd-tell", reporter: "user-mallory")
        }
        var entries = try bounded.entries()
        #expect(entries.count == 4)
        #expect(try bounded.entry(for: message("flood 29")) != nil)
        #expect(try bounded.entry(for: message("flood 25")) == nil)
        // Others keep theirs; past the store's bound, the oldest of anyone's go.
        for reporter in ["user-alice", "user-bob", "user-carol"] {
            for index in 0..<3 { try bounded.record(message("\(reporter) \(index)"), label: .ham, source: "spamd-tell", reporter: reporter) }
        }
        entries = try bounded.entries()
        #expect(entries.count == 10)
        #expect(Dictionary(grouping: entries, by: \.reporter).mapValues(\.count) == ["user-mallory": 1, "user-alice": 3, "user-bob": 3, "user-carol": 3])
        #expect(lines.lines.first { $0.contains("feedback: dropped the oldest entry, spam from user-mallory by spamd-tell") && $0.contains("feedback_max_per_reporter (4)") } != nil)

        // The byte bound: three large messages leave room for two.
        let sized = try FeedbackStore(
            directory: root.appendingPathComponent("sized"), limits: FeedbackLimits(maxBytes: 5000), log: lines.logger)
        let big = { (index: Int) in self.message("big \(index)") + [UInt8](repeating: UInt8(ascii: "x"), count: 2000) }
        for index in 0..<3 { try sized.record(big(index), label: .spam, source: "spamd-tell", reporter: "user-alice") }
        #expect(try sized.entries().count == 2)
        #expect(try sized.entry(for: big(0)) == nil)
        #expect(lines.lines.contains { $0.contains("big") == false && $0.contains("feedback_max_bytes (5000)") })
        #expect(throws: FeedbackError.messageTooLarge(bytes: 6000, limit: 5000)) {
            try sized.record([UInt8](repeating: 65, count: 6000), label: .spam, source: "x")
        }
    }
}

@Suite("Log throttling")
struct LogThrottleTests {
    @Test func repeatedWarningsAreSummarised() {
        let lines = MilterLogLines()
        let log = Logger(level: .info, throttleWindow: 0.3) { lines.append($0) }
        for index in 0..<50 { log.warning("refusing connection \(index)", throttle: "refused") }
        log.warning("another kind", throttle: "other")
        #expect(lines.values == ["warning: refusing connection 0", "warning: another kind"])
        usleep(400_000)
        log.info("a later line")
        #expect(lines.values.count == 4)
        #expect(lines.values[2] == "warning: ... and 49 more like it (refused) in the 0.3 s after it")
        #expect(lines.values[3] == "a later line")
        log.warning("refusing connection 50", throttle: "refused")
        #expect(lines.values.last == "warning: refusing connection 50")
    }
}

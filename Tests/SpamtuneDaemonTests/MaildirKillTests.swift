import Foundation
import SpamtuneClassifier
import SpamtuneControl
import SpamtuneTestSupport
import Testing

@testable import SpamtuneDaemon

#if canImport(Glibc)
import Glibc
#endif

/// The real spamtuned, killed with SIGKILL at random moments while mail arrives, then
/// restarted: no message may be lost or delivered twice, and each carries exactly one
/// set of spamtune's fields. SPAMTUNE_MAILDIR_KILL_MESSAGES sets how many messages
/// (300 by default; more for a longer run by hand).
@Suite("Maildir: kill -9 while mail arrives", .serialized)
struct MaildirKillTests {
    static let messageCount = ProcessInfo.processInfo.environment["SPAMTUNE_MAILDIR_KILL_MESSAGES"].flatMap(Int.init) ?? 300

    @Test func nothingIsLostOrDoubledWhenKilledAnywhere() throws {
        let started = Date()
        let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("spamtune-maildir-kill-\(UUID().uuidString)")
        let maildir = directory.appendingPathComponent("Maildir").path
        try MaildirTestBed.makeMaildir(maildir)
        defer { try? FileManager.default.removeItem(at: directory) }
        let modelsRoot = directory.appendingPathComponent("models")
        try TinyCheckpoint.write(to: modelsRoot, threshold: 0.5)

        var generator = SeededGenerator(seed: UInt64(Date().timeIntervalSince1970))
        let words = ["invoice", "meeting", "prize", "free", "tomorrow", "offer", "lunch", "account", "urgent", "report", "winner", "family",
                     "click", "project", "cash", "weekend", "credit", "photos", "loan", "agenda", "viagra", "notes", "bonus", "call"]
        let messages: [(id: String, bytes: [UInt8])] = (0..<Self.messageCount).map { index in
            let id = "kill-\(index)-\(UInt32.random(in: 0...UInt32.max, using: &generator))"
            let subject = (0..<4).map { _ in words.randomElement(using: &generator)! }.joined(separator: " ")
            let body = (0..<30).map { _ in words.randomElement(using: &generator)! }.joined(separator: " ") + "\n"
            return (id, testMessage(id: id, subject: subject, body: body))
        }
        let threshold = try medianSpamProbability(messages.prefix(64).map(\.bytes), checkpoint: modelsRoot.appendingPathComponent("current"))

        let configPath = directory.appendingPathComponent("spamtune.conf").path
        try """
            checkpoint = \(modelsRoot.appendingPathComponent("current").path)
            threads = 1
            spam_threshold = \(threshold)
            milter_listen = off
            spamd_listen = off
            control_socket = \(directory.appendingPathComponent("control.sock").path)
            state_directory = \(directory.appendingPathComponent("state").path)
            maildir = \(maildir)
            log_level = debug

            """.write(toFile: configPath, atomically: true, encoding: .utf8)

        // The writer: an MDA delivering in bursts (tmp/, then rename into new/), about 12
        // messages a second, so that the kills find work under way and mail arrives
        // while spamtuned is down, starting, recovering and working.
        let writerDone = DispatchSemaphore(value: 0)
        let deliveredCount = LockedCounter()
        let writerSeed = generator.next()
        Thread {
            var random = SeededGenerator(seed: writerSeed)
            var index = 0
            while index < messages.count {
                let burst = Int.random(in: 1...12, using: &random)
                for message in messages[index..<min(messages.count, index + burst)] {
                    let name = uniqueMaildirName()
                    try? Data(message.bytes).write(to: URL(fileURLWithPath: maildir + "/tmp/" + name))
                    rename(maildir + "/tmp/" + name, maildir + "/new/" + name)
                    _ = deliveredCount.next()
                }
                index += burst
                usleep(UInt32(burst) * UInt32.random(in: 40_000...120_000, using: &random))
            }
            writerDone.signal()
        }.start()

        // The killer: start spamtuned, let it run a random while, SIGKILL, again.
        var kills = 0
        var run = 0
        var writerFinished = false
        while !writerFinished || kills < 8 {
            let daemon = try SpamtunedProcess(config: configPath, log: directory.appendingPathComponent("run-\(run).log"))
            defer { daemon.killHard() }
            run += 1
            // One run in five dies while loading or recovering; the rest mostly while they
            // work through the mail that came while spamtuned was down.
            if Int.random(in: 0..<5, using: &generator) != 0 { _ = daemon.waitForLog("watching", timeout: 30) }
            usleep(Bool.random(using: &generator) ? UInt32.random(in: 0...60_000, using: &generator) : UInt32.random(in: 0...300_000, using: &generator))
            daemon.killHard()
            kills += 1
            writerFinished = writerFinished || writerDone.wait(timeout: .now()) == .success
        }

        // A last run to quiescence, stopped politely.
        let final = try SpamtunedProcess(config: configPath, log: directory.appendingPathComponent("final.log"))
        defer { final.killHard() }
        // Its start (recovery, then the scan of new/) is done once it says it is watching;
        // and a SIGTERM before "ready" would be lost.
        #expect(final.waitForLog("watching", timeout: 60) && final.waitForLog("spamtuned ready", timeout: 60))
        let expected = Dictionary(uniqueKeysWithValues: messages.map { ($0.id, $0.bytes) })
        var census = MaildirCensus()
        let settled = eventually(timeout: 120) {
            census = MaildirCensus(maildir: maildir)
            return census.scannedIDs.count == expected.count && census.unscannedPaths.isEmpty && census.staging.isEmpty
        }
        let status = final.terminate()
        census = MaildirCensus(maildir: maildir)

        let logs = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".log") }
            .map { try String(contentsOfFile: directory.appendingPathComponent($0).path, encoding: .utf8) }.joined()
        let recoveries = MaildirRecoveryTotals(logs)
        print("""
            maildir kill -9: \(messages.count) messages, \(kills) kills over \(run) runs, \(Int(Date().timeIntervalSince(started)))s; \
            recovery finished \(recoveries.delivered) claimed deliveries, found \(recoveries.alreadyDelivered) done, \
            removed \(recoveries.discarded) unfinished copies; \(census.inbox) ham in new/, \(census.junk) spam in Junk
            """)

        #expect(settled, "not settled: \(census.scannedIDs.count) scanned of \(expected.count), unscanned \(census.unscannedPaths.prefix(5)), staging \(census.staging.prefix(5))")
        #expect(status == 0)
        #expect(deliveredCount.next() - 1 == messages.count)
        // Every message exactly once, across new/, cur/ and the Junk folder.
        #expect(census.duplicates.isEmpty, "delivered twice: \(census.duplicates.prefix(10))")
        #expect(Set(census.scannedIDs.keys) == Set(expected.keys), "missing: \(Set(expected.keys).subtracting(census.scannedIDs.keys).prefix(10))")
        // Each with one set of fields, over the message exactly as delivered.
        #expect(census.badFields.isEmpty, "fields wrong in: \(census.badFields.prefix(10))")
        for (id, body) in census.scannedIDs {
            #expect(body == expected[id], "\(id): the message changed")
        }
        #expect(census.staging.isEmpty && census.unscannedPaths.isEmpty)
        // Both ways were taken.
        #expect(census.inbox > 0 && census.junk > 0)
        #expect(kills >= 8)
    }

    /// A mail client moving messages from new/ to cur/ the moment they appear, racing
    /// the watcher: what it takes first it keeps unscanned; nothing is lost, doubled, or
    /// put back.
    @Test func aMailClientTakingMessagesMidDeliveryKeepsThem() throws {
        let count = 200
        var generator = SeededGenerator(seed: UInt64(Date().timeIntervalSince1970))
        let messages = (0..<count).map { index in
            let id = "race-\(index)-\(UInt32.random(in: 0...UInt32.max, using: &generator))"
            return (id: id, bytes: testMessage(id: id, subject: "Note \(index)", body: String(repeating: "word\(index % 7) ", count: 40 + index % 50) + "\n"))
        }
        var bed = try MaildirTestBed(threshold: 0.5)
        let threshold = try medianSpamProbability(messages.prefix(64).map(\.bytes), checkpoint: bed.modelsRoot.appendingPathComponent("current"))
        bed.tearDown()
        bed = try MaildirTestBed(threshold: 0.5) { $0.spamThreshold = threshold }
        defer { bed.tearDown() }
        try bed.start()
        #expect(eventually { bed.logLines.all.contains { $0.contains("watching") } })

        let stopClient = LockedFlag()
        let clientDone = DispatchSemaphore(value: 0)
        let maildir = bed.maildir
        Thread {
            var random = SeededGenerator(seed: 99)
            while !stopClient.isSet {
                for name in (try? FileManager.default.contentsOfDirectory(atPath: maildir + "/new")) ?? [] where Int.random(in: 0..<12, using: &random) == 0 {
                    rename(maildir + "/new/" + name, maildir + "/cur/" + name + ":2,S")
                }
                usleep(UInt32.random(in: 0...3_000, using: &random))
            }
            clientDone.signal()
        }.start()
        for (index, message) in messages.enumerated() {
            try bed.deliver(message.bytes)
            if index % 10 == 0 { usleep(20_000) }
        }
        #expect(eventually(timeout: 60) {
            let census = MaildirCensus(maildir: maildir)
            return census.occurrences.count == count && census.staging.isEmpty
                && !census.unscannedPaths.contains { $0.hasPrefix("new/") }
        })
        stopClient.set()
        clientDone.wait()
        usleep(300_000)
        let census = MaildirCensus(maildir: maildir)
        let taken = bed.logLines.all.filter { $0.contains("a mail client took it") }.count
        print("maildir client race: \(count) messages, \(census.unscannedPaths.count) taken unscanned by the client (\(taken) while spamtuned was writing its copy), \(census.inbox) ham, \(census.junk) spam")
        #expect(census.duplicates.isEmpty, "twice: \(census.duplicates.prefix(5))")
        #expect(Set(census.occurrences.keys) == Set(messages.map(\.id)))
        #expect(census.badFields.isEmpty, "\(census.badFields.prefix(5))")
        #expect(census.staging.isEmpty)
        // Taken unscanned only by the client, into cur/.
        #expect(census.unscannedPaths.allSatisfy { $0.hasPrefix("cur/") })
        for (id, body) in census.scannedIDs { #expect(body == messages.first { $0.id == id }?.bytes) }
        // spamtuned's own moves and the client's new/ to cur/ moves are not feedback.
        #expect(try bed.feedbackStore.counts() == FeedbackCounts(spam: 0, ham: 0))
    }
}

/// What a Maildir holds: the scanned messages by Message-ID (their bytes below
/// spamtune's fields), and what is wrong.
struct MaildirCensus {
    var scannedIDs: [String: [UInt8]] = [:]
    /// How often each Message-ID is there, scanned or not.
    var occurrences: [String: Int] = [:]
    var duplicates: [String] { occurrences.filter { $0.value > 1 }.map(\.key) }
    var unscannedPaths: [String] = []
    var badFields: [String] = []
    /// Files in tmp/ (spamtuned's staging, or anything else).
    var staging: [String] = []
    var inbox = 0
    var junk = 0

    init() {}

    init(maildir: String) {
        for folder in ["new", "cur", ".Junk/new", ".Junk/cur"] {
            let directory = maildir + "/" + folder
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                guard let data = FileManager.default.contents(atPath: directory + "/" + name) else { continue }
                let bytes = [UInt8](data)
                let fields = headerFields(bytes)
                let id = fieldValues(bytes, "Message-ID").first.map { String($0.dropFirst().prefix { $0 != "@" }) } ?? name
                let counts = ["X-Spamtune-Scanned", "X-Spam-Flag", "X-Spam-Score", "X-Spam-Status"].map { field in
                    fields.filter { $0.name.lowercased() == field.lowercased() }.count
                }
                occurrences[id, default: 0] += 1
                if counts == [0, 0, 0, 0] {
                    unscannedPaths.append(folder + "/" + name)
                    continue
                }
                let flag = fieldValues(bytes, "X-Spam-Flag").first
                let inJunk = folder.hasPrefix(".Junk")
                if counts != [1, 1, 1, 1] || !bytes.starts(with: Array("X-Spamtune-Scanned:".utf8)) || flag != (inJunk ? "YES" : "NO") {
                    badFields.append(folder + "/" + name)
                }
                // Below the four lines spamtuned wrote: the delivered message.
                var offset = 0
                for _ in 0..<4 { offset = (bytes[offset...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count - 1) + 1 }
                scannedIDs[id] = Array(bytes[offset...])
                if inJunk { junk += 1 } else { inbox += 1 }
            }
        }
        for folder in ["tmp", ".Junk/tmp"] {
            staging += ((try? FileManager.default.contentsOfDirectory(atPath: maildir + "/" + folder)) ?? []).map { folder + "/" + $0 }
        }
    }
}

/// The sums of spamtuned's "recovered after an interruption" log lines.
struct MaildirRecoveryTotals {
    var delivered = 0
    var alreadyDelivered = 0
    var discarded = 0

    init(_ logs: String) {
        for line in logs.split(separator: "\n") where line.contains("recovered after an interruption") {
            let numbers = line.split(separator: ":").last!.split(separator: ",").map { Int($0.split(separator: " ").first ?? "") ?? 0 }
            guard numbers.count == 3 else { continue }
            delivered += numbers[0]
            alreadyDelivered += numbers[1]
            discarded += numbers[2]
        }
    }
}

/// spamtuned run as a child process, its standard error going to a file.
final class SpamtunedProcess {
    let process = Process()
    let logURL: URL
    private var stopped = false

    init(config: String, log: URL) throws {
        logURL = log
        guard FileManager.default.createFile(atPath: log.path, contents: nil) else {
            throw TestBedError("cannot create \(log.path)")
        }
        process.executableURL = ProjectPaths.builtProduct("spamtuned")
        process.arguments = ["--config", config]
        process.standardError = try FileHandle(forWritingTo: log)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    func waitForLog(_ text: String, timeout: Double) -> Bool {
        _ = eventually(timeout: timeout) { log.contains(text) || !process.isRunning }
        return log.contains(text)
    }

    func killHard() {
        guard !stopped else { return }
        stopped = true
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, then the exit status.
    func terminate() -> Int32 {
        guard !stopped else { return -1 }
        stopped = true
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        return process.terminationStatus
    }
}

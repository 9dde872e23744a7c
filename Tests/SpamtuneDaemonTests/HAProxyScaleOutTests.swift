import Foundation
import SpamtuneTestSupport
import Testing

@testable import SpamtuneDaemon

#if canImport(Glibc)
import Glibc
#endif

/// Scale-out as README ships it: Debian's HAProxy with etc/haproxy-spamtune.cfg (only its
/// addresses moved to loopback ports) in front of two real spamtuned, and the stock spamc
/// with `-x` as the MTA. A scorer killed with SIGKILL or stopped with SIGTERM mid-run, or
/// one whose allow list leaves HAProxy out, never makes a message pass unscored: at most
/// the messages in flight on a killed scorer fail, and they fail as errors (spamc exits
/// 74, the MTA tempfails), never as ham.
@Suite("HAProxy in front of spamtuned", .serialized)
struct HAProxyScaleOutTests {
    /// Concurrent spamc clients: at most this many messages are in flight at once.
    static let clients = 4

    init() throws {
        try Spamc.ensureInstalled()
        try HAProxy.ensureInstalled()
    }

    @Test func aScorerWhoseAllowListRefusesHAProxyIsTakenOutByTheHealthCheck() throws {
        let good = try Scorer.start()
        defer { good.bed.tearDown() }
        let refusing = try Scorer.start(allowed: "10.0.0.0/8")
        defer { refusing.bed.tearDown() }
        let messages = Self.messages(40)
        let expected = try Self.verdicts(of: messages, port: good.port)
        // Why MTAs must use -x: without it spamc reports a message it could not have
        // scored as ham, 0/0 with exit 0; with it, exit 74.
        let silent = try Spamc.run(["-d", "127.0.0.1", "-p", "\(refusing.port)", "-c"], input: messages[1])
        #expect(silent.status == 0 && silent.standardOutput == "0/0\n", "\(silent)")
        guard case .error(74) = try Self.check(messages[1], port: refusing.port) else {
            Issue.record("spamc -x did not fail with 74 on a refusing scorer")
            return
        }
        let proxy = try HAProxy.start(scorers: [good.port, refusing.port])
        defer { proxy.stop() }

        // Until HAProxy knows, a message sent to the refusing scorer fails as an error.
        var early = Tally()
        while !proxy.log.contains("Server scorers/s2 is DOWN") && early.total < 200 {
            early.add(try Self.check(messages[early.total % messages.count], port: proxy.port), expected: expected[early.total % messages.count])
        }
        #expect(proxy.waitFor("Server scorers/s2 is DOWN"), "\(proxy.log)")
        #expect(early.wrong == 0, "\(early)")
        #expect(refusing.bed.daemonLog.contains("refused a connection from 127.0.0.1"))

        let after = try Self.send(messages, expected: expected, port: proxy.port, times: 3)
        print("HAProxy, allow list refusing it: before the health check marked it down \(early); after \(after)")
        #expect(after.correct == after.total && after.total == 120, "\(after)\n\(proxy.log)")
    }

    @Test func aScorerKilledMidRunFailsAtMostItsMessagesInFlightAndThoseAsErrors() throws {
        try runWithAScorerLost(signal: SIGKILL, name: "SIGKILL")
    }

    @Test func aScorerStoppedMidRunFailsAtMostItsMessagesInFlightAndThoseAsErrors() throws {
        try runWithAScorerLost(signal: SIGTERM, name: "SIGTERM")
    }

    func runWithAScorerLost(signal: Int32, name: String) throws {
        let staying = try Scorer.start()
        defer { staying.bed.tearDown() }
        let leaving = try Scorer.start()
        defer { leaving.bed.tearDown() }
        let messages = Self.messages(40)
        let expected = try Self.verdicts(of: messages, port: staying.port)
        let proxy = try HAProxy.start(scorers: [staying.port, leaving.port])
        defer { proxy.stop() }

        let total = 300
        let results = ResultLog()
        let lost = try #require(leaving.bed.processes.first)
        var downAt: Date?
        let senders = Self.sendConcurrently(total, messages: messages, port: proxy.port, into: results)
        // Mid-run: both scorers busy, then one is lost.
        while results.count < total / 3 { usleep(5_000) }
        kill(lost.processIdentifier, signal)
        let lostAt = Date()
        if proxy.waitFor("Server scorers/s2 is DOWN", seconds: 20) { downAt = Date() }
        senders.wait()
        lost.waitUntilExit()

        var tally = Tally()
        var afterDown = Tally()
        var errorStatuses = Set<Int32>()
        for result in results.all {
            tally.add(result.outcome, expected: expected[result.message])
            if case .error(let status) = result.outcome { errorStatuses.insert(status) }
            if let downAt, result.started > downAt { afterDown.add(result.outcome, expected: expected[result.message]) }
        }
        let failedAfterLoss = results.all.filter { if case .error = $0.outcome { $0.started >= lostAt.addingTimeInterval(-1) } else { false } }
        print("HAProxy, one of two scorers lost to \(name) after \(total / 3) of \(total) messages (\(Self.clients) clients): \(tally); spamc exit statuses of the failures \(errorStatuses.sorted()); known down \(downAt.map { String(format: "%.2f s", $0.timeIntervalSince(lostAt)) } ?? "never") after the signal; after that \(afterDown)")
        #expect(tally.total == total)
        #expect(tally.wrong == 0, "\(tally)")
        #expect(tally.errors <= Self.clients, "\(tally)\n\(proxy.log)")
        #expect(failedAfterLoss.count == tally.errors, "every failure is at the loss")
        #expect(errorStatuses.isSubset(of: [74]), "\(errorStatuses)")
        #expect(downAt != nil, "\(proxy.log)")
        #expect(afterDown.correct == afterDown.total, "\(afterDown)")
        if signal == SIGTERM { #expect(lost.terminationStatus == 0, "\(leaving.bed.daemonLog)") }
    }

    // MARK: Clients

    enum Outcome: Sendable {
        case verdict(status: Int32, output: String)
        /// spamc says it could not get a verdict (with -x): the MTA tempfails.
        case error(status: Int32)
    }

    struct Tally: CustomStringConvertible {
        var correct = 0
        /// Scored otherwise than the scorers score it, or passed as ham unscored (0/0).
        var wrong = 0
        /// What spamc printed for the wrong ones, beside what the scorers print.
        var wrongOutputs: [(got: String, expected: String)] = []
        var errors = 0
        var total: Int { correct + wrong + errors }

        mutating func add(_ outcome: Outcome, expected: String) {
            switch outcome {
            case .verdict(_, let output) where output == expected: correct += 1
            case .verdict(_, let output):
                wrong += 1
                wrongOutputs.append((output, expected))
            case .error: errors += 1
            }
        }

        var description: String {
            "\(total) messages: \(correct) scored right, \(wrong) wrong or passed unscored, \(errors) failed as errors"
                + wrongOutputs.prefix(5).map { " [printed \($0.got.debugDescription), expected \($0.expected.debugDescription)]" }.joined()
        }
    }

    static func messages(_ count: Int) -> [[UInt8]] {
        (0..<count).map { index in
            SpamdTestBed.message(
                index % 2 == 0 ? "Minutes of meeting \(index)" : "WINNER \(index)!! Claim your prize now",
                body: String(repeating: "Line \(index) of the message body, with some words in it.\r\n", count: 1 + index % 7))
        }
    }

    /// `spamc -x -c` through `port`: the verdict line, or the failure.
    static func check(_ message: [UInt8], port: UInt16) throws -> Outcome {
        let result = try Spamc.run(["-x", "-t", "60", "-d", "127.0.0.1", "-p", "\(port)", "-c"], input: message)
        guard result.status == 0 || result.status == 1 else { return .error(status: result.status) }
        return .verdict(status: result.status, output: result.standardOutput)
    }

    /// Each message's verdict line straight from one scorer (every scorer loads the same model).
    static func verdicts(of messages: [[UInt8]], port: UInt16) throws -> [String] {
        try messages.map { message in
            guard case .verdict(_, let output) = try check(message, port: port) else { throw TestBedError("no verdict from the scorer on \(port)") }
            return output
        }
    }

    static func send(_ messages: [[UInt8]], expected: [String], port: UInt16, times: Int) throws -> Tally {
        let results = ResultLog()
        sendConcurrently(messages.count * times, messages: messages, port: port, into: results).wait()
        var tally = Tally()
        for result in results.all { tally.add(result.outcome, expected: expected[result.message]) }
        return tally
    }

    final class ResultLog: @unchecked Sendable {
        struct Entry {
            let message: Int
            let started: Date
            let outcome: Outcome
        }
        private let lock = NSLock()
        private var entries: [Entry] = []
        private var next = 0

        func take(below limit: Int) -> Int? {
            lock.withLock {
                guard next < limit else { return nil }
                defer { next += 1 }
                return next
            }
        }

        func add(_ entry: Entry) { lock.withLock { entries.append(entry) } }
        var count: Int { lock.withLock { entries.count } }
        var all: [Entry] { lock.withLock { entries } }
    }

    /// `total` checks by `clients` concurrent spamc, cycling through `messages`.
    static func sendConcurrently(_ total: Int, messages: [[UInt8]], port: UInt16, into results: ResultLog) -> DispatchGroup {
        let group = DispatchGroup()
        for _ in 0..<clients {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                while let index = results.take(below: total) {
                    let started = Date()
                    let outcome = (try? check(messages[index % messages.count], port: port)) ?? .error(status: -1)
                    results.add(.init(message: index % messages.count, started: started, outcome: outcome))
                }
            }
            thread.start()
        }
        return group
    }
}

/// A spamtuned scoring on a loopback TCP port, with the tiny test checkpoint.
struct Scorer {
    let bed: SpamdTestBed
    let port: UInt16

    static func start(allowed: String = "127.0.0.1/32") throws -> Scorer {
        let bed = try SpamdTestBed(threshold: 0.5)
        let port = try freeTCPPort()
        do {
            try bed.startExecutable(configuration: try bed.writeConfiguration([
                "spamd_tcp_listen = 127.0.0.1:\(port)", "spamd_allowed_networks = \(allowed)",
                // Every message scored by the model, none from the verdict cache.
                "cache_entries = 0",
            ]))
        } catch {
            bed.tearDown()
            throw error
        }
        return Scorer(bed: bed, port: port)
    }
}

/// Debian's HAProxy running etc/haproxy-spamtune.cfg in the foreground, its addresses
/// replaced by loopback ports, its log (server state changes) collected from stderr.
final class HAProxy: @unchecked Sendable {
    static let path = "/usr/sbin/haproxy"
    let port: UInt16
    let directory: URL
    let process: Process

    static func ensureInstalled() throws {
        if FileManager.default.isExecutableFile(atPath: path) { return }
        let script = ProjectPaths.harness("common.sh").path
        let result = try runProcess(URL(fileURLWithPath: "/bin/bash"), ["-c", "source '\(script)' && ensure_pkgs \(path):haproxy"])
        guard result.status == 0, FileManager.default.isExecutableFile(atPath: path) else {
            throw TestBedError("cannot install haproxy: \(result.standardError)")
        }
    }

    /// The shipped file with the frontend on a free port and `scorers` as s1, s2.
    static func configuration(frontend: UInt16, scorers: [UInt16]) throws -> String {
        var text = try String(contentsOf: ProjectPaths.root.appendingPathComponent("etc/haproxy-spamtune.cfg"), encoding: .utf8)
        let addresses = ["bind 10.0.0.5:783": "bind 127.0.0.1:\(frontend)", "s1 10.0.0.11:783": "s1 127.0.0.1:\(scorers[0])",
                         "s2 10.0.0.12:783": "s2 127.0.0.1:\(scorers[1])"]
        for (shipped, local) in addresses {
            guard text.contains(shipped) else { throw TestBedError("etc/haproxy-spamtune.cfg has no '\(shipped)'") }
            text = text.replacingOccurrences(of: shipped, with: local)
        }
        return text
    }

    static func start(scorers: [UInt16]) throws -> HAProxy { try HAProxy(scorers: scorers) }

    private init(scorers: [UInt16]) throws {
        port = try freeTCPPort()
        directory = URL(fileURLWithPath: "/tmp/st-haproxy-\(UUID().uuidString.prefix(8).lowercased())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("haproxy.cfg")
        try Data(try Self.configuration(frontend: port, scorers: scorers).utf8).write(to: file)
        let check = try runProcess(URL(fileURLWithPath: Self.path), ["-c", "-f", file.path])
        guard check.status == 0 else { throw TestBedError("haproxy -c: \(check.standardOutput)\(check.standardError)") }
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.path)
        process.arguments = ["-db", "-f", file.path]
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: logFile)
        process.standardOutput = log
        process.standardError = log
        try process.run()
        // Up when the frontend accepts.
        let deadline = Date(timeIntervalSinceNow: 10)
        while Date() < deadline {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = port.bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if connected == 0 { return }
            usleep(20_000)
        }
        stop()
        throw TestBedError("haproxy did not listen on \(port):\n\(self.log)")
    }

    var logFile: URL { directory.appendingPathComponent("haproxy.log") }
    var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    func waitFor(_ line: String, seconds: Double = 20) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while Date() < deadline {
            if log.contains(line) { return true }
            usleep(20_000)
        }
        return false
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

import Foundation
import SpamtuneControl
import SpamtuneTestSupport
import Testing

@testable import SpamtuneDaemon

#if canImport(Glibc)
import Glibc
#endif

/// Who may teach, and one daemon per socket: the real spamtuned, the stock spamc, and a
/// real unprivileged user made for the test (useradd, removed after).
@Suite("spamd trust: learning, one daemon per socket", .serialized, .enabled(if: getuid() == 0, "useradd needs root"))
struct SpamdTrustTests {
    init() throws {
        try Spamc.ensureInstalled()
    }

    @Test func anUnprivilegedUserScoresButDoesNotTeachUntilListed() throws {
        let user = try TestUser()
        defer { user.remove() }
        let bed = try SpamdTestBed(threshold: 0.01)
        defer { bed.tearDown() }
        try bed.startExecutable(configuration: try bed.writeConfiguration())
        let message = SpamdTestBed.message("Teach me")

        // Scoring is open: the socket is 0666, as spamd's.
        let check = try user.run(Spamc.path, ["-U", bed.spamdSocket, "-c"], input: message)
        #expect(check.status == 1, "\(check.standardError)")
        #expect(check.standardOutput.hasSuffix("/0.1\n"))

        // Teaching is not: spamc reports the failure, nothing is stored, the log names the uid.
        let learned = try user.run(Spamc.path, ["-U", bed.spamdSocket, "-L", "spam"], input: message)
        // 74, silently: what spamc does against spamd without --allow-tell, too.
        #expect(learned.status == 74, "\(learned.standardOutput)")
        #expect(!learned.standardOutput.contains("successfully"))
        #expect(bed.feedbackFiles("spam").isEmpty)
        #expect(bed.daemonLog.contains("tell refused: uid \(user.uid) (\(user.name)), pid "), "\(bed.daemonLog)")
        // Nor can it forget what others taught.
        #expect(try Spamc.run(["-U", bed.spamdSocket, "-L", "spam"], input: message).standardOutput == "Message successfully un/learned\n")
        let forget = try user.run(Spamc.path, ["-U", bed.spamdSocket, "-L", "forget"], input: message)
        #expect(forget.status != 0)
        #expect(bed.feedbackFiles("spam").count == 1)
        // What spamc got: spamd's status line with EX_NOPERM.
        let exchange = "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read()); s.shutdown(1); print(s.recv(4096).decode(), end='')"
        let raw = try user.run(
            "/usr/bin/python3", ["-c", exchange, bed.spamdSocket],
            input: Array("TELL SPAMC/1.5\r\nMessage-class: ham\r\nSet: local\r\nContent-length: 5\r\n\r\nhello".utf8))
        #expect(raw.standardOutput.hasPrefix("SPAMD/1.5 77 EX_NOPERM TELL commands are not enabled for uid \(user.uid) (\(user.name))"), "\(raw.standardOutput)\(raw.standardError)")

        // Listed by name, the user teaches; the entry records who sent it.
        try bed.restart(configuration: try bed.writeConfiguration(["learn_allowed_users = \(user.name)"]))
        let allowed = try user.run(Spamc.path, ["-U", bed.spamdSocket, "-L", "ham"], input: SpamdTestBed.message("From a user"))
        #expect(allowed.standardOutput == "Message successfully un/learned\n", "\(allowed.standardError)\n\(bed.daemonLog)")
        #expect(bed.feedbackFiles("ham").map(\.lastPathComponent).contains { $0.hasSuffix(".spamd-tell.user-\(user.name)") })
        #expect(bed.daemonLog.contains("tell=ham feedback=added reporter=user-\(user.name) (uid \(user.uid)"))

        // Listed by group.
        try bed.restart(configuration: try bed.writeConfiguration(["learn_allowed_groups = \(user.name)"]))
        let byGroup = try user.run(Spamc.path, ["-U", bed.spamdSocket, "-L", "ham"], input: SpamdTestBed.message("By group"))
        #expect(byGroup.standardOutput == "Message successfully un/learned\n", "\(byGroup.standardError)")
    }

    @Test func tcpTellIsRefusedUnlessTheNetworkIsListed() throws {
        let bed = try SpamdTestBed(threshold: 0.01)
        defer { bed.tearDown() }
        let port = try freeTCPPort()
        let tcp = ["spamd_tcp_listen = 127.0.0.1:\(port)", "spamd_allowed_networks = 127.0.0.1/32"]
        try bed.startExecutable(configuration: try bed.writeConfiguration(tcp))
        let message = SpamdTestBed.message("Over TCP")

        #expect(try Spamc.run(["-d", "127.0.0.1", "-p", "\(port)", "-c"], input: message).status == 1)
        let refused = try Spamc.run(["-d", "127.0.0.1", "-p", "\(port)", "-L", "spam"], input: message)
        #expect(refused.status != 0 && !refused.standardOutput.contains("successfully"))
        #expect(bed.feedbackFiles("spam").isEmpty)
        #expect(bed.daemonLog.contains("tell refused: 127.0.0.1 is not in learn_allowed_networks"))

        try bed.restart(configuration: try bed.writeConfiguration(tcp + ["learn_allowed_networks = 127.0.0.0/8"]))
        let allowed = try Spamc.run(["-d", "127.0.0.1", "-p", "\(port)", "-L", "spam"], input: message)
        #expect(allowed.standardOutput == "Message successfully un/learned\n", "\(allowed.standardError)")
        #expect(bed.feedbackFiles("spam").first?.lastPathComponent.hasSuffix(".spamd-tell.ip-127.0.0.1") == true)
    }

    @Test func aFloodOfReportsStaysWithinTheStoreBounds() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        try bed.startExecutable(
            configuration: try bed.writeConfiguration(["feedback_max_messages = 12", "feedback_max_bytes = 4k", "feedback_max_per_reporter = 8"]))
        var sent: [[UInt8]] = []
        for index in 0..<40 {
            let message = SpamdTestBed.message("Report \(index)", body: String(repeating: "line \(index)\r\n", count: 20))
            sent.append(message)
            let learned = try Spamc.run(["-U", bed.spamdSocket, "-L", index % 2 == 0 ? "spam" : "ham"], input: message)
            #expect(learned.standardOutput == "Message successfully un/learned\n", "\(learned.standardError)")
        }
        let files = bed.feedbackFiles("spam") + bed.feedbackFiles("ham")
        let bytes = try files.reduce(0) { $0 + (try FileManager.default.attributesOfItem(atPath: $1.path)[.size] as! Int) }
        #expect(files.count <= 8)  // root's quota is the tightest bound here
        #expect(bytes <= 4096)
        // The newest report is kept; the oldest went, with a log line.
        let store = try FeedbackStore(directory: bed.feedback)
        #expect(try store.entry(for: sent[39]) != nil)
        #expect(try store.entry(for: sent[0]) == nil)
        #expect(bed.daemonLog.contains("feedback: dropped the oldest entry, spam from user-root by spamd-tell"), "\(bed.daemonLog.suffix(2000))")
    }

    @Test func aSecondDaemonRefusesToStartAndTheFirstKeepsServing() throws {
        let bed = try SpamdTestBed(threshold: 0.01)
        defer { bed.tearDown() }
        let configuration = try bed.writeConfiguration()
        let first = try bed.startExecutable(configuration: configuration)
        let message = SpamdTestBed.message("Still there?")

        // The same configuration: the state directory's lock says who runs.
        let second = try runProcess(ProjectPaths.builtProduct("spamtuned"), ["--config", configuration.path])
        #expect(second.status == 78)
        #expect(second.standardError.contains("spamtuned (pid \(first.processIdentifier)) is already running"), "\(second.standardError)")

        // Another state directory, the same sockets: the live socket is not taken over.
        let other = bed.root.appendingPathComponent("other.conf")
        try String(contentsOf: configuration, encoding: .utf8)
            .replacingOccurrences(of: "state_directory = \(bed.stateDirectory.path)", with: "state_directory = \(bed.root.path)/state2")
            .write(to: other, atomically: true, encoding: .utf8)
        let third = try runProcess(ProjectPaths.builtProduct("spamtuned"), ["--config", other.path])
        #expect(third.status == 78)
        #expect(third.standardError.contains("another process (pid \(first.processIdentifier)) is serving this socket"), "\(third.standardError)")

        // The first one still answers on both sockets.
        #expect(try Spamc.run(["-U", bed.spamdSocket, "-c"], input: message).status == 1)
        #expect((try? ControlClient(socketPath: bed.controlSocket, timeout: 5).send(.status))?.status?.pid == first.processIdentifier)

        // Killed, it leaves a stale socket and the lock file: the next start replaces the
        // one and takes the other.
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        #expect(FileManager.default.fileExists(atPath: bed.spamdSocket))
        try bed.startExecutable(configuration: configuration)
        #expect(try Spamc.run(["-U", bed.spamdSocket, "-c"], input: message).status == 1)
    }

    @Test func aMissingSocketGroupFailsTheCheckAndTheStartWithoutASocket() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        let configuration = try bed.writeConfiguration(["control_socket_group = no-such-group-st"])
        let check = try runProcess(ProjectPaths.builtProduct("spamtuned"), ["--config", configuration.path, "--check-config"])
        #expect(check.status == 78)
        #expect(check.standardError.contains("control_socket_group: group 'no-such-group-st' does not exist"), "\(check.standardError)")
        let start = try runProcess(ProjectPaths.builtProduct("spamtuned"), ["--config", configuration.path])
        #expect(start.status == 78)
        #expect(!FileManager.default.fileExists(atPath: bed.spamdSocket))
        #expect(!FileManager.default.fileExists(atPath: bed.controlSocket))

        let slow = try bed.writeConfiguration(["milter_listen = unix:\(bed.root.path)/milter.sock", "milter_socket_group = none", "message_deadline = 400s"])
        let warned = try runProcess(ProjectPaths.builtProduct("spamtuned"), ["--config", slow.path, "--check-config"])
        #expect(warned.status == 0, "\(warned.standardError)")
        #expect(warned.standardError.contains("message_deadline 400s is not below Postfix's default milter_content_timeout (300s)"))
    }
}

/// A system user made for one test, removed after.
final class TestUser {
    let name: String
    let uid: UInt32

    init() throws {
        name = "st" + UUID().uuidString.prefix(8).lowercased()
        let made = try runProcess(URL(fileURLWithPath: "/usr/sbin/useradd"), ["--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", name])
        guard made.status == 0, let entry = getpwnam(name) else { throw TestBedError("useradd \(name): \(made.standardError)") }
        uid = entry.pointee.pw_uid
    }

    /// Runs `program` as this user.
    func run(_ program: String, _ arguments: [String], input: [UInt8]) throws -> ProcessResult {
        try runProcess(URL(fileURLWithPath: "/usr/sbin/runuser"), ["-u", name, "--", program] + arguments, input: Data(input))
    }

    func remove() {
        _ = try? runProcess(URL(fileURLWithPath: "/usr/sbin/userdel"), [name])
    }
}

/// The listener's bounds with real sockets: per peer, per socket, and the first byte.
@Suite("connection limits")
struct ConnectionLimitTests {
    /// A listener whose handler reads until the peer closes.
    func listener(_ limits: ConnectionLimits, log: LogCollector) throws -> (SocketListener, String, URL) {
        let directory = try makeMilterTestDirectory("limits")
        let path = directory.appendingPathComponent("s.sock").path
        let listener = try SocketListener(address: .unix(path: path), limits: limits, log: log.logger)
        listener.start { connection in
            while let piece = try? connection.readSome(), !piece.isEmpty {}
        }
        return (listener, path, directory)
    }

    func isOpen(_ fd: Int32, waiting seconds: Double = 0.5) -> Bool {
        var pollDescriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        // Closed by the server: readable, and the read says end of stream.
        guard poll(&pollDescriptor, 1, Int32(seconds * 1000)) == 1 else { return true }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_DONTWAIT)) != 0
    }

    @Test func aPeerAtItsBoundLosesItsOldestSilentConnectionOrIsRefused() throws {
        let log = LogCollector()
        let (listener, path, directory) = try listener(ConnectionLimits(maxConnections: 100, perPeer: 3, firstByte: 30, idle: 30), log: log)
        defer {
            listener.stop(closeConnections: true)
            try? FileManager.default.removeItem(at: directory)
        }
        // Three silent connections, then a fourth: the oldest silent one makes room.
        let silent = try (0..<4).map { _ in try connectUnixSocket(path) }
        defer { for fd in silent { close(fd) } }
        #expect(!isOpen(silent[0]))
        #expect(silent[1...].allSatisfy { isOpen($0, waiting: 0.1) })
        // Three that have spoken: busy, so a fourth is refused.
        for fd in silent[1...] { _ = send(fd, "x", 1, 0) }
        usleep(200_000)
        let fifth = try connectUnixSocket(path)
        defer { close(fifth) }
        #expect(!isOpen(fifth))
        #expect(log.lines.contains { $0.contains("refusing a connection from uid \(getuid())") && $0.contains("max_connections_per_client") })
    }

    @Test func aSilentConnectionIsClosedAfterTheFirstByteTimeout() throws {
        let log = LogCollector()
        let (listener, path, directory) = try listener(ConnectionLimits(maxConnections: 10, firstByte: 0.3, idle: 30), log: log)
        defer {
            listener.stop(closeConnections: true)
            try? FileManager.default.removeItem(at: directory)
        }
        let silent = try connectUnixSocket(path)
        defer { close(silent) }
        let talking = try connectUnixSocket(path)
        defer { close(talking) }
        _ = send(talking, "x", 1, 0)
        #expect(!isOpen(silent, waiting: 3))
        #expect(isOpen(talking, waiting: 0.5))
    }
}

import Foundation
import SpamtuneControl
import SpamtuneTestSupport
import Testing

@testable import SpamtuneDaemon

#if canImport(Glibc)
import Glibc
#endif

/// Socket activation with systemd's own `systemd-socket-activate`, which listens on the
/// sockets and starts the real spamtuned with them (LISTEN_PID, LISTEN_FDS,
/// LISTEN_FDNAMES) at the first connection, as a socket unit does.
@Suite("systemd socket activation", .serialized)
struct SystemdSocketsTests {
    static let activator = URL(fileURLWithPath: "/usr/bin/systemd-socket-activate")

    init() throws {
        try Spamc.ensureInstalled()
    }

    @Test func servesPassedSocketsByNameAndBindsTheRest() throws {
        guard let bed = try Self.bed() else { return }
        defer { bed.tearDown() }
        let milterSocket = bed.root.appendingPathComponent("milter.sock").path
        let configuration = try bed.writeConfiguration(["milter_listen = unix:\(milterSocket)", "milter_socket_group = none"])
        let activated = try Self.activate(bed, configuration, [(bed.spamdSocket, "spamd"), (bed.controlSocket, "control")])
        defer { activated.stop() }
        let passedInode = try Self.inode(bed.spamdSocket)

        // The first connection starts spamtuned, which answers on the socket it was given.
        let answer = try Spamc.run(["-U", bed.spamdSocket, "-c"], input: SpamdTestBed.message("Lunch on Friday?"))
        #expect(answer.standardOutput.range(of: #"^\d+\.\d/\d+\.\d\n$"#, options: .regularExpression) != nil, "\(answer.standardOutput)\n\(bed.daemonLog)")
        #expect(answer.standardOutput != "0/0\n", "spamc got no verdict:\n\(bed.daemonLog)")
        #expect(bed.daemonLog.contains("sockets from systemd: spamd (unix:\(bed.spamdSocket)), control (unix:\(bed.controlSocket))"), "\(bed.daemonLog)")
        #expect(try Self.inode(bed.spamdSocket) == passedInode, "spamtuned replaced the socket systemd passed")
        // The milter socket was not passed: spamtuned made it, as when started by hand.
        #expect(try Self.isSocket(milterSocket), "\(bed.daemonLog)")
        #expect((try? ControlClient(socketPath: bed.controlSocket, timeout: 10).send(.status)) != nil, "\(bed.daemonLog)")

        // Stopped, spamtuned removes the socket it made and leaves systemd's alone.
        #expect(activated.stop() == 0, "\(bed.daemonLog)")
        #expect(try Self.inode(bed.spamdSocket) == passedInode)
        #expect(!FileManager.default.fileExists(atPath: milterSocket))
    }

    @Test func aSocketSpamtunedCannotPlaceIsAConfigurationError() throws {
        guard let bed = try Self.bed() else { return }
        defer { bed.tearDown() }
        let configuration = try bed.writeConfiguration()
        let stray = bed.root.appendingPathComponent("stray.sock").path
        let cases: [(sockets: [(String, String)], message: String)] = [
            ([(bed.spamdSocket, "spamd"), (stray, "spamtuned.socket")],
             "systemd passed a socket named 'spamtuned.socket' (descriptor 4), which spamtuned does not know: give each ListenStream= in the spamtuned-*.socket units a FileDescriptorName= of milter, milter-tcp, spamd, spamd-tcp, control"),
            ([(stray, "spamd")],
             "systemd's socket 'spamd' is unix:\(stray) but spamd_listen is unix:\(bed.spamdSocket): make the socket unit's ListenStream= and the configuration agree"),
            ([(stray, "milter")], "systemd passed the socket 'milter' but milter_listen = off"),
        ]
        for (sockets, message) in cases {
            try? FileManager.default.removeItem(at: bed.logFile)
            let activated = try Self.activate(bed, configuration, sockets)
            defer { activated.stop() }
            try Self.connect(sockets[0].0)
            let status = activated.exitStatus(within: 30)
            #expect(status == 78, "spamtuned with \(sockets): \(status.map { "exit status \($0)" } ?? "still running")\n\(bed.daemonLog)")
            #expect(bed.daemonLog.contains(message), "\(bed.daemonLog)")
            for (path, _) in sockets { unlink(path) }
        }
    }

    /// A bed, or nil (with the reason recorded) when systemd-socket-activate is missing.
    static func bed() throws -> SpamdTestBed? {
        guard FileManager.default.isExecutableFile(atPath: activator.path) else {
            Issue.record("\(activator.path) is missing: install systemd to test socket activation")
            return nil
        }
        return try SpamdTestBed()
    }

    /// spamtuned under systemd-socket-activate, listening on `sockets` (path, name);
    /// returns once the socket files exist. (posix_spawn, not Foundation's Process: the
    /// activator closes every descriptor it does not pass on, Process's end-of-child
    /// socket among them, and Process then blocks its run loop in waitpid until
    /// spamtuned exits.)
    static func activate(_ bed: SpamdTestBed, _ configuration: URL, _ sockets: [(String, String)]) throws -> Activated {
        let listens: [String] = sockets.map { "--listen=\($0.0)" }
        let names: String = "--fdname=" + sockets.map(\.1).joined(separator: ":")
        let daemon: [String] = [ProjectPaths.builtProduct("spamtuned").path, "--config", configuration.path]
        let argv: [String] = [activator.path] + listens + [names] + daemon
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, bed.logFile.path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        var cEnvironment: [UnsafeMutablePointer<CChar>?] =
            ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in cArguments + cEnvironment { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, activator.path, &actions, nil, &cArguments, &cEnvironment)
        guard status == 0 else { throw TestBedError("cannot start \(activator.path): \(String(cString: strerror(status)))") }
        let activated = Activated(pid: pid)
        let deadline = Date(timeIntervalSinceNow: 30)
        while !(sockets.allSatisfy { (try? isSocket($0.0)) == true }) {
            guard Date() < deadline, activated.exitStatus(within: 0) == nil else {
                activated.stop()
                throw TestBedError("systemd-socket-activate did not listen:\n\(bed.daemonLog)")
            }
            usleep(20_000)
        }
        return activated
    }

    /// The activator, which becomes spamtuned (it execs it on the first connection).
    final class Activated {
        let pid: pid_t
        private var status: Int32?

        init(pid: pid_t) { self.pid = pid }

        /// The exit status once the process has ended within `seconds`, else nil.
        func exitStatus(within seconds: Double) -> Int32? {
            let deadline = Date(timeIntervalSinceNow: seconds)
            while status == nil {
                var raw: Int32 = 0
                if waitpid(pid, &raw, WNOHANG) == pid {
                    // WIFEXITED / WEXITSTATUS are macros Swift cannot import.
                    status = (raw & 0x7F) == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
                } else if Date() >= deadline {
                    return nil
                } else {
                    usleep(20_000)
                }
            }
            return status
        }

        /// SIGTERM, and the exit status (SIGKILL after 60 s).
        @discardableResult
        func stop() -> Int32 {
            if let status { return status }
            kill(pid, SIGTERM)
            if let status = exitStatus(within: 60) { return status }
            kill(pid, SIGKILL)
            return exitStatus(within: 10) ?? -1
        }
    }

    static func inode(_ path: String) throws -> UInt {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw TestBedError("\(path): \(String(cString: strerror(errno)))") }
        return UInt(info.st_ino)
    }

    static func isSocket(_ path: String) throws -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else { return false }
        return (info.st_mode & S_IFMT) == S_IFSOCK
    }

    /// Opens a connection and leaves it: the activator starts spamtuned on it.
    /// Connects once the socket listens: its file appears at bind(), a moment before
    /// listen(), and under load a connect can fall in between and be refused.
    static func connect(_ path: String) throws {
        let deadline = Date(timeIntervalSinceNow: 10)
        var error = connectOnce(path)
        while error == ECONNREFUSED && Date() < deadline {
            usleep(20_000)
            error = connectOnce(path)
        }
        guard error == 0 else { throw TestBedError("connect \(path): \(String(cString: strerror(error)))") }
    }

    /// 0, or connect's errno.
    static func connectOnce(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return result == 0 ? 0 : errno
    }
}

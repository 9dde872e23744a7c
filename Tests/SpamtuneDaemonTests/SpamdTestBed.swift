import Foundation
import SpamtuneConfiguration
import SpamtuneControl
import SpamtuneTestSupport
import Testing

@testable import SpamtuneDaemon

#if canImport(Glibc)
import Glibc
#endif

/// A private directory under /tmp (short socket paths, searchable by other users) with
/// a tiny checkpoint, and ways to run spamtuned on it: in this process (a Daemon whose
/// ways in the test starts) or as the real executable.
final class SpamdTestBed: @unchecked Sendable {
    let root: URL
    let models: URL
    var processes: [Process] = []

    init(threshold: Double = 0.5) throws {
        root = URL(fileURLWithPath: "/tmp/st-\(UUID().uuidString.prefix(8).lowercased())")
        models = root.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        chmod(root.path, 0o755)
        try TinyCheckpoint.write(to: models, threshold: threshold, version: "v1-\(Int(threshold * 100))")
    }

    var spamdSocket: String { root.appendingPathComponent("spamd.sock").path }
    var controlSocket: String { root.appendingPathComponent("control.sock").path }
    var stateDirectory: URL { root.appendingPathComponent("state") }
    var feedback: URL { stateDirectory.appendingPathComponent("feedback") }

    func configuration(_ extra: [String: String] = [:]) -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        configuration.checkpoint = models.appendingPathComponent("current").path
        configuration.threads = 1
        configuration.milterListen = nil
        configuration.spamdListen = .unix(path: spamdSocket)
        configuration.controlSocket = controlSocket
        configuration.stateDirectory = stateDirectory.path
        configuration.logLevel = .debug
        return configuration
    }

    /// The configuration as a file for the real executable; `lines` add keys or replace
    /// the defaults here.
    func writeConfiguration(_ lines: [String] = []) throws -> URL {
        func key(_ line: String) -> String { line.split(separator: "=")[0].trimmingCharacters(in: .whitespaces) }
        let replaced = Set(lines.map(key))
        let text = ([
            "checkpoint = \(models.appendingPathComponent("current").path)",
            "threads = 1",
            "milter_listen = off",
            "spamd_listen = unix:\(spamdSocket)",
            "control_socket = \(controlSocket)",
            "control_socket_mode = 0600",
            "state_directory = \(stateDirectory.path)",
            // A retrain the daemon starts downloads here, never into /var/cache/spamtune.
            "cache_directory = \(root.appendingPathComponent("cache").path)",
            "log_level = debug",
        ].filter { !replaced.contains(key($0)) } + lines).joined(separator: "\n") + "\n"
        let url = root.appendingPathComponent("spamtune.conf")
        try Data(text.utf8).write(to: url)
        return url
    }

    /// A Daemon in this process; the test starts the ways in it wants.
    func daemon(_ configuration: DaemonConfiguration? = nil, log: LogCollector = LogCollector()) throws -> Daemon {
        try Daemon(configuration: configuration ?? self.configuration(), log: log.logger)
    }

    /// Starts the real spamtuned and waits until its control socket answers.
    @discardableResult
    func startExecutable(configuration: URL) throws -> Process {
        let process = Process()
        process.executableURL = ProjectPaths.builtProduct("spamtuned")
        process.arguments = ["--config", configuration.path]
        if !FileManager.default.fileExists(atPath: logFile.path) {
            _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: logFile)
        log.seekToEndOfFile()
        process.standardError = log
        process.standardOutput = log
        try process.run()
        processes.append(process)
        let deadline = Date(timeIntervalSinceNow: 60)
        while Date() < deadline {
            if !process.isRunning {
                throw TestBedError("spamtuned exited with status \(process.terminationStatus):\n\(daemonLog)")
            }
            if (try? ControlClient(socketPath: controlSocket, timeout: 5).send(.status)) != nil { return process }
            usleep(50_000)
        }
        throw TestBedError("spamtuned did not come up within 60 s:\n\(daemonLog)")
    }

    /// Stops the running spamtuned (SIGTERM, waited for) and starts it again.
    func restart(configuration: URL) throws {
        for process in processes where process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        try startExecutable(configuration: configuration)
    }

    var logFile: URL { root.appendingPathComponent("spamtuned.log") }
    var daemonLog: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Stops what was started and removes the directory.
    func tearDown() {
        for process in processes where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: root)
    }

    /// The files in the feedback store's Maildir for `label` (new/).
    func feedbackFiles(_ label: String) -> [URL] {
        let directory = feedback.appendingPathComponent("\(label)/new")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.sorted().map { directory.appendingPathComponent($0) }
    }

    static func message(_ subject: String, body: String = "Hello, this is a test message.\r\nSee you.\r\n", lineEnding: String = "\r\n") -> [UInt8] {
        let text = [
            "From: Alice <alice@example.test>", "To: bob@example.test", "Subject: \(subject)",
            "Message-ID: <\(UUID().uuidString)@example.test>", "Date: Mon, 23 Nov 2026 10:00:00 +0000", "",
        ].joined(separator: lineEnding) + lineEnding + body
        return Array(text.utf8)
    }
}

struct TestBedError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Collects the daemon's log lines for assertions.
final class LogCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [String] = []

    var logger: Logger {
        Logger(level: .debug) { [self] line in
            lock.lock()
            collected.append(line)
            lock.unlock()
        }
    }

    var lines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return collected
    }
}

/// The stock spamc from Debian, installed by the harness's helper when missing.
enum Spamc {
    static let path = "/usr/bin/spamc"

    static func ensureInstalled() throws {
        if FileManager.default.isExecutableFile(atPath: path) { return }
        let script = ProjectPaths.harness("common.sh").path
        let result = try runProcess(URL(fileURLWithPath: "/bin/bash"), ["-c", "source '\(script)' && ensure_pkgs spamc:spamc"])
        guard result.status == 0, FileManager.default.isExecutableFile(atPath: path) else {
            throw TestBedError("cannot install spamc: \(result.standardError)")
        }
    }

    static func run(_ arguments: [String], input: [UInt8]) throws -> ProcessResult {
        try runProcess(URL(fileURLWithPath: path), arguments, input: Data(input))
    }
}

/// A TCP port nothing listens on right now (the system picks it).
func freeTCPPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    guard bound == 0 else { throw TestBedError("bind: \(String(cString: strerror(errno)))") }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return UInt16(bigEndian: address.sin_port)
}

/// Runs a script that starts a daemon (the harness's spamd-loopback.sh). Foundation's
/// Process waits until every copy of its pipes and its status socket is closed, and a
/// daemon keeps them; so the script runs under posix_spawn with output to a file and
/// every inherited descriptor above 2 closed, and is waited for with waitpid.
func runDaemonizingScript(_ script: URL, _ arguments: [String], environment: [String: String]) throws -> (status: Int32, output: String) {
    let outputFile = "/tmp/st-script-\(UUID().uuidString.prefix(8)).log"
    defer { unlink(outputFile) }
    // Close what this process has open (other tests' pipes) before the daemon inherits it.
    // (No redirection on the loop: bash would park stderr on a descriptor the loop closes.)
    let wrapper = #"for n in $(ls /proc/$$/fd); do [ "$n" -gt 2 ] && eval "exec $n>&-"; done; exec "$0" "$@""#
    let argv = ["/bin/bash", "-c", wrapper, script.path] + arguments
    let mergedEnvironment = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputFile, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    var cEnvironment: [UnsafeMutablePointer<CChar>?] = mergedEnvironment.map { strdup($0) } + [nil]
    defer {
        for pointer in cArguments { free(pointer) }
        for pointer in cEnvironment { free(pointer) }
    }
    // Test threads block signals (dispatch does); spamd's parent waits for one from its child.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var emptyMask = sigset_t()
    sigemptyset(&emptyMask)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigmask(&attributes, &emptyMask)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var pid: pid_t = 0
    let result = posix_spawn(&pid, "/bin/bash", &actions, &attributes, &cArguments, &cEnvironment)
    guard result == 0 else { throw TestBedError("cannot run \(script.path): \(String(cString: strerror(result)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let output = (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
    return ((status >> 8) & 0xFF, output)
}

extension ScoringService {
    /// The model's verdict on a whole message, as a way in hands one to the policy.
    func score(_ bytes: [UInt8], channel: Channel) -> Verdict {
        score(IncomingMessage(bytes, maxMessageBytes: .max, envelope: MessageEnvelope(channel: channel, identifier: "test")))
    }
}

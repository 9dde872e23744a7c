import Foundation
import SpamtuneConfiguration
import SpamtuneControl
import SpamtuneSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Starts the training command for `spamtune retrain`, one at a time, in a session of
/// its own (stopping the daemon does not stop a training run), with its output appended
/// to `<state_directory>/retrain.log`, at the timer unit's priority (nice 10), so a
/// training run never slows scoring. The daemon reaps it and remembers how it ended.
final class Retrainer: Sendable {
    /// spamtune-train.service's Nice=.
    static let niceness: Int32 = 10

    let command: [String]
    let logPath: String
    private let state = Mutex<RetrainState?>(nil)
    private let statistics: ServiceStatistics?

    init(configuration: DaemonConfiguration, statistics: ServiceStatistics? = nil) {
        self.statistics = statistics
        command = Self.command(for: configuration)
        logPath = (configuration.stateDirectory as NSString).appendingPathComponent("retrain.log")
    }

    /// The configured command, or `spamtune-train --config <the file spamtuned was
    /// started with>`; a program named without a slash is looked for beside spamtuned's
    /// own executable, then on PATH.
    static func command(for configuration: DaemonConfiguration, arguments: [String] = CommandLine.arguments) -> [String] {
        var words = configuration.retrainCommand ?? ["spamtune-train", "--config", configurationPath(in: arguments)]
        if !words[0].contains("/") { words[0] = resolve(words[0]) }
        return words
    }

    /// spamtuned's `--config FILE` (or `--config=FILE`), else its default.
    static func configurationPath(in arguments: [String]) -> String {
        for (index, argument) in arguments.enumerated() {
            if argument == "--config", index + 1 < arguments.count { return arguments[index + 1] }
            if argument.hasPrefix("--config=") { return String(argument.dropFirst("--config=".count)) }
        }
        return SpamtunePaths.configurationFile
    }

    private static func resolve(_ program: String) -> String {
        let ownDirectory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        var candidates = [ownDirectory.appendingPathComponent(program).path]
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            candidates.append((String(directory) as NSString).appendingPathComponent(program))
        }
        return candidates.first { access($0, X_OK) == 0 } ?? candidates[0]
    }

    /// The last run, or the one under way.
    var last: RetrainState? { state.withLock { $0 } }

    /// Starts the command; fails when one is still running or it cannot be started.
    func start() throws -> RetrainState {
        let started = try state.withLock { state in
            if let state, state.running {
                throw ControlClientError.failed("a retrain is already running (pid \(state.pid), started \(state.startedAt)); its output goes to \(logPath)")
            }
            let pid = try spawnNiced()
            state = RetrainState(
                pid: pid, command: command, startedAt: ISO8601DateFormatter().string(from: Date()), log: logPath, running: true,
                exitStatus: nil)
            return state!
        }
        let pid = started.pid
        let reaper = Thread { [self] in reap(pid) }
        reaper.name = "spamtune-retrain-reaper"
        reaper.start()
        return started
    }

    private func reap(_ pid: Int32) {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot import.
        let signal = status & 0x7F
        let exitStatus = signal == 0 ? (status >> 8) & 0xFF : 128 + signal
        state.withLock { state in
            if state?.pid == pid {
                state?.running = false
                state?.exitStatus = exitStatus
            }
        }
        statistics?.noteRetrain(exitStatus == 0 ? .succeeded : .failed)
    }

    /// spawn() from a thread of its own at `niceness`: Linux keeps the nice value per
    /// thread and a child inherits its spawning thread's, while the daemon's own threads
    /// keep theirs (a lowered nice value could not be raised back without privileges).
    private func spawnNiced() throws -> Int32 {
        let outcome = Mutex<Result<Int32, Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            // On Linux, PRIO_PROCESS with 0 names the calling thread.
            let which = __priority_which_t(PRIO_PROCESS.rawValue)
            if getpriority(which, 0) < Self.niceness { setpriority(which, 0, Self.niceness) }
            let result = Result { try spawn() }
            outcome.withLock { $0 = result }
            done.signal()
        }
        thread.name = "spamtune-retrain-spawn"
        thread.start()
        done.wait()
        return try outcome.withLock { $0 }!.get()
    }

    private func spawn() throws -> Int32 {
        let logFile = logPath
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logFile, O_WRONLY | O_APPEND | O_CREAT, 0o640)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The daemon ignores HUP, TERM, INT and PIPE (its dispatch sources take them);
        // ignored signals survive exec, so the trainer gets the defaults back, and an
        // empty mask. glibc's POSIX_SPAWN_SETSID (0x80) is hidden from Swift.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number in [SIGHUP, SIGTERM, SIGINT, SIGPIPE, SIGQUIT] { sigaddset(&defaults, number) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) | 0x80)

        // The unit's system call filter forbids setpriority (its @resources group): there
        // the run keeps the daemon's priority, and the log says so.
        let nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        let priority = nice >= Self.niceness ? "nice \(nice)" : "nice \(nice): setting nice \(Self.niceness) was refused (a system call filter?)"
        let header = "\n# \(ISO8601DateFormatter().string(from: Date())) spamtuned starts (\(priority)): \(command.joined(separator: " "))\n"
        let logDescriptor = open(logFile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard logDescriptor >= 0 else {
            throw ControlClientError.failed("cannot open the retrain log \(logFile): \(String(cString: strerror(errno)))")
        }
        _ = header.utf8CString.withUnsafeBufferPointer { Glibc.write(logDescriptor, $0.baseAddress, $0.count - 1) }
        close(logDescriptor)

        var argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, command[0], &actions, &attributes, &argv, environ)
        guard result == 0 else {
            throw ControlClientError.failed("cannot start \(command[0]): \(String(cString: strerror(result))) (set retrain_command in the configuration)")
        }
        return pid
    }
}

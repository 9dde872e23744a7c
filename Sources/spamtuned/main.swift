import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SpamtuneClassifier
import SpamtuneCommandLines
import SpamtuneConfiguration
import SpamtuneDaemon
import SpamtuneSupport

// spamtuned: the spamtune daemon. Runs in the foreground (systemd's Type=notify);
// logs to standard error.

let tool = CommandLineTool("spamtuned", usage: DaemonCommandLine.usage, checkpointFormat: CheckpointManifest.currentFormatVersion)

func fail(_ message: String, status: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("spamtuned: \(message)\n".utf8))
    exit(status)
}

// A parent may have started us with these signals blocked (Process does); blocked, a
// SIGTERM sent during start-up would be discarded once the handlers are installed.
var startupSignals = sigset_t()
sigemptyset(&startupSignals)
for number in [SIGHUP, SIGTERM, SIGINT] { sigaddset(&startupSignals, number) }
pthread_sigmask(SIG_UNBLOCK, &startupSignals, nil)

let parsed = tool.parse(DaemonCommandLine.specification, Array(CommandLine.arguments.dropFirst()))
do {
    try parsed.rejectPositionals()
} catch {
    tool.fail(error)
}
let configPath = parsed.value("config") ?? SpamtunePaths.configurationFile
let configuration: DaemonConfiguration
do {
    configuration = try DaemonConfiguration.load(configPath)
} catch {
    fail("\(error)", status: DaemonCommandLine.configurationErrorStatus)
}
// A name the configuration uses must exist here, checked before anything is created.
let problems = configuration.systemProblems()
if !problems.isEmpty {
    fail(problems.map { "\(configPath): \($0)" }.joined(separator: "\nspamtuned: "), status: DaemonCommandLine.configurationErrorStatus)
}
let log = Logger(level: configuration.logLevel, scoreScale: configuration.scoreScale, timestamps: !Logger.standardErrorIsJournal)
for warning in configuration.warnings { log.warning("\(configPath): \(warning)") }
// One daemon per state directory; a second one says which pid runs and stops.
var instanceLock: InstanceLock?
if !parsed.has("check-config") {
    do {
        instanceLock = try InstanceLock(stateDirectory: configuration.stateDirectory)
    } catch let error as InstanceLock.Held {
        fail("\(error)", status: DaemonCommandLine.configurationErrorStatus)
    } catch {
        fail("\(error)")
    }
}
let systemdSockets: SystemdSockets
do {
    systemdSockets = parsed.has("check-config") ? SystemdSockets() : try SystemdSockets.fromEnvironment(configuration: configuration)
} catch {
    fail("\(error)", status: DaemonCommandLine.configurationErrorStatus)  // the socket units and the configuration disagree
}
let daemon: Daemon
do {
    daemon = try Daemon(configuration: configuration, log: log, systemdSockets: systemdSockets)
} catch let error as ConfigurationError {
    fail("\(error)", status: DaemonCommandLine.configurationErrorStatus)  // a sender list file named in the configuration
} catch {
    fail("cannot load the model: \(error)")
}
if parsed.has("check-config") {
    print("configuration \(configPath) is valid; model \(daemon.service.currentModel.version) loads")
    exit(0)
}
do {
    try daemon.start(WaysIn.all)
} catch let error as SocketError where error.kind != .system {
    // Another daemon on the socket, or a path that cannot work: a restart would not help.
    fail("\(error)", status: DaemonCommandLine.configurationErrorStatus)
} catch {
    fail("\(error)")
}
daemon.waitUntilStopped()
withExtendedLifetime(instanceLock) {}
exit(0)

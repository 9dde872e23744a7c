import Foundation
import SpamtuneClassifier
import SpamtuneConfiguration

#if canImport(Glibc)
import Glibc
#endif

/// A running way into the daemon (milter, spamd socket, Maildir watcher, control socket).
public protocol WayIn: AnyObject, Sendable {
    var name: String { get }
    /// Stops taking new work. Graceful: exchanges under way finish first.
    func stop(graceful: Bool)
}

/// What every way in is given when it starts.
public struct DaemonContext: Sendable {
    let configuration: DaemonConfiguration
    /// The verdict's header fields and score scale, the same at every way in.
    let verdictHeaders: VerdictHeaders
    let service: ScoringService
    /// The rules every message passes before the model; it holds `service`.
    let policy: Policy
    let log: Logger
    /// Sockets systemd passed (socket activation), claimed by the ways in that listen on them.
    let systemdSockets: SystemdSockets
    /// Asks the daemon to reload its checkpoint (the control socket's `reload`).
    let requestReload: @Sendable () -> Result<ScoringService.LoadedModel, Error>
}

/// spamtuned: loads the checkpoint once, starts every configured way in, reloads on
/// SIGHUP (or the control socket), drains and exits on SIGTERM.
// @unchecked Sendable: `waysIn` and the signal and watchdog sources are set in `start` before any handler runs, then touched only on `queue`.
public final class Daemon: @unchecked Sendable {
    let configuration: DaemonConfiguration
    let verdictHeaders: VerdictHeaders
    let log: Logger
    public let service: ScoringService
    let policy: Policy
    private let systemdSockets: SystemdSockets
    private let notifier = SystemdNotifier()
    private var waysIn: [WayIn] = []
    private let stopped = DispatchSemaphore(value: 0)
    private var signalSources: [DispatchSourceSignal] = []
    private var watchdog: DispatchSourceTimer?
    private let queue = DispatchQueue(label: "spamtuned.signals")

    public init(configuration: DaemonConfiguration, log: Logger, systemdSockets: SystemdSockets = SystemdSockets()) throws {
        self.configuration = configuration
        verdictHeaders = VerdictHeaders(configuration)
        self.log = log
        self.systemdSockets = systemdSockets
        let checkpoint = configuration.checkpoint
        let threads = configuration.threads > 0 ? configuration.threads : ProcessInfo.processInfo.activeProcessorCount
        let maxTokens = configuration.maxTokens
        let precision = try PrecisionSetting(parsing: configuration.precision)
        // Every threshold the daemon decides at: `auto` serves int8 only where all give fp32's
        // verdicts. Reject and quarantine are milter actions: without a milter nothing decides at them.
        let spamThreshold = configuration.spamThreshold
        let (rejectThreshold, quarantineThreshold) =
            configuration.servesMilter ? (configuration.rejectThreshold, configuration.quarantineThreshold) : (nil, nil)
        // The list files first: a bad one stops the start before the model is loaded.
        let rules = try Policy.Rules(configuration)
        service = try ScoringService(settings: ScoringService.Settings(configuration), log: log) {
            // Resolve `current` anew each time, so a reload picks up a newly promoted version.
            let directory = URL(fileURLWithPath: checkpoint).resolvingSymlinksInPath()
            let classifier = try SpamClassifier.load(
                checkpoint: directory, threads: threads, maxTokens: maxTokens, precision: precision, spamThreshold: spamThreshold,
                rejectThreshold: rejectThreshold, quarantineThreshold: quarantineThreshold)
            // One full-length message before serving: it faults in every page of the
            // memory-mapped weights (else the first messages after a start or a reload wait
            // for the disk), and a model whose weights give NaN is refused here, not in
            // front of mail.
            let warmUp = classifier.classify(texts: [String(repeating: "spamtuned checks the model before it serves. ", count: 64)])
            guard let logits = warmUp.first?.logits, logits.allSatisfy(\.isFinite) else {
                throw ClassifierError.checkpoint(
                    directory.path, "its weights give no finite score (NaN or infinity): the file is damaged; retrain, or roll back with spamtune-train rollback")
            }
            let version = classifier.manifest?.version ?? directory.lastPathComponent
            log.info("model \(version) computes in \(classifier.precisionChoice.precision.rawValue): \(classifier.precisionChoice.reason)")
            if let warning = classifier.manifest?.training?.noMailWarning { log.warning("model \(version): \(warning)") }
            return ScoringService.LoadedModel(classifier: classifier, version: version)
        }
        policy = Policy(configuration: configuration, rules: rules, service: service, log: log)
        log.observeMessages { [statistics = service.statistics] channel, verdict, action in
            statistics.recordAction(action, verdict: verdict, channel: channel)
        }
    }

    var context: DaemonContext {
        DaemonContext(
            configuration: configuration, verdictHeaders: verdictHeaders, service: service, policy: policy, log: log, systemdSockets: systemdSockets
        ) { [weak self] in
            guard let self else { return .failure(ClassifierError.checkpoint("", "the daemon is stopping")) }
            return self.reload()
        }
    }

    /// Starts the ways in; a failure stops those already started and is thrown.
    public func start(_ factories: [(DaemonContext) throws -> WayIn?]) throws {
        if !systemdSockets.summary.isEmpty {
            log.info("sockets from systemd: \(systemdSockets.summary.joined(separator: ", "))")
        }
        for factory in factories {
            do {
                if let wayIn = try factory(context) {
                    waysIn.append(wayIn)
                    log.info("listening: \(wayIn.name)")
                }
            } catch {
                for started in waysIn { started.stop(graceful: false) }
                throw error
            }
        }
        installSignalHandlers()
        startWatchdog()
        let model = service.currentModel
        log.info("spamtuned ready: model \(model.version) from \(model.classifier.origin), \(model.classifier.model.kernels.threads) threads (\(model.classifier.model.kernels.instructionSet.rawValue))")
        notifier.notify("READY=1\nSTATUS=serving model \(model.version)")
    }

    /// Blocks until SIGTERM/SIGINT (or `stop()`), then drains and returns.
    public func waitUntilStopped() {
        stopped.wait()
    }

    func stop() {
        queue.async { self.shutDown() }
    }

    /// Loads the checkpoint again and reads the policy's list files again.
    func reload() -> Result<ScoringService.LoadedModel, Error> {
        notifier.notify("RELOADING=1\nMONOTONIC_USEC=\(DispatchTime.now().uptimeNanoseconds / 1000)\nSTATUS=reloading")
        policy.reload()
        let result = service.reload()
        notifier.notify("READY=1\nSTATUS=serving model \(service.currentModel.version)")
        return result
    }

    private func shutDown() {
        notifier.notify("STOPPING=1\nSTATUS=draining")
        log.info("stopping: finishing the messages under way")
        for wayIn in waysIn { wayIn.stop(graceful: true) }
        service.drainAndStop()
        watchdog?.cancel()
        log.info("stopped")
        stopped.signal()
    }

    private func installSignalHandlers() {
        for number in [SIGHUP, SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [weak self] in
                guard let self else { return }
                if number == SIGHUP {
                    self.log.info("SIGHUP: reloading the checkpoint")
                    _ = self.reload()
                } else {
                    self.shutDown()
                }
            }
            source.resume()
            signalSources.append(source)
        }
        signal(SIGPIPE, SIG_IGN)
    }

    private func startWatchdog() {
        guard let interval = SystemdNotifier.watchdogInterval() else { return }
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + interval / 2, repeating: interval / 2)
        timer.setEventHandler { [weak self] in self?.notifier.notify("WATCHDOG=1") }
        timer.resume()
        watchdog = timer
    }
}

import Foundation
import SpamtuneConfiguration
import SpamtuneControl

#if canImport(Glibc)
import Glibc
#endif

/// The control socket (`control_socket`, with `control_socket_mode` and
/// `control_socket_group` deciding who may use it): status, reload and retrain for the
/// `spamtune` command. See ControlProtocol.swift for the wire format.
final class ControlServer: WayIn, Sendable {
    let name: String
    private let context: DaemonContext
    private let listener: SocketListener
    private let retrainer: Retrainer
    private let feedback: FeedbackStore?

    static func make(_ context: DaemonContext) throws -> WayIn? {
        try ControlServer(context: context)
    }

    init(context: DaemonContext) throws {
        self.context = context
        let configuration = context.configuration
        let address = ListenAddress.unix(path: configuration.controlSocket)
        listener = try SocketListener(
            address: address, adopting: context.systemdSockets.take(address), mode: configuration.controlSocketMode,
            group: configuration.controlSocketGroup,
            limits: ConnectionLimits(maxConnections: 16, firstByte: configuration.firstByteTimeout, idle: 30), log: context.log,
            statistics: context.service.statistics.listener("control"))
        retrainer = Retrainer(configuration: configuration, statistics: context.service.statistics)
        feedback = try? FeedbackStore(
            configuration: configuration, verdictHeaders: context.verdictHeaders, log: context.log, statistics: context.service.statistics)
        name = "control on unix:\(configuration.controlSocket)"
        listener.start { [self] connection in serve(connection) }
    }

    func stop(graceful: Bool) {
        // A reload under way finishes; an idle `spamtune` connection does not hold up the exit.
        listener.stop(closeConnections: !graceful)
        if graceful { listener.waitForConnections(seconds: 5) }
    }

    private func serve(_ connection: SocketConnection) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        while true {
            let response: ControlResponse
            do {
                guard let line = try connection.readLine(limit: 4096) else { return }
                if line.allSatisfy({ $0 == UInt8(ascii: " ") }) { continue }
                response = handle(line)
            } catch {
                return  // idle, too long or gone: nothing to answer
            }
            guard let data = try? encoder.encode(response), (try? connection.write(Array(data) + [UInt8(ascii: "\n")])) != nil else {
                return
            }
        }
    }

    func handle(_ line: [UInt8]) -> ControlResponse {
        let request: ControlRequest
        do {
            request = try JSONDecoder().decode(ControlRequest.self, from: Data(line))
        } catch {
            let known = ControlCommand.allCases.map(\.rawValue).joined(separator: ", ")
            return .failure("not a control request: send one JSON object per line, like {\"command\":\"status\"} (commands: \(known))")
        }
        switch request.command {
        case .status:
            return ControlResponse(ok: true, status: status())
        case .reload:
            let previous = context.service.currentModel.version
            context.log.info("control: reload requested")
            switch context.requestReload() {
            case let .success(model):
                return ControlResponse(ok: true, reload: ReloadOutcome(previousVersion: previous, version: model.version))
            case let .failure(error):
                return .failure("reload refused, still serving \(context.service.currentModel.version): \(error)")
            }
        case .retrain:
            do {
                let state = try retrainer.start()
                context.log.info("control: retrain started, pid \(state.pid): \(state.command.joined(separator: " "))")
                context.service.statistics.noteRetrain(.started)
                return ControlResponse(ok: true, retrain: state)
            } catch {
                context.log.error("control: retrain not started: \(error)")
                context.service.statistics.noteRetrain(.refused)
                return .failure("\(error)")
            }
        }
    }

    func status() -> DaemonStatus {
        let service = context.service
        let snapshot = service.statistics.snapshot()
        let model = service.currentModel
        var verdicts: [String: [String: Int]] = [:]
        var cached = 0
        var policyDecisions: [String: Int] = [:]
        for (key, count) in snapshot.counts {
            let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            if parts == ["total", "cached"] {
                cached = count
                continue
            }
            if parts[0] == "policy" {
                policyDecisions[parts[1]] = count
                continue
            }
            verdicts[parts[0], default: [:]][parts[1]] = count
        }
        let iso = ISO8601DateFormatter()
        return DaemonStatus(
            pid: getpid(), startedAt: iso.string(from: service.statistics.startedAt), uptimeSeconds: snapshot.uptimeSeconds,
            model: ModelStatus(
                version: model.version, origin: model.classifier.origin, loadedAt: iso.string(from: model.loadedAt),
                threshold: service.settings.spamThreshold ?? model.classifier.threshold,
                training: model.classifier.manifest?.training?.values,
                precision: model.classifier.precisionChoice.precision.rawValue, precisionReason: model.classifier.precisionChoice.reason),
            verdicts: verdicts, cachedVerdicts: cached, policyDecisions: policyDecisions,
            latency: LatencyPercentiles(p50: snapshot.latencyP50, p90: snapshot.latencyP90, p99: snapshot.latencyP99),
            queueDepth: service.queueDepth, maximumQueueDepth: snapshot.maximumQueueDepth, queueLimit: service.settings.queueLimit,
            batches: snapshot.batches, meanBatchSize: snapshot.meanBatchSize, reloads: snapshot.reloads,
            listening: Self.listening(context.configuration), feedback: try? feedback?.counts(), retrain: retrainer.last)
    }

    /// The ways in the configuration turns on (the daemon does not start unless all of
    /// them could listen).
    static func listening(_ configuration: DaemonConfiguration) -> [String] {
        var lines: [String] = []
        if let address = configuration.milterListen { lines.append("milter \(address)") }
        if let address = configuration.spamdListen { lines.append("spamd \(address)") }
        if let address = configuration.spamdTCPListen {
            lines.append("spamd \(address) (clients: \(configuration.spamdAllowedNetworks.map(\.description).joined(separator: ", ")))")
        }
        for maildir in configuration.maildirs { lines.append("maildir \(maildir)") }
        lines.append("control unix:\(configuration.controlSocket)")
        if let address = configuration.metricsListen { lines.append("metrics http://\(address)/metrics") }
        return lines
    }
}

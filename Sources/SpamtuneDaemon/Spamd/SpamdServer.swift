import Foundation
import SpamtuneConfiguration
import SpamtuneMail

/// The spamd-compatible way in: SpamAssassin's SPAMC/1.5 protocol on a Unix socket
/// (`spamd_listen`) and optionally on TCP (`spamd_tcp_listen`) for a pool of MTAs,
/// where only clients in `spamd_allowed_networks` are served (spamd's `-A`). The stock
/// `spamc`, Exim's `spam =` condition and Mail::SpamAssassin::Client work unchanged.
///
/// Scoring is open to whoever may connect; TELL (`spamc -L`) only to the peers the
/// LearningPolicy names, others get EX_NOPERM and a log line naming them.
///
/// A connection carries one request. A request that breaks the protocol gets an error
/// status line and its connection is closed; nothing a client sends affects another
/// connection.
final class SpamdServer: WayIn, Sendable {
    let name: String
    private let context: DaemonContext
    private let listeners: [SocketListener]
    private let tcpListener: SocketListener?
    private let reader: SpamdRequestReader
    private let feedback: FeedbackStore
    private let learning: LearningPolicy
    private let allowedNetworks: [ClientNetwork]
    private let drainSeconds: Double

    /// The factory `WaysIn.all` lists: nil when neither socket is configured.
    static func make(_ context: DaemonContext) throws -> WayIn? {
        let configuration = context.configuration
        guard configuration.spamdListen != nil || configuration.spamdTCPListen != nil else { return nil }
        return try SpamdServer(context: context)
    }

    init(context: DaemonContext) throws {
        self.context = context
        let configuration = context.configuration
        var limits = SpamdLimits()
        limits.scoredBytes = configuration.maxMessageBytes
        limits.wholeMessageBytes = max(configuration.spamdMaxBodyBytes, configuration.maxMessageBytes)
        limits.requestSeconds = configuration.connectionTimeout
        reader = SpamdRequestReader(limits: limits)
        feedback = try FeedbackStore(
            configuration: configuration, verdictHeaders: context.verdictHeaders, log: context.log, statistics: context.service.statistics)
        learning = LearningPolicy(configuration)
        allowedNetworks = configuration.spamdAllowedNetworks
        drainSeconds = min(configuration.connectionTimeout, configuration.messageDeadline + 5)

        var listeners: [SocketListener] = []
        var names: [String] = []
        do {
            let limits = ConnectionLimits(
                maxConnections: configuration.maxConnections, perPeer: configuration.maxConnectionsPerClient,
                firstByte: configuration.firstByteTimeout, idle: configuration.connectionTimeout)
            let statistics = context.service.statistics.listener("spamd")
            if let address = configuration.spamdListen {
                listeners.append(
                    try SocketListener(
                        address: address, adopting: context.systemdSockets.take(address), mode: configuration.spamdSocketMode,
                        limits: limits, log: context.log, statistics: statistics))
                names.append("\(address)")
            }
            if let address = configuration.spamdTCPListen {
                let listener = try SocketListener(
                    address: address, adopting: context.systemdSockets.take(address), limits: limits, log: context.log, statistics: statistics)
                listeners.append(listener)
                tcpListener = listener
                names.append("\(address) allowing \(allowedNetworks.map(\.description).joined(separator: ", "))")
            } else {
                tcpListener = nil
            }
        } catch {
            for listener in listeners { listener.stop() }
            throw error
        }
        self.listeners = listeners
        name = "spamd on " + names.joined(separator: " and ")
        for listener in listeners {
            listener.start { [self] connection in serve(connection) }
        }
    }

    /// The TCP port, when listening on TCP (tests listen on a port the system picks).
    var tcpPort: UInt16? { tcpListener?.boundPort }

    func stop(graceful: Bool) {
        for listener in listeners { listener.stop(closeConnections: !graceful) }
        if graceful {
            for listener in listeners { listener.waitForConnections(seconds: drainSeconds) }
        }
    }

    private func serve(_ connection: SocketConnection) {
        if let peer = connection.peer, !allowedNetworks.contains(where: { $0.contains(peer) }) {
            context.service.statistics.listener("spamd").refused(.network)
            context.log.warning(
                "spamd: refused a connection from \(connection.peerDescription): not in spamd_allowed_networks",
                throttle: "spamd: refused, not in spamd_allowed_networks")
            return
        }
        let answer: [UInt8]
        do {
            guard let request = try reader.read(from: connection) else { return }
            answer = respond(to: request, from: connection.identity)
        } catch {
            context.log.warning("spamd: \(connection.identity): \(error)", throttle: "spamd: \(error)")
            context.service.statistics.noteRequestError(.spamd, reason: error.status.metricReason)
            answer = SpamdResponse.error(error)
        }
        do {
            try connection.write(answer)
        } catch {
            context.log.debug("spamd: \(connection.peerDescription): the answer could not be sent: \(error)")
        }
    }

    /// The answer to one request from `peer` (all of it: the connection closes after it).
    func respond(to request: SpamdRequest, from peer: PeerIdentity) -> [UInt8] {
        switch request.verb {
        case .ping: return SpamdResponse.pong()
        case .skip: return []
        case .tell:
            if let refusal = learning.refusal(for: peer) {
                context.service.statistics.noteTellRefused()
                context.log.warning(
                    "spamd id=\(MessageEnvelope.messageID(of: MailMessage(bytes: request.body))) tell refused: \(refusal)", throttle: "spamd: tell refused for \(peer.key)")
                return SpamdResponse.error(SpamdRequestError(.noPermission, "TELL commands are not enabled for \(peer)"))
            }
            return tell(request, from: peer)
        default: break
        }
        var incoming = IncomingMessage(
            request.body, receivedBytes: request.messageBytes, maxMessageBytes: context.configuration.maxMessageBytes,
            envelope: MessageEnvelope(channel: .spamd, identifier: ""))
        incoming.envelope.identifier = incoming.messageID
        incoming.envelope.sender = incoming.headerSender
        incoming.envelope.spamdUser = request.user
        incoming.envelope.peer = peer.key
        let verdict = context.policy.verdict(on: incoming)
        if case let .temporaryFailure(reason) = verdict.outcome {
            context.log.message(incoming.envelope, verdict: verdict, action: .tempfail, bytes: incoming.scoredBytes)
            return SpamdResponse.error(SpamdRequestError(.temporaryFailure, "not scored: \(reason); try again later"))
        }
        let answersWithMessage = request.verb == .process || request.verb == .headers
        context.log.message(incoming.envelope, verdict: verdict, action: answersWithMessage ? .headers : .answer, bytes: incoming.scoredBytes)
        let text = SpamdVerdictText(verdict: verdict, headers: context.verdictHeaders, truncated: incoming.isTruncated)
        var message: [UInt8]?
        if answersWithMessage {
            do {
                message = try SpamdResponse.rewrittenMessage(
                    incoming.message,
                    fields: text.headerFields,
                    headersOnly: request.verb == .headers)
            } catch {
                return SpamdResponse.error(SpamdRequestError(.software, "cannot add the verdict header fields: \(error)"))
            }
        }
        return SpamdResponse.verdict(text, request: request, message: message)
    }

    /// TELL: `Set: local` stores the message with its class in the feedback store,
    /// `Remove: local` takes it out. Remote databases do not exist here and are not
    /// reported as done.
    private func tell(_ request: SpamdRequest, from peer: PeerIdentity) -> [UInt8] {
        let message = MailMessage(bytes: request.body)
        let identifier = MessageEnvelope.messageID(of: message)
        var didSet: [TellDatabase] = []
        var didRemove: [TellDatabase] = []
        do {
            if request.setDatabases.contains(.local), let label = request.messageClass {
                let change = try feedback.record(message, label: label, source: "spamd-tell", reporter: peer.reporter)
                if change != .unchanged { didSet.append(.local) }
                context.log.info("spamd id=\(identifier) tell=\(label.name) feedback=\(Self.describe(change)) reporter=\(peer.reporter) (\(peer))")
            }
            if request.removeDatabases.contains(.local) {
                let removed = try feedback.remove(message, label: request.messageClass)
                if removed { didRemove.append(.local) }
                context.log.info("spamd id=\(identifier) tell=forget feedback=\(removed ? "removed" : "absent") reporter=\(peer.reporter) (\(peer))")
            }
        } catch let error as FeedbackError {
            let status: SpamdStatus
            switch error {
            case .messageTooLarge, .emptyMessage: status = .dataError
            case .cannotRead, .cannotWrite: status = .ioError
            }
            context.log.error("spamd id=\(identifier) tell failed: \(error)")
            return SpamdResponse.error(SpamdRequestError(status, error.description))
        } catch {
            return SpamdResponse.error(SpamdRequestError(.software, "\(error)"))
        }
        return SpamdResponse.tell(didSet: didSet, didRemove: didRemove)
    }

    private static func describe(_ change: FeedbackChange) -> String {
        switch change {
        case .added: "added"
        case let .relabelled(from): "relabelled-from-\(from.name)"
        case .unchanged: "already-there"
        }
    }
}

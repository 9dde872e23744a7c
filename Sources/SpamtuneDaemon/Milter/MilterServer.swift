import Foundation
import SpamtuneConfiguration
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The milter way in: Postfix (`smtpd_milters = unix:/run/spamtune/milter.sock`) or
/// Sendmail hands every message to spamtuned, which adds the X-Spam-* headers, rejects,
/// quarantines or asks for a retry, by the configured thresholds.
///
/// Listens on `milter_listen` (a Unix socket by default) and optionally on
/// `milter_tcp_listen`; each MTA connection is served on a thread of its own, so one
/// slow or broken peer holds up nobody else. A peer that breaks the protocol is logged
/// and its connection alone is closed.
final class MilterServer: WayIn, Sendable {
    let name: String
    private let listeners: [SocketListener]
    private let milterPolicy: MilterPolicy
    private let maxMessageBytes: Int
    private let allowedNetworks: [ClientNetwork]
    private let policy: Policy
    private let log: Logger
    private let statistics: ServiceStatistics
    private let drainSeconds: Double
    private let stopping = Atomic<Bool>(false)
    private let sessions = Mutex<[ObjectIdentifier: (session: MilterSession, connection: SocketConnection)]>([:])

    /// The factory for `WaysIn.all`: nil when both milter addresses are off.
    static func make(_ context: DaemonContext) throws -> WayIn? {
        let configuration = context.configuration
        guard configuration.servesMilter else { return nil }
        return try MilterServer(context: context)
    }

    /// Binds every configured address and starts serving.
    init(context: DaemonContext) throws {
        let configuration = context.configuration
        milterPolicy = MilterPolicy(configuration, headers: context.verdictHeaders)
        maxMessageBytes = configuration.maxMessageBytes
        allowedNetworks = configuration.milterAllowedNetworks
        policy = context.policy
        log = context.log
        statistics = context.service.statistics
        // Long enough for a message under way to get its verdict.
        drainSeconds = min(configuration.messageDeadline + 5, 60)
        // No per-peer bound: every Postfix smtpd is the same user (or, on TCP, host).
        let limits = ConnectionLimits(
            maxConnections: configuration.maxConnections, firstByte: configuration.firstByteTimeout, idle: configuration.connectionTimeout)
        var bound: [SocketListener] = []
        do {
            if let address = configuration.milterListen {
                let isUnix: Bool
                if case .unix = address { isUnix = true } else { isUnix = false }
                bound.append(
                    try SocketListener(
                        address: address, adopting: context.systemdSockets.take(address), mode: isUnix ? configuration.milterSocketMode : nil,
                        group: isUnix ? configuration.milterSocketGroup : nil, limits: limits, log: log,
                        statistics: context.service.statistics.listener("milter")))
            }
            if let address = configuration.milterTCPListen {
                bound.append(
                    try SocketListener(
                        address: address, adopting: context.systemdSockets.take(address), limits: limits, log: log,
                        statistics: context.service.statistics.listener("milter")))
            }
        } catch {
            for listener in bound { listener.stop(closeConnections: true) }
            throw error
        }
        listeners = bound
        name = "milter on " + bound.map { $0.address.description }.joined(separator: " and ")
        for listener in listeners {
            listener.start { [self] connection in serve(connection) }
        }
    }

    /// The TCP port bound (port 0 in a configuration binds any free port).
    var tcpPort: UInt16? { listeners.lazy.compactMap(\.boundPort).first }

    /// Connections open now.
    var openConnections: Int { sessions.withLock { $0.count } }

    /// Stops accepting. Graceful: idle connections close at once (the MTA opens a new one
    /// for its next message, or applies its default action while spamtuned is down), and
    /// a message under way gets its verdict before its connection closes.
    func stop(graceful: Bool) {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        // Connections are cut from this server's own list, never the listener's: an entry
        // leaves that list before its socket is closed, so a descriptor number that was
        // closed and reused by another connection is never shut down by mistake.
        for listener in listeners { listener.stop(closeConnections: false) }
        if graceful {
            let end = Date(timeIntervalSinceNow: drainSeconds)
            while Date() < end {
                let busy = sessions.withLock { sessions -> Int in
                    var busy = 0
                    for entry in sessions.values {
                        if entry.session.isInMessage { busy += 1 } else { entry.connection.shutdown() }
                    }
                    return busy
                }
                if busy == 0 { break }
                usleep(20_000)
            }
        }
        sessions.withLock { for entry in $0.values { entry.connection.shutdown() } }
        for listener in listeners { listener.waitForConnections(seconds: 2) }
    }

    private func serve(_ connection: SocketConnection) {
        if let peer = connection.peer, !allowedNetworks.contains(where: { $0.contains(peer) }) {
            statistics.listener("milter").refused(.network)
            log.warning(
                "milter: refusing a connection from \(connection.peerDescription), which is not in milter_allowed_networks",
                throttle: "milter: refused, not in milter_allowed_networks")
            return
        }
        let session = MilterSession(
            milterPolicy: milterPolicy, maxMessageBytes: maxMessageBytes, policy: policy, log: log, peer: connection.peerDescription)
        let key = ObjectIdentifier(session)
        sessions.withLock { $0[key] = (session, connection) }
        defer { sessions.withLock { $0[key] = nil } }
        if stopping.load(ordering: .acquiring) { return }

        while true {
            do {
                guard let packet = try MilterPacket.read(from: connection) else { return }
                let response = try session.handle(packet)
                if !response.replies.isEmpty {
                    try connection.write(response.replies.flatMap(\.encoded))
                }
                if response.endsConnection { return }
                if stopping.load(ordering: .acquiring) && !session.isInMessage { return }
            } catch let error as MilterProtocolError {
                statistics.noteRequestError(.milter, reason: "protocol")
                log.warning("milter: closing the connection from \(connection.peerDescription): \(error)", throttle: "milter: \(error)")
                return
            } catch ConnectionError.timedOut {
                if session.isInMessage {
                    statistics.noteRequestError(.milter, reason: "timeout-in-message")
                    log.warning("milter: closing the connection from \(connection.peerDescription): silent for too long in the middle of a message")
                } else {
                    log.debug("milter: closing the connection from \(connection.peerDescription): idle for too long")
                }
                return
            } catch {
                if !stopping.load(ordering: .acquiring) {
                    log.warning("milter: connection from \(connection.peerDescription) ended: \(error)")
                }
                return
            }
        }
    }
}


import Foundation
import SpamtuneClassifier

/// Counts and latencies for `spamtune status` and the Prometheus metrics (one source
/// for both): verdicts per way in, what was done with each message, latency percentiles
/// over the last messages and a latency histogram since the start, batch sizes, queue
/// depth, reloads, connections, feedback, retrains, uptime.
///
/// Every label a count is kept under comes from a fixed set (a way in, a verdict, an
/// action, a rule, a reason named in code): never a sender, an address or free text, so
/// the number of series stays bounded whatever the peers send.
// @unchecked Sendable: every counter is read and written under `lock`.
final class ServiceStatistics: @unchecked Sendable {
    let startedAt = Date()
    private let lock = NSLock()
    private var counts: [String: Int] = [:]
    private var latencies = [Double](repeating: 0, count: 10_000)
    private var latencyCount = 0
    private var batches = 0
    private var batchedMessages = 0
    private var batchedTokens = 0
    private var maximumQueueDepth = 0
    private var reloads = 0
    private var failedReloads = 0
    private var messages: [MessageKey: Int] = [:]
    private var latencyHistograms: [Channel: Histogram] = [:]
    private var feedback: [FeedbackKey: Int] = [:]
    private var refusedTells = 0
    private var requestErrors: [RequestErrorKey: Int] = [:]
    private var retrains: [RetrainEvent: Int] = [:]
    private var listeners: [String: ListenerStatistics] = [:]

    func record(_ verdict: Verdict, channel: Channel) {
        lock.lock()
        defer { lock.unlock() }
        counts["\(channel.rawValue).\(verdict.label)", default: 0] += 1
        counts["total.\(verdict.label)", default: 0] += 1
        switch verdict.outcome {
        case .cached: counts["total.cached", default: 0] += 1
        case let .policy(rule, _):
            // Decided without the model: counted by rule, and kept out of its latencies.
            counts["policy.\(rule.rawValue)", default: 0] += 1
            return
        default: break
        }
        latencies[latencyCount % latencies.count] = verdict.milliseconds
        latencyCount += 1
        latencyHistograms[channel, default: Histogram(bounds: Self.latencyBounds)].observe(verdict.milliseconds / 1000)
    }

    func recordBatch(size: Int, tokens: Int, milliseconds: Double) {
        lock.lock()
        batches += 1
        batchedMessages += size
        batchedTokens += tokens
        lock.unlock()
    }

    func noteQueueDepth(_ depth: Int) {
        lock.lock()
        maximumQueueDepth = max(maximumQueueDepth, depth)
        lock.unlock()
    }

    func noteReload(succeeded: Bool) {
        lock.lock()
        if succeeded { reloads += 1 } else { failedReloads += 1 }
        lock.unlock()
    }

    struct Snapshot: Codable, Sendable, Equatable {
        var uptimeSeconds: Double
        var counts: [String: Int]
        var latencyP50: Double?
        var latencyP90: Double?
        var latencyP99: Double?
        var batches: Int
        var meanBatchSize: Double
        var maximumQueueDepth: Int
        var reloads: Int
    }

    func snapshot() -> Snapshot {
        lock.lock()
        defer { lock.unlock() }
        let recent = Array(latencies.prefix(min(latencyCount, latencies.count))).sorted()
        func percentile(_ p: Double) -> Double? {
            recent.isEmpty ? nil : recent[min(recent.count - 1, Int(Double(recent.count - 1) * p + 0.5))]
        }
        return Snapshot(
            uptimeSeconds: Date().timeIntervalSince(startedAt), counts: counts, latencyP50: percentile(0.5),
            latencyP90: percentile(0.9), latencyP99: percentile(0.99), batches: batches,
            meanBatchSize: batches == 0 ? 0 : Double(batchedMessages) / Double(batches),
            maximumQueueDepth: maximumQueueDepth, reloads: reloads)
    }
}

// MARK: What the metrics add

extension ServiceStatistics {
    /// Upper bounds of the latency histogram, in seconds: from a cached verdict to the
    /// longest message deadline an admin is likely to set.
    static let latencyBounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

    struct MessageKey: Hashable {
        let channel: Channel
        /// `Verdict.label`: spam, ham, unscored or tempfail.
        let verdict: String
        let action: MessageAction
    }

    struct FeedbackKey: Hashable {
        let label: Label
        let change: String
    }

    struct RequestErrorKey: Hashable {
        let channel: Channel
        let reason: String
    }

    enum RetrainEvent: String, CaseIterable {
        /// `spamtune retrain` started a run.
        case started
        /// Not started: one was running, or the command could not be started.
        case refused
        case succeeded, failed
    }

    /// A way in has acted on a message (the line `Logger.message` writes).
    func recordAction(_ action: MessageAction, verdict: Verdict, channel: Channel) {
        lock.withLock { messages[MessageKey(channel: channel, verdict: verdict.label, action: action), default: 0] += 1 }
    }

    /// The feedback store took a message (TELL, a move in or out of a Maildir's Junk folder).
    func noteFeedback(_ label: Label, change: FeedbackChange) {
        let changeName =
            switch change {
            case .added: "added"
            case .relabelled: "relabelled"
            case .unchanged: "unchanged"
            }
        lock.withLock { feedback[FeedbackKey(label: label, change: changeName), default: 0] += 1 }
    }

    /// A TELL from a peer the learning policy does not name.
    func noteTellRefused() {
        lock.withLock { refusedTells += 1 }
    }

    /// A request that broke its protocol or could not be served; `reason` is one of a
    /// fixed set the way in names.
    func noteRequestError(_ channel: Channel, reason: String) {
        lock.withLock { requestErrors[RequestErrorKey(channel: channel, reason: reason), default: 0] += 1 }
    }

    func noteRetrain(_ event: RetrainEvent) {
        lock.withLock { retrains[event, default: 0] += 1 }
    }

    /// The counters of the listeners serving `name` (milter, spamd, control, metrics),
    /// shared by that way in's Unix and TCP sockets.
    func listener(_ name: String) -> ListenerStatistics {
        lock.withLock {
            if let existing = listeners[name] { return existing }
            let fresh = ListenerStatistics()
            listeners[name] = fresh
            return fresh
        }
    }

    /// Everything counted since the start, for the metrics page.
    struct Totals {
        var snapshot: Snapshot
        var failedReloads: Int
        var messages: [MessageKey: Int]
        var latency: [Channel: Histogram]
        var feedback: [FeedbackKey: Int]
        var refusedTells: Int
        var requestErrors: [RequestErrorKey: Int]
        var retrains: [RetrainEvent: Int]
        var batchedMessages: Int
        var listeners: [String: ListenerStatistics.Totals]
    }

    func totals() -> Totals {
        let snapshot = snapshot()
        lock.lock()
        defer { lock.unlock() }
        return Totals(
            snapshot: snapshot, failedReloads: failedReloads, messages: messages, latency: latencyHistograms, feedback: feedback,
            refusedTells: refusedTells, requestErrors: requestErrors, retrains: retrains, batchedMessages: batchedMessages,
            listeners: listeners.mapValues { $0.totals() })
    }
}

/// Counts in fixed buckets (Prometheus's histogram): how many observations were at most
/// each bound, their sum and their count.
struct Histogram: Equatable {
    let bounds: [Double]
    /// Observations per bucket (not cumulative); the last is above every bound.
    private(set) var buckets: [Int]
    private(set) var sum = 0.0
    private(set) var count = 0

    init(bounds: [Double]) {
        self.bounds = bounds
        buckets = [Int](repeating: 0, count: bounds.count + 1)
    }

    mutating func observe(_ value: Double) {
        buckets[bounds.firstIndex { value <= $0 } ?? bounds.count] += 1
        sum += value
        count += 1
    }

    /// (bound, observations at most it), ending with +Inf and the count.
    var cumulative: [(bound: Double, count: Int)] {
        var running = 0
        return (bounds + [.infinity]).enumerated().map { index, bound in
            running += buckets[index]
            return (bound, running)
        }
    }
}

/// Why a listener turned a connection away at once.
enum ConnectionRefusal: String, CaseIterable {
    /// `max_connections` open, none of them silent.
    case maxConnections = "max-connections"
    /// The peer already held `max_connections_per_client`.
    case maxConnectionsPerClient = "max-connections-per-client"
    /// Not in the way in's allowed networks.
    case network = "network-not-allowed"
}

/// Why a listener closed a connection the peer had not finished with.
enum ConnectionClosing: String, CaseIterable {
    /// It had sent nothing and another connection needed its place.
    case evictedSilent = "evicted-silent"
    /// It sent nothing within `first_byte_timeout`.
    case firstByteTimeout = "first-byte-timeout"
    /// It was silent for longer than its idle timeout after speaking.
    case idleTimeout = "idle-timeout"
}

/// The connections of one way in's listeners.
// @unchecked Sendable: every count is read and written under `lock`.
final class ListenerStatistics: @unchecked Sendable {
    private let lock = NSLock()
    private var accepted = 0
    private var active = 0
    private var refused: [ConnectionRefusal: Int] = [:]
    private var closed: [ConnectionClosing: Int] = [:]

    struct Totals {
        var accepted: Int
        var active: Int
        var refused: [ConnectionRefusal: Int]
        var closed: [ConnectionClosing: Int]
    }

    func opened() { lock.withLock { accepted += 1; active += 1 } }
    func ended() { lock.withLock { active -= 1 } }
    func refused(_ reason: ConnectionRefusal) { lock.withLock { refused[reason, default: 0] += 1 } }
    func closed(_ reason: ConnectionClosing) { lock.withLock { closed[reason, default: 0] += 1 } }

    func totals() -> Totals { lock.withLock { Totals(accepted: accepted, active: active, refused: refused, closed: closed) } }
}

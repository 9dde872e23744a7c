import Foundation

/// Counts and latencies for `spamtune status`: verdicts per way in, latency
/// percentiles over the last messages, batch sizes, queue depth, reloads, uptime.
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

    func noteReload() {
        lock.lock()
        reloads += 1
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

import Foundation
import SpamtuneConfiguration

/// Load on a milter the way Postfix makes it: `concurrency` SMTP sessions at a time, each
/// a new milter connection that negotiates, sends one message and waits for the
/// verdict. Returns messages per second and the per-message latency (connect to final
/// reply) at the median and the 99th percentile, in milliseconds.
///
/// `socket`: a Unix socket path, `unix:/path`, `inet:PORT@HOST` or `HOST:PORT`.
package func runMilterLoad(socket: String, messages: [[UInt8]], concurrency: Int) throws -> (perSecond: Double, p50: Double, p99: Double) {
    guard !messages.isEmpty else { return (0, 0, 0) }
    let address = try ListenAddress(parsing: socket)
    let workers = max(1, min(concurrency, messages.count))
    let lock = NSLock()
    var latencies: [Double] = []
    var failure: Error?
    let started = DispatchTime.now()
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
        for index in stride(from: worker, to: messages.count, by: workers) {
            let begin = DispatchTime.now()
            do {
                let client: MilterClient
                switch address {
                case let .unix(path): client = try MilterClient(unixSocket: path)
                case let .tcp(host, port): client = try MilterClient(host: host, port: port)
                }
                try client.negotiate()
                let result = try client.check(message: messages[index], queueID: "LOAD\(index)")
                try client.quit()
                guard result.final != nil else { throw MilterClientError.protocolError("no final reply for message \(index)") }
            } catch {
                lock.withLock { failure = failure ?? error }
                return
            }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - begin.uptimeNanoseconds) / 1e6
            lock.withLock { latencies.append(elapsed) }
        }
    }
    if let failure { throw failure }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
    latencies.sort()
    func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int((p * Double(latencies.count)).rounded(.up)) - 1)] }
    return (Double(latencies.count) / seconds, percentile(0.5), percentile(0.99))
}

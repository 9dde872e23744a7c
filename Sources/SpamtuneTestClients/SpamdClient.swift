import Foundation
import SpamtuneConfiguration
import SpamtuneControl
import SpamtuneDaemon
import Synchronization

/// A spamd answer to CHECK.
package struct SpamdCheckResult: Sendable, Equatable {
    package var isSpam: Bool
    package var score: Double
    package var threshold: Double
}

package struct SpamdClientError: Error, CustomStringConvertible {
    package let message: String
    package var description: String { message }
}

/// A minimal spamc: sends one request per connection as spamc does (request, body,
/// then a half-close) and reads the answer to the end. Works against spamtuned and
/// SpamAssassin's spamd alike.
package struct SpamdClient: Sendable {
    package var address: ListenAddress
    package var timeout: Double

    package init(address: ListenAddress, timeout: Double = 120) {
        self.address = address
        self.timeout = timeout
    }

    /// The request spamc would send: `VERB SPAMC/1.5`, the extra header lines, the
    /// Content-length, an empty line and the message.
    package static func request(_ verb: SpamdVerb, message: [UInt8], headers: [String] = []) -> [UInt8] {
        var head = "\(verb.rawValue) SPAMC/1.5\r\n"
        for header in headers { head += header + "\r\n" }
        if verb.hasBody { head += "Content-length: \(message.count)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + (verb.hasBody ? message : [])
    }

    /// Sends `request` as it is and returns the whole answer.
    package func exchange(_ request: [UInt8]) throws -> [UInt8] {
        let socket = try ClientSocket(connectingTo: address, timeout: timeout)
        defer { socket.close() }
        try socket.write(request)
        socket.finishWriting()
        return try socket.readToEnd()
    }

    package func check(_ message: [UInt8]) throws -> SpamdCheckResult {
        try Self.parseCheckAnswer(try exchange(Self.request(.check, message: message)))
    }

    /// The `Spam: True ; 7.9 / 5.0` line of an EX_OK answer.
    package static func parseCheckAnswer(_ answer: [UInt8]) throws -> SpamdCheckResult {
        let text = String(decoding: answer, as: UTF8.self)
        let lines = text.components(separatedBy: "\r\n")
        guard let status = lines.first, status.hasPrefix("SPAMD/"), status.split(separator: " ").dropFirst().first == "0" else {
            throw SpamdClientError(message: "spamd answered '\(lines.first ?? "")'")
        }
        for line in lines.dropFirst() {
            if line.isEmpty { break }
            guard line.hasPrefix("Spam:") else { continue }
            // Spam: True ; 7.9 / 5.0
            let fields = line.dropFirst(5).split(whereSeparator: { $0 == ";" || $0 == "/" }).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count == 3, let score = Double(fields[1]), let threshold = Double(fields[2]) else { break }
            return SpamdCheckResult(isSpam: fields[0].lowercased() == "true" || fields[0].lowercased() == "yes", score: score, threshold: threshold)
        }
        throw SpamdClientError(message: "spamd's answer has no valid Spam: line")
    }
}

/// What a load run measured.
package struct SpamdLoadResult: Sendable {
    package var messages: Int
    package var errors: Int
    package var firstError: String?
    package var seconds: Double
    package var spam: Int
    package var ham: Int
    /// Per-message latency (connect to last byte of the answer), milliseconds.
    package var latencyP50: Double
    package var latencyP90: Double
    package var latencyP99: Double

    package var messagesPerSecond: Double { seconds > 0 ? Double(messages) / seconds : 0 }
}

/// Sends `count` `verb` requests (CHECK unless told) over `concurrency` parallel connections (each thread one
/// request at a time, cycling through `messages`) and measures throughput and latency:
/// the benchmark's spamd driver, for spamtuned and SpamAssassin's spamd alike.
package func runSpamdLoad(
    address: ListenAddress, messages: [[UInt8]], concurrency: Int, count: Int, verb: SpamdVerb = .check, timeout: Double = 120
) -> SpamdLoadResult {
    precondition(!messages.isEmpty && concurrency > 0)
    let client = SpamdClient(address: address, timeout: timeout)
    let requests = messages.map { SpamdClient.request(verb, message: $0) }
    let next = Atomic<Int>(0)
    let totals = LoadTotals()
    let started = DispatchTime.now()
    let group = DispatchGroup()
    for _ in 0..<concurrency {
        group.enter()
        let thread = Thread {
            var local: [Double] = []
            var localErrors = 0, localSpam = 0, localHam = 0
            var localFirstError: String?
            while true {
                let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard index < count else { break }
                let begin = DispatchTime.now()
                do {
                    let result = try SpamdClient.parseCheckAnswer(try client.exchange(requests[index % requests.count]))
                    local.append(Double(DispatchTime.now().uptimeNanoseconds - begin.uptimeNanoseconds) / 1e6)
                    if result.isSpam { localSpam += 1 } else { localHam += 1 }
                } catch {
                    localErrors += 1
                    if localFirstError == nil { localFirstError = "\(error)" }
                }
            }
            totals.add(latencies: local, errors: localErrors, spam: localSpam, ham: localHam, firstError: localFirstError)
            group.leave()
        }
        thread.start()
    }
    group.wait()
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
    return totals.result(seconds: seconds)
}

private final class LoadTotals: @unchecked Sendable {
    private let lock = NSLock()
    private var latencies: [Double] = []
    private var errors = 0, spam = 0, ham = 0
    private var firstError: String?

    func add(latencies more: [Double], errors moreErrors: Int, spam moreSpam: Int, ham moreHam: Int, firstError error: String?) {
        lock.lock()
        defer { lock.unlock() }
        latencies += more
        errors += moreErrors
        spam += moreSpam
        ham += moreHam
        if firstError == nil { firstError = error }
    }

    func result(seconds: Double) -> SpamdLoadResult {
        lock.lock()
        defer { lock.unlock() }
        let sorted = latencies.sorted()
        func percentile(_ p: Double) -> Double {
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p + 0.5))]
        }
        return SpamdLoadResult(
            messages: sorted.count, errors: errors, firstError: firstError, seconds: seconds, spam: spam, ham: ham,
            latencyP50: percentile(0.5), latencyP90: percentile(0.9), latencyP99: percentile(0.99))
    }
}

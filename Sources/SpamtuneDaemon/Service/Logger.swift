import Foundation

/// spamtuned's log: one line per message (way in, identifier, verdict, score,
/// milliseconds) and one per event, on standard error, which systemd's journal keeps.
/// Lines are written whole, so lines from many connection threads never interleave.
///
/// Warnings a peer can cause at will (refused connections, broken requests) are
/// throttled: the first of a kind is written, the others in the next `throttleWindow`
/// seconds are counted and summarised in one line, so a flood cannot flood the journal.
/// Kinds are bounded too: past `maximumKinds`, new ones share one.
public final class Logger: @unchecked Sendable {
    public let level: LogLevel
    public let scoreScale: Double
    public let throttleWindow: Double
    private let write: (String) -> Void
    private let lock = NSLock()
    private var throttled: [String: (since: DispatchTime, suppressed: Int)] = [:]
    static let maximumKinds = 256

    public init(level: LogLevel = .info, scoreScale: Double = 10, throttleWindow: Double = 60, write: ((String) -> Void)? = nil) {
        self.level = level
        self.scoreScale = scoreScale
        self.throttleWindow = throttleWindow
        self.write = write ?? { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    public func debug(_ text: @autoclosure () -> String) { emit(.debug, text()) }
    public func info(_ text: @autoclosure () -> String) { emit(.info, text()) }
    public func warning(_ text: @autoclosure () -> String) { emit(.warning, text()) }
    public func error(_ text: @autoclosure () -> String) { emit(.error, text()) }

    /// A warning of kind `key`: written when it is the first of its kind in the window,
    /// counted otherwise.
    public func warning(_ text: @autoclosure () -> String, throttle key: String) {
        guard LogLevel.warning >= level else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = DispatchTime.now()
        flushThrottled(now: now)
        let key = throttled[key] == nil && throttled.count >= Self.maximumKinds ? "other warnings" : key
        if var entry = throttled[key] {
            entry.suppressed += 1
            throttled[key] = entry
            return
        }
        throttled[key] = (now, 0)
        write("warning: " + text())
    }

    /// Writes the summary of each kind whose window has ended (under `lock`).
    private func flushThrottled(now: DispatchTime) {
        for (key, entry) in throttled where Double(now.uptimeNanoseconds - entry.since.uptimeNanoseconds) / 1e9 >= throttleWindow {
            throttled[key] = nil
            if entry.suppressed > 0 {
                write("warning: ... and \(entry.suppressed) more like it (\(key)) in the \(String(format: "%g", throttleWindow)) s after it")
            }
        }
    }

    /// `milter id=4XyZ1 verdict=spam score=9.71/5.00 tokens=183 bytes=5120 ms=84.2 model=2026-11-23T04-00-00Z`
    public func message(channel: Channel, identifier: String, verdict: Verdict, bytes: Int) {
        guard level <= .info else { return }
        var line = "\(channel.rawValue) id=\(sanitize(identifier)) verdict=\(verdict.label)"
        line += String(format: " score=%.2f/%.2f", verdict.score(scale: scoreScale), verdict.requiredScore(scale: scoreScale))
        line += " tokens=\(verdict.tokens) bytes=\(bytes)" + String(format: " ms=%.1f", verdict.milliseconds)
        switch verdict.outcome {
        case .cached: line += " cached=yes"
        case let .failedOpen(reason), let .temporaryFailure(reason): line += " reason=\"\(sanitize(reason))\""
        case .scored: break
        }
        line += " model=\(verdict.modelVersion)"
        emit(.info, line)
    }

    private func emit(_ messageLevel: LogLevel, _ text: String) {
        guard messageLevel >= level else { return }
        let prefix = messageLevel == .info ? "" : "\(messageLevel.rawValue): "
        lock.lock()
        if !throttled.isEmpty { flushThrottled(now: DispatchTime.now()) }
        write(prefix + text)
        lock.unlock()
    }

    /// Identifiers come from the network: keep log lines one line, printable, bounded.
    private func sanitize(_ text: String) -> String {
        let cleaned = text.unicodeScalars.prefix(200).map { $0.value < 32 || $0.value == 127 || $0 == " " || $0 == "\"" ? "_" : Character($0) }
        return cleaned.isEmpty ? "-" : String(cleaned)
    }
}

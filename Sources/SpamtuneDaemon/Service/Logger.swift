import Foundation
import SpamtuneConfiguration

#if canImport(Glibc)
import Glibc
#endif

/// spamtuned's log: one line per message (way in, identifier, verdict, action, score,
/// milliseconds, client, sender, recipients) and one per event, on standard error.
/// Under systemd the journal keeps it and stamps each line with the time; anywhere else
/// (`timestamps`, which spamtuned sets unless standard error is the journal) each line
/// starts with the local time. Lines are written whole, so lines from many connection
/// threads never interleave.
///
/// Warnings a peer can cause at will (refused connections, broken requests) are
/// throttled: the first of a kind is written, the others in the next `throttleWindow`
/// seconds are counted and summarised in one line, so a flood cannot flood the journal.
/// Kinds are bounded too: past `maximumKinds`, new ones share one.
// @unchecked Sendable: `write` and the throttle table are used only under `lock`.
public final class Logger: @unchecked Sendable {
    let level: LogLevel
    let scoreScale: Double
    let throttleWindow: Double
    /// Each line starts with the local time, to the millisecond.
    let timestamps: Bool
    private let write: (String) -> Void
    private let lock = NSLock()
    private var throttled: [String: (since: DispatchTime, suppressed: Int)] = [:]
    private var messageObserver: (@Sendable (Channel, Verdict, MessageAction) -> Void)?
    static let maximumKinds = 256

    public init(
        level: LogLevel = .info, scoreScale: Double = 10, throttleWindow: Double = 60, timestamps: Bool = false,
        write: ((String) -> Void)? = nil
    ) {
        self.level = level
        self.scoreScale = scoreScale
        self.throttleWindow = throttleWindow
        self.timestamps = timestamps
        self.write = write ?? { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    func debug(_ text: @autoclosure () -> String) { emit(.debug, text()) }
    func info(_ text: @autoclosure () -> String) { emit(.info, text()) }
    public func warning(_ text: @autoclosure () -> String) { emit(.warning, text()) }
    func error(_ text: @autoclosure () -> String) { emit(.error, text()) }

    /// A warning of kind `key`: written when it is the first of its kind in the window,
    /// counted otherwise.
    func warning(_ text: @autoclosure () -> String, throttle key: String) {
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
        emitLocked("warning: " + text())
    }

    /// True when standard error is connected to the journal (systemd sets JOURNAL_STREAM
    /// to its device and inode), which stamps lines itself.
    public static var standardErrorIsJournal: Bool {
        guard let value = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        var info = stat()
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]), fstat(2, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// `2026-11-23T10:00:00.123+01:00`.
    static func timestamp(_ date: Date = Date()) -> String {
        let seconds = date.timeIntervalSince1970
        var whole = time_t(seconds.rounded(.down))
        let milliseconds = min(999, Int((seconds - seconds.rounded(.down)) * 1000))
        var parts = tm()
        localtime_r(&whole, &parts)
        let offset = parts.tm_gmtoff / 60
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03d%@%02d:%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), milliseconds, offset < 0 ? "-" : "+", abs(offset) / 60, abs(offset) % 60)
    }

    /// Writes the summary of each kind whose window has ended (under `lock`).
    private func flushThrottled(now: DispatchTime) {
        for (key, entry) in throttled where Double(now.uptimeNanoseconds - entry.since.uptimeNanoseconds) / 1e9 >= throttleWindow {
            throttled[key] = nil
            if entry.suppressed > 0 {
                emitLocked("warning: ... and \(entry.suppressed) more like it (\(key)) in the \(String(format: "%g", throttleWindow)) s after it")
            }
        }
    }

    /// One line per message, when a way in has acted on it:
    /// `milter id=4XyZ1 verdict=spam action=reject score=9.71/5.00 tokens=183 bytes=5120 ms=84.2
    /// client=192.0.2.7 from=bulk@example.net rcpt=alice@example.org model=2026-11-23T04-00-00Z`.
    /// A field the way in does not know is `-`; the null sender is `<>`.
    func message(_ envelope: MessageEnvelope, verdict: Verdict, action: MessageAction, bytes: Int) {
        lock.withLock { messageObserver }?(envelope.channel, verdict, action)
        guard level <= .info else { return }
        var line = "\(envelope.channel.rawValue) id=\(sanitize(envelope.identifier)) verdict=\(verdict.label) action=\(action.rawValue)"
        line += String(format: " score=%.2f/%.2f", verdict.score(scale: scoreScale), verdict.requiredScore(scale: scoreScale))
        line += " tokens=\(verdict.tokens) bytes=\(bytes)" + String(format: " ms=%.1f", verdict.milliseconds)
        switch verdict.outcome {
        case .cached: line += " cached=yes"
        case let .failedOpen(reason), let .temporaryFailure(reason): line += " reason=\"\(sanitize(reason))\""
        case let .policy(rule, entry): line += " policy=\(rule.rawValue)" + (entry.map { ":" + sanitize($0) } ?? "")
        case .scored: break
        }
        line += " client=\(envelope.clientAddress.map(sanitize) ?? "-")"
        if let name = envelope.clientName { line += "[\(sanitize(name))]" }
        line += " from=" + (envelope.sender.map { $0.isEmpty ? "<>" : sanitize($0) } ?? "-")
        let shown = envelope.recipients.prefix(10).map(sanitize).joined(separator: ",")
        let more = envelope.recipients.count > 10 ? ",+\(envelope.recipients.count - 10)-more" : ""
        line += " rcpt=" + (envelope.recipients.isEmpty ? "-" : shown + more)
        if let user = envelope.authenticatedUser { line += " auth=\(sanitize(user))" }
        if let user = envelope.spamdUser { line += " user=\(sanitize(user))" }
        if let peer = envelope.peer { line += " peer=\(sanitize(peer))" }
        line += " model=\(sanitize(verdict.modelVersion))"
        emit(.info, line)
    }

    /// Told of every message a way in has acted on, whatever the log level: the daemon
    /// counts them there (`ServiceStatistics`), where the way in, the verdict and the
    /// action meet.
    func observeMessages(_ observer: @escaping @Sendable (Channel, Verdict, MessageAction) -> Void) {
        lock.withLock { messageObserver = observer }
    }

    private func emit(_ messageLevel: LogLevel, _ text: String) {
        guard messageLevel >= level else { return }
        let prefix = messageLevel == .info ? "" : "\(messageLevel.rawValue): "
        lock.lock()
        if !throttled.isEmpty { flushThrottled(now: DispatchTime.now()) }
        emitLocked(prefix + text)
        lock.unlock()
    }

    /// Writes one line (under `lock`).
    private func emitLocked(_ line: String) {
        write(timestamps ? Self.timestamp() + " " + line : line)
    }

    /// Identifiers and addresses come from the network: keep log lines one line,
    /// printable, bounded, and their fields apart.
    private func sanitize(_ text: String) -> String {
        let cleaned = text.unicodeScalars.prefix(200).map { $0.value < 32 || $0.value == 127 || $0 == " " || $0 == "\"" ? "_" : Character($0) }
        return cleaned.isEmpty ? "-" : String(cleaned)
    }
}

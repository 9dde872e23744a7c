#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// How a download shows its progress.
public enum ProgressStyle: Sendable, Equatable {
    /// A bar on standard error when it is a terminal, log lines otherwise.
    case automatic
    /// A single redrawn line on standard error: bytes, rate, time left.
    case terminalBar
    /// A log line every `interval` seconds, and one at the end.
    case logLines(interval: Double)
    case none

    static let defaultLogInterval = 10.0

    func resolved() -> ProgressStyle {
        guard self == .automatic else { return self }
        return isatty(2) == 1 ? .terminalBar : .logLines(interval: Self.defaultLogInterval)
    }
}

/// Tracks one file's transfer and reports it in the chosen style. Called from the
/// transfer's delegate queue only.
final class ProgressReporter: @unchecked Sendable {
    private let name: String
    private let style: ProgressStyle
    private let log: TrainingLog
    /// From the first byte of the response, so the rate leaves out connecting.
    private var started = ContinuousClock.now
    private var lastReport = ContinuousClock.now
    /// Bytes already on disk when this transfer began (a resumed download).
    private var initialBytes: Int64 = 0
    private var total: Int64?
    private var current: Int64 = 0
    private var drewBar = false

    init(name: String, style: ProgressStyle, log: TrainingLog) {
        self.name = name
        self.style = style.resolved()
        self.log = log
    }

    func begin(existingBytes: Int64, total: Int64?) {
        started = ContinuousClock.now
        lastReport = started
        initialBytes = existingBytes
        current = existingBytes
        self.total = total
    }

    func update(_ bytes: Int64) {
        current = bytes
        let now = ContinuousClock.now
        switch style {
        case .terminalBar:
            guard now - lastReport >= .milliseconds(200) else { return }
            lastReport = now
            drawBar()
        case .logLines(let interval):
            guard now - lastReport >= .milliseconds(Int64(interval * 1000)) else { return }
            lastReport = now
            log("\(name): \(summary())")
        case .automatic, .none:
            return
        }
    }

    func finish(success: Bool) {
        if drewBar {
            if success { drawBar() }
            FileHandle.standardError.write(Data("\n".utf8))
        }
        guard success else { return }
        let seconds = max(elapsedSeconds(), 0.001)
        let transferred = current - initialBytes
        let resumed = initialBytes > 0 ? ", resumed at \(Self.bytes(initialBytes))" : ""
        if style != .none {
            log("\(name): downloaded \(Self.bytes(transferred)) in \(Self.duration(seconds)) (\(Self.bytes(Int64(Double(transferred) / seconds)))/s\(resumed))")
        }
    }

    private func elapsedSeconds() -> Double {
        let elapsed = (ContinuousClock.now - started).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
    }

    private func rate() -> Double {
        let seconds = elapsedSeconds()
        return seconds > 0 ? Double(current - initialBytes) / seconds : 0
    }

    private func summary() -> String {
        let speed = rate()
        guard let total, total > 0 else { return "\(Self.bytes(current)), \(Self.bytes(Int64(speed)))/s" }
        let percent = Int(Double(current) * 100 / Double(total))
        let left = speed > 0 ? ", \(Self.duration(Double(total - current) / speed)) left" : ""
        return "\(percent)% (\(Self.bytes(current)) of \(Self.bytes(total))), \(Self.bytes(Int64(speed)))/s\(left)"
    }

    private func drawBar() {
        drewBar = true
        var line = name
        if let total, total > 0 {
            let width = 24
            let filled = min(width, Int(Double(current) / Double(total) * Double(width)))
            line += " [" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
        } else {
            line += " "
        }
        line += summary()
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
    }

    /// Decimal units, as download tools and disk vendors count.
    static func bytes(_ count: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(count)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }

    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        if whole < 60 { return seconds < 10 ? String(format: "%.1f s", seconds) : "\(whole) s" }
        if whole < 3600 { return String(format: "%d:%02d", whole / 60, whole % 60) }
        return String(format: "%dh %02dm", whole / 3600, whole % 3600 / 60)
    }
}

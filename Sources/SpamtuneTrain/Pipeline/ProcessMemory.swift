import Foundation

/// This process's memory, for the report's per-stage figures.
enum ProcessMemory {
    /// VmHWM from /proc/self/status.
    static func peakResidentMB() -> Double {
        let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return (line.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0) / 1024
        }
        return 0
    }
}

import Foundation

/// Wall time per pipeline stage.
struct StageTimer {
    private(set) var records: [StageRecord] = []
    private var started = Date()

    mutating func finish(_ name: String) {
        let now = Date()
        records.append(StageRecord(name: name, seconds: now.timeIntervalSince(started), peakResidentMB: ProcessMemory.peakResidentMB()))
        started = now
    }
}

public struct StageRecord: Codable, Equatable, Sendable {
    public var name: String
    public var seconds: Double
    public var peakResidentMB: Double
}

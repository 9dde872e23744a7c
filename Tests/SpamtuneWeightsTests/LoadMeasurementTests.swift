import Foundation
import SpamtuneWeights
import Testing

/// Opt-in measurement on a full-size model made by the oracle (not a fixture: 500 MB):
/// SPAMTUNE_WEIGHTS_MEASURE=/tmp/m124/model.safetensors swift test --filter LoadMeasurement
@Suite struct LoadMeasurementTests {
    static let modelPath = ProcessInfo.processInfo.environment["SPAMTUNE_WEIGHTS_MEASURE"]

    private static func residentBytes() throws -> Int {
        let fields = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8).split(separator: " ")
        return Int(fields[1])! * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    @Test(.enabled(if: modelPath != nil, "set SPAMTUNE_WEIGHTS_MEASURE to a model path"))
    func loadingMapsInsteadOfCopying() throws {
        let path = try #require(Self.modelPath)
        let before = try Self.residentBytes()
        let start = ContinuousClock.now
        let weights = try GPT2Weights.load(from: path)
        let elapsed = ContinuousClock.now - start
        let after = try Self.residentBytes()
        let bytes = GPT2Parameter.all(in: weights.config).map { weights.tensor($0).count * 4 }.reduce(0, +)
        print("loaded \(weights.config) (\(bytes) bytes of tensors) in \(elapsed); resident memory grew by \((after - before) / 1024) KiB")
        #expect(after - before < 16 << 20)
    }
}

import Foundation
import SpamtuneWeights

/// A fresh directory per test, removed afterwards.
final class TemporaryDirectory {
    let url: URL
    var path: String { url.path }

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("spamtune-weights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @discardableResult
    func write(_ name: String, text: String) throws -> String { try write(name, Array(text.utf8)) }

    deinit { try? FileManager.default.removeItem(at: url) }
}

func bytes(of path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

/// A safetensors file from a literal header and data, to build broken files precisely.
func safetensorsBytes(header: String, data: [UInt8], declaredHeaderLength: UInt64? = nil) -> [UInt8] {
    let headerBytes = Array(header.utf8)
    var out: [UInt8] = []
    withUnsafeBytes(of: (declaredHeaderLength ?? UInt64(headerBytes.count)).littleEndian) { out.append(contentsOf: $0) }
    return out + headerBytes + data
}

func littleEndianBytes(_ values: [Float]) -> [UInt8] { values.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } } }

func pointer(_ view: TensorView, liesIn mapping: UnsafeRawBufferPointer) -> Bool {
    guard let base = mapping.baseAddress else { return false }
    let start = UnsafeRawPointer(view.pointer)
    return start >= base && start + view.count * 4 <= base + mapping.count
}

/// Deterministic pseudo-random Floats (SplitMix64), so tests need no fixtures for
/// synthetic models.
struct SeededValues {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 24) - 0.5
    }

    mutating func values(_ count: Int) -> [Float] { (0..<count).map { _ in next() } }
}

/// Every tensor of a GPT-2 of `config` under canonical names, filled with seeded values.
func syntheticGPT2(_ config: GPT2Config, seed: UInt64 = 7, skipping: Set<String> = [], reshaping: [String: [Int]] = [:]) -> [TensorView] {
    var values = SeededValues(seed: seed)
    return GPT2Parameter.all(in: config).compactMap { parameter in
        guard !skipping.contains(parameter.name) else { return nil }
        let shape = reshaping[parameter.name] ?? parameter.shape(in: config)
        return TensorView(name: parameter.name, shape: shape, values: values.values(shape.reduce(1, *)))
    }
}

let tinyConfig = try! GPT2Config(layerCount: 2, embeddingSize: 8, headCount: 2, contextLength: 16, vocabularySize: 20)

/// The oracle fixture's shape (Tests/Fixtures/weights/config.json).
let fixtureConfig = try! GPT2Config(layerCount: 2, embeddingSize: 32, headCount: 4, contextLength: 64, vocabularySize: 300)

import SpamtuneModel
import SpamtuneTestSupport
import SpamtuneWeights

/// Tensors held in memory, for models made up in tests.
final class InMemoryTensors: TensorSource {
    private(set) var storage: [String: (shape: [Int], values: UnsafeMutablePointer<Float>)] = [:]

    func set(_ name: String, shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *))
        let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(values.count, 1))
        pointer.initialize(from: values, count: values.count)
        storage[name] = (shape, pointer)
    }

    func floats(named name: String, shape: [Int]) throws -> UnsafePointer<Float> {
        guard let entry = storage[name] else { throw TestTensorError.missing(name) }
        guard entry.shape == shape else { throw ModelError.shapeMismatch(tensor: name, expected: shape, found: entry.shape) }
        return UnsafePointer(entry.values)
    }

    deinit { for entry in storage.values { entry.values.deallocate() } }

    /// A GPT-2 initialised as the oracle's make-model does (normal(0, 0.02) weights,
    /// jittered LayerNorm gains and biases), plus a head.
    static func randomGPT2(_ config: GPT2Config, classes: Int = 2, seed: UInt64) -> InMemoryTensors {
        var random = SeededGenerator(seed: seed)
        let tensors = InMemoryTensors()
        var layout = GPT2TensorNames.embeddings(config: config) + GPT2TensorNames.finalNorm(config: config)
        for index in 0..<config.layerCount { layout += GPT2TensorNames.block(index, config: config) }
        for (name, shape) in layout {
            let count = shape.reduce(1, *)
            let values: [Float]
            if name.hasSuffix("ln_1.weight") || name.hasSuffix("ln_2.weight") || name.hasSuffix("ln_f.weight") {
                values = random.normals(count, deviation: 0.05).map { 1 + $0 }
            } else if name.hasSuffix(".bias") {
                values = random.normals(count, deviation: 0.05)
            } else {
                values = random.normals(count, deviation: 0.02)
            }
            tensors.set(name, shape: shape, values: values)
        }
        tensors.set("score.weight", shape: [classes, config.embeddingSize], values: random.normals(classes * config.embeddingSize, deviation: 0.3))
        tensors.set("score.bias", shape: [classes], values: random.normals(classes, deviation: 0.1))
        return tensors
    }
}

enum TestTensorError: Error { case missing(String) }

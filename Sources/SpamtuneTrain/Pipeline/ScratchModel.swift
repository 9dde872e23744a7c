import SpamtuneModel
import SpamtuneSupport
import SpamtuneWeights

/// Initial tensors for a GPT-2 trained from nothing: GPT-2's own initialisation
/// (normal(0, 0.02) weights, zero biases, unit LayerNorm gains; the residual
/// projections scaled by 1/sqrt(2 × layers) as in the GPT-2 paper), seeded.
final class RandomInitialization: TensorSource {
    private var tensors: [String: (count: Int, values: UnsafeMutablePointer<Float>)] = [:]

    init(config: GPT2Config, classes: Int, seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var layout = GPT2TensorNames.embeddings(config: config) + GPT2TensorNames.finalNorm(config: config)
        for index in 0..<config.layerCount { layout += GPT2TensorNames.block(index, config: config) }
        layout += GPT2TensorNames.head(classes: classes, config: config)
        let residualScale = 1 / Float(2 * config.layerCount).squareRoot()
        for (name, shape) in layout {
            let count = shape.reduce(1, *)
            let values = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            if name.hasSuffix("ln_1.weight") || name.hasSuffix("ln_2.weight") || name == "ln_f.weight" {
                values.initialize(repeating: 1, count: count)
            } else if name.hasSuffix(".bias") {
                values.initialize(repeating: 0, count: count)
            } else {
                let deviation: Float = name.hasSuffix("c_proj.weight") ? 0.02 * residualScale : 0.02
                for i in 0..<count { values[i] = deviation * random.normal() }
            }
            tensors[name] = (count, values)
        }
    }

    deinit { for tensor in tensors.values { tensor.values.deallocate() } }

    func floats(named name: String, shape: [Int]) throws -> UnsafePointer<Float> {
        guard let tensor = tensors[name], tensor.count == shape.reduce(1, *) else {
            throw ModelError.shapeMismatch(tensor: name, expected: shape, found: [tensors[name]?.count ?? 0])
        }
        return UnsafePointer(tensor.values)
    }
}

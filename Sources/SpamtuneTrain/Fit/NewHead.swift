import SpamtuneModel
import SpamtuneSupport
import SpamtuneWeights

/// A new 2-class head initialised as torch.nn.Linear is: uniform in ±1/sqrt(in).
final class NewHead: TensorSource {
    private let weight: UnsafeMutablePointer<Float>
    private let bias: UnsafeMutablePointer<Float>
    private let embeddingSize: Int

    init(embeddingSize: Int, seed: UInt64) {
        self.embeddingSize = embeddingSize
        var random = SplitMix64(seed: seed ^ 0x5EED_4EAD)
        let bound = 1 / Float(embeddingSize).squareRoot()
        func uniform() -> Float { (Float(random.next() >> 40) / Float(1 << 24) * 2 - 1) * bound }
        weight = .allocate(capacity: 2 * embeddingSize)
        bias = .allocate(capacity: 2)
        for i in 0..<(2 * embeddingSize) { weight[i] = uniform() }
        bias[0] = uniform()
        bias[1] = uniform()
    }

    deinit {
        weight.deallocate()
        bias.deallocate()
    }

    func floats(named name: String, shape: [Int]) throws -> UnsafePointer<Float> {
        switch (name, shape) {
        case (GPT2TensorNames.headWeight, [2, embeddingSize]): return UnsafePointer(weight)
        case (GPT2TensorNames.headBias, [2]): return UnsafePointer(bias)
        default: throw ModelError.shapeMismatch(tensor: name, expected: shape, found: [])
        }
    }
}

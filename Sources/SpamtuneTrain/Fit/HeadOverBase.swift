import SpamtuneModel
import SpamtuneWeights

/// The base model's tensors, with a head of its own.
struct HeadOverBase: TensorSource {
    let base: GPT2Weights
    let head: NewHead

    func floats(named name: String, shape: [Int]) throws -> UnsafePointer<Float> {
        if name == GPT2TensorNames.headWeight || name == GPT2TensorNames.headBias {
            return try head.floats(named: name, shape: shape)
        }
        return try base.floats(named: name, shape: shape)
    }
}

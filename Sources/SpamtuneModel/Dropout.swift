import SpamtuneSupport

/// Dropout as GPT-2 trains with it (resid_pdrop, embd_pdrop): in training, each value
/// of a layer's output is zeroed with probability `probability` and the rest scaled by
/// 1 / (1 - probability); the backward pass multiplies the same mask into the gradient.
/// Never applied outside training. A pretrained GPT-2 fine-tuned the book's way uses
/// none; a model trained from scratch on a thousand messages needs it.
public final class Dropout: @unchecked Sendable {
    public let probability: Float
    private var random: SplitMix64

    public init(probability: Float, seed: UInt64) {
        self.probability = probability
        random = SplitMix64(seed: seed)
    }

    /// Restarts the mask sequence (gradient checks compare passes with equal masks).
    public func reset(seed: UInt64) { random = SplitMix64(seed: seed) }

    /// Writes a fresh mask of `count` values (0 or 1/keep).
    func fillMask(_ mask: UnsafeMutablePointer<Float>, count: Int) {
        let keep = 1 - probability
        let scale = 1 / keep
        let threshold = UInt64(Double(keep) * Double(1 << 24))
        var i = 0
        while i < count {
            // 64 random bits give two 24-bit draws.
            let bits = random.next()
            mask[i] = (bits & 0xFF_FFFF) < threshold ? scale : 0
            if i + 1 < count { mask[i + 1] = ((bits >> 32) & 0xFF_FFFF) < threshold ? scale : 0 }
            i += 2
        }
    }

    /// values ⊙= mask
    static func apply(_ mask: UnsafePointer<Float>, to values: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { values[i] *= mask[i] }
    }

    /// The gradient through a mask the forward pass applied: gradient ⊙ mask, in `scratch`.
    static func masked(
        _ gradient: UnsafePointer<Float>, by mask: UnsafePointer<Float>, count: Int, scratch: FloatBuffer
    ) -> UnsafePointer<Float> {
        let out = scratch.reserve(count)
        for i in 0..<count { out[i] = gradient[i] * mask[i] }
        return UnsafePointer(out)
    }
}

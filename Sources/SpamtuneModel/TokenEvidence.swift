/// The tokens and token pairs a message contains, hashed into a fixed number of buckets:
/// what the head's evidence weights read beside the transformer's hidden state.
///
/// The transformer reads the first tokens of a message, which is what keeps it fast; the
/// evidence covers many more of them, at the cost of one weight per bucket, so that a
/// word anywhere in the message (a list's name deep in the header, a link host at the end)
/// still counts, as it does for a Bayesian filter. Each present bucket weighs
/// 1/sqrt(n + 1) for n buckets, so short and long messages give logits of one scale.
public struct TokenEvidence: Sendable, Hashable {
    /// Distinct buckets, ascending.
    public let buckets: [Int32]

    public init(buckets: [Int32]) {
        self.buckets = buckets
    }

    /// Unigrams and adjacent pairs of `tokens`, and the 64-bit keys of other words (a
    /// message's header words), hashed into `bucketCount` buckets (a power of 2).
    public init(tokens: [Int], words: [UInt64] = [], bucketCount: Int) {
        precondition(bucketCount > 1 && bucketCount & (bucketCount - 1) == 0, "bucket count must be a power of 2")
        let shift = UInt64(64 - bucketCount.trailingZeroBitCount)
        func bucket(_ key: UInt64) -> Int32 { Int32(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }
        var set = Set<Int32>()
        set.reserveCapacity(tokens.count * 2 + words.count)
        var previous: UInt64?
        for token in tokens {
            let id = UInt64(truncatingIfNeeded: token) & 0xFFFFF
            set.insert(bucket(id))
            if let previous { set.insert(bucket((previous << 20 | id) | 1 << 40)) }
            previous = id
        }
        // Token keys stay below 2^41; a word's key is moved off them by a second mix.
        for word in words { set.insert(bucket((word ^ 0xA076_1D64_78BD_642F) &* 0xE703_7ED1_A0B4_28DB)) }
        buckets = set.sorted()
    }

    public var weight: Float { 1 / Float(buckets.count + 1).squareRoot() }
}

/// The evidence weights: [classes, buckets], as `score.evidence.weight` in a checkpoint.
public struct EvidenceParameters {
    public var weight: UnsafePointer<Float>
    public var buckets: Int

    public static let tensorName = "score.evidence.weight"

    /// logits[s][k] += weight · Σ W[k, b] over the buckets b of sequence s.
    func addLogits(_ evidence: [TokenEvidence], classes: Int, to logits: inout [[Float]]) {
        for (row, item) in evidence.enumerated() {
            let scale = item.weight
            for k in 0..<classes {
                let weights = weight + k * buckets
                var sum: Float = 0
                for bucket in item.buckets { sum += weights[Int(bucket)] }
                logits[row][k] += scale * sum
            }
        }
    }

    /// dW[k, b] += dLogits[s, k] · weight for every bucket b of sequence s.
    static func accumulateGradients(
        _ evidence: [TokenEvidence], dLogits: UnsafePointer<Float>, classes: Int, buckets: Int, into gradient: UnsafeMutablePointer<Float>
    ) {
        for (row, item) in evidence.enumerated() {
            let scale = item.weight
            for k in 0..<classes {
                let g = dLogits[row * classes + k] * scale
                let target = gradient + k * buckets
                for bucket in item.buckets { target[Int(bucket)] += g }
            }
        }
    }
}

import Foundation
import SpamtuneKernels
import SpamtuneModel

/// What spamtune-train recorded in spamtune.json (`precisionAgreement`): its validation
/// and test messages scored in each precision besides FP32, at the threshold it serves,
/// and how far each came from FP32. `PrecisionChoice` reads it for `auto`.
public struct PrecisionAgreement: Codable, Equatable, Sendable {
    /// The threshold the verdicts were compared at: the checkpoint's.
    public var threshold: Double
    /// By precision name (`bf16`, `int8`): one entry per split scored.
    public var precisions: [String: [SplitAgreement]]

    public struct SplitAgreement: Codable, Equatable, Sendable {
        public var split: String
        public var examples: Int
        /// Messages whose verdict (spam or ham) differs from FP32's.
        public var differingVerdicts: Int
        /// The largest |P(spam) - P(spam) in FP32| over the split.
        public var largestProbabilityDifference: Double

        public init(split: String, examples: Int, differingVerdicts: Int, largestProbabilityDifference: Double) {
            self.split = split
            self.examples = examples
            self.differingVerdicts = differingVerdicts
            self.largestProbabilityDifference = largestProbabilityDifference
        }
    }

    public init(threshold: Double, precisions: [String: [SplitAgreement]]) {
        self.threshold = threshold
        self.precisions = precisions
    }

    public func results(_ precision: Precision) -> [SplitAgreement]? { precisions[precision.rawValue] }

    /// Scores each split with `parameters` in FP32 and in every other precision, in
    /// batches as the classifier runs them, and compares the verdicts at `threshold`.
    public static func measure(
        parameters: GPT2Parameters, kernels: Kernels, splits: [(name: String, inputs: [ModelInput])], threshold: Double,
        spamIndex: Int = Label.spam.rawValue
    ) -> PrecisionAgreement {
        // Each precision's weights are converted once and score every split.
        func probabilities(_ precision: Precision) -> [[Double]] {
            let model = GPT2Model(parameters: parameters.converted(to: precision), kernels: kernels)
            return splits.map { split in
                var result: [Double] = []
                var start = 0
                while start < split.inputs.count {
                    let batch = Array(split.inputs[start..<min(split.inputs.count, start + 16)])
                    result += model.logits(for: TokenBatch(batch)).map { Decision.spamProbability(logits: $0, spamIndex: spamIndex) }
                    start += batch.count
                }
                return result
            }
        }
        let reference = probabilities(.fp32)
        var precisions: [String: [SplitAgreement]] = [:]
        for precision in Precision.allCases where precision != .fp32 {
            precisions[precision.rawValue] = zip(splits, zip(probabilities(precision), reference)).map { split, pair in
                let (scored, fp32) = pair
                var differing = 0
                var largest = 0.0
                for (a, b) in zip(scored, fp32) {
                    if Decision(spamProbability: a, threshold: threshold).isSpam != Decision(spamProbability: b, threshold: threshold).isSpam {
                        differing += 1
                    }
                    largest = max(largest, abs(a - b))
                }
                return SplitAgreement(
                    split: split.name, examples: split.inputs.count, differingVerdicts: differing, largestProbabilityDifference: largest)
            }
        }
        return PrecisionAgreement(threshold: threshold, precisions: precisions)
    }
}

extension PrecisionAgreement {
    /// One line per precision, for logs: `int8: 0 of 449 verdicts differ from fp32 at
    /// threshold 0.8761 (validation 0 of 149, test 0 of 300), largest probability difference 2.8e-05`.
    public var summary: [String] {
        Precision.allCases.compactMap { precision in
            guard let splits = results(precision), !splits.isEmpty else { return nil }
            let differing = splits.reduce(0) { $0 + $1.differingVerdicts }
            let examples = splits.reduce(0) { $0 + $1.examples }
            let each = splits.map { "\($0.split) \($0.differingVerdicts) of \($0.examples)" }.joined(separator: ", ")
            let largest = PrecisionChoice.formatted(splits.map(\.largestProbabilityDifference).max() ?? 0)
            return "\(precision.rawValue): \(differing) of \(examples) verdicts differ from fp32 at threshold \(String(format: "%.4f", threshold)) (\(each)), largest probability difference \(largest)"
        }
    }
}

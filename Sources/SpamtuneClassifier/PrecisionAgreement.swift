import Foundation
import SpamtuneKernels
import SpamtuneModel

/// What spamtune-train recorded in spamtune.json (`precisionAgreement`): its validation
/// and test messages scored in each precision besides FP32, at the threshold it serves,
/// how far each came from FP32, and at which thresholds a verdict would differ.
/// `PrecisionChoice` reads it for `auto`.
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
        /// Where a threshold would give some message of the split another verdict than
        /// FP32's, whatever threshold the checkpoint serves: so `auto` can check the
        /// reject and quarantine thresholds and an overridden spam threshold too. Nil in
        /// records written before spamtune-train measured it.
        public var verdictChangingRanges: [ProbabilityRange]?

        public init(
            split: String, examples: Int, differingVerdicts: Int, largestProbabilityDifference: Double,
            verdictChangingRanges: [ProbabilityRange]? = nil
        ) {
            self.split = split
            self.examples = examples
            self.differingVerdicts = differingVerdicts
            self.largestProbabilityDifference = largestProbabilityDifference
            self.verdictChangingRanges = verdictChangingRanges
        }
    }

    /// P(spam) from `low` to `high`, both included; `[low, high]` in spamtune.json.
    public struct ProbabilityRange: Codable, Equatable, Sendable, CustomStringConvertible {
        public var low: Double
        public var high: Double

        public init(low: Double, high: Double) {
            self.low = low
            self.high = high
        }

        public func contains(_ probability: Double) -> Bool { low <= probability && probability <= high }

        public var description: String { String(format: "[%.4f, %.4f]", low, high) }

        public init(from decoder: Decoder) throws {
            var bounds = try decoder.unkeyedContainer()
            low = try bounds.decode(Double.self)
            high = try bounds.decode(Double.self)
        }

        public func encode(to encoder: Encoder) throws {
            var bounds = encoder.unkeyedContainer()
            try bounds.encode(low)
            try bounds.encode(high)
        }
    }

    /// The ranges' bounds are multiples of 1 / this (1e-4): most probabilities sit near
    /// 0 or 1, so their ranges fall into a few cells and the record stays small. Bounds
    /// are k / this, the Double a decimal threshold such as 0.9001 is written as.
    public static let rangeCellsPerUnit = 10_000.0

    /// The thresholds at which some message's verdict differs between its FP32
    /// probability and `scored`: spam is p >= t, so a pair (a, b) differs exactly at
    /// min(a, b) < t <= max(a, b). Each such interval is widened to the grid, never
    /// narrowed, and overlapping or touching ones are merged, in ascending order.
    public static func verdictChangingRanges(fp32: [Double], scored: [Double]) -> [ProbabilityRange] {
        var cells: [(low: Int, high: Int)] = []
        for (a, b) in zip(fp32, scored) where a != b && a.isFinite && b.isFinite {
            var low = Int((min(a, b) * rangeCellsPerUnit).rounded(.down))
            if Double(low) / rangeCellsPerUnit > min(a, b) { low -= 1 }
            var high = Int((max(a, b) * rangeCellsPerUnit).rounded(.up))
            if Double(high) / rangeCellsPerUnit < max(a, b) { high += 1 }
            cells.append((low, high))
        }
        cells.sort { $0.low < $1.low }
        var merged: [(low: Int, high: Int)] = []
        for cell in cells {
            if let last = merged.last, cell.low <= last.high {
                merged[merged.count - 1].high = max(last.high, cell.high)
            } else {
                merged.append(cell)
            }
        }
        return merged.map { ProbabilityRange(low: Double($0.low) / rangeCellsPerUnit, high: Double($0.high) / rangeCellsPerUnit) }
    }

    public init(threshold: Double, precisions: [String: [SplitAgreement]]) {
        self.threshold = threshold
        self.precisions = precisions
    }

    public func results(_ precision: Precision) -> [SplitAgreement]? { precisions[precision.rawValue] }

    /// Scores each split with `parameters` in FP32 and in every other precision, in
    /// batches as the classifier runs them, compares the verdicts at `threshold`, and
    /// records where any other threshold would see them differ.
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
                    split: split.name, examples: split.inputs.count, differingVerdicts: differing, largestProbabilityDifference: largest,
                    verdictChangingRanges: verdictChangingRanges(fp32: fp32, scored: scored))
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

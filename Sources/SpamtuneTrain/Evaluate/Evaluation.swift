import Foundation
import SpamtuneClassifier

/// One split's verdicts kept as each example's spam probability beside its label, so the
/// split can be measured at any threshold: the one that will be served, the one a target
/// false-positive rate allows, or the 0.5 of the training curves. Spam is the positive
/// class; a false positive is ham called spam, the costly mistake. Examples keep the
/// order they were added in, so a mistake can be traced back to its message.
public struct Evaluation: Sendable, Equatable {
    public struct Scored: Sendable, Equatable, Codable {
        public var spamProbability: Double
        public var label: Label

        public init(spamProbability: Double, label: Label) {
            self.spamProbability = spamProbability
            self.label = label
        }
    }

    public private(set) var scored: [Scored] = []

    public init() {}

    public init(_ scored: [Scored]) {
        self.scored = scored
    }

    /// Adds an example by its model's logits, through the softmax the classifier serves.
    public mutating func add(label: Label, logits: [Float]) {
        add(label: label, spamProbability: Decision.spamProbability(logits: logits))
    }

    public mutating func add(label: Label, spamProbability: Double) {
        scored.append(Scored(spamProbability: spamProbability, label: label))
    }

    public var count: Int { scored.count }
    public var hamCount: Int { scored.count { $0.label == .ham } }
    public var spamCount: Int { scored.count { $0.label == .spam } }

    /// The confusion matrix and the rates from it, each example decided at `threshold`.
    public func metrics(at threshold: Double) -> ThresholdMetrics {
        var metrics = ThresholdMetrics(threshold: threshold)
        for example in scored {
            let calledSpam = Decision(spamProbability: example.spamProbability, threshold: threshold).isSpam
            switch (example.label, calledSpam) {
            case (.spam, true): metrics.truePositives += 1
            case (.ham, true): metrics.falsePositives += 1
            case (.ham, false): metrics.trueNegatives += 1
            case (.spam, false): metrics.falseNegatives += 1
            }
        }
        return metrics
    }

    /// The positions (in the order added) of the ham called spam, most spam-like first,
    /// and of the spam called ham, least spam-like first: the worst mistakes lead.
    public func mistakes(at threshold: Double) -> (hamCalledSpam: [Int], spamMissed: [Int]) {
        let decided = scored.indices.map { ($0, Decision(spamProbability: scored[$0].spamProbability, threshold: threshold)) }
        let ham = decided.filter { scored[$0.0].label == .ham && $0.1.isSpam }
            .sorted { ($0.1.spamProbability, $1.0) > ($1.1.spamProbability, $0.0) }.map(\.0)
        let spam = decided.filter { scored[$0.0].label == .spam && !$0.1.isSpam }
            .sorted { ($0.1.spamProbability, $0.0) < ($1.1.spamProbability, $1.0) }.map(\.0)
        return (ham, spam)
    }

    /// The lowest threshold at which at most `rate` of the ham is called spam (nil when
    /// there is no ham to measure that on). It lies halfway between the most spam-like
    /// ham that must be called ham and the next higher probability of any example: every
    /// threshold in that gap decides this split alike, and the middle keeps a rounding
    /// difference in another run of the same model from moving a message across it.
    public func lowestThreshold(falsePositiveRateAtMost rate: Double) -> Double? {
        let ham = scored.filter { $0.label == .ham }.map(\.spamProbability).sorted(by: >)
        guard !ham.isEmpty else { return nil }
        // How many ham messages may be called spam; the tolerance keeps 0.001 × 1000 at 1.
        let allowed = Int((rate * Double(ham.count) + 1e-9).rounded(.down))
        guard allowed < ham.count else { return 0 }
        // Ties: every ham as spam-like as this one is called ham along with it.
        let boundary = ham[allowed]
        guard let above = scored.lazy.map(\.spamProbability).filter({ $0 > boundary }).min() else {
            return boundary < 1 ? boundary + (1 - boundary) / 2 : boundary.nextUp
        }
        return max(boundary + (above - boundary) / 2, boundary.nextUp)
    }

    /// The highest recall among thresholds whose false-positive rate is at most `rate`:
    /// how much spam is caught when almost no ham may be lost. Nil without both ham and
    /// spam to measure it on.
    public func recall(atFalsePositiveRate rate: Double) -> Double? {
        guard spamCount > 0, let threshold = lowestThreshold(falsePositiveRateAtMost: rate) else { return nil }
        return metrics(at: threshold).recall
    }
}

/// A split decided at one threshold: the confusion matrix (spam positive) and its rates.
public struct ThresholdMetrics: Codable, Equatable, Sendable {
    public var threshold: Double
    public var truePositives = 0
    public var falsePositives = 0
    public var trueNegatives = 0
    public var falseNegatives = 0

    public init(threshold: Double) {
        self.threshold = threshold
    }

    public var count: Int { truePositives + falsePositives + trueNegatives + falseNegatives }
    public var accuracy: Double { count == 0 ? .nan : Double(truePositives + trueNegatives) / Double(count) }
    public var precision: Double { Double(truePositives) / Double(max(1, truePositives + falsePositives)) }
    public var recall: Double { Double(truePositives) / Double(max(1, truePositives + falseNegatives)) }
    public var f1: Double { precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall) }
    public var falsePositiveRate: Double { Double(falsePositives) / Double(max(1, falsePositives + trueNegatives)) }
}

import Foundation

/// Spam or ham for one message: its spam probability against a threshold. Every place
/// that calls a message spam goes through this (the classifier, the daemon's scoring
/// service, training's evaluation and the promotion gate), so the rule measured in
/// training is the rule served.
public struct Decision: Sendable, Equatable, Codable {
    /// The threshold when nothing chose one: the two classes' logits equal.
    public static let defaultThreshold = 0.5

    public var spamProbability: Double
    public var threshold: Double

    public init(spamProbability: Double, threshold: Double) {
        self.spamProbability = spamProbability
        self.threshold = threshold
    }

    /// The decision for the model's logits, one per class.
    public init(logits: [Float], threshold: Double, spamIndex: Int = Label.spam.rawValue) {
        self.init(spamProbability: Self.spamProbability(logits: logits, spamIndex: spamIndex), threshold: threshold)
    }

    /// At the threshold counts as spam, as SpamAssassin's `required` score does.
    public var isSpam: Bool { spamProbability >= threshold }

    public var label: Label { isSpam ? .spam : .ham }

    /// P(spam): the softmax of the logits at the spam column, computed in Double from
    /// the largest logit down so that no logit overflows `exp`.
    public static func spamProbability(logits: [Float], spamIndex: Int = Label.spam.rawValue) -> Double {
        guard logits.indices.contains(spamIndex) else { return 0 }
        let maximum = logits.max() ?? 0
        let exps = logits.map { exp(Double($0 - maximum)) }
        return exps[spamIndex] / exps.reduce(0, +)
    }
}

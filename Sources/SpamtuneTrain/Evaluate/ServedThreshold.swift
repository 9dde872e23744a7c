import Foundation
import SpamtuneClassifier

/// How a run sets the threshold its checkpoint serves.
public enum ThresholdPolicy: Sendable, Equatable {
    /// The lowest threshold at which at most this share of the validation ham is called
    /// spam: ham called spam is the costly mistake, so it is what the threshold is for.
    case targetFalsePositiveRate(Double)
    /// Given by the admin (`--threshold`), served as it is.
    case fixed(Double)

    public static let defaultTargetFalsePositiveRate = 0.005
    public static let `default` = ThresholdPolicy.targetFalsePositiveRate(defaultTargetFalsePositiveRate)
}

/// The threshold a checkpoint serves, and what chose it.
public struct ServedThreshold: Codable, Equatable, Sendable {
    public var value: Double
    /// The target it was chosen for; nil when given with `--threshold`.
    public var targetFalsePositiveRate: Double?
    /// The validation split decided at `value`.
    public var validation: ThresholdMetrics
    /// Why this value, in a sentence for the log and the report.
    public var reason: String

    /// A chosen threshold stays in this range: below it nearly every message is spam and
    /// above it nearly none, whatever a small or lopsided validation split suggests.
    public static let range = 0.05...0.999

    /// `outOfFold`: `validation` holds out-of-fold scores of the training and validation
    /// examples rather than the validation split's.
    public static func choose(_ policy: ThresholdPolicy, validation: Evaluation, outOfFold: Bool = false) -> ServedThreshold {
        let ham = outOfFold ? "out-of-fold ham (training and validation, each scored by the fine-tune that left it out)" : "validation ham"
        func percent(_ value: Double) -> String { String(format: "%.2f%%", value * 100) }
        switch policy {
        case let .fixed(value):
            let metrics = validation.metrics(at: value)
            return ServedThreshold(
                value: value, targetFalsePositiveRate: nil, validation: metrics,
                reason: "given with --threshold, so served as given; validation false-positive rate there \(percent(metrics.falsePositiveRate)), recall \(percent(metrics.recall))")
        case let .targetFalsePositiveRate(target):
            guard let lowest = validation.lowestThreshold(falsePositiveRateAtMost: target) else {
                let value = Decision.defaultThreshold
                return ServedThreshold(
                    value: value, targetFalsePositiveRate: target, validation: validation.metrics(at: value),
                    reason: "the validation split has no ham to measure a false-positive rate on, so the default \(value) is served")
            }
            let value = min(max(lowest, range.lowerBound), range.upperBound)
            let metrics = validation.metrics(at: value)
            var reason = String(
                format: "the lowest threshold with at most %@ of the %d %@ called spam", percent(target), validation.hamCount, ham)
            if value != lowest {
                reason += String(format: " is %.6g, kept within %g-%g", lowest, range.lowerBound, range.upperBound)
            }
            reason += "; validation false-positive rate there \(percent(metrics.falsePositiveRate)), recall \(percent(metrics.recall))"
            if metrics.falsePositiveRate > target + 1e-12 { reason += ", above the target" }
            return ServedThreshold(value: value, targetFalsePositiveRate: target, validation: metrics, reason: reason)
        }
    }
}

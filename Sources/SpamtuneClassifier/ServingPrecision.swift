import Foundation
import SpamtuneKernels
import SpamtuneModel

/// The precision an admin asks for (`precision` in spamtune.conf, `spamtune classify
/// --precision`): one of the model's, or `auto`, which lets `PrecisionChoice` decide.
public enum PrecisionSetting: Equatable, Sendable {
    case auto
    case fixed(Precision)

    /// Every value the setting accepts, in the order the documentation lists them.
    public static let names = Precision.allCases.map(\.rawValue) + ["auto"]

    public init?(name: String) {
        if name == "auto" {
            self = .auto
        } else if let precision = Precision(rawValue: name) {
            self = .fixed(precision)
        } else {
            return nil
        }
    }

    /// The setting named `name`, or an error listing the accepted ones.
    public init(parsing name: String) throws {
        guard let setting = PrecisionSetting(name: name) else {
            throw PrecisionSettingError(name: name)
        }
        self = setting
    }

    public var name: String {
        switch self {
        case .auto: "auto"
        case let .fixed(precision): precision.rawValue
        }
    }
}

public struct PrecisionSettingError: Error, CustomStringConvertible {
    public let name: String
    public var description: String {
        "'\(name)' is not a precision: give \(PrecisionSetting.names.joined(separator: ", "))"
    }
}

/// The precision a model serves in and why: the one place that decides it, for
/// `spamtune classify` and for spamtuned at every load and reload.
public struct PrecisionChoice: Equatable, Sendable {
    public var precision: Precision
    public var reason: String

    public init(precision: Precision, reason: String) {
        self.precision = precision
        self.reason = reason
    }

    /// `auto` serves int8 only when it is faster and safe: the CPU has VNNI (elsewhere
    /// int8 runs on portable code no faster than FP32, and BF16, which Swift cannot
    /// multiply natively, is never faster: it only halves the weights' memory), and
    /// spamtune-train found int8 giving FP32's verdict on every validation and test
    /// message at every threshold the caller decides at (`spamThreshold`, and
    /// `rejectThreshold` and `quarantineThreshold` when set), reading them at the token
    /// limit it checked (`maxTokens`: the limit served and the checkpoint's; nil: the
    /// checkpoint's). A record from before spamtune-train measured where verdicts
    /// change covers its own threshold only. Otherwise, and for a checkpoint with no
    /// such record, FP32.
    public static func choose(
        _ setting: PrecisionSetting, agreement: PrecisionAgreement?, spamThreshold: Double, rejectThreshold: Double? = nil,
        quarantineThreshold: Double? = nil, maxTokens: (served: Int, checkpoint: Int)? = nil, instructionSet: InstructionSet
    ) -> PrecisionChoice {
        let vnni = instructionSet == .avx512vnni
        switch setting {
        case .fixed(.int8) where !vnni:
            return PrecisionChoice(
                precision: .int8, reason: "int8 as configured (without VNNI on \(instructionSet.rawValue) it is no faster than fp32)")
        case .fixed(.bf16):
            return PrecisionChoice(precision: .bf16, reason: "bf16 as configured (it halves the weights' memory; it is no faster than fp32)")
        case let .fixed(precision):
            return PrecisionChoice(precision: precision, reason: "\(precision.rawValue) as configured")
        case .auto:
            break
        }
        func fp32(_ why: String) -> PrecisionChoice { PrecisionChoice(precision: .fp32, reason: "auto: fp32, \(why)") }
        guard vnni else {
            return fp32("as this CPU (\(instructionSet.rawValue)) has no AVX-512 VNNI, without which int8 and bf16 are no faster")
        }
        guard let agreement else {
            return fp32("as the checkpoint records no check of its verdicts in int8 (it predates that check, or is not a checkpoint)")
        }
        guard let int8 = agreement.results(.int8), !int8.isEmpty else {
            return fp32("as the checkpoint's check of other precisions has no int8 result")
        }
        if let maxTokens, maxTokens.served != maxTokens.checkpoint {
            return fp32(
                "as max_tokens \(maxTokens.served) overrides the checkpoint's \(maxTokens.checkpoint), the token limit its int8 verdicts were checked at")
        }
        let thresholds = [("spam_threshold", spamThreshold), ("reject_threshold", rejectThreshold), ("quarantine_threshold", quarantineThreshold)]
            .compactMap { name, value in value.map { (name: name, value: $0) } }
        let examples = int8.reduce(0) { $0 + $1.examples }
        let differing = int8.reduce(0) { $0 + $1.differingVerdicts }
        let largest = int8.map(\.largestProbabilityDifference).max() ?? 0
        let splits = int8.map(\.split).joined(separator: " and ")
        let difference = "largest probability difference \(formatted(largest))"
        if spamThreshold == agreement.threshold, differing > 0 {
            return fp32("as int8 changes \(differing) of \(examples) verdicts on the \(splits) split(s) at spam_threshold \(spamThreshold) (\(difference))")
        }
        if int8.allSatisfy({ $0.verdictChangingRanges != nil }) {
            for threshold in thresholds {
                for split in int8 {
                    if let range = split.verdictChangingRanges?.first(where: { $0.contains(threshold.value) }) {
                        return fp32(
                            "as int8 would change a verdict on the \(split.split) split at \(threshold.name) \(threshold.value): fp32's and int8's probabilities of a message lie either side of the thresholds in \(range)")
                    }
                }
            }
        } else {
            // An older record: its differing verdicts were counted at its own threshold only.
            guard agreement.threshold == spamThreshold else {
                return fp32("as the checkpoint checked its int8 verdicts at threshold \(agreement.threshold), not at the \(spamThreshold) served (spam_threshold)")
            }
            if let other = thresholds.dropFirst().first {
                return fp32(
                    "as the checkpoint checked its int8 verdicts at spam_threshold \(agreement.threshold) only (it predates recording where verdicts change), not at \(other.name) \(other.value)")
            }
        }
        let served = thresholds.map { "\($0.name) \($0.value)" }.joined(separator: ", ")
        return PrecisionChoice(
            precision: .int8,
            reason: "auto: int8, which gives fp32's verdict on all \(examples) \(splits) messages at \(served) (\(difference)), on a CPU with VNNI")
    }

    static func formatted(_ value: Double) -> String {
        value == 0 ? "0" : String(format: "%.2g", value)
    }
}

import Foundation
import SpamtuneClassifier
import SpamtuneSupport
@testable import SpamtuneTrain
import Testing

/// Metrics at a threshold, the served threshold's choice on hand-made probabilities, and
/// recall at a false-positive rate of 0.1%.
@Suite struct EvaluationTests {
    func evaluation(ham: [Double], spam: [Double]) -> Evaluation {
        Evaluation(ham.map { .init(spamProbability: $0, label: .ham) } + spam.map { .init(spamProbability: $0, label: .spam) })
    }

    @Test func metricsAtAThresholdCountAProbabilityAtItAsSpam() {
        let e = evaluation(ham: [0.1, 0.6, 0.8], spam: [0.8, 0.9, 0.3, 0.6])
        let m = e.metrics(at: 0.6)
        #expect((m.truePositives, m.falsePositives, m.trueNegatives, m.falseNegatives) == (3, 2, 1, 1))
        #expect(m.precision == 3.0 / 5)
        #expect(m.recall == 3.0 / 4)
        #expect(abs(m.f1 - 2 * 0.6 * 0.75 / 1.35) < 1e-12)
        #expect(m.falsePositiveRate == 2.0 / 3)
        #expect(m.accuracy == 4.0 / 7)
        // The same rule as a served decision.
        #expect(Decision(spamProbability: 0.6, threshold: 0.6).isSpam)
        #expect(!Decision(spamProbability: (0.6).nextDown, threshold: 0.6).isSpam)
    }

    @Test func logitsBecomeTheProbabilityTheClassifierServes() {
        var e = Evaluation()
        e.add(label: .spam, logits: [0.2, 0.7])
        #expect(e.scored[0].spamProbability == Decision.spamProbability(logits: [0.2, 0.7]))
        #expect(abs(e.scored[0].spamProbability - 1 / (1 + exp(-0.5))) < 1e-7)
        // Large logits do not overflow.
        #expect(Decision.spamProbability(logits: [1000, 0]) == 0)
        #expect(Decision.spamProbability(logits: [0, 1000]) == 1)
    }

    @Test func theChosenThresholdIsTheLowestThatMeetsTheTarget() {
        // 200 ham: 0.5% allows one to be called spam, so the threshold clears the second
        // most spam-like ham (0.9) and stops halfway to the next probability above (0.95).
        let ham = [0.97, 0.9] + (0..<198).map { Double($0) / 1000 }
        let e = evaluation(ham: ham, spam: [0.95, 0.92, 0.91, 0.9, 0.5, 0.99])
        let chosen = ServedThreshold.choose(.targetFalsePositiveRate(0.005), validation: e)
        #expect(abs(chosen.value - 0.905) < 1e-12)
        #expect(chosen.validation.falsePositives == 1)
        #expect(chosen.validation.falsePositiveRate <= 0.005)
        #expect(chosen.validation.truePositives == 4)
        #expect(chosen.targetFalsePositiveRate == 0.005)
        // Any lower threshold calls a second ham spam.
        #expect(e.metrics(at: 0.9).falsePositiveRate > 0.005)
        #expect(chosen.reason.contains("validation false-positive rate there 0.50%"), "\(chosen.reason)")
    }

    @Test func hamTiedAtTheBoundaryAreAllCalledHam() {
        // One in four may be spam, but three ham tie at 0.8: clearing one clears all three.
        let e = evaluation(ham: [0.8, 0.8, 0.8, 0.1], spam: [0.8, 0.85])
        let threshold = try! #require(e.lowestThreshold(falsePositiveRateAtMost: 0.25))
        #expect(threshold > 0.8 && threshold < 0.85)
        #expect(e.metrics(at: threshold).falsePositives == 0)
        #expect(e.metrics(at: threshold).truePositives == 1)
        // Two adjacent doubles: the threshold is never the ham's own probability.
        let tight = evaluation(ham: [0.7], spam: [(0.7).nextUp])
        #expect(tight.lowestThreshold(falsePositiveRateAtMost: 0) == (0.7).nextUp)
    }

    @Test func withNoValidationHamTheDefaultIsServed() {
        let chosen = ServedThreshold.choose(.targetFalsePositiveRate(0.005), validation: evaluation(ham: [], spam: [0.9, 0.2]))
        #expect(chosen.value == 0.5)
        #expect(chosen.reason.contains("no ham"))
        let empty = ServedThreshold.choose(.targetFalsePositiveRate(0.005), validation: Evaluation())
        #expect(empty.value == 0.5)
    }

    @Test func theChoiceStaysInASaneRange() {
        // Every ham near 0: the rule alone would call nearly everything spam.
        let low = ServedThreshold.choose(.targetFalsePositiveRate(0.005), validation: evaluation(ham: [0.001, 0.002], spam: [0.003]))
        #expect(low.value == ServedThreshold.range.lowerBound)
        // Ham at 1: no threshold below 1 meets the target; the top of the range is served
        // and the log says the target is missed.
        let high = ServedThreshold.choose(.targetFalsePositiveRate(0), validation: evaluation(ham: [1, 0.2], spam: [1]))
        #expect(high.value == ServedThreshold.range.upperBound)
        #expect(high.validation.falsePositiveRate == 0.5)
        #expect(high.reason.contains("above the target"), "\(high.reason)")
    }

    @Test func aGivenThresholdIsServedAsGiven() {
        let chosen = ServedThreshold.choose(.fixed(0.7), validation: evaluation(ham: [0.75, 0.1], spam: [0.9]))
        #expect(chosen.value == 0.7)
        #expect(chosen.targetFalsePositiveRate == nil)
        #expect(chosen.validation.falsePositives == 1)
        #expect(chosen.reason.contains("--threshold"))
    }

    @Test func recallAtAFalsePositiveRateOfOneInAThousand() {
        // 1000 ham: one may be called spam. The second most spam-like ham (0.95) must not,
        // so spam at or below 0.95 is missed: 3 of 5 caught.
        let ham = [0.99, 0.95] + Array(repeating: 0.1, count: 998)
        let e = evaluation(ham: ham, spam: [0.999, 0.98, 0.96, 0.95, 0.5])
        #expect(e.recall(atFalsePositiveRate: SplitMetrics.strictFalsePositiveRate) == 0.6)
        // 999 ham: none may be called spam.
        let fewer = evaluation(ham: Array(ham.dropLast()), spam: [0.999, 0.98, 0.96, 0.95, 0.5])
        #expect(fewer.recall(atFalsePositiveRate: 0.001) == 0.2)
        // Undefined without both classes.
        #expect(evaluation(ham: [], spam: [0.9]).recall(atFalsePositiveRate: 0.001) == nil)
        #expect(evaluation(ham: [0.1], spam: []).recall(atFalsePositiveRate: 0.001) == nil)
        let split = SplitMetrics(e, threshold: 0.5)
        #expect(split.recallAtStrictFalsePositiveRate == 0.6)
        #expect(split.recall == 1)
    }

    @Test func mistakesComeWorstFirst() {
        let e = evaluation(ham: [0.6, 0.1, 0.9, 0.6], spam: [0.4, 0.05, 0.7])
        let (ham, spam) = e.mistakes(at: 0.5)
        #expect(ham == [2, 0, 3])
        #expect(spam == [5, 4])
    }

    @Test func theCommandLineChoosesTheThresholdPolicy() throws {
        let spec = TrainingCommandLine.specification
        func options(_ arguments: [String]) throws -> TrainingOptions {
            try TrainingCommandLine.options(from: spec.parse(["--state-dir", "/tmp/spamtune-options"] + arguments))
        }
        #expect(try options([]).thresholdPolicy == .targetFalsePositiveRate(0.005))
        #expect(try options(["--target-fpr", "0.01"]).thresholdPolicy == .targetFalsePositiveRate(0.01))
        #expect(try options(["--target-fpr", "0"]).thresholdPolicy == .targetFalsePositiveRate(0))
        #expect(try options(["--target-fpr", "0.01", "--threshold", "0.7"]).thresholdPolicy == .fixed(0.7))
        #expect(throws: ArgumentError.self) { try options(["--target-fpr", "1"]) }
        #expect(throws: ArgumentError.self) { try options(["--target-fpr", "-0.1"]) }
        #expect(throws: ArgumentError.self) { try options(["--threshold", "1"]) }
    }
}

import Foundation
import SpamtuneClassifier

/// A run's evaluation step: every split scored, the served threshold chosen on the
/// validation scores (never the test split, which measures the choice), and each split
/// measured at that threshold: the numbers that hold for the model as served. The
/// validation scores are the validation split's, or for a cross-fitted soup every
/// training and validation example scored by the fine-tune that left it out.
struct RunEvaluation {
    let train: Evaluation
    let validation: Evaluation
    let test: Evaluation
    let threshold: ServedThreshold

    init(train: Evaluation, validation: Evaluation, test: Evaluation, validationIsOutOfFold: Bool = false, policy: ThresholdPolicy) {
        self.train = train
        self.validation = validation
        self.test = test
        threshold = ServedThreshold.choose(policy, validation: validation, outOfFold: validationIsOutOfFold)
    }

    var trainMetrics: SplitMetrics { SplitMetrics(train, threshold: threshold.value) }
    var validationMetrics: SplitMetrics { SplitMetrics(validation, threshold: threshold.value) }
    var testMetrics: SplitMetrics { SplitMetrics(test, threshold: threshold.value) }

    /// `examples`: the test split, in the order it was scored.
    func testMistakes(_ examples: [TrainingExample]) -> MistakeList {
        MistakeList(evaluation: test, threshold: threshold.value, examples: examples)
    }

    func log(to log: TrainingLog) {
        func pct(_ value: Double) -> String { String(format: "%.2f%%", value * 100) }
        log(String(format: "served threshold %.4g: %@", threshold.value, threshold.reason))
        // What other targets would serve, for an admin weighing `--target-fpr` or `--threshold`.
        let others = [0.001, 0.0025, 0.005, 0.01].compactMap { target -> String? in
            guard let value = self.validation.lowestThreshold(falsePositiveRateAtMost: target) else { return nil }
            return String(format: "%g%% %.4g (recall %@)", target * 100, value, pct(self.validation.metrics(at: value).recall))
        }
        if !others.isEmpty { log("threshold for other target false-positive rates, on the same held-out scores: " + others.joined(separator: ", ")) }
        let (train, validation, test) = (trainMetrics, validationMetrics, testMetrics)
        log("accuracy at the served threshold: train \(pct(train.accuracy)), validation \(pct(validation.accuracy)), test \(pct(test.accuracy))")
        log("test at the served threshold: precision \(pct(test.precision)), recall \(pct(test.recall)), F1 \(pct(test.f1)), "
            + "false-positive rate \(pct(test.falsePositiveRate)) (ham called spam: \(test.falsePositives) of \(test.falsePositives + test.trueNegatives)); "
            + "recall at FPR 0.1% \(test.recallAtStrictFalsePositiveRate.map(pct) ?? "n/a")")
    }
}

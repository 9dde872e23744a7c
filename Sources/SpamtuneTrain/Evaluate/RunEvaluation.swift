import Foundation
import SpamtuneClassifier

/// A run's evaluation step: every split scored, the served threshold chosen on the
/// validation split (never the test split, which measures the choice), and each split
/// measured at that threshold: the numbers that hold for the model as served.
struct RunEvaluation {
    let train: Evaluation
    let validation: Evaluation
    let test: Evaluation
    let threshold: ServedThreshold

    init(train: Evaluation, validation: Evaluation, test: Evaluation, policy: ThresholdPolicy) {
        self.train = train
        self.validation = validation
        self.test = test
        threshold = ServedThreshold.choose(policy, validation: validation)
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
        let (train, validation, test) = (trainMetrics, validationMetrics, testMetrics)
        log("accuracy at the served threshold: train \(pct(train.accuracy)), validation \(pct(validation.accuracy)), test \(pct(test.accuracy))")
        log("test at the served threshold: precision \(pct(test.precision)), recall \(pct(test.recall)), F1 \(pct(test.f1)), "
            + "false-positive rate \(pct(test.falsePositiveRate)) (ham called spam: \(test.falsePositives) of \(test.falsePositives + test.trueNegatives)); "
            + "recall at FPR 0.1% \(test.recallAtStrictFalsePositiveRate.map(pct) ?? "n/a")")
    }
}

import Foundation
import SpamtuneClassifier

/// Whether a new model replaces the current one: only if, on the same held-out examples
/// and each model at the threshold it serves, it is not worse: its false-positive rate
/// (ham called spam, the costly mistake) no higher, and its F1 on spam no lower.
enum Promotion {
    static func decide(new: Evaluation, threshold: Double, split: ExampleSplit, store: CheckpointStore, log: TrainingLog) -> (Bool, String) {
        guard let version = store.currentVersion else { return (true, "the first checkpoint") }
        let current: SpamClassifier
        do {
            current = try SpamClassifier.load(checkpoint: store.directory(of: version))
        } catch {
            log.warning("the current checkpoint \(version) cannot be loaded (\(error)); the new one replaces it")
            return (true, "the current checkpoint \(version) cannot be loaded")
        }
        let old = evaluate(current, on: split.test)
        return compare(new: new.metrics(at: threshold), current: old.metrics(at: current.threshold), currentVersion: version, log: log)
    }

    /// The rule itself, on the two models' test metrics at their served thresholds.
    static func compare(new: ThresholdMetrics, current old: ThresholdMetrics, currentVersion version: String, log: TrainingLog) -> (Bool, String) {
        func pct(_ value: Double) -> String { String(format: "%.2f%%", value * 100) }
        let comparison = String(format: "at thresholds %.4g vs %.4g, ", new.threshold, old.threshold)
            + "test false-positive rate \(pct(new.falsePositiveRate)) vs \(pct(old.falsePositiveRate)), "
            + "F1 \(pct(new.f1)) vs \(pct(old.f1)), precision \(pct(new.precision)) vs \(pct(old.precision)), "
            + "recall \(pct(new.recall)) vs \(pct(old.recall)) (new vs current \(version))"
        log("promotion: \(comparison)")
        if new.falsePositiveRate > old.falsePositiveRate { return (false, "more ham called spam than the current model: \(comparison)") }
        if new.f1 < old.f1 { return (false, "a lower F1 than the current model: \(comparison)") }
        return (true, "not worse than the current model: \(comparison)")
    }

    /// A loaded checkpoint's spam probabilities for `examples`, each read through the
    /// checkpoint's own text layout and token limit.
    static func evaluate(_ classifier: SpamClassifier, on examples: [TrainingExample]) -> Evaluation {
        var evaluation = Evaluation()
        var start = 0
        while start < examples.count {
            let batch = Array(examples[start..<min(examples.count, start + 16)])
            let inputs = batch.map { example -> ModelInput in
                switch example.content {
                case let .text(text): classifier.input(for: text)
                case let .mail(bytes): classifier.input(forMail: bytes)
                }
            }
            for (verdict, example) in zip(classifier.classify(inputs), batch) {
                evaluation.add(label: example.label, spamProbability: verdict.spamProbability)
            }
            start += batch.count
        }
        return evaluation
    }
}

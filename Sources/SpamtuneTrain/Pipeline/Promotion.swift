import Foundation
import SpamtuneClassifier

/// Whether a new model replaces the current one: only if, on the same held-out examples,
/// it is not worse — its false-positive rate (ham called spam, the costly mistake) no
/// higher, and its accuracy no lower.
enum Promotion {
    static func decide(new: Evaluation, split: ExampleSplit, store: CheckpointStore, log: TrainingLog) -> (Bool, String) {
        guard let version = store.currentVersion else { return (true, "the first checkpoint") }
        let current: SpamClassifier
        do {
            current = try SpamClassifier.load(checkpoint: store.directory(of: version))
        } catch {
            log.warning("the current checkpoint \(version) cannot be loaded (\(error)); the new one replaces it")
            return (true, "the current checkpoint \(version) cannot be loaded")
        }
        var old = Evaluation()
        var start = 0
        while start < split.test.count {
            let batch = Array(split.test[start..<min(split.test.count, start + 16)])
            let tokens = batch.map { example -> ModelInput in
                switch example.content {
                case let .text(text): current.input(for: text)
                case let .mail(bytes): current.input(forMail: bytes)
                }
            }
            for (verdict, example) in zip(current.classify(tokens), batch) {
                old.add(label: example.label.rawValue, logits: verdict.logits)
            }
            start += batch.count
        }
        let comparison = String(
            format: "test accuracy %.2f%% vs %.2f%%, false-positive rate %.2f%% vs %.2f%% (new vs current %@)",
            new.accuracy * 100, old.accuracy * 100, new.falsePositiveRate * 100, old.falsePositiveRate * 100, version)
        log("promotion: \(comparison)")
        if new.falsePositiveRate > old.falsePositiveRate { return (false, "more ham called spam than the current model: \(comparison)") }
        if new.accuracy < old.accuracy { return (false, "less accurate than the current model: \(comparison)") }
        return (true, "not worse than the current model: \(comparison)")
    }
}

import Foundation

/// One line of a run's test metrics at its served threshold, as `spamtune-train` prints
/// it after a run and in `status`.
public enum TrainingSummary {
    public static func metrics(_ report: TrainingReport) -> String {
        line(threshold: report.threshold.value, test: report.test.precision, report.test.recall, report.test.f1,
             report.test.falsePositiveRate, report.test.recallAtStrictFalsePositiveRate, accuracy: report.test.accuracy)
    }

    /// Runs recorded before the served threshold was chosen have accuracy and the
    /// false-positive rate only (measured by argmax).
    public static func metrics(_ entry: RunHistory.Entry) -> String {
        guard let threshold = entry.threshold, let precision = entry.testPrecision, let recall = entry.testRecall, let f1 = entry.testF1 else {
            return String(format: "test accuracy %.2f%%, false-positive rate %.2f%%", entry.testAccuracy * 100, entry.testFalsePositiveRate * 100)
        }
        return line(threshold: threshold, test: precision, recall, f1, entry.testFalsePositiveRate,
                    entry.testRecallAtStrictFalsePositiveRate, accuracy: entry.testAccuracy)
    }

    /// `136 s in all: data 2 s, pretraining 72 s, training 64 s, ...`: the stage table of
    /// report.md in one line, so the parts add up to the total.
    public static func time(_ entry: RunHistory.Entry) -> String {
        guard let stages = entry.stages, !stages.isEmpty else { return String(format: "%.0f s training", entry.trainingSeconds) }
        let total = stages.reduce(0) { $0 + $1.seconds }
        return String(format: "%.0f s in all: ", total) + stages.map { String(format: "%@ %.0f s", $0.name, $0.seconds) }.joined(separator: ", ")
    }

    private static func line(
        threshold: Double, test precision: Double, _ recall: Double, _ f1: Double, _ falsePositiveRate: Double,
        _ strictRecall: Double?, accuracy: Double
    ) -> String {
        func pct(_ value: Double) -> String { String(format: "%.2f%%", value * 100) }
        return String(format: "threshold %.4g: test ", threshold)
            + "precision \(pct(precision)), recall \(pct(recall)), F1 \(pct(f1)), false-positive rate \(pct(falsePositiveRate)), "
            + "recall at FPR 0.1% \(strictRecall.map(pct) ?? "n/a"), accuracy \(pct(accuracy))"
    }
}

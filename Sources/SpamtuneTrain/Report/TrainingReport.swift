import Foundation
import SpamtuneClassifier
import SpamtuneModel
import SpamtuneSupport
import SpamtuneWeights

/// Where the data came from and how it was split.
public struct DataRecord: Codable, Equatable, Sendable {
    /// Where the SMS collection came from, or that it was not used.
    public var origin: String
    /// The SMS collection's and its training CSV's hashes, when it was used.
    public var collectionSHA256: String?
    public var trainFileSHA256: String?
    public var trainExamples: Int
    public var validationExamples: Int
    public var testExamples: Int
    public var mailExamples: Int
    /// Each source's examples, ham and spam, in the order they were added.
    public var sources: [DataSourceRecord]

    init(sms: SMSDataset.Prepared?, sources: [DataSourceRecord], split: ExampleSplit) {
        origin = sms?.origin.summary ?? "no SMS data (--data without sms)"
        collectionSHA256 = sms.map { _ in SMSSpamCollection.sha256 }
        trainFileSHA256 = sms.map { (try? Data(contentsOf: $0.trainFile)).map { SHA256.hexDigest($0) } ?? "" }
        trainExamples = split.train.count
        validationExamples = split.validation.count
        testExamples = split.test.count
        mailExamples = (split.train + split.validation + split.test).count {
            if case .mail = $0.content { return true }
            return false
        }
        self.sources = sources
    }

    /// `sms 747 ham / 747 spam, spamassassin 4150 ham / 1890 spam`, for report.md.
    var sourcesSummary: String {
        sources.isEmpty ? "none" : sources.map { "\($0.name) \($0.ham) ham / \($0.spam) spam (\($0.origin))" }.joined(separator: "; ")
    }
}

/// A split decided at the served threshold, as the report gives it.
public struct SplitMetrics: Codable, Equatable, Sendable {
    /// The false-positive rate of "recall at FPR 0.1%": one ham in a thousand called spam.
    public static let strictFalsePositiveRate = 0.001

    public var examples: Int
    public var threshold: Double
    public var truePositives: Int
    public var falsePositives: Int
    public var trueNegatives: Int
    public var falseNegatives: Int
    public var accuracy: Double
    public var precision: Double
    public var recall: Double
    public var f1: Double
    public var falsePositiveRate: Double
    /// The highest recall among thresholds (any, not only the served one) whose
    /// false-positive rate on this split is at most 0.1%; nil without both ham and spam.
    public var recallAtStrictFalsePositiveRate: Double?

    public init(_ evaluation: Evaluation, threshold: Double) {
        let metrics = evaluation.metrics(at: threshold)
        examples = metrics.count
        self.threshold = threshold
        truePositives = metrics.truePositives
        falsePositives = metrics.falsePositives
        trueNegatives = metrics.trueNegatives
        falseNegatives = metrics.falseNegatives
        accuracy = metrics.accuracy
        precision = metrics.precision
        recall = metrics.recall
        f1 = metrics.f1
        falsePositiveRate = metrics.falsePositiveRate
        recallAtStrictFalsePositiveRate = evaluation.recall(atFalsePositiveRate: Self.strictFalsePositiveRate)
    }
}

/// Everything a run measured: written as report.json, report.md and two SVG plots into
/// the checkpoint, and summarised into spamtune.json.
public struct TrainingReport: Codable, Sendable {
    public var version: String
    public var base: CheckpointManifest.BaseModel
    public var config: GPT2Config
    public var recipe: String
    public var hyperparameters: Hyperparameters
    public var scope: TrainableScope
    public var data: DataRecord
    public var history: TrainingHistory
    /// The threshold the checkpoint serves, and what chose it.
    public var threshold: ServedThreshold
    /// Each split decided at the served threshold.
    public var train: SplitMetrics
    public var validation: SplitMetrics
    public var test: SplitMetrics
    public var mistakes: MistakeList
    public var stages: [StageRecord]
    public var peakResidentMB: Double
    public var promoted: Bool
    public var promotionReason: String

    /// The summary kept in spamtune.json.
    var manifestRecord: TrainingRecord {
        func number(_ value: Double) -> JSONValue { .number((value * 1e6).rounded() / 1e6) }
        // A Float widened to Double shows its binary error (0.0010000000474974513); its
        // shortest decimal form is the value as the admin wrote it.
        func decimal(_ value: Float) -> JSONValue { .number(Double(value.description) ?? Double(value)) }
        var dataValues: [String: JSONValue] = [
            "origin": .string(data.origin), "train": .number(Double(data.trainExamples)),
            "validation": .number(Double(data.validationExamples)), "test": .number(Double(data.testExamples)),
            "mail": .number(Double(data.mailExamples)),
            "sources": .array(data.sources.map { source in
                .object(["name": .string(source.name), "origin": .string(source.origin),
                         "ham": .number(Double(source.ham)), "spam": .number(Double(source.spam))])
            }),
        ]
        if let hash = data.collectionSHA256 { dataValues["collection_sha256"] = .string(hash) }
        if let hash = data.trainFileSHA256 { dataValues["train_csv_sha256"] = .string(hash) }
        return TrainingRecord(values: [
            "recipe": .string(recipe),
            "hyperparameters": .object([
                "epochs": .number(Double(hyperparameters.epochs)), "batch_size": .number(Double(hyperparameters.batchSize)),
                "learning_rate": decimal(hyperparameters.learningRate), "weight_decay": decimal(hyperparameters.weightDecay),
                "trainable_blocks": .number(Double(scope.blocks)), "embeddings_trained": .bool(scope.embeddings),
                "seed": .number(Double(hyperparameters.seed)), "max_tokens": .number(Double(hyperparameters.maxTokens)),
                "padding": .string(hyperparameters.padding.rawValue), "text_layout": .string(hyperparameters.textLayout),
            ]),
            "data": .object(dataValues),
            "served_threshold": .object(
                [
                    "value": number(threshold.value), "reason": .string(threshold.reason),
                    "validation_false_positive_rate": number(threshold.validation.falsePositiveRate),
                    "validation_recall": number(threshold.validation.recall),
                ].merging(threshold.targetFalsePositiveRate.map { ["target_false_positive_rate": number($0)] } ?? [:]) { a, _ in a }),
            // At the served threshold: what `spamtune status` shows of the model.
            "metrics": .object(
                [
                    "train_accuracy": number(train.accuracy), "validation_accuracy": number(validation.accuracy),
                    "validation_false_positive_rate": number(validation.falsePositiveRate), "validation_recall": number(validation.recall),
                    "test_accuracy": number(test.accuracy), "test_precision": number(test.precision),
                    "test_recall": number(test.recall), "test_f1": number(test.f1),
                    "test_false_positive_rate": number(test.falsePositiveRate),
                ].merging(test.recallAtStrictFalsePositiveRate.map { ["test_recall_at_fpr_0.1%": number($0)] } ?? [:]) { a, _ in a }),
            "training_seconds": number(history.trainingSeconds),
        ])
    }

    func files() throws -> [(name: String, data: Data)] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var json = try encoder.encode(self)
        json.append(10)
        return [
            ("report.json", json), ("report.md", Data(markdown().utf8)),
            ("loss.svg", Data(lossChart().utf8)), ("accuracy.svg", Data(accuracyChart().utf8)),
        ]
    }

    private var examplesPerEpoch: Double {
        guard let first = history.epochs.first else { return 1 }
        return Double(first.examplesSeen)
    }

    func lossChart() -> String {
        let perEpoch = max(1, examplesPerEpoch)
        return SVGLineChart(
            title: "Loss", xLabel: "Epochs", yLabel: "Loss",
            series: [
                .init(name: "Training loss", points: history.losses.map { (Double($0.examplesSeen) / perEpoch, $0.trainLoss) }, color: "#1f77b4"),
                .init(name: "Validation loss", points: history.losses.map { (Double($0.examplesSeen) / perEpoch, $0.validationLoss) }, color: "#ff7f0e", dashed: true),
            ],
            topAxis: ("Examples seen", { ($0 * perEpoch).rounded() }), note: soupNote
        ).render()
    }

    /// A soup's served weights are an average; the curves are its first fine-tune's.
    private var soupNote: String? {
        history.soupSize.map { "the first of the soup's \($0) fine-tunes; the served model averages them" }
    }

    func accuracyChart() -> String {
        let perEpoch = max(1, examplesPerEpoch)
        return SVGLineChart(
            title: "Accuracy", xLabel: "Epochs", yLabel: "Accuracy",
            series: [
                .init(name: "Training accuracy", points: history.epochs.map { (Double($0.epoch), $0.trainAccuracy) }, color: "#1f77b4"),
                .init(name: "Validation accuracy", points: history.epochs.map { (Double($0.epoch), $0.validationAccuracy) }, color: "#ff7f0e", dashed: true),
            ],
            topAxis: ("Examples seen", { ($0 * perEpoch).rounded() }), note: soupNote
        ).render()
    }

    func markdown() -> String {
        func pct(_ value: Double) -> String { String(format: "%.2f%%", value * 100) }
        var lines = [
            "# spamtune model \(version)", "",
            "Base: \(base.name) (\(base.source)); \(config); recipe `\(recipe)`; trained: \(scope.embeddings ? "every layer" : "head, final LayerNorm, last \(scope.blocks) block(s)").",
            "Data: \(data.trainExamples) training, \(data.validationExamples) validation, \(data.testExamples) test examples (\(data.mailExamples) of them mail).",
            "Sources: \(data.sourcesSummary).",
            "",
            String(format: "Served threshold: %.4g (P(spam) at or above it is spam): %@.", threshold.value, threshold.reason),
            "",
            "At the served threshold (recall at FPR 0.1%: the most spam caught with at most 0.1% of the ham called spam, at whatever threshold does that):",
            "",
            "| split | examples | accuracy | precision | recall | F1 | false-positive rate | recall at FPR 0.1% |",
            "|---|---|---|---|---|---|---|---|",
        ]
        // A cross-fitted soup scores every training and validation example out of fold.
        let validationName = validation.examples == data.trainExamples + data.validationExamples && data.trainExamples > 0
            ? "train + validation, each scored out of fold" : "validation"
        for (name, split) in [("train", train), (validationName, validation), ("test", test)] {
            lines.append(
                "| \(name) | \(split.examples) | \(pct(split.accuracy)) | \(pct(split.precision)) | \(pct(split.recall)) | \(pct(split.f1)) | "
                    + "\(pct(split.falsePositiveRate)) | \(split.recallAtStrictFalsePositiveRate.map(pct) ?? "n/a") |")
        }
        lines += [
            "",
            "Test, at the served threshold:",
            "",
            "| | called ham | called spam |", "|---|---|---|",
            "| ham | \(test.trueNegatives) | \(test.falsePositives) |", "| spam | \(test.falseNegatives) | \(test.truePositives) |",
            "",
            "Hyper-parameters: \(hyperparameters.epochs) epochs, batch \(hyperparameters.batchSize), AdamW lr \(hyperparameters.learningRate), weight decay \(hyperparameters.weightDecay), seed \(hyperparameters.seed), max \(hyperparameters.maxTokens) tokens, padding \(hyperparameters.padding.rawValue), text layout \(hyperparameters.textLayout).",
            "",
            "| stage | seconds | peak memory (MB) |", "|---|---|---|",
        ]
        lines += stages.map { String(format: "| %@ | %.1f | %.0f |", $0.name, $0.seconds, $0.peakResidentMB) }
        if let pretraining = history.pretraining, let first = pretraining.first, let last = pretraining.last {
            lines += ["", String(format: "Pretrained on message text first (next-token prediction, %d epochs of %d tokens): loss %.3f after the first epoch, %.3f after the last.",
                                 pretraining.count, last.tokens, first.loss, last.loss)]
        }
        lines += ["", "\(promoted ? "Promoted to current" : "Kept aside"): \(promotionReason)."]
        lines += mistakes.markdown()
        lines += ["", "![loss](loss.svg) ![accuracy](accuracy.svg)", ""]
        return lines.joined(separator: "\n")
    }
}

/// The last runs and their metrics (`spamtune-train status`), one JSON line per run.
public struct RunHistory {
    public let file: URL

    public init(directory: URL) {
        file = directory.appendingPathComponent("runs.jsonl")
    }

    public struct Entry: Codable, Sendable {
        public var version: String
        public var finishedAt: String
        public var base: String
        public var recipe: String
        public var testAccuracy: Double
        public var testFalsePositiveRate: Double
        // At the served threshold; absent in runs recorded before it was chosen.
        public var threshold: Double?
        public var testPrecision: Double?
        public var testRecall: Double?
        public var testF1: Double?
        public var testRecallAtStrictFalsePositiveRate: Double?
        /// The last fine-tune's seconds; `stages` has the whole run's.
        public var trainingSeconds: Double
        /// Each stage's time, as in report.md; absent in runs recorded before.
        public var stages: [StageRecord]?
        public var promoted: Bool
        public var reason: String
    }

    /// A run that stopped before writing a checkpoint; `status` shows it until a later
    /// run finishes.
    public struct Failure: Codable, Sendable {
        public var failedAt: String
        public var base: String
        public var exitStatus: Int32
        public var reason: String

        public init(base: String, exitStatus: Int32, reason: String) {
            failedAt = ISO8601DateFormatter().string(from: Date())
            self.base = base
            self.exitStatus = exitStatus
            self.reason = reason
        }
    }

    private var failureFile: URL { file.deletingLastPathComponent().appendingPathComponent("last-failure.json") }

    public func recordFailure(_ failure: Failure) throws {
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try JSONEncoder().encode(failure).write(to: failureFile, options: .atomic)
    }

    /// The last run's failure, when no run has finished since.
    public func lastFailure() -> Failure? {
        (try? Data(contentsOf: failureFile)).flatMap { try? JSONDecoder().decode(Failure.self, from: $0) }
    }

    func append(_ report: TrainingReport) throws {
        try? FileManager.default.removeItem(at: failureFile)
        let entry = Entry(
            version: report.version, finishedAt: ISO8601DateFormatter().string(from: Date()), base: report.base.name,
            recipe: report.recipe, testAccuracy: report.test.accuracy, testFalsePositiveRate: report.test.falsePositiveRate,
            threshold: report.threshold.value, testPrecision: report.test.precision, testRecall: report.test.recall,
            testF1: report.test.f1, testRecallAtStrictFalsePositiveRate: report.test.recallAtStrictFalsePositiveRate,
            trainingSeconds: report.history.trainingSeconds, stages: report.stages, promoted: report.promoted,
            reason: report.promotionReason)
        var line = try JSONEncoder().encode(entry)
        line.append(10)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        if let handle = FileHandle(forWritingAtPath: file.path) {
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: line)
        } else {
            try line.write(to: file)
        }
    }

    public func entries() -> [Entry] {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Entry.self, from: Data($0.utf8)) }
    }
}

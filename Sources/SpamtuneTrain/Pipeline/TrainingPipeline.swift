import Foundation
import SpamtuneClassifier
import SpamtuneModel
import SpamtuneWeights

/// What a run produced.
public struct TrainingRunResult: Sendable {
    public var version: String
    public var directory: URL
    public var promoted: Bool
    public var promotionReason: String
    public var report: TrainingReport
}

/// `spamtune-train`, stage by stage: data (`TrainingData`), base model (`BaseModel`,
/// `ModelSetup`), encode (`EncodedSplit`), fit (`ModelFit`), evaluate (`RunEvaluation`),
/// checkpoint. Each stage logs what it does and is timed for the report; the data and
/// download steps are skipped when their output is already complete.
public final class TrainingPipeline {
    public let options: TrainingOptions
    public let log: TrainingLog
    private let downloadOptions: DownloadOptions

    public init(options: TrainingOptions, log: TrainingLog = .standardError, downloadOptions: DownloadOptions? = nil) {
        self.options = options
        self.log = log
        var download = downloadOptions ?? DownloadOptions(attempts: options.downloadAttempts, baseDelay: options.downloadRetryDelay)
        download.offline = options.offline || download.offline
        self.downloadOptions = download
    }

    public func run() async throws -> TrainingRunResult {
        var timer = StageTimer()
        let downloader = Downloader(cacheRoot: options.cacheDirectory, options: downloadOptions, log: log)

        let data = try await TrainingData.gather(options, downloader: downloader, log: log)
        timer.finish("data")

        let base = try await BaseModel.resolve(options, downloader: downloader, log: log)
        let setup = try ModelSetup(base: base, options: options, log: log)
        timer.finish("base model")

        let encoded = try EncodedSplit(data.split, setup: setup, log: log)
        timer.finish("tokenize")

        let fit = try ModelFit(setup: setup, encoded: encoded, options: options, log: log)
        timer.finish("frozen features")
        let pretraining = try fit.pretrain(encoded, data: data, options: options)
        if pretraining != nil { timer.finish("pretraining") }
        var (history, outOfFold) = try fit.fineTune(encoded)
        history.pretraining = pretraining
        timer.finish("training")

        // The threshold to serve is chosen on held-out scores: the soup's out-of-fold ones
        // where it has them, else the validation split's.
        let evaluation = RunEvaluation(
            train: fit.tuner.evaluateTraining(), validation: outOfFold ?? fit.tuner.evaluateValidation(), test: fit.tuner.evaluate(encoded.test),
            validationIsOutOfFold: outOfFold != nil, policy: options.thresholdPolicy)
        evaluation.log(to: log)
        timer.finish("evaluation")

        if options.finalFit && options.recipe == .spamtune && !(data.split.validation.isEmpty && data.split.test.isEmpty) {
            try fit.finalFit(encoded)
            timer.finish("final fit")
        }

        let agreement = precisionAgreement(fit: fit, encoded: encoded, threshold: evaluation.threshold.value)
        if agreement != nil { timer.finish("precision check") }

        return try checkpoint(
            setup: setup, encoded: encoded, fit: fit, data: data, history: history, evaluation: evaluation, agreement: agreement,
            timer: &timer)
    }

    /// The served model (after the final fit, if any) scores the validation and test
    /// messages in each precision, for `auto` to serve int8 only where its verdicts are
    /// FP32's (`PrecisionChoice`). Nil without held-out messages to score.
    private func precisionAgreement(fit: ModelFit, encoded: EncodedSplit, threshold: Double) -> PrecisionAgreement? {
        let splits = [("validation", encoded.validation), ("test", encoded.test)]
            .filter { !$0.1.isEmpty }
            .map { (name: $0.0, inputs: $0.1.map { ModelInput(ids: $0.ids, evidence: $0.evidence) }) }
        guard !splits.isEmpty else { return nil }
        let agreement = PrecisionAgreement.measure(
            parameters: fit.classifier.model.parameters, kernels: fit.classifier.kernels, splits: splits, threshold: threshold)
        for line in agreement.summary { log("precision check: \(line)") }
        return agreement
    }

    /// Writes the checkpoint with its report, and promotes it if it is not worse than the
    /// current model.
    private func checkpoint(
        setup: ModelSetup, encoded: EncodedSplit, fit: ModelFit, data: TrainingData, history: TrainingHistory,
        evaluation: RunEvaluation, agreement: PrecisionAgreement?, timer: inout StageTimer
    ) throws -> TrainingRunResult {
        let split = data.split
        let store = CheckpointStore(root: options.modelsDirectory, keep: options.keepVersions)
        let version = store.newVersionName()
        let (promote, reason) = options.neverPromote
            ? (false, "kept aside as asked (--no-promote)")
            : Promotion.decide(new: evaluation.test, threshold: evaluation.threshold.value, split: split, store: store, log: log)
        var report = TrainingReport(
            version: version, base: setup.baseRecord, config: setup.config, recipe: options.recipe.rawValue,
            hyperparameters: setup.hyperparameters, scope: setup.scope,
            data: DataRecord(sms: data.sms, sources: data.sources, split: split), history: history,
            threshold: evaluation.threshold, train: evaluation.trainMetrics, validation: evaluation.validationMetrics,
            test: evaluation.testMetrics, mistakes: evaluation.testMistakes(split.test),
            stages: timer.records, peakResidentMB: ProcessMemory.peakResidentMB(), promoted: promote, promotionReason: reason)
        let tokenizerFiles = setup.tokenizerFiles
        var manifest = CheckpointManifest(
            createdAt: ISO8601DateFormatter().string(from: Date()), version: version, base: setup.baseRecord, config: setup.config,
            tokenizer: .init(vocabulary: tokenizerFiles.vocabulary.lastPathComponent, merges: tokenizerFiles.merges.lastPathComponent),
            input: encoded.input, threshold: evaluation.threshold.value, trainable: setup.scope)
        manifest.training = report.manifestRecord
        manifest.precisionAgreement = agreement
        let classifier = fit.classifier
        let tensors = classifier.parameters.entries.map { entry in
            TensorView(name: entry.name, shape: entry.shape, values: classifier.parameters.values(entry.name))
        }
        let directory = try store.write(
            manifest,
            contents: .init(
                tensors: tensors, copiedFiles: [tokenizerFiles.vocabulary, tokenizerFiles.merges],
                writtenFiles: try report.files()),
            makeCurrent: promote)
        timer.finish("checkpoint")
        report.stages = timer.records
        log("checkpoint \(version) written to \(directory.path); \(promote ? "now current" : "kept aside"): \(reason)")
        if let warning = manifest.training?.noMailWarning { log.warning(warning) }
        try RunHistory(directory: options.workDirectory).append(report)
        return TrainingRunResult(version: version, directory: directory, promoted: promote, promotionReason: reason, report: report)
    }
}

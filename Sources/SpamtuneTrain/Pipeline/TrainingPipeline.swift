import Foundation
import SpamtuneClassifier
import SpamtuneKernels
import SpamtuneModel
import SpamtuneSupport
import SpamtuneTokenizer
import SpamtuneWeights

/// One labelled example in its original form: an SMS text or a raw mail. Kept raw so
/// that any model (this run's, or the current one it is compared against) reads it
/// through its own text layout.
public struct TrainingExample: Sendable {
    public enum Content: Sendable {
        case text(String)
        case mail([UInt8])
    }

    public var content: Content
    public var label: Label
    /// Where it came from (a mail file, a mailbox position), when known: how a report
    /// names a message the model got wrong.
    public var source: String?

    public init(content: Content, label: Label, source: String? = nil) {
        self.content = content
        self.label = label
        self.source = source
    }
}

/// What a run produced.
public struct TrainingRunResult: Sendable {
    public var version: String
    public var directory: URL
    public var promoted: Bool
    public var promotionReason: String
    public var report: TrainingReport
}

/// `spamtune-train`: data, base model, fine-tuning, evaluation, report, checkpoint.
/// Each step logs what it does; the data and download steps are skipped when their
/// output is already complete.
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
        var stages = StageTimer()
        let downloader = Downloader(cacheRoot: options.cacheDirectory, options: downloadOptions, log: log)

        // 1. Data
        let data = try await TrainingData.gather(options, downloader: downloader, log: log)
        let split = data.split
        stages.finish("data")

        // 2. Base model
        let base = try await BaseModel.resolve(options, downloader: downloader, log: log)
        stages.finish("base model")

        // 3. Fine-tune
        let kernels = Kernels(threads: options.threads)
        var h = options.hyperparameters
        let config: GPT2Config
        let source: any TensorSource
        let scope: TrainableScope
        let tokenizerFiles: TokenizerFiles
        switch base {
        case let .pretrained(pretrained):
            config = pretrained.weights.config
            source = HeadOverBase(base: pretrained.weights, head: NewHead(embeddingSize: config.embeddingSize, seed: UInt64(h.seed)))
            scope = TrainableScope(blocks: min(h.trainableBlocks, config.layerCount))
            tokenizerFiles = pretrained.tokenizer
        case let .scratch(scratchConfig):
            config = scratchConfig
            source = RandomInitialization(config: config, classes: 2, seed: UInt64(h.seed))
            scope = .everything(layers: config.layerCount)
            h.epochs = options.scratch.epochs
            h.learningRate = options.scratch.learningRate
            h.batchSize = options.scratch.batchSize
            if options.recipe == .spamtune {
                h.textLayout = options.scratch.textLayout
                h.maxTokens = options.scratch.maxTokens
                h.evidence = options.scratch.evidenceTokens == 0
                    ? nil
                    : InputSettings.EvidenceSettings(
                        buckets: Recipe.evidenceBuckets, tokens: options.scratch.evidenceTokens, headerWords: options.scratch.headerWords)
            }
            guard let shipped = ShippedResources.tokenizerDirectory else {
                throw TrainingError.data("the GPT-2 tokenizer files shipped with spamtune are missing (see ShippedCollection)")
            }
            tokenizerFiles = try TokenizerFiles(directory: shipped)
        }
        h.trainableBlocks = scope.blocks
        if h.maxTokens > config.contextLength {
            log("max tokens \(h.maxTokens) is more than the model's context: each message is cut at \(config.contextLength) tokens")
            h.maxTokens = config.contextLength
        }
        let tokenizer = try GPT2Tokenizer(files: tokenizerFiles)
        var input = InputSettings(textLayout: h.textLayout, maxTokens: h.maxTokens, evidence: h.evidence)
        let encode = { (example: TrainingExample) -> (ids: [Int], headerWords: [UInt64]) in
            let reading: MailReading
            switch example.content {
            case let .text(sms): reading = MailReading(text: input.text(forPlainText: sms), headerWords: [])
            case let .mail(bytes): reading = input.reading(mail: bytes)
            }
            return (tokenizer.encode(reading.text, maxTokens: input.reach), reading.headerWords)
        }
        let trainEncoded = split.train.map(encode)
        if h.padding == .longestTrainingExample {
            // The book's SpamDataset: pad to the longest training example, cut the others to it.
            let longest = max(1, trainEncoded.map(\.ids.count).max() ?? 1)
            input.padding = .fixed(length: longest, tokenID: GPT2Tokenizer.endOfTextID)
            log("padding every example to \(longest) tokens, the longest training example (the book's recipe)")
        }
        let prepare = { (encoded: (ids: [Int], headerWords: [UInt64])) in
            input.modelInput(encoded: encoded.ids, headerWords: encoded.headerWords)
        }
        let trainInputs = trainEncoded.map(prepare)
        let validationInputs = split.validation.map { prepare(encode($0)) }
        let testInputs = split.test.map { prepare(encode($0)) }
        stages.finish("tokenize")

        let classifier = try TrainableClassifier(
            config: config, classes: 2, scope: scope, base: source, kernels: kernels, evidenceBuckets: input.evidence?.buckets ?? 0)
        var settings = FineTuneSettings()
        settings.epochs = h.epochs
        settings.batchSize = h.batchSize
        settings.optimizer = AdamWSettings(learningRate: h.learningRate, weightDecay: h.weightDecay)
        if input.evidence != nil { settings.learningRateScales = [EvidenceParameters.tensorName: Recipe.evidenceLearningRateScale] }
        settings.seed = UInt64(h.seed)
        settings.evaluationInterval = h.evaluationInterval
        settings.evaluationBatches = h.evaluationBatches
        func examples(_ inputs: [ModelInput], _ labels: [TrainingExample]) -> [EncodedExample] {
            zip(inputs, labels).map { EncodedExample(ids: $0.ids, label: $1.label, evidence: $0.evidence) }
        }
        log("fine-tuning \(scope.embeddings ? "every layer" : "the head, the final LayerNorm and the last \(scope.blocks) block(s)") of \(config) on \(trainInputs.count) examples (\(kernels.threads) threads, \(kernels.instructionSet.rawValue))")
        let trainExamples = examples(trainInputs, split.train), validationExamples = examples(validationInputs, split.validation)
        let tuner = FineTuner(
            classifier: classifier, train: trainExamples, validation: validationExamples,
            settings: settings)
        if !scope.embeddings {
            log(String(format: "frozen layers: output computed once for %d examples (%.1f MB kept)", trainInputs.count + validationInputs.count,
                       Double(tuner.trainCache.bytes + tuner.validationCache.bytes) / 1e6))
        }
        stages.finish("frozen features")
        var lastLine = Date.distantPast
        var pretraining: [PretrainingEpoch]?
        if !options.unlabelledMail.isEmpty && !(scope.embeddings && options.scratch.pretrainEpochs > 0) {
            log.warning("--unlabelled: only the scratch model's next-token pretraining reads unlabelled mail; this run has none, so it is not read")
        }
        if scope.embeddings && options.scratch.pretrainEpochs > 0 {
            var corpus = trainInputs.map(\.ids)
            if options.scratch.pretrainText == .trainingAndUnusedHam, let sms = data.sms {
                corpus += sms.unusedHam.map { input.prepare(encode(TrainingExample(content: .text($0.text), label: .ham)).ids) }
            }
            if !options.unlabelledMail.isEmpty {
                var heldOut = Set<[UInt8]>()
                for example in split.validation + split.test {
                    if case let .mail(bytes) = example.content { heldOut.insert(SHA256.hash(bytes)) }
                }
                let unlabelled = try UnlabelledMail.read(options.unlabelledMail, excluding: heldOut, log: log)
                corpus += unlabelled.map { input.prepare(encode(TrainingExample(content: .mail($0), label: .ham)).ids) }
                log("pretraining also reads \(unlabelled.count) unlabelled message(s) of the site's own mail")
            }
            var pretrainSettings = PretrainingSettings()
            pretrainSettings.epochs = options.scratch.pretrainEpochs
            pretrainSettings.batchSize = h.batchSize
            pretrainSettings.optimizer = AdamWSettings(learningRate: options.scratch.pretrainLearningRate, weightDecay: h.weightDecay)
            pretrainSettings.seed = UInt64(h.seed)
            let pretrainer = LanguageModelPretrainer(classifier: classifier, sequences: corpus, settings: pretrainSettings)
            log("pretraining on the text of \(corpus.count) messages (next-token prediction, \(pretrainSettings.epochs) epochs; \(options.scratch.pretrainText == .training ? "the training messages" : "the training messages and the ham balancing set aside"), no validation or test message)")
            let records = try pretrainer.run { progress in
                guard Date().timeIntervalSince(lastLine) >= 2 else { return }
                lastLine = Date()
                self.log(String(format: "pretraining epoch %d/%d step %d/%d loss %.4f, %.1f messages/s, %@ left",
                                progress.epoch, progress.epochs, progress.step, progress.stepsPerEpoch, progress.loss,
                                progress.examplesPerSecond, formatDuration(progress.secondsLeft)))
            }
            for record in records {
                log(String(format: "pretraining epoch %d: next-token loss %.4f (%d tokens, %.1f s)", record.epoch, record.loss, record.tokens, record.seconds))
            }
            pretraining = records
            stages.finish("pretraining")
        }
        let soupSize = scope.embeddings ? max(1, options.scratch.soup) : 1
        let fineTuneStart = Array(UnsafeBufferPointer(start: classifier.parameters.pointer, count: classifier.parameters.count))
        func fineTune(_ tuner: FineTuner) throws -> TrainingHistory {
            let history = try tuner.run { progress in
                guard Date().timeIntervalSince(lastLine) >= 2 || (progress.epoch == progress.epochs && progress.step == progress.stepsPerEpoch) else { return }
                lastLine = Date()
                self.log(String(format: "epoch %d/%d step %d/%d loss %.4f, %.1f examples/s, %@ left",
                                progress.epoch, progress.epochs, progress.step, progress.stepsPerEpoch, progress.loss,
                                progress.examplesPerSecond, formatDuration(progress.secondsLeft)))
            }
            guard soupSize > 1 else { return history }
            // A soup: more fine-tunes from the same start in other orders, their weights
            // averaged (they stay in one basin, so the average is a model, and steadier).
            let count = classifier.parameters.count
            var sum = Array(UnsafeBufferPointer(start: classifier.parameters.pointer, count: count))
            for member in 1..<soupSize {
                log("soup: fine-tune \(member + 1) of \(soupSize), from the same start in another order")
                classifier.parameters.pointer.update(from: fineTuneStart, count: count)
                var memberSettings = settings
                memberSettings.seed = settings.seed &+ UInt64(member)
                _ = try FineTuner(
                    classifier: classifier, train: tuner.trainCache.examples, validation: tuner.validationCache.examples,
                    settings: memberSettings).run()
                for i in 0..<count { sum[i] += classifier.parameters.pointer[i] }
            }
            for i in 0..<count { classifier.parameters.pointer[i] = sum[i] / Float(soupSize) }
            log("weights averaged over \(soupSize) fine-tunes from the same start (a soup)")
            return history
        }
        var history = try fineTune(tuner)
        history.pretraining = pretraining
        if soupSize > 1 { history.soupSize = soupSize }
        for epoch in history.epochs {
            log(String(format: "epoch %d: training accuracy %.2f%% (on %d batches), validation accuracy %.2f%% (the whole split)", epoch.epoch,
                       epoch.trainAccuracy * 100, h.evaluationBatches, epoch.validationAccuracy * 100))
        }
        stages.finish("training")

        // 4. Evaluate, choosing the threshold to serve on the validation split
        let evaluation = RunEvaluation(
            train: tuner.evaluateTraining(), validation: tuner.evaluateValidation(),
            test: tuner.evaluate(examples(testInputs, split.test)), policy: options.thresholdPolicy)
        evaluation.log(to: log)
        stages.finish("evaluation")

        // The examples held out to choose the threshold and to measure the recipe are
        // labelled mail the served model should learn from too, as a Bayesian filter
        // learns from every message: the same fine-tune again, on all of them.
        if options.finalFit && options.recipe == .spamtune && !(split.validation.isEmpty && split.test.isEmpty) {
            classifier.parameters.pointer.update(from: fineTuneStart, count: fineTuneStart.count)
            let everything = trainExamples + validationExamples + examples(testInputs, split.test)
            log("final fit: the same fine-tune on all \(everything.count) examples (train, validation and test), served at the threshold chosen above; the figures above measure this recipe on examples it had not seen")
            _ = try fineTune(FineTuner(classifier: classifier, train: everything, validation: validationExamples, settings: settings))
            stages.finish("final fit")
        }

        // 5. Checkpoint, and promotion if it is not worse than the current model.
        let store = CheckpointStore(root: options.modelsDirectory, keep: options.keepVersions)
        let version = store.newVersionName()
        let baseRecord: CheckpointManifest.BaseModel
        switch base {
        case let .pretrained(pretrained):
            baseRecord = .init(
                name: pretrained.name, source: pretrained.source, path: pretrained.weightsFile.path, bytes: pretrained.bytes,
                sha256: pretrained.sha256)
        case .scratch:
            baseRecord = .init(name: "scratch", source: "scratch")
        }
        let (promote, reason) = options.neverPromote
            ? (false, "kept aside as asked (--no-promote)")
            : Promotion.decide(new: evaluation.test, threshold: evaluation.threshold.value, split: split, store: store, log: log)
        var report = TrainingReport(
            version: version, base: baseRecord, config: config, recipe: options.recipe.rawValue, hyperparameters: h,
            scope: scope, data: DataRecord(sms: data.sms, sources: data.sources, split: split), history: history,
            threshold: evaluation.threshold, train: evaluation.trainMetrics, validation: evaluation.validationMetrics,
            test: evaluation.testMetrics, mistakes: evaluation.testMistakes(split.test),
            stages: stages.records, peakResidentMB: ProcessMemory.peakResidentMB(), promoted: promote, promotionReason: reason)
        var manifest = CheckpointManifest(
            createdAt: ISO8601DateFormatter().string(from: Date()), version: version, base: baseRecord, config: config,
            tokenizer: .init(vocabulary: tokenizerFiles.vocabulary.lastPathComponent, merges: tokenizerFiles.merges.lastPathComponent),
            input: input, threshold: evaluation.threshold.value, trainable: scope)
        manifest.training = report.manifestRecord
        let tensors = classifier.parameters.entries.map { entry in
            TensorView(name: entry.name, shape: entry.shape, values: classifier.parameters.values(entry.name))
        }
        let directory = try store.write(
            manifest,
            contents: .init(
                tensors: tensors, copiedFiles: [tokenizerFiles.vocabulary, tokenizerFiles.merges],
                writtenFiles: try report.files()),
            makeCurrent: promote)
        stages.finish("checkpoint")
        report.stages = stages.records
        log("checkpoint \(version) written to \(directory.path); \(promote ? "now current" : "kept aside"): \(reason)")
        try RunHistory(directory: options.workDirectory).append(report)
        return TrainingRunResult(version: version, directory: directory, promoted: promote, promotionReason: reason, report: report)
    }
}

/// Training, validation and test examples in raw form.
struct ExampleSplit {
    var train: [TrainingExample] = []
    var validation: [TrainingExample] = []
    var test: [TrainingExample] = []

    init() {}

    init(_ sms: DatasetSplit) {
        func convert(_ items: [LabelledText]) -> [TrainingExample] { items.map { TrainingExample(content: .text($0.text), label: $0.label) } }
        train = convert(sms.train)
        validation = convert(sms.validation)
        test = convert(sms.test)
    }

    /// Adds mail (the admin's, or the public corpus's) 70/10/20 by content hash, so an
    /// example stays in its split from one run to the next and the held-out set is never
    /// trained on.
    mutating func add(_ mail: [LabelledMail.Item]) {
        for item in mail {
            let bucket = Int(item.hash[0]) * 100 / 256
            let example = TrainingExample(content: .mail(item.bytes), label: item.label, source: item.source)
            if bucket < 70 { train.append(example) } else if bucket < 80 { validation.append(example) } else { test.append(example) }
        }
    }
}

/// A new 2-class head initialised as torch.nn.Linear is: uniform in ±1/sqrt(in).
final class NewHead: TensorSource {
    private let weight: UnsafeMutablePointer<Float>
    private let bias: UnsafeMutablePointer<Float>
    private let embeddingSize: Int

    init(embeddingSize: Int, seed: UInt64) {
        self.embeddingSize = embeddingSize
        var random = SplitMix64(seed: seed ^ 0x5EED_4EAD)
        let bound = 1 / Float(embeddingSize).squareRoot()
        func uniform() -> Float { (Float(random.next() >> 40) / Float(1 << 24) * 2 - 1) * bound }
        weight = .allocate(capacity: 2 * embeddingSize)
        bias = .allocate(capacity: 2)
        for i in 0..<(2 * embeddingSize) { weight[i] = uniform() }
        bias[0] = uniform()
        bias[1] = uniform()
    }

    deinit {
        weight.deallocate()
        bias.deallocate()
    }

    func floats(named name: String, shape: [Int]) throws -> UnsafePointer<Float> {
        switch (name, shape) {
        case (GPT2TensorNames.headWeight, [2, embeddingSize]): return UnsafePointer(weight)
        case (GPT2TensorNames.headBias, [2]): return UnsafePointer(bias)
        default: throw ModelError.shapeMismatch(tensor: name, expected: shape, found: [])
        }
    }
}

/// The base model's tensors, with a head of its own.
struct HeadOverBase: TensorSource {
    let base: GPT2Weights
    let head: NewHead

    func floats(named name: String, shape: [Int]) throws -> UnsafePointer<Float> {
        if name == GPT2TensorNames.headWeight || name == GPT2TensorNames.headBias {
            return try head.floats(named: name, shape: shape)
        }
        return try base.floats(named: name, shape: shape)
    }
}

/// Wall time per pipeline stage.
struct StageTimer {
    private(set) var records: [StageRecord] = []
    private var started = Date()

    mutating func finish(_ name: String) {
        let now = Date()
        records.append(StageRecord(name: name, seconds: now.timeIntervalSince(started), peakResidentMB: ProcessMemory.peakResidentMB()))
        started = now
    }
}

public struct StageRecord: Codable, Equatable, Sendable {
    public var name: String
    public var seconds: Double
    public var peakResidentMB: Double
}

enum ProcessMemory {
    /// VmHWM from /proc/self/status.
    static func peakResidentMB() -> Double {
        let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return (line.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0) / 1024
        }
        return 0
    }
}

func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" }
    if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
    return "\(s)s"
}

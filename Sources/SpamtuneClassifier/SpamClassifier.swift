import Foundation
import SpamtuneKernels
import SpamtuneMail
import SpamtuneModel
import SpamtuneTokenizer
import SpamtuneWeights

/// One verdict: the decision, and what the model gave for it.
public struct Classification: Sendable, Equatable {
    public var decision: Decision
    /// Raw logits, one per label (ham, spam).
    public var logits: [Float]
    /// How many tokens the model read.
    public var tokens: Int

    public var label: Label { decision.label }
    public var isSpam: Bool { decision.isSpam }
    public var spamProbability: Double { decision.spamProbability }
}

/// Text in, verdict out: tokenizer, input settings, model and threshold together. The
/// daemon and the trainer both go through this, so both cut and lay out text the same.
///
/// Not safe for concurrent calls (the model owns scratch space); callers serialise and
/// batch, as the daemon's scoring queue does.
public final class SpamClassifier: @unchecked Sendable {
    public let input: InputSettings
    public let labels: [String]
    public let threshold: Double
    public let tokenizer: GPT2Tokenizer
    public let model: GPT2Model
    /// The checkpoint's manifest, when loaded from one.
    public let manifest: CheckpointManifest?
    /// Where it came from, for logs and `spamtune status`.
    public let origin: String
    /// The precision the model computes in, and why that one.
    public let precisionChoice: PrecisionChoice

    public init(
        model: GPT2Model, tokenizer: GPT2Tokenizer, input: InputSettings, labels: [String] = Label.allCases.map(\.name),
        threshold: Double = Decision.defaultThreshold, manifest: CheckpointManifest? = nil, origin: String,
        precisionChoice: PrecisionChoice? = nil
    ) {
        self.model = model
        self.precisionChoice = precisionChoice ?? PrecisionChoice(precision: model.precision, reason: "\(model.precision.rawValue) as built")
        self.tokenizer = tokenizer
        self.input = input
        self.labels = labels
        self.threshold = threshold
        self.manifest = manifest
        self.origin = origin
    }

    private var spamIndex: Int { labels.firstIndex(of: Label.spam.name) ?? Label.spam.rawValue }

    /// What the model reads for a plain text (an SMS): laid out as training laid it out,
    /// encoded, cut, and padded if the checkpoint says so. Tokenizing stops once the
    /// limit is reached.
    public func input(for text: String) -> ModelInput {
        modelInput(input.text(forPlainText: text))
    }

    /// What the model reads for a raw message (RFC 5322 bytes).
    public func input(forMail bytes: [UInt8]) -> ModelInput {
        input(forMail: MailMessage(bytes: bytes))
    }

    /// What the model reads for a message already parsed.
    public func input(forMail message: MailMessage) -> ModelInput {
        let reading = input.reading(mail: message)
        return input.modelInput(encoded: tokenizer.encode(reading.text, maxTokens: input.reach), headerWords: reading.headerWords)
    }

    private func modelInput(_ text: String) -> ModelInput {
        input.modelInput(text) { tokenizer.encode($0, maxTokens: $1) }
    }

    public func classify(texts: [String]) -> [Classification] {
        classify(texts.map(input(for:)))
    }

    /// Verdicts for prepared inputs (see `input(for:)`), run as one batch.
    public func classify(_ inputs: [ModelInput]) -> [Classification] {
        guard !inputs.isEmpty else { return [] }
        let logits = model.logits(for: TokenBatch(inputs))
        return zip(logits, inputs).map { values, input in verdict(logits: values, tokens: input.ids.count) }
    }

    func verdict(logits: [Float], tokens: Int) -> Classification {
        Classification(decision: Decision(logits: logits, threshold: threshold, spamIndex: spamIndex), logits: logits, tokens: tokens)
    }

    // MARK: Loading

    /// Loads a checkpoint directory (see CheckpointManifest): its base model, its trained
    /// tensors over it, its tokenizer and its input settings. The model computes in the
    /// precision `PrecisionChoice` makes of `precision`, judged at every threshold the
    /// caller will decide at: `spamThreshold` (the checkpoint's when nil), and the
    /// reject and quarantine thresholds when set, with the token limit served.
    public static func load(
        checkpoint directory: URL, threads: Int = Kernels.defaultThreadCount, maxTokens: Int? = nil,
        precision: PrecisionSetting = .fixed(.fp32), spamThreshold: Double? = nil, rejectThreshold: Double? = nil,
        quarantineThreshold: Double? = nil
    ) throws -> SpamClassifier {
        let manifest = try CheckpointManifest.read(from: directory)
        let trainedPath = directory.appendingPathComponent(CheckpointManifest.weightsFileName).path
        let weights: GPT2Weights
        do {
            if manifest.base.isScratch {
                weights = try GPT2Weights.load(from: trainedPath, config: manifest.config)
            } else {
                guard let basePath = manifest.base.path else {
                    throw ClassifierError.checkpoint(directory.path, "names no base model path in \(CheckpointManifest.fileName)")
                }
                let resolved = basePath.hasPrefix("/") ? basePath : directory.appendingPathComponent(basePath).path
                try checkBaseFile(resolved, manifest: manifest, checkpoint: directory.path)
                let base = try GPT2Weights.load(from: resolved, config: manifest.config)
                weights = try base.overlaid(with: SafetensorsFile(path: trainedPath))
            }
        } catch let error as WeightsError {
            throw ClassifierError.checkpoint(directory.path, "cannot be loaded: \(error)")
        }
        let tokenizer: GPT2Tokenizer
        do {
            tokenizer = try GPT2Tokenizer(
                vocabularyFile: directory.appendingPathComponent(manifest.tokenizer.vocabulary),
                mergesFile: directory.appendingPathComponent(manifest.tokenizer.merges))
        } catch {
            throw ClassifierError.checkpoint(directory.path, "has an unusable tokenizer: \(error)")
        }
        var input = manifest.input
        if let maxTokens { input.maxTokens = maxTokens }
        input.maxTokens = min(input.maxTokens, manifest.config.contextLength)
        let kernels = Kernels(threads: threads)
        let choice = PrecisionChoice.choose(
            precision, agreement: manifest.precisionAgreement, spamThreshold: spamThreshold ?? manifest.threshold,
            rejectThreshold: rejectThreshold, quarantineThreshold: quarantineThreshold,
            maxTokens: (served: input.maxTokens, checkpoint: min(manifest.input.maxTokens, manifest.config.contextLength)),
            instructionSet: kernels.instructionSet)
        let model = try makeModel(
            weights, classes: manifest.labels.count, kernels: kernels, precision: choice.precision, origin: directory.path,
            evidenceBuckets: manifest.input.evidence?.buckets ?? 0)
        return SpamClassifier(
            model: model, tokenizer: tokenizer, input: input, labels: manifest.labels, threshold: manifest.threshold,
            manifest: manifest, origin: directory.path, precisionChoice: choice)
    }

    /// Loads a base GPT-2 and a head file (`score.weight`, `score.bias`, and optionally
    /// trained tensors that replace the base's). The tokenizer comes from `tokenizer` or
    /// from the base model's directory. Text is read raw by default, as the book's
    /// classifier reads it, since a bare head says nothing of how it was trained.
    public static func load(
        baseModel: URL, head: URL, tokenizer tokenizerDirectory: URL? = nil, threads: Int = Kernels.defaultThreadCount,
        maxTokens: Int? = nil, textLayout: String = InputSettings.rawLayout, precision: PrecisionSetting = .fixed(.fp32)
    ) throws -> SpamClassifier {
        let weights: GPT2Weights
        do {
            weights = try GPT2Weights.load(from: baseModel.path).overlaid(with: SafetensorsFile(path: head.path))
        } catch let error as WeightsError {
            throw ClassifierError.model(error.file, error.description)
        }
        guard let shape = try? weights.tensor(named: GPT2TensorNames.headWeight).shape, shape.count == 2 else {
            throw ClassifierError.model(head.path, "has no \(GPT2TensorNames.headWeight) [classes, \(weights.config.embeddingSize)] tensor: is it a spamtune head file?")
        }
        let tokenizerDirectory = tokenizerDirectory ?? (baseModel.hasDirectoryPath ? baseModel : baseModel.deletingLastPathComponent())
        let tokenizer: GPT2Tokenizer
        do {
            tokenizer = try GPT2Tokenizer(directory: tokenizerDirectory)
        } catch {
            throw ClassifierError.tokenizer("no GPT-2 tokenizer: \(error) (pass --tokenizer DIR with encoder.json and vocab.bpe, or vocab.json and merges.txt)")
        }
        let kernels = Kernels(threads: threads)
        let choice = PrecisionChoice.choose(
            precision, agreement: nil, spamThreshold: Decision.defaultThreshold, instructionSet: kernels.instructionSet)
        let model = try makeModel(weights, classes: shape[0], kernels: kernels, precision: choice.precision, origin: head.path)
        let limit = min(maxTokens ?? weights.config.contextLength, weights.config.contextLength)
        let labels = shape[0] == 2 ? Label.allCases.map(\.name) : (0..<shape[0]).map { "class\($0)" }
        return SpamClassifier(
            model: model, tokenizer: tokenizer, input: InputSettings(textLayout: textLayout, maxTokens: limit),
            labels: labels, origin: "\(baseModel.path) + \(head.path)", precisionChoice: choice)
    }

    /// The model in `precision`. A served model converted to BF16 or int8 never reads
    /// its blocks' FP32 weights again, so their pages are given back as it converts.
    private static func makeModel(
        _ weights: GPT2Weights, classes: Int, kernels: Kernels, precision: Precision, origin: String, evidenceBuckets: Int = 0
    ) throws -> GPT2Model {
        do {
            let parameters = try GPT2Parameters(
                config: weights.config, classes: classes, source: weights, evidenceBuckets: evidenceBuckets
            ).converted(to: precision, releasingFP32Pages: true)
            return GPT2Model(parameters: parameters, kernels: kernels)
        } catch let error as ModelError {
            throw ClassifierError.model(origin, "\(error)")
        } catch let error as WeightsError {
            throw ClassifierError.model(error.file, error.description)
        }
    }

    /// The base file must be the one the checkpoint was trained on: same size (cheap,
    /// catches a truncated or replaced file at every start). Its sha256 would cost a read
    /// of the whole file at every start, so it is only recorded: the downloader checks
    /// what it fetches.
    private static func checkBaseFile(_ path: String, manifest: CheckpointManifest, checkpoint: String) throws {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let size = (attributes[.size] as? NSNumber)?.intValue
        else {
            throw ClassifierError.checkpoint(checkpoint, "needs its base model \(path), which is missing: run spamtune-train to download it again")
        }
        if let expected = manifest.base.bytes, expected != size {
            throw ClassifierError.checkpoint(
                checkpoint, "was trained on a base model of \(expected) bytes, but \(path) has \(size): the file was replaced or truncated; download it again")
        }
    }
}

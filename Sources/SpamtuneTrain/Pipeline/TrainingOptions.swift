import Foundation
import SpamtuneClassifier
import SpamtuneMail
import SpamtuneModel
import SpamtuneSupport
import SpamtuneWeights

/// Everything a training run is told: where things go, which base model, which
/// recipe, and every hyper-parameter the recipe sets (each can be overridden).
public struct TrainingOptions: Sendable {
    /// Data, logs and run records (`<state>/train`).
    public var workDirectory: URL
    /// The checkpoint store spamtuned loads from (`<state>/models`).
    public var modelsDirectory: URL
    public var cacheDirectory: URL
    /// gpt2, gpt2-medium, gpt2-large, gpt2-xl, a local path, or scratch.
    public var base = GPT2Size.gpt2.rawValue
    /// Named by the admin (`--base`, `train_base`) rather than defaulted: never replaced.
    public var baseIsExplicit = false
    /// What happens when the pretrained base cannot be had.
    public var fallback = BaseFallback.firstRun
    public var source = ModelSourceChoice.automatic
    public var mirror: URL?
    public var fileURLs: [String: URL] = [:]
    public var offline = false
    /// Attempts per download, and the first retry's delay (doubling after each).
    public var downloadAttempts = 4
    public var downloadRetryDelay = 2.0
    public var recipe = Recipe.default
    /// The public data sets trained on beside the admin's labelled mail.
    public var data: DataSelection
    public var hyperparameters: Hyperparameters
    public var scratch = ScratchShape.default
    /// The threshold the checkpoint serves: chosen on the validation split for a target
    /// false-positive rate (`--target-fpr`), or given (`--threshold`).
    public var thresholdPolicy = ThresholdPolicy.default
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// Labelled mail for retraining: Maildirs, mbox files or directories of .eml.
    public var hamMail: [String] = []
    public var spamMail: [String] = []
    /// The site's mail without labels, for next-token pretraining (the scratch model's).
    public var unlabelledMail: [String] = []
    /// Epochs of next-token training of a pretrained GPT-2's trainable blocks on
    /// `unlabelledMail` (the scratch model reads it in its own pretraining instead).
    public var unlabelledEpochs = 1
    /// spamtuned's feedback store (TELL, Junk moves): `<dir>/ham`, `<dir>/spam` Maildirs.
    public var feedbackDirectory: String?
    /// Keep the new checkpoint aside, whatever its metrics.
    public var neverPromote = false
    /// After evaluation, fine-tune again on every example (the validation and test ones
    /// too) and serve that model (the spamtune recipe only).
    public var finalFit = true
    public var keepVersions = 5

    public enum ModelSourceChoice: String, Sendable {
        case automatic, huggingface, openai
    }

    public init(workDirectory: URL, modelsDirectory: URL, cacheDirectory: URL, recipe: Recipe = .default) {
        self.workDirectory = workDirectory
        self.modelsDirectory = modelsDirectory
        self.cacheDirectory = cacheDirectory
        self.recipe = recipe
        data = .defaults(for: recipe)
        hyperparameters = recipe.hyperparameters
    }
}

/// A public data set `--data` can name.
public enum TrainingDataSource: String, CaseIterable, Codable, Sendable {
    /// The SMS Spam Collection (downloaded; a copy ships with spamtune).
    case sms
    /// The SpamAssassin public corpus of raw mail (downloaded only).
    case spamassassin
}

/// The public data sets a run trains on (`--data`, `train_data`).
public struct DataSelection: Equatable, Sendable, CustomStringConvertible {
    /// In a fixed order, whatever order they were named in, so runs are reproducible.
    public var sources: [TrainingDataSource]
    /// Named by the admin rather than defaulted: a source that cannot be had then stops
    /// the run, where a default one is skipped with a log line.
    public var isExplicit: Bool

    public init(_ sources: [TrainingDataSource], isExplicit: Bool) {
        self.sources = TrainingDataSource.allCases.filter(sources.contains)
        self.isExplicit = isExplicit
    }

    /// `sms,spamassassin`; the book's recipe trains on the SMS collection alone, as the book does.
    public static func defaults(for recipe: Recipe) -> DataSelection {
        DataSelection(recipe == .book ? [.sms] : [.sms, .spamassassin], isExplicit: false)
    }

    /// A comma-separated list of sources, or `none`.
    public static func parse(_ list: String) throws -> DataSelection {
        let names = list.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        if names == ["none"] { return DataSelection([], isExplicit: true) }
        var sources = [TrainingDataSource]()
        for name in names {
            guard let source = TrainingDataSource(rawValue: name) else {
                throw ArgumentError.conflicting("--data must be a comma-separated list of sms and spamassassin, or none, not '\(list)'")
            }
            sources.append(source)
        }
        return DataSelection(sources, isExplicit: true)
    }

    public var description: String { sources.isEmpty ? "none" : sources.map(\.rawValue).joined(separator: ",") }
}

/// A named set of defaults. `book` is chapter 6 exactly; `spamtune` changes what the
/// benchmark shows is better (no padding: classify at the last real token; the mail
/// text layout; a cut at 64 tokens, which keeps the daemon ahead of SpamAssassin).
public enum Recipe: String, Sendable, CaseIterable {
    case book, spamtune

    /// What a run uses unless `--recipe` or `train_recipe` names another.
    public static let `default` = Recipe.spamtune

    /// Buckets of the head's token evidence: enough that few of a corpus's tokens and
    /// pairs share one, few enough that the weights stay a small part of a checkpoint.
    public static let evidenceBuckets = 1 << 18
    /// The evidence weights start at zero and each must reach the size of a word's
    /// log-odds within a fine-tune's few hundred steps.
    public static let evidenceLearningRateScale: Float = 60

    public var hyperparameters: Hyperparameters {
        var h = Hyperparameters()
        switch self {
        case .book:
            h.padding = .longestTrainingExample
            h.textLayout = InputSettings.rawLayout
            h.maxTokens = 1024
        case .spamtune:
            h.padding = .none
            h.textLayout = "v2"
            // The most the 124M model reads while still scoring more messages per second
            // than SpamAssassin's spamd on two cores (bench/daemon.sh; README,
            // "Speed and memory"); nearly every SMS fits, and of mail it holds the sender,
            // subject and the opening of the body. Raise with --max-tokens.
            h.maxTokens = 64
        }
        return h
    }
}

public struct Hyperparameters: Codable, Equatable, Sendable {
    public var epochs = 5
    public var batchSize = 8
    public var learningRate: Float = 5e-5
    public var weightDecay: Float = 0.1
    public var trainableBlocks = 1
    public var seed: UInt32 = 123
    public var evaluationInterval = 50
    public var evaluationBatches = 5
    public var maxTokens = 64
    public var padding = Padding.none
    public var textLayout = "v2"
    /// Token evidence read by the head beside the transformer (none in the book's recipe).
    public var evidence: InputSettings.EvidenceSettings?

    public enum Padding: String, Codable, Sendable {
        /// No padding: every example at its own length, read at its last token.
        case none
        /// Pad every example with <|endoftext|> to the longest training example (cut to
        /// it), and read the last position: the book's SpamDataset.
        case longestTrainingExample = "longest"
    }

    public init() {}
}

/// The small GPT-2 trained from random weights when no pretrained model can be had.
public struct ScratchShape: Codable, Equatable, Sendable {
    public var layers: Int
    public var embeddingSize: Int
    public var heads: Int
    public var contextLength: Int
    public var epochs: Int
    public var learningRate: Float
    public var batchSize: Int
    /// Epochs of next-token pretraining on message text before fine-tuning (0: none): a
    /// model that starts from nothing first learns the language of the messages. More
    /// epochs than the default measured no better: the model learns the messages by
    /// heart (README, "Speed and memory").
    public var pretrainEpochs = 5
    public var pretrainLearningRate: Float = 1e-3
    /// Fine-tunes from the same (pretrained) start, in different orders, whose weights
    /// are averaged into the model (1: one fine-tune, no averaging): steadier than any
    /// one of them, for a few more fine-tunes' time (README, "Speed and memory").
    public var soup = 4
    public var pretrainText = PretrainingText.trainingAndUnusedHam

    /// What the language-model pretraining reads. Never a validation or test message:
    /// the held-out sets stay unseen, text and label.
    public enum PretrainingText: String, Codable, Sendable {
        /// The training messages only.
        case training
        /// The training messages and the ham that balancing set aside (exact copies of
        /// validation and test messages left out).
        case trainingAndUnusedHam = "unused-ham"
    }

    /// What the scratch model reads of a message, in the spamtune recipe: it is small
    /// enough to read more than the 124M model can at the daemon's speed, so it reads the
    /// v3 layout's header signals and more of the body, and its head also weighs the
    /// tokens of a longer stretch (`TokenEvidence`). `--text-layout`, `--max-tokens`
    /// and `--evidence-tokens` set these too.
    public var textLayout = TextLayout.v3.rawValue
    public var maxTokens = 128
    public var evidenceTokens = 4096
    /// The evidence also reads the words of the header fields (`HeaderWords`).
    public var headerWords = true

    public static let `default` = ScratchShape(
        layers: 2, embeddingSize: 128, heads: 4, contextLength: 256, epochs: 8, learningRate: 1e-3, batchSize: 16)

    public var config: GPT2Config {
        get throws {
            try GPT2Config(
                layerCount: layers, embeddingSize: embeddingSize, headCount: heads, contextLength: contextLength,
                vocabularySize: 50257, source: "the scratch model's shape")
        }
    }
}

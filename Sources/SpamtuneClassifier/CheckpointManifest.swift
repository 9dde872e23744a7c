import Foundation
import SpamtuneMail
import SpamtuneModel
import SpamtuneSupport
import SpamtuneWeights

/// `spamtune.json`: what a checkpoint directory holds and how its model must be fed.
///
/// A checkpoint stores only what training changed (the head, the final LayerNorm and
/// the trained blocks, in `model.safetensors` under Hugging Face names) and refers to
/// the base GPT-2 it was trained on by path, size and sha256; a `scratch` model has no
/// base and stores every tensor. The text layout, token limit and padding are recorded
/// so that the daemon feeds the model exactly what it was trained on.
public struct CheckpointManifest: Codable, Equatable, Sendable {
    public static let fileName = "spamtune.json"
    public static let weightsFileName = "model.safetensors"
    /// 2: the head may read token evidence (`input.evidence`), which version 1 readers
    /// would silently ignore. 3: the evidence may read header words
    /// (`input.evidence.header_words`), which version 2 readers would ignore.
    public static let currentFormatVersion = 3

    public var format = "spamtune-checkpoint"
    public var formatVersion = CheckpointManifest.currentFormatVersion
    /// When and by what this checkpoint was made.
    public var createdAt: String
    public var version: String
    public var base: BaseModel
    public var config: GPT2Config
    public var tokenizer: TokenizerFileNames
    public var input: InputSettings
    public var labels: [String]
    /// A message is spam when P(spam) >= threshold.
    public var threshold: Double
    public var trainable: TrainableScope
    /// Free-form records from training: hyper-parameters, data hashes, metrics.
    public var training: TrainingRecord?
    /// How the verdicts in BF16 and int8 compared with FP32's (nil before spamtune-train
    /// checked them; older readers ignore it and serve FP32).
    public var precisionAgreement: PrecisionAgreement?

    public struct BaseModel: Codable, Equatable, Sendable {
        /// gpt2, gpt2-medium, ..., a local path's name, or "scratch".
        public var name: String
        /// huggingface, openai-tensorflow, local or scratch.
        public var source: String
        /// The base weights (absolute, or relative to the checkpoint directory); nil for scratch.
        public var path: String?
        public var bytes: Int?
        public var sha256: String?

        public init(name: String, source: String, path: String? = nil, bytes: Int? = nil, sha256: String? = nil) {
            self.name = name
            self.source = source
            self.path = path
            self.bytes = bytes
            self.sha256 = sha256
        }

        public var isScratch: Bool { source == "scratch" }
    }

    public struct TokenizerFileNames: Codable, Equatable, Sendable {
        public var vocabulary: String
        public var merges: String
        public init(vocabulary: String = "encoder.json", merges: String = "vocab.bpe") {
            self.vocabulary = vocabulary
            self.merges = merges
        }
    }

    public init(
        createdAt: String, version: String, base: BaseModel, config: GPT2Config, tokenizer: TokenizerFileNames,
        input: InputSettings, labels: [String] = Label.allCases.map(\.name), threshold: Double = Decision.defaultThreshold, trainable: TrainableScope,
        training: TrainingRecord? = nil
    ) {
        self.createdAt = createdAt
        self.version = version
        self.base = base
        self.config = config
        self.tokenizer = tokenizer
        self.input = input
        self.labels = labels
        self.threshold = threshold
        self.trainable = trainable
        self.training = training
    }

    private enum CodingKeys: String, CodingKey {
        case format, formatVersion, createdAt, version, base, config, tokenizer, input, labels, threshold, trainable, training
        case precisionAgreement
    }

    /// Keys of modes that measured no better and were removed: a checkpoint trained in
    /// one would be read wrongly by this spamtune, so it is refused (`RemovedMode`).
    private enum RemovedModeKeys: String, CodingKey {
        /// "last" (the model as it is) or "mean": the head read the mean of every position.
        case pooling
    }

    /// A checkpoint trained in a mode this spamtune no longer has.
    struct RemovedMode: Error {
        let reason: String
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        format = try c.decode(String.self, forKey: .format)
        formatVersion = try c.decode(Int.self, forKey: .formatVersion)
        createdAt = try c.decode(String.self, forKey: .createdAt)
        version = try c.decode(String.self, forKey: .version)
        base = try c.decode(BaseModel.self, forKey: .base)
        config = try c.decode(GPT2Config.self, forKey: .config)
        tokenizer = try c.decode(TokenizerFileNames.self, forKey: .tokenizer)
        input = try c.decode(InputSettings.self, forKey: .input)
        labels = try c.decode([String].self, forKey: .labels)
        threshold = try c.decode(Double.self, forKey: .threshold)
        trainable = try c.decode(TrainableScope.self, forKey: .trainable)
        let removed = try decoder.container(keyedBy: RemovedModeKeys.self)
        if let pooling = try removed.decodeIfPresent(String.self, forKey: .pooling), pooling != "last" {
            throw RemovedMode(reason: "was trained with '\(pooling)' pooling, which this spamtune no longer has (it measured no better than reading the last token)")
        }
        training = try c.decodeIfPresent(TrainingRecord.self, forKey: .training)
        precisionAgreement = try c.decodeIfPresent(PrecisionAgreement.self, forKey: .precisionAgreement)
    }

    public static func read(from directory: URL) throws -> CheckpointManifest {
        let url = directory.appendingPathComponent(fileName)
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ClassifierError.checkpoint(directory.path, "has no readable \(fileName): is this a spamtune checkpoint directory?")
        }
        let manifest: CheckpointManifest
        do {
            manifest = try JSONDecoder().decode(CheckpointManifest.self, from: data)
        } catch let error as RemovedMode {
            throw ClassifierError.checkpoint(directory.path, "\(error.reason): retrain, or roll back to an older checkpoint")
        } catch {
            throw ClassifierError.checkpoint(url.path, "is not a valid checkpoint manifest (\(error)); retrain or roll back")
        }
        guard manifest.format == "spamtune-checkpoint", manifest.formatVersion <= currentFormatVersion else {
            throw ClassifierError.checkpoint(
                url.path, "has format \(manifest.format) version \(manifest.formatVersion); this spamtune reads version \(currentFormatVersion): upgrade spamtune")
        }
        guard manifest.input.mailLayout != nil else {
            throw ClassifierError.checkpoint(
                url.path, "uses text layout '\(manifest.input.textLayout)', which this spamtune does not know: upgrade spamtune")
        }
        guard manifest.input.maxTokens > 0 else {
            throw ClassifierError.checkpoint(url.path, "has a maximum of \(manifest.input.maxTokens) tokens; it must be positive")
        }
        if let evidence = manifest.input.evidence {
            guard evidence.buckets > 1, evidence.buckets <= 1 << 24, evidence.buckets & (evidence.buckets - 1) == 0, evidence.tokens > 0 else {
                throw ClassifierError.checkpoint(
                    url.path, "has token evidence of \(evidence.buckets) buckets over \(evidence.tokens) tokens; buckets must be a power of 2 up to 2^24 and tokens positive")
            }
        }
        guard manifest.labels.count >= 2, manifest.threshold > 0, manifest.threshold < 1 else {
            throw ClassifierError.checkpoint(url.path, "needs at least two labels and a threshold between 0 and 1")
        }
        return manifest
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

/// How a text becomes the model's input.
public struct InputSettings: Codable, Equatable, Sendable {
    /// A SpamtuneMail `TextLayout` (v1, v2, ...), or `raw`: plain text (an SMS) exactly
    /// as given, as the book feeds it, and mail in layout v1.
    public var textLayout: String
    /// Longer inputs are cut to their first `maxTokens` tokens.
    public var maxTokens: Int
    /// `none`: classify at the last real token. `fixed`: pad with `padTokenID` to
    /// `paddedLength` tokens and classify at the last position, as the book does.
    public var padding: Padding

    public enum Padding: Codable, Equatable, Sendable {
        case none
        case fixed(length: Int, tokenID: Int)

        private enum CodingKeys: String, CodingKey { case mode, length, tokenID = "token_id" }

        public init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            switch try container.decode(String.self, forKey: .mode) {
            case "none": self = .none
            case "fixed":
                let length = try container.decode(Int.self, forKey: .length)
                guard length > 0 else {
                    throw DecodingError.dataCorruptedError(forKey: .length, in: container, debugDescription: "padding length must be positive")
                }
                self = .fixed(length: length, tokenID: try container.decode(Int.self, forKey: .tokenID))
            case let other:
                throw DecodingError.dataCorruptedError(forKey: .mode, in: container, debugDescription: "unknown padding mode '\(other)'")
            }
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .none: try container.encode("none", forKey: .mode)
            case let .fixed(length, tokenID):
                try container.encode("fixed", forKey: .mode)
                try container.encode(length, forKey: .length)
                try container.encode(tokenID, forKey: .tokenID)
            }
        }
    }

    /// The token evidence the head reads beside the transformer, when it does.
    public var evidence: EvidenceSettings?

    /// Which buckets a message's tokens are hashed into, and how many of its tokens count.
    public struct EvidenceSettings: Codable, Equatable, Sendable {
        public var buckets: Int
        public var tokens: Int
        /// Whether a message's header words (`HeaderWords`) count too.
        public var headerWords: Bool

        public init(buckets: Int, tokens: Int, headerWords: Bool = false) {
            self.buckets = buckets
            self.tokens = tokens
            self.headerWords = headerWords
        }

        private enum CodingKeys: String, CodingKey { case buckets, tokens, headerWords = "header_words" }

        public init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            buckets = try container.decode(Int.self, forKey: .buckets)
            tokens = try container.decode(Int.self, forKey: .tokens)
            headerWords = try container.decodeIfPresent(Bool.self, forKey: .headerWords) ?? false
        }
    }

    public init(textLayout: String, maxTokens: Int, padding: Padding = .none, evidence: EvidenceSettings? = nil) {
        self.textLayout = textLayout
        self.maxTokens = maxTokens
        self.padding = padding
        self.evidence = evidence
    }

    /// What the model reads for a laid-out text: its first tokens, prepared (cut, and
    /// padded if so configured), and the evidence of a longer stretch when the head
    /// reads it. `encode` gives at most the number of tokens it is asked for.
    public func modelInput(_ text: String, encode: (String, Int) -> [Int]) -> ModelInput {
        modelInput(encoded: encode(text, reach))
    }

    /// How many tokens of a text the model reads, the evidence included.
    public var reach: Int { max(maxTokens, evidence?.tokens ?? 0) }

    /// What the model reads for a text's first `reach` token ids, and its message's
    /// header words (`MailReading.headerWords`).
    public func modelInput(encoded ids: [Int], headerWords: [UInt64] = []) -> ModelInput {
        ModelInput(
            ids: prepare(ids),
            evidence: evidence.map {
                TokenEvidence(tokens: Array(ids.prefix($0.tokens)), words: $0.headerWords ? headerWords : [], bucketCount: $0.buckets)
            })
    }

    public static let rawLayout = "raw"

    /// Every layout a text can be read in: raw, then the mail layouts.
    public static var layoutNames: [String] { [rawLayout] + TextLayout.allCases.map(\.rawValue) }

    /// The layout for mail; an unknown name (from a newer trainer) is refused on load.
    public var mailLayout: TextLayout? {
        textLayout == Self.rawLayout ? .v1 : TextLayout(rawValue: textLayout)
    }

    public func text(forPlainText text: String) -> String {
        if textLayout == Self.rawLayout {
            // Bounded like mail text: one enormous word would cost the tokenizer memory.
            let limit = MailParsingLimits.default.maxTextCharacters
            return text.unicodeScalars.count <= limit ? text : String(String.UnicodeScalarView(text.unicodeScalars.prefix(limit)))
        }
        return (mailLayout ?? .latest).classificationText(for: MailContent(plainText: text))
    }

    public func text(forMail bytes: [UInt8]) -> String {
        reading(mail: bytes).text
    }

    /// What the model reads of a raw message before tokenizing, parsed once.
    public func reading(mail bytes: [UInt8]) -> MailReading {
        reading(mail: MailMessage(bytes: bytes))
    }

    /// What the model reads of a parsed message before tokenizing.
    public func reading(mail message: MailMessage) -> MailReading {
        MailReading(
            text: message.classificationText(layout: mailLayout ?? .latest),
            headerWords: evidence?.headerWords == true ? HeaderWords.keys(of: message) : [])
    }

    /// The ids the model reads for a text's ids: cut, then padded if so configured.
    public func prepare(_ ids: [Int]) -> [Int] {
        switch padding {
        case .none:
            return ids.isEmpty ? [padTokenForEmptyInput] : Array(ids.prefix(maxTokens))
        case let .fixed(length, tokenID):
            let cut = Array(ids.prefix(min(maxTokens, length)))
            return cut + Array(repeating: tokenID, count: length - cut.count)
        }
    }

    /// An empty message still needs one position to classify at: <|endoftext|>.
    var padTokenForEmptyInput: Int { 50256 }
}

/// A message's text in the checkpoint's layout, and its header words when the evidence reads them.
public struct MailReading: Sendable {
    public var text: String
    public var headerWords: [UInt64]

    public init(text: String, headerWords: [UInt64] = []) {
        self.text = text
        self.headerWords = headerWords
    }
}

/// One message as the model reads it.
public struct ModelInput: Sendable, Hashable {
    public var ids: [Int]
    public var evidence: TokenEvidence?

    public init(ids: [Int], evidence: TokenEvidence? = nil) {
        self.ids = ids
        self.evidence = evidence
    }
}

extension TokenBatch {
    /// The inputs' token ids, with their evidence when every one has it.
    public init(_ inputs: [ModelInput]) {
        let evidence = inputs.compactMap(\.evidence)
        self.init(inputs.map(\.ids), evidence: evidence.count == inputs.count ? evidence : nil)
    }
}

/// What training recorded; kept as loosely typed JSON so that older spamtune versions
/// can read checkpoints from newer trainers.
public struct TrainingRecord: Codable, Equatable, Sendable {
    public var values: [String: JSONValue]
    public init(values: [String: JSONValue]) { self.values = values }
    public init(from decoder: Decoder) throws { values = try [String: JSONValue](from: decoder) }
    public func encode(to encoder: Encoder) throws { try values.encode(to: encoder) }

    /// How many of the training messages were email; nil where the record does not say
    /// (checkpoints made before it did, or not by spamtune-train).
    public var mailMessages: Int? {
        guard case let .object(data)? = values["data"], case let .number(mail)? = data["mail"] else { return nil }
        return Int(mail)
    }

    /// Said wherever such a model serves or is looked at: a model that learned from no
    /// email (the offline default, SMS only, when the mail corpus could not be had) calls
    /// much of real mail spam, and nothing else would tell the admin why.
    public var noMailWarning: String? {
        guard mailMessages == 0 else { return nil }
        return "the model learned from no email (SMS only), so it calls much ordinary mail spam: "
            + "train it on your mail (spamtune-train --ham DIR --spam DIR), or once with network access: "
            + "the default data (--data sms,spamassassin) then adds a public mail corpus"
    }
}

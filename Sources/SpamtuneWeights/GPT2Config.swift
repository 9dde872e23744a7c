import Foundation

/// The shape of a GPT-2: everything needed to lay out its tensors. Codable under these
/// Swift names (for spamtune's own files); Hugging Face's `config.json` and OpenAI's
/// `hparams.json` are read with `GPT2Config.read(from:)`.
public struct GPT2Config: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    public let layerCount: Int
    public let embeddingSize: Int
    public let headCount: Int
    public let contextLength: Int
    public let vocabularySize: Int

    /// Upper bounds far above any GPT-2 (XL has 48 layers, 1600 wide) that keep every
    /// tensor size computable without overflow, whatever a config file says.
    static let limits = (layers: 1024, embedding: 1 << 16, context: 1 << 20, vocabulary: 1 << 22)

    /// `source` names where the numbers came from, for the error message.
    public init(layerCount: Int, embeddingSize: Int, headCount: Int, contextLength: Int, vocabularySize: Int, source: String = "GPT-2 configuration") throws {
        func check(_ value: Int, _ what: String, _ limit: Int) throws {
            guard value > 0 else { throw WeightsError(.invalidConfig, file: source, "\(what) must be positive, found \(value)") }
            guard value <= limit else { throw WeightsError(.invalidConfig, file: source, "\(what) of \(value) is beyond the supported \(limit)") }
        }
        try check(layerCount, "the number of layers", Self.limits.layers)
        try check(embeddingSize, "the embedding size", Self.limits.embedding)
        try check(headCount, "the number of attention heads", Self.limits.embedding)
        try check(contextLength, "the context length", Self.limits.context)
        try check(vocabularySize, "the vocabulary size", Self.limits.vocabulary)
        guard embeddingSize % headCount == 0 else {
            throw WeightsError(.invalidConfig, file: source, "the embedding size \(embeddingSize) is not divisible by the number of attention heads \(headCount)")
        }
        self.layerCount = layerCount
        self.embeddingSize = embeddingSize
        self.headCount = headCount
        self.contextLength = contextLength
        self.vocabularySize = vocabularySize
    }

    /// Decoded values are validated like any other input.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            layerCount: try container.decode(Int.self, forKey: .layerCount),
            embeddingSize: try container.decode(Int.self, forKey: .embeddingSize),
            headCount: try container.decode(Int.self, forKey: .headCount),
            contextLength: try container.decode(Int.self, forKey: .contextLength),
            vocabularySize: try container.decode(Int.self, forKey: .vocabularySize))
    }

    public var headSize: Int { embeddingSize / headCount }

    /// Parameters of the transformer (embeddings, blocks, final LayerNorm), without a head.
    public var parameterCount: Int {
        let c = embeddingSize
        let block = 2 * c + (3 * c * c + 3 * c) + (c * c + c) + 2 * c + (4 * c * c + 4 * c) + (4 * c * c + c)
        return vocabularySize * c + contextLength * c + layerCount * block + 2 * c
    }

    public var description: String {
        "GPT-2 with \(layerCount) layers, \(embeddingSize) wide, \(headCount) heads, context \(contextLength), vocabulary \(vocabularySize)"
    }

    private init(standardLayers layers: Int, embedding: Int, heads: Int) {
        layerCount = layers
        embeddingSize = embedding
        headCount = heads
        contextLength = 1024
        vocabularySize = 50257
    }

    /// OpenAI's released sizes.
    public static let gpt2Small = GPT2Config(standardLayers: 12, embedding: 768, heads: 12)
    public static let gpt2Medium = GPT2Config(standardLayers: 24, embedding: 1024, heads: 16)
    public static let gpt2Large = GPT2Config(standardLayers: 36, embedding: 1280, heads: 20)
    public static let gpt2XL = GPT2Config(standardLayers: 48, embedding: 1600, heads: 25)

    /// Hugging Face model names and OpenAI's download names, with their configurations.
    public static let standardSizes: [(names: [String], config: GPT2Config)] = [
        (["gpt2", "124M"], gpt2Small),
        (["gpt2-medium", "355M"], gpt2Medium),
        (["gpt2-large", "774M"], gpt2Large),
        (["gpt2-xl", "1558M"], gpt2XL),
    ]

    /// `gpt2`, `gpt2-medium`, `gpt2-large`, `gpt2-xl`, or OpenAI's `124M` ... `1558M`.
    public static func standard(named name: String) throws -> GPT2Config {
        let wanted = name.lowercased()
        if let match = standardSizes.first(where: { $0.names.contains { $0.lowercased() == wanted } }) { return match.config }
        let known = standardSizes.flatMap(\.names).joined(separator: ", ")
        throw WeightsError(.invalidConfig, file: "model name '\(name)'", "not a GPT-2 size; known: \(known)")
    }

    /// Reads Hugging Face's `config.json` (n_layer, n_embd, n_head, n_positions or n_ctx,
    /// vocab_size) or OpenAI's `hparams.json` (n_layer, n_embd, n_head, n_ctx, n_vocab).
    public static func read(from path: String) throws -> GPT2Config {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw WeightsError(.fileAccess, file: path, "cannot read the model configuration: \((error as NSError).localizedDescription)")
        }
        let fields: ConfigFileFields
        do {
            fields = try JSONDecoder().decode(ConfigFileFields.self, from: data)
        } catch let error as DecodingError {
            throw WeightsError(.invalidConfig, file: path, "not a valid model configuration: \(describe(error))")
        }
        func required(_ value: Int?, _ keys: String) throws -> Int {
            guard let value else { throw WeightsError(.invalidConfig, file: path, "has no \(keys): not a GPT-2 configuration") }
            return value
        }
        return try GPT2Config(
            layerCount: try required(fields.n_layer, "n_layer"),
            embeddingSize: try required(fields.n_embd, "n_embd"),
            headCount: try required(fields.n_head, "n_head"),
            contextLength: try required(fields.n_positions ?? fields.n_ctx, "n_positions or n_ctx"),
            vocabularySize: try required(fields.vocab_size ?? fields.n_vocab, "vocab_size or n_vocab"),
            source: path)
    }

    /// The numbers `make-model` and spamtune's trainer write into safetensors
    /// `__metadata__` (as strings): each may be absent, but one that is there must be a number.
    static func fields(fromMetadata metadata: [String: String], file: String) throws -> PartialGPT2Config {
        func number(_ keys: String...) throws -> Int? {
            for key in keys {
                guard let text = metadata[key] else { continue }
                guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                    throw WeightsError(.invalidConfig, file: file, "__metadata__ \(key) is '\(text)', not a number")
                }
                return value
            }
            return nil
        }
        return PartialGPT2Config(
            layerCount: try number("n_layer"), embeddingSize: try number("n_embd"), headCount: try number("n_head"),
            contextLength: try number("n_positions", "n_ctx"), vocabularySize: try number("vocab_size", "n_vocab"))
    }

    private struct ConfigFileFields: Decodable {
        let n_layer: Int?
        let n_embd: Int?
        let n_head: Int?
        let n_positions: Int?
        let n_ctx: Int?
        let vocab_size: Int?
        let n_vocab: Int?
    }
}

/// A configuration pieced together from several sources (metadata, tensor shapes).
struct PartialGPT2Config: Equatable {
    var layerCount: Int?
    var embeddingSize: Int?
    var headCount: Int?
    var contextLength: Int?
    var vocabularySize: Int?

    init(layerCount: Int? = nil, embeddingSize: Int? = nil, headCount: Int? = nil, contextLength: Int? = nil, vocabularySize: Int? = nil) {
        self.layerCount = layerCount
        self.embeddingSize = embeddingSize
        self.headCount = headCount
        self.contextLength = contextLength
        self.vocabularySize = vocabularySize
    }

    init(_ config: GPT2Config) {
        self.init(
            layerCount: config.layerCount, embeddingSize: config.embeddingSize, headCount: config.headCount,
            contextLength: config.contextLength, vocabularySize: config.vocabularySize)
    }

    var isEmpty: Bool { self == PartialGPT2Config() }

    /// Field names as in the files, paired with this and another config's value.
    func pairs(with other: PartialGPT2Config) -> [(key: String, mine: Int?, theirs: Int?)] {
        [("n_layer", layerCount, other.layerCount), ("n_embd", embeddingSize, other.embeddingSize), ("n_head", headCount, other.headCount),
         ("n_ctx", contextLength, other.contextLength), ("n_vocab", vocabularySize, other.vocabularySize)]
    }

    /// Fills what this lacks from `fallback`.
    func filled(from fallback: PartialGPT2Config) -> PartialGPT2Config {
        PartialGPT2Config(
            layerCount: layerCount ?? fallback.layerCount, embeddingSize: embeddingSize ?? fallback.embeddingSize,
            headCount: headCount ?? fallback.headCount, contextLength: contextLength ?? fallback.contextLength,
            vocabularySize: vocabularySize ?? fallback.vocabularySize)
    }
}

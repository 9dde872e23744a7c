import SpamtuneWeights
import SpamtuneKernels

/// Views of GPT-2's tensors, by role. Frozen tensors point into the memory-mapped weights
/// file; trainable ones into a `ParameterBuffer` the trainer owns. Shapes follow Hugging
/// Face's GPT-2 (Conv1D weights are [in, out]).
public struct LayerNormParameters {
    public var weight: UnsafePointer<Float>
    public var bias: UnsafePointer<Float>
    public init(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>) {
        self.weight = weight
        self.bias = bias
    }
}

public struct LinearParameters {
    /// [inputs, outputs], row-major.
    public var weight: UnsafePointer<Float>
    public var bias: UnsafePointer<Float>
    public var inputs: Int
    public var outputs: Int
    /// The weights converted for serving in BF16 or int8, which the forward pass then
    /// reads instead of `weight`; nil in FP32 (and always in training).
    public var converted: ConvertedWeights?
    public init(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, inputs: Int, outputs: Int) {
        self.weight = weight
        self.bias = bias
        self.inputs = inputs
        self.outputs = outputs
    }
}

public struct BlockParameters {
    public var norm1: LayerNormParameters
    /// c_attn: [C, 3C]
    public var attention: LinearParameters
    /// attn.c_proj: [C, C]
    public var attentionProjection: LinearParameters
    public var norm2: LayerNormParameters
    /// mlp.c_fc: [C, 4C]
    public var expansion: LinearParameters
    /// mlp.c_proj: [4C, C]
    public var contraction: LinearParameters
}

/// The classification head replacing GPT-2's output layer: logits = h · weightᵀ + bias.
public struct HeadParameters {
    /// [classes, C], as `score.weight` in Hugging Face's GPT2ForSequenceClassification.
    public var weight: UnsafePointer<Float>
    public var bias: UnsafePointer<Float>
    public var classes: Int
    /// Weights on the token evidence, when the head reads it.
    public var evidence: EvidenceParameters?
    public init(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, classes: Int, evidence: EvidenceParameters? = nil) {
        self.weight = weight
        self.bias = bias
        self.classes = classes
        self.evidence = evidence
    }

    /// The logits of each sequence from the hidden state it is read at, plus its token
    /// evidence when the head has weights for it.
    func logits(hidden: UnsafePointer<Float>, batch: TokenBatch, columns: Int, kernels: Kernels) -> [[Float]] {
        var logits = GPT2Model.headLogits(self, hidden: hidden, rows: batch.count, columns: columns, kernels: kernels)
        if let evidence, let items = batch.evidence { evidence.addLogits(items, classes: classes, to: &logits) }
        return logits
    }
}

public struct GPT2Parameters {
    public var config: GPT2Config
    /// wte: [vocabulary, C]
    public var tokenEmbedding: UnsafePointer<Float>
    /// wpe: [context, C]
    public var positionEmbedding: UnsafePointer<Float>
    public var blocks: [BlockParameters]
    public var finalNorm: LayerNormParameters
    public var head: HeadParameters
    /// What the blocks' linear layers compute in (see `converted(to:)`).
    public internal(set) var precision = Precision.fp32
    /// What owns the memory the views point into (a memory-mapped file, a buffer).
    let owners: [Any]
}

/// Where the model's tensors come from, by Hugging Face name (`h.3.mlp.c_fc.weight`,
/// `score.weight`). The source checks presence and shape and throws an error naming
/// the file and the tensor.
public protocol TensorSource {
    func floats(named name: String, shape: [Int]) throws -> UnsafePointer<Float>
}

/// The tensors of a GPT-2 and its head as (name, shape), in the order of a trainable
/// `ParameterBuffer`. The model's own names come from SpamtuneWeights' GPT2Parameter;
/// the head is the classifier's addition (`score.*`, as in Hugging Face's
/// GPT2ForSequenceClassification, plus a bias).
public enum GPT2TensorNames {
    static func entry(_ parameter: GPT2Parameter, _ config: GPT2Config) -> (name: String, shape: [Int]) {
        (parameter.name, parameter.shape(in: config))
    }

    public static func block(_ index: Int, config: GPT2Config) -> [(name: String, shape: [Int])] {
        GPT2BlockParameter.allCases.map { entry(.block(index, $0), config) }
    }

    public static func embeddings(config: GPT2Config) -> [(name: String, shape: [Int])] {
        [entry(.tokenEmbedding, config), entry(.positionEmbedding, config)]
    }

    public static func finalNorm(config: GPT2Config) -> [(name: String, shape: [Int])] {
        [entry(.finalNormWeight, config), entry(.finalNormBias, config)]
    }

    public static let headWeight = "score.weight"
    public static let headBias = "score.bias"

    public static func head(classes: Int, config: GPT2Config) -> [(name: String, shape: [Int])] {
        [(headWeight, [classes, config.embeddingSize]), (headBias, [classes])]
    }

    public static func evidence(classes: Int, buckets: Int) -> [(name: String, shape: [Int])] {
        buckets > 0 ? [(EvidenceParameters.tensorName, [classes, buckets])] : []
    }
}

extension GPT2Parameters {
    /// Binds every tensor of the model and head from `source`; the head reads token
    /// evidence in `evidenceBuckets` buckets when that is not 0.
    public init(config: GPT2Config, classes: Int, source: some TensorSource, evidenceBuckets: Int = 0) throws {
        func bind(_ entry: (name: String, shape: [Int])) throws -> UnsafePointer<Float> {
            try source.floats(named: entry.name, shape: entry.shape)
        }
        let embeddings = GPT2TensorNames.embeddings(config: config)
        self.config = config
        tokenEmbedding = try bind(embeddings[0])
        positionEmbedding = try bind(embeddings[1])
        blocks = try (0..<config.layerCount).map { index in
            // In GPT2BlockParameter's order: ln_1, c_attn, attn.c_proj, ln_2, c_fc, mlp.c_proj.
            let t = try GPT2TensorNames.block(index, config: config).map(bind)
            let c = config.embeddingSize
            return BlockParameters(
                norm1: LayerNormParameters(weight: t[0], bias: t[1]),
                attention: LinearParameters(weight: t[2], bias: t[3], inputs: c, outputs: 3 * c),
                attentionProjection: LinearParameters(weight: t[4], bias: t[5], inputs: c, outputs: c),
                norm2: LayerNormParameters(weight: t[6], bias: t[7]),
                expansion: LinearParameters(weight: t[8], bias: t[9], inputs: c, outputs: 4 * c),
                contraction: LinearParameters(weight: t[10], bias: t[11], inputs: 4 * c, outputs: c))
        }
        let norm = try GPT2TensorNames.finalNorm(config: config).map(bind)
        finalNorm = LayerNormParameters(weight: norm[0], bias: norm[1])
        let head = try GPT2TensorNames.head(classes: classes, config: config).map(bind)
        let evidence = try GPT2TensorNames.evidence(classes: classes, buckets: evidenceBuckets).map(bind).first
        self.head = HeadParameters(
            weight: head[0], bias: head[1], classes: classes,
            evidence: evidence.map { EvidenceParameters(weight: $0, buckets: evidenceBuckets) })
        owners = [source]
    }
}

extension GPT2Weights: TensorSource {
    public func floats(named name: String, shape: [Int]) throws -> UnsafePointer<Float> {
        let view = try tensor(named: name)
        guard view.shape == shape else {
            throw ModelError.shapeMismatch(tensor: name, expected: shape, found: view.shape)
        }
        return view.pointer
    }
}

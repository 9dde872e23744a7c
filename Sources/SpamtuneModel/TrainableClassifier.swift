import Foundation
import SpamtuneKernels
import SpamtuneWeights

/// Which part of the model trains: the head and the final LayerNorm always, the last
/// `blocks` transformer blocks (the book trains 1), and with `embeddings` the token and
/// position embeddings too (for a model trained from scratch).
public struct TrainableScope: Codable, Equatable, Sendable {
    public var blocks: Int
    public var embeddings: Bool

    public init(blocks: Int, embeddings: Bool = false) {
        self.blocks = blocks
        self.embeddings = embeddings
    }

    public static func everything(layers: Int) -> TrainableScope { TrainableScope(blocks: layers, embeddings: true) }

    /// The trainable tensors, in the order of the parameter buffer: head, final
    /// LayerNorm, blocks from the lowest trainable one up, then the embeddings.
    public func tensorLayout(config: GPT2Config, classes: Int) -> [(name: String, shape: [Int])] {
        var layout = GPT2TensorNames.head(classes: classes, config: config) + GPT2TensorNames.finalNorm(config: config)
        for index in (config.layerCount - blocks)..<config.layerCount {
            layout += GPT2TensorNames.block(index, config: config)
        }
        if embeddings { layout += GPT2TensorNames.embeddings(config: config) }
        return layout
    }
}

/// A GPT-2 classifier whose trainable part lives in its own buffer, with forward and
/// backward passes over that part only.
///
/// The frozen blocks never change and the model has no dropout, so their output for an
/// example is the same in every epoch: the trainer computes it once (`frozenFeatures`)
/// and feeds it here, and an epoch costs the trainable blocks only.
public final class TrainableClassifier: @unchecked Sendable {
    public let config: GPT2Config
    public let classes: Int
    public let scope: TrainableScope
    public let parameters: ParameterBuffer
    public let gradients: ParameterBuffer
    public let model: GPT2Model
    private let blockActivations: [BlockActivations]
    private let workspace = BackwardWorkspace()
    private let embedded = FloatBuffer()
    private let topInput = FloatBuffer(), normalized = FloatBuffer(), normMean = FloatBuffer(), normReciprocalStd = FloatBuffer()
    private let lmLogits = FloatBuffer(), compactEmbedding = FloatBuffer(), dCompactEmbedding = FloatBuffer(), dLogits = FloatBuffer(), dNormalized = FloatBuffer(), dTop = FloatBuffer()
    private let dBlock = (FloatBuffer(), FloatBuffer())

    /// `base` gives the frozen tensors and the initial values of the trainable ones
    /// (a pretrained GPT-2 has no classification head, so its base must supply a new one).
    ///
    /// With `evidenceBuckets` > 0 the head also reads token evidence (`TokenEvidence`),
    /// its weights starting at zero unless `base` has them.
    public init(
        config: GPT2Config, classes: Int, scope: TrainableScope, base: some TensorSource, kernels: Kernels,
        evidenceBuckets: Int = 0
    ) throws {
        guard scope.blocks >= 0, scope.blocks <= config.layerCount, !scope.embeddings || scope.blocks == config.layerCount else {
            throw ModelError.invalidTrainableBlocks(requested: scope.blocks, layers: config.layerCount)
        }
        self.config = config
        self.classes = classes
        self.scope = scope
        let evidenceLayout = GPT2TensorNames.evidence(classes: classes, buckets: evidenceBuckets)
        parameters = ParameterBuffer(layout: scope.tensorLayout(config: config, classes: classes) + evidenceLayout)
        try parameters.load(from: base, optional: Set(evidenceLayout.map(\.name)))
        gradients = ParameterBuffer(sameLayoutAs: parameters)
        let views = try GPT2Parameters(
            config: config, classes: classes, source: OverlayTensorSource(overlay: parameters, base: base),
            evidenceBuckets: evidenceBuckets)
        model = GPT2Model(parameters: views, kernels: kernels)
        blockActivations = (0..<scope.blocks).map { _ in BlockActivations() }
    }

    public var kernels: Kernels { model.kernels }
    public var firstTrainableBlock: Int { config.layerCount - scope.blocks }

    /// What the trainable part reads for `batch`: the hidden states entering the first
    /// trainable block, every row ([rows, C]); or with no trainable block, the hidden
    /// state at each sequence's last token after all blocks ([S, C]). Empty when the
    /// embeddings train (the input is then the token ids themselves).
    public func frozenFeatures(for batch: TokenBatch) -> [Float] {
        if scope.embeddings { return [] }
        if scope.blocks == 0 {
            let top = model.forwardToTop(batch)
            return Array(UnsafeBufferPointer(start: top, count: batch.count * config.embeddingSize))
        }
        return model.hiddenStates(for: batch, throughBlocks: firstTrainableBlock)
    }

    /// Floats of frozen features per example of `tokens` tokens.
    public func featureCount(tokens: Int) -> Int {
        if scope.embeddings { return 0 }
        return (scope.blocks == 0 ? 1 : tokens) * config.embeddingSize
    }

    /// The logits for a batch, from its frozen features (see `frozenFeatures`).
    public func logits(for batch: TokenBatch, features: UnsafePointer<Float>?) -> [[Float]] {
        let top = forward(batch, features: features, training: false)
        return model.parameters.head.logits(hidden: top.normalized, batch: batch, columns: config.embeddingSize, kernels: kernels)
    }

    /// The mean cross-entropy of the batch's logits against `labels`; adds the gradients
    /// of every trainable tensor to `gradients` (zero them between steps).
    public func lossAndGradients(for batch: TokenBatch, features: UnsafePointer<Float>?, labels: [Int]) throws -> Float {
        guard batch.count > 0, labels.count == batch.count else { throw ModelError.emptyBatch }
        for label in labels where label < 0 || label >= classes {
            throw ModelError.labelOutOfRange(label: label, classes: classes)
        }
        let c = config.embeddingSize, s = batch.count
        let top = forward(batch, features: features, training: true)
        let head = model.parameters.head
        let logits = head.logits(hidden: top.normalized, batch: batch, columns: c, kernels: kernels)

        // Cross-entropy, mean over the batch; dlogits = (softmax - onehot) / S.
        let dl = dLogits.reserve(s * classes)
        var loss: Double = 0
        for (row, (values, label)) in zip(logits, labels).enumerated() {
            let maximum = values.max()!
            let exps = values.map { Foundation.exp(Double($0 - maximum)) }
            let total = exps.reduce(0, +)
            loss -= Foundation.log(exps[label] / total)
            for k in 0..<classes {
                dl[row * classes + k] = Float((exps[k] / total - (k == label ? 1 : 0)) / Double(s))
            }
        }
        loss /= Double(s)

        // Head: logits = y · Wᵀ + b
        kernels.matmul(
            m: classes, n: c, k: s, a: dl, lda: classes, transposeA: true, b: top.normalized, ldb: c,
            c: gradients.tensor("score.weight"), ldc: c, accumulate: true)
        kernels.addColumnSums(of: dl, rows: s, columns: classes, into: gradients.tensor("score.bias"))
        if let evidence = head.evidence, let items = batch.evidence {
            EvidenceParameters.accumulateGradients(
                items, dLogits: dl, classes: classes, buckets: evidence.buckets,
                into: gradients.tensor(EvidenceParameters.tensorName))
        }
        let dy = dNormalized.reserve(s * c)
        kernels.matmul(m: s, n: c, k: classes, a: dl, lda: classes, b: head.weight, ldb: c, c: dy, ldc: c)
        backward(from: UnsafePointer(dy), top: top, batch: batch)
        return Float(loss)
    }

    /// Next-token cross-entropy at every position but each sequence's last, through the
    /// token embedding as GPT-2's language-model head (tied weights): pretraining on text
    /// without labels, of a model trained from scratch, or of a pretrained model's
    /// trainable blocks on the site's own mail (`features`: the frozen blocks' output for
    /// every row, from `frozenFeatures`; the embedding then stays as it is). The softmax
    /// runs over `vocabulary` (the tokens the text can contain, a few thousand of GPT-2's
    /// 50,257, which makes a step several times cheaper), or all tokens when it is nil.
    /// Adds the gradients of every trainable tensor but the classification head.
    public func languageModelLossAndGradients(
        for batch: TokenBatch, features: UnsafePointer<Float>? = nil, vocabulary: PredictedVocabulary? = nil
    ) throws -> Float {
        guard scope.embeddings || scope.blocks > 0 else { throw ModelError.languageModelNeedsABlock }
        let c = config.embeddingSize, rows = batch.rowCount
        let predictions = batch.sequences.reduce(0) { $0 + $1.tokens - 1 }
        guard predictions > 0 else { throw ModelError.emptyBatch }
        let top = forward(batch, features: features, training: true, allRows: true)

        // The output embedding: wte itself, or its rows for `vocabulary` gathered.
        let wte = model.parameters.tokenEmbedding
        let v = vocabulary?.ids.count ?? config.vocabularySize
        var outputEmbedding = wte
        if let vocabulary {
            let gathered = compactEmbedding.reserve(v * c)
            for (row, id) in vocabulary.ids.enumerated() { (gathered + row * c).update(from: wte + id * c, count: c) }
            outputEmbedding = UnsafePointer(gathered)
        }
        let logits = lmLogits.reserve(rows * v)
        kernels.matmul(m: rows, n: v, k: c, a: top.normalized, lda: c, b: outputEmbedding, ldb: c, transposeB: true, c: logits, ldc: v)

        // Softmax cross-entropy in place: the logits become dlogits = (softmax - onehot) / P;
        // a sequence's last row predicts nothing and gets no gradient.
        let scale = 1 / Float(predictions)
        kernels.softmaxRows(logits, rows: rows, columns: v, scale: scale)
        var loss: Double = 0
        for (sequence, ids) in zip(batch.sequences, batch.ids) {
            for position in 0..<sequence.tokens {
                let row = logits + (sequence.start + position) * v
                guard position + 1 < sequence.tokens else {
                    row.update(repeating: 0, count: v)
                    continue
                }
                let next = ids[position + 1]
                guard let target = vocabulary.map({ $0.column(of: next) }) ?? next else {
                    throw ModelError.tokenOutsideVocabulary(next)
                }
                loss -= Foundation.log(Double(max(row[target] / scale, .leastNormalMagnitude)))
                row[target] -= scale
            }
        }

        let dy = dNormalized.reserve(rows * c)
        kernels.matmul(m: rows, n: c, k: v, a: logits, lda: v, b: outputEmbedding, ldb: c, c: dy, ldc: c)
        // The tied output embedding learns too where the embeddings train.
        if scope.embeddings, let vocabulary {
            let dWte = gradients.tensor("wte.weight"), dCompact = dCompactEmbedding.reserve(v * c)
            kernels.matmul(m: v, n: c, k: rows, a: logits, lda: v, transposeA: true, b: top.normalized, ldb: c, c: dCompact, ldc: c)
            for (row, id) in vocabulary.ids.enumerated() {
                let source = dCompact + row * c, target = dWte + id * c
                for j in 0..<c { target[j] += source[j] }
            }
        } else if scope.embeddings {
            kernels.matmul(
                m: v, n: c, k: rows, a: logits, lda: v, transposeA: true, b: top.normalized, ldb: c,
                c: gradients.tensor("wte.weight"), ldc: c, accumulate: true)
        }
        backward(from: UnsafePointer(dy), top: top, batch: batch)
        return Float(loss / Double(predictions))
    }

    /// From the gradient of the final LayerNorm's output down through the trainable
    /// blocks (and the embeddings when they train).
    private func backward(from dNormalizedRows: UnsafePointer<Float>, top: TopActivations, batch: TokenBatch) {
        let c = config.embeddingSize
        // Final LayerNorm
        let dx = dTop.zeroed(top.rows * c)
        kernels.layerNormBackward(
            dInput: dx, dWeight: gradients.tensor("ln_f.weight"), dBias: gradients.tensor("ln_f.bias"), dOutput: dNormalizedRows,
            input: top.input, weight: model.parameters.finalNorm.weight, mean: normMean.pointer,
            reciprocalStd: normReciprocalStd.pointer, rows: top.rows, columns: c)

        // Blocks, top down.
        var dOutput = UnsafePointer(dx)
        for i in stride(from: scope.blocks - 1, through: 0, by: -1) {
            let index = firstTrainableBlock + i
            let dInput = (i % 2 == 0 ? dBlock.0 : dBlock.1).reserve(batch.rowCount * c)
            TransformerBlock.backward(
                model.parameters.blocks[index], gradients: blockGradients(index), dOutput: dOutput, dInput: dInput,
                heads: config.headCount, activations: blockActivations[i], workspace: workspace, kernels: kernels)
            dOutput = UnsafePointer(dInput)
        }

        if scope.embeddings {
            let dWte = gradients.tensor("wte.weight"), dWpe = gradients.tensor("wpe.weight")
            for (sequence, ids) in zip(batch.sequences, batch.ids) {
                for (position, id) in ids.enumerated() {
                    let g = dOutput + (sequence.start + position) * c
                    let token = dWte + id * c, place = dWpe + position * c
                    for j in 0..<c {
                        token[j] += g[j]
                        place[j] += g[j]
                    }
                }
            }
        }
    }

    private struct TopActivations {
        /// The final LayerNorm's input and output: one row per sequence (last token, what
        /// the head reads) or every row (next-token prediction).
        let input: UnsafePointer<Float>
        let normalized: UnsafePointer<Float>
        let rows: Int
    }

    private func forward(_ batch: TokenBatch, features: UnsafePointer<Float>?, training: Bool, allRows: Bool = false) -> TopActivations {
        let c = config.embeddingSize, s = batch.count
        let lastRowOnly = !allRows
        var x: UnsafePointer<Float>
        if scope.embeddings {
            x = UnsafePointer(model.embed(batch, into: embedded))
        } else {
            guard let features else { preconditionFailure("frozen features are required when embeddings are frozen") }
            x = features
        }
        for i in 0..<scope.blocks {
            let isTop = i == scope.blocks - 1 && lastRowOnly
            x = TransformerBlock.forward(
                model.parameters.blocks[firstTrainableBlock + i], input: x, rowCount: batch.rowCount,
                sequences: isTop ? batch.lastQueryOnly : batch.sequences, queryRows: isTop ? batch.lastRows : nil,
                heads: config.headCount, activations: blockActivations[i], kernels: kernels, training: training)
        }
        // The final LayerNorm's input must outlive the next forward pass's block scratch.
        let rows = lastRowOnly ? s : batch.rowCount
        let input = topInput.reserve(rows * c)
        input.update(from: x, count: rows * c)
        let y = normalized.reserve(rows * c)
        kernels.layerNormForward(
            output: y, mean: normMean.reserve(rows), reciprocalStd: normReciprocalStd.reserve(rows), input: input,
            weight: model.parameters.finalNorm.weight, bias: model.parameters.finalNorm.bias, rows: rows, columns: c)
        return TopActivations(input: input, normalized: y, rows: rows)
    }

    private func blockGradients(_ index: Int) -> BlockGradients {
        let p = "h.\(index)."
        let g = gradients
        return BlockGradients(
            norm1Weight: g.tensor(p + "ln_1.weight"), norm1Bias: g.tensor(p + "ln_1.bias"),
            attentionWeight: g.tensor(p + "attn.c_attn.weight"), attentionBias: g.tensor(p + "attn.c_attn.bias"),
            projectionWeight: g.tensor(p + "attn.c_proj.weight"), projectionBias: g.tensor(p + "attn.c_proj.bias"),
            norm2Weight: g.tensor(p + "ln_2.weight"), norm2Bias: g.tensor(p + "ln_2.bias"),
            expansionWeight: g.tensor(p + "mlp.c_fc.weight"), expansionBias: g.tensor(p + "mlp.c_fc.bias"),
            contractionWeight: g.tensor(p + "mlp.c_proj.weight"), contractionBias: g.tensor(p + "mlp.c_proj.bias"))
    }
}

/// The tokens a language-model head predicts among: the softmax's columns.
public struct PredictedVocabulary: Sendable {
    public let ids: [Int]
    private let columns: [Int: Int]

    /// Every token of `sequences`, in id order.
    public init(covering sequences: [[Int]]) {
        ids = Array(Set(sequences.joined())).sorted()
        columns = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
    }

    public func column(of token: Int) -> Int? { columns[token] }
}

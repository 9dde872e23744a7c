import SpamtuneKernels
import SpamtuneWeights

/// GPT-2 with a classification head, for inference: embeddings, pre-LayerNorm blocks,
/// final LayerNorm and a linear head on the hidden state of each sequence's last token.
///
/// Not safe for concurrent calls: it owns one set of kernels and scratch buffers. The
/// daemon serialises calls and batches concurrent requests into one `TokenBatch`.
public final class GPT2Model: @unchecked Sendable {
    public let parameters: GPT2Parameters
    public let kernels: Kernels
    private let activations = (BlockActivations(), BlockActivations())
    private let embedded = FloatBuffer()
    private let finalHidden = FloatBuffer()
    private let lastRows = FloatBuffer()

    public init(parameters: GPT2Parameters, kernels: Kernels) {
        self.parameters = parameters
        self.kernels = kernels
    }

    public var config: GPT2Config { parameters.config }

    /// What the blocks' linear layers compute in (`GPT2Parameters.converted(to:)`).
    public var precision: Precision { parameters.precision }

    /// The classification logits of each sequence, [classes] each, read at its last token.
    public func logits(for batch: TokenBatch) -> [[Float]] {
        let c = config.embeddingSize
        let top = forwardToTop(batch)
        let normalized = finalHidden.reserve(batch.count * c)
        kernels.layerNormForward(
            output: normalized, input: top, weight: parameters.finalNorm.weight, bias: parameters.finalNorm.bias,
            rows: batch.count, columns: c)
        return parameters.head.logits(hidden: normalized, batch: batch, columns: c, kernels: kernels)
    }

    /// The hidden states after the first `blocks` blocks, all rows ([rows, C]): what the
    /// trainer computes once for the frozen part of the model.
    public func hiddenStates(for batch: TokenBatch, throughBlocks blocks: Int) -> [Float] {
        let c = config.embeddingSize
        var x = UnsafePointer(embed(batch, into: embedded))
        for index in 0..<blocks {
            x = runBlock(index, input: x, batch: batch, lastOnly: false)
        }
        return Array(UnsafeBufferPointer(start: x, count: batch.rowCount * c))
    }

    /// The hidden state entering the final LayerNorm at each sequence's last token ([S, C]).
    func forwardToTop(_ batch: TokenBatch) -> UnsafePointer<Float> {
        let c = config.embeddingSize
        var x = UnsafePointer(embed(batch, into: embedded))
        let blocks = config.layerCount
        if blocks == 0 {
            let rows = lastRows.reserve(batch.count * c)
            Rows.gather(x, rows: batch.lastRows, columns: c, into: rows)
            return UnsafePointer(rows)
        }
        for index in 0..<blocks {
            x = runBlock(index, input: x, batch: batch, lastOnly: index == blocks - 1)
        }
        return x
    }

    func runBlock(_ index: Int, input: UnsafePointer<Float>, batch: TokenBatch, lastOnly: Bool) -> UnsafePointer<Float> {
        let scratch = index % 2 == 0 ? activations.0 : activations.1
        return TransformerBlock.forward(
            parameters.blocks[index], input: input, rowCount: batch.rowCount,
            sequences: lastOnly ? batch.lastQueryOnly : batch.sequences, queryRows: lastOnly ? batch.lastRows : nil,
            heads: config.headCount, activations: scratch, kernels: kernels, training: false)
    }

    /// x[row] = wte[id] + wpe[position].
    func embed(_ batch: TokenBatch, into buffer: FloatBuffer) -> UnsafeMutablePointer<Float> {
        let c = config.embeddingSize
        let x = buffer.reserve(batch.rowCount * c)
        for (sequence, ids) in zip(batch.sequences, batch.ids) {
            precondition(ids.count <= config.contextLength, "sequence longer than the model's context")
            for (position, id) in ids.enumerated() {
                precondition(id >= 0 && id < config.vocabularySize, "token id \(id) outside the vocabulary")
                let row = x + (sequence.start + position) * c
                let token = parameters.tokenEmbedding + id * c
                let place = parameters.positionEmbedding + position * c
                for j in 0..<c { row[j] = token[j] + place[j] }
            }
        }
        return x
    }

    /// logits[s] = hidden[s] · headᵀ + bias
    static func headLogits(
        _ head: HeadParameters, hidden: UnsafePointer<Float>, rows: Int, columns: Int, kernels: Kernels
    ) -> [[Float]] {
        var flat = [Float](repeating: 0, count: rows * head.classes)
        flat.withUnsafeMutableBufferPointer { out in
            kernels.matmul(
                m: rows, n: head.classes, k: columns, a: hidden, lda: columns, b: head.weight, ldb: columns,
                transposeB: true, c: out.baseAddress!, ldc: head.classes, bias: head.bias)
        }
        return (0..<rows).map { Array(flat[($0 * head.classes)..<(($0 + 1) * head.classes)]) }
    }
}

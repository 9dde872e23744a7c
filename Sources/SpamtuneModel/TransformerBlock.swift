import SpamtuneKernels

// One pre-LayerNorm GPT-2 block, forward and backward side by side (as in llm.c):
//
//   a   = LN1(x)                    qkv = a · Wattn + b
//   o   = causal attention(qkv)     r   = x + o · Wproj + b
//   m   = LN2(r)                    h   = m · Wfc + b,  g = GELU(h)
//   y   = r + g · Wfcproj + b
//
// Every token row needs a and qkv (its key and value are attended to), but only the
// rows whose output is used need o, r, m, h, g and y. In the top block of a classifier
// that is one row per sequence (the last token), so those steps run on the "query rows"
// only: R rows instead of N. With all rows as query rows this is the ordinary block.

/// The activations of one block over one batch: scratch in inference, kept for the
/// backward pass in training.
public final class BlockActivations {
    let norm1 = FloatBuffer(), norm1Mean = FloatBuffer(), norm1ReciprocalStd = FloatBuffer()
    let qkv = FloatBuffer()
    let attention = FloatBuffer()
    let probabilities = FloatBuffer()
    let attentionRows = FloatBuffer()
    let residual = FloatBuffer()
    let norm2 = FloatBuffer(), norm2Mean = FloatBuffer(), norm2ReciprocalStd = FloatBuffer()
    let expansion = FloatBuffer()
    let activation = FloatBuffer()
    let output = FloatBuffer()
    /// The rows computed (sequences with their first query) and, when only some rows are
    /// queries, which input rows they are.
    var sequences: [AttentionSequence] = []
    var queryRows: [Int]? = nil
    var rowCount = 0
    var input: UnsafePointer<Float>? = nil

    public init() {}
}

/// Gradients of one block's tensors, in BlockParameters' layout.
public struct BlockGradients {
    public var norm1Weight, norm1Bias: UnsafeMutablePointer<Float>
    public var attentionWeight, attentionBias: UnsafeMutablePointer<Float>
    public var projectionWeight, projectionBias: UnsafeMutablePointer<Float>
    public var norm2Weight, norm2Bias: UnsafeMutablePointer<Float>
    public var expansionWeight, expansionBias: UnsafeMutablePointer<Float>
    public var contractionWeight, contractionBias: UnsafeMutablePointer<Float>
}

enum TransformerBlock {
    /// Runs the block on `input` ([N, C]). With `queryRows` nil every row is computed and
    /// the output is [N, C]; otherwise only those rows (one per sequence, `sequences`
    /// having matching first queries) and the output is [R, C]. Keeps what backward
    /// needs when `training`.
    static func forward(
        _ p: BlockParameters, input: UnsafePointer<Float>, rowCount n: Int, sequences: [AttentionSequence],
        queryRows: [Int]?, heads: Int, activations s: BlockActivations, kernels: Kernels, training: Bool
    ) -> UnsafePointer<Float> {
        let c = p.attention.inputs
        let r = queryRows?.count ?? n
        s.sequences = sequences
        s.queryRows = queryRows
        s.rowCount = n
        s.input = input

        let norm1 = s.norm1.reserve(n * c)
        kernels.layerNormForward(
            output: norm1, mean: s.norm1Mean.reserve(n), reciprocalStd: s.norm1ReciprocalStd.reserve(n), input: input,
            weight: p.norm1.weight, bias: p.norm1.bias, rows: n, columns: c)
        let qkv = s.qkv.reserve(n * 3 * c)
        linear(p.attention, input: norm1, rows: n, output: qkv, kernels: kernels)

        let attention = s.attention.reserve(n * c)
        let probabilities: UnsafeMutablePointer<Float>? =
            training
            ? s.probabilities.reserve(Kernels.attentionProbabilityOffsets(sequences: sequences, heads: heads).last!)
            : nil
        kernels.attentionForward(
            output: attention, probabilities: probabilities, qkv: qkv, sequences: sequences, channels: c, heads: heads)

        // r = x + o · Wproj + b, on the query rows.
        let attentionRows: UnsafePointer<Float>
        let residual = s.residual.reserve(r * c)
        if let queryRows {
            let gathered = s.attentionRows.reserve(r * c)
            Rows.gather(attention, rows: queryRows, columns: c, into: gathered)
            Rows.gather(input, rows: queryRows, columns: c, into: residual)
            attentionRows = UnsafePointer(gathered)
        } else {
            residual.update(from: input, count: n * c)
            attentionRows = UnsafePointer(attention)
        }
        linear(p.attentionProjection, input: attentionRows, rows: r, output: residual, kernels: kernels, accumulate: true)

        let norm2 = s.norm2.reserve(r * c)
        kernels.layerNormForward(
            output: norm2, mean: s.norm2Mean.reserve(r), reciprocalStd: s.norm2ReciprocalStd.reserve(r),
            input: residual, weight: p.norm2.weight, bias: p.norm2.bias, rows: r, columns: c)
        let expansion = s.expansion.reserve(r * 4 * c)
        linear(p.expansion, input: norm2, rows: r, output: expansion, kernels: kernels)
        let activation = s.activation.reserve(r * 4 * c)
        kernels.geluForward(output: activation, input: expansion, count: r * 4 * c)
        let output = s.output.reserve(r * c)
        output.update(from: residual, count: r * c)
        linear(p.contraction, input: activation, rows: r, output: output, kernels: kernels, accumulate: true)
        return UnsafePointer(output)
    }

    /// Given dOutput ([R, C], the gradient of the forward's output), adds this block's
    /// tensor gradients to `g` and writes the gradient of its input ([N, C]) to `dInput`.
    static func backward(
        _ p: BlockParameters, gradients g: BlockGradients, dOutput: UnsafePointer<Float>,
        dInput: UnsafeMutablePointer<Float>, heads: Int, activations s: BlockActivations, workspace w: BackwardWorkspace,
        kernels: Kernels
    ) {
        let c = p.attention.inputs
        let n = s.rowCount
        let r = s.queryRows?.count ?? n
        guard let input = s.input else { preconditionFailure("backward without a training forward pass") }

        // y = r + g · Wfcproj + b
        let dResidual = w.dResidual.reserve(r * c)
        dResidual.update(from: dOutput, count: r * c)
        let dActivation = w.dActivation.reserve(r * 4 * c)
        linearBackward(
            p.contraction, input: s.activation.pointer, dOutput: dOutput, rows: r, dInput: dActivation,
            dWeight: g.contractionWeight, dBias: g.contractionBias, kernels: kernels)
        // g = GELU(h)
        let dExpansion = w.dExpansion.reserve(r * 4 * c)
        kernels.geluBackward(dInput: dExpansion, input: s.expansion.pointer, dOutput: dActivation, count: r * 4 * c)
        // h = m · Wfc + b
        let dNorm2 = w.dNorm.reserve(r * c)
        linearBackward(
            p.expansion, input: s.norm2.pointer, dOutput: dExpansion, rows: r, dInput: dNorm2,
            dWeight: g.expansionWeight, dBias: g.expansionBias, kernels: kernels)
        // m = LN2(r)
        kernels.layerNormBackward(
            dInput: dResidual, dWeight: g.norm2Weight, dBias: g.norm2Bias, dOutput: dNorm2, input: s.residual.pointer,
            weight: p.norm2.weight, mean: s.norm2Mean.pointer, reciprocalStd: s.norm2ReciprocalStd.pointer, rows: r,
            columns: c)
        // r = x + o · Wproj + b
        let dAttentionRows = w.dAttentionRows.reserve(r * c)
        let attentionRows = s.queryRows == nil ? s.attention.pointer : s.attentionRows.pointer
        linearBackward(
            p.attentionProjection, input: attentionRows, dOutput: dResidual, rows: r, dInput: dAttentionRows,
            dWeight: g.projectionWeight, dBias: g.projectionBias, kernels: kernels)
        let dAttention: UnsafeMutablePointer<Float>
        if let queryRows = s.queryRows {
            // Only the query rows are read by attention's backward pass.
            dAttention = w.dAttention.reserve(n * c)
            for (index, row) in queryRows.enumerated() {
                (dAttention + row * c).update(from: dAttentionRows + index * c, count: c)
            }
        } else {
            dAttention = dAttentionRows
        }
        // o = attention(qkv)
        let dQKV = w.dQKV.zeroed(n * 3 * c)
        kernels.attentionBackward(
            dQKV: dQKV, dOutput: dAttention, qkv: s.qkv.pointer, probabilities: s.probabilities.pointer,
            sequences: s.sequences, channels: c, heads: heads)
        // qkv = a · Wattn + b
        let dNorm1 = w.dNorm.reserve(n * c)
        linearBackward(
            p.attention, input: s.norm1.pointer, dOutput: dQKV, rows: n, dInput: dNorm1,
            dWeight: g.attentionWeight, dBias: g.attentionBias, kernels: kernels)
        // a = LN1(x), plus the residual path from r.
        dInput.update(repeating: 0, count: n * c)
        kernels.layerNormBackward(
            dInput: dInput, dWeight: g.norm1Weight, dBias: g.norm1Bias, dOutput: dNorm1, input: input,
            weight: p.norm1.weight, mean: s.norm1Mean.pointer, reciprocalStd: s.norm1ReciprocalStd.pointer, rows: n,
            columns: c)
        if let queryRows = s.queryRows {
            Rows.scatterAdd(dResidual, rows: queryRows, columns: c, into: dInput)
        } else {
            for i in 0..<(n * c) { dInput[i] += dResidual[i] }
        }
    }

    /// output (+)= input · W + b, W in the form the layer holds: converted for serving
    /// in BF16 or int8, else FP32.
    static func linear(
        _ p: LinearParameters, input: UnsafePointer<Float>, rows: Int, output: UnsafeMutablePointer<Float>,
        kernels: Kernels, accumulate: Bool = false
    ) {
        switch p.converted {
        case nil:
            kernels.matmul(
                m: rows, n: p.outputs, k: p.inputs, a: input, lda: p.inputs, b: p.weight, ldb: p.outputs, c: output,
                ldc: p.outputs, bias: p.bias, accumulate: accumulate)
        case let .bf16(weights)?:
            kernels.matmul(
                m: rows, a: input, lda: p.inputs, weights: weights, c: output, ldc: p.outputs, bias: p.bias,
                accumulate: accumulate)
        case let .int8(weights)?:
            kernels.matmul(
                m: rows, a: input, lda: p.inputs, weights: weights, c: output, ldc: p.outputs, bias: p.bias,
                accumulate: accumulate)
        }
    }

    /// dInput = dOutput · Wᵀ; dWeight += inputᵀ · dOutput; dBias += Σ rows of dOutput.
    static func linearBackward(
        _ p: LinearParameters, input: UnsafePointer<Float>, dOutput: UnsafePointer<Float>, rows: Int,
        dInput: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
        kernels: Kernels
    ) {
        kernels.matmul(
            m: rows, n: p.inputs, k: p.outputs, a: dOutput, lda: p.outputs, b: p.weight, ldb: p.outputs,
            transposeB: true, c: dInput, ldc: p.inputs)
        kernels.matmul(
            m: p.inputs, n: p.outputs, k: rows, a: input, lda: p.inputs, transposeA: true, b: dOutput, ldb: p.outputs,
            c: dWeight, ldc: p.outputs, accumulate: true)
        kernels.addColumnSums(of: dOutput, rows: rows, columns: p.outputs, into: dBias)
    }
}

/// Scratch for backward passes, shared by all blocks (they run one after another).
public final class BackwardWorkspace {
    let dResidual = FloatBuffer(), dActivation = FloatBuffer(), dExpansion = FloatBuffer(), dNorm = FloatBuffer()
    let dAttentionRows = FloatBuffer(), dAttention = FloatBuffer(), dQKV = FloatBuffer()
    public init() {}
}

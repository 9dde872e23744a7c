import SpamtuneKernelCore

public typealias Int8Weights = SpamtuneKernelCore.Int8Weights
public typealias BF16Weights = SpamtuneKernelCore.BF16Weights

extension Kernels {
    /// C[m x n] = A[m x k] · W (+ bias[n]) (+ C when `accumulate`), W in int8 (see
    /// Core/QuantizedGemm.swift): A's rows are quantized to 8 bits each call.
    public func matmul(
        m: Int, a: UnsafePointer<Float>, lda: Int, weights: Int8Weights, c: UnsafeMutablePointer<Float>, ldc: Int,
        bias: UnsafePointer<Float>? = nil, accumulate: Bool = false
    ) {
        guard m > 0 else { return }
        let view = weights.view
        let stride = view.groups * 4
        // The rows' bytes, then their scales, in one buffer of floats.
        let rowFloats = (m * stride + 3) / 4
        let buffer = convertedRows.reserve(rowFloats + m)
        let bytes = UnsafeMutableRawPointer(buffer).assumingMemoryBound(to: UInt8.self)
        let scales = buffer + rowFloats
        let set = self.set
        let k = view.k
        runSplit(m, parts: m * k < parallelThreshold / 4 ? 1 : min(pool.size, m)) { rows in
            set.quantizeRows(a, lda: lda, k: k, rows: rows, groups: view.groups, into: bytes, stride: stride, scales: scales)
        }
        let problem = Int8GemmProblem(
            m: m, a: bytes, lda: stride, rowScales: scales, weights: view, c: c, ldc: ldc, bias: bias, accumulate: accumulate)
        forEachShare(
            m: m, n: view.n, work: m * view.n * k, rowsPerPanel: gemmRows, columnsPerPanel: quantizedColumns,
            rowBlock: quantizedRowBlock
        ) { rows, columns, _ in
            set.int8GemmCompute(problem, rows: rows, columns: columns)
        }
    }

    /// C[m x n] = A[m x k] · W (+ bias[n]) (+ C when `accumulate`), W in BF16 (see
    /// Core/QuantizedGemm.swift): A's rows are rounded to BF16 each call.
    public func matmul(
        m: Int, a: UnsafePointer<Float>, lda: Int, weights: BF16Weights, c: UnsafeMutablePointer<Float>, ldc: Int,
        bias: UnsafePointer<Float>? = nil, accumulate: Bool = false
    ) {
        guard m > 0 else { return }
        let view = weights.view
        let stride = view.pairs * 2
        let rounded = convertedRows.reserve(m * stride)
        let set = self.set
        let k = view.k
        runSplit(m, parts: m * k < parallelThreshold / 4 ? 1 : min(pool.size, m)) { rows in
            set.roundRowsToBFloat16(a, lda: lda, k: k, rows: rows, pairs: view.pairs, into: rounded, stride: stride)
        }
        let problem = BF16GemmProblem(
            m: m, a: rounded, lda: stride, weights: view, c: c, ldc: ldc, bias: bias, accumulate: accumulate)
        forEachShare(
            m: m, n: view.n, work: m * view.n * k, rowsPerPanel: gemmRows, columnsPerPanel: quantizedColumns,
            rowBlock: quantizedRowBlock
        ) { rows, columns, _ in
            set.bf16GemmCompute(problem, rows: rows, columns: columns)
        }
    }
}

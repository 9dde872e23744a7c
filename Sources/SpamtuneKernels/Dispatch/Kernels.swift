import Foundation
import SpamtuneKernelCore

public typealias AttentionShape = SpamtuneKernelCore.AttentionShape

/// The numeric kernels on one instruction level and one thread pool. An instance keeps
/// scratch buffers between calls and serves one caller at a time; a model owns one.
public final class Kernels: @unchecked Sendable {
    public let instructionSet: InstructionSet
    public let pool: ThreadPool
    let set: any KernelSet.Type
    private let threadScratch: [ScratchBuffer]
    private let partials: [ScratchBuffer]
    /// A's rows converted for the int8 and BF16 multiplies, shared by the threads.
    let convertedRows = ScratchBuffer()

    /// Work below this many multiply-adds runs on one thread: waking the others costs more.
    let parallelThreshold = 1 << 16

    public init(threads: Int = Kernels.defaultThreadCount, instructionSet: InstructionSet = .preferred) {
        self.instructionSet = instructionSet
        self.set = instructionSet.kernels
        self.pool = ThreadPool(threads: threads)
        threadScratch = (0..<pool.size).map { _ in ScratchBuffer() }
        partials = (0..<pool.size).map { _ in ScratchBuffer() }
    }

    public var threads: Int { pool.size }

    /// All the cores this process may run on.
    public static var defaultThreadCount: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    // MARK: Matrix multiply

    /// C[m x n] = op(A)[m x k] * op(B)[k x n] (+ bias[n]) (+ C when `accumulate`).
    /// op(A) is A (row-major, row stride lda) or, with `transposeA`, the transpose of a
    /// row-major [k x m] A; likewise B. GPT-2's weights are [in, out], so a linear layer
    /// is `matmul(x, W)` and its input gradient `matmul(dy, W, transposeB: true)`.
    public func matmul(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transposeA: Bool = false,
        b: UnsafePointer<Float>, ldb: Int, transposeB: Bool = false,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        bias: UnsafePointer<Float>? = nil, accumulate: Bool = false
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            for i in 0..<m {
                for j in 0..<n {
                    let base: Float = accumulate ? c[i * ldc + j] : 0
                    c[i * ldc + j] = base + (bias?[j] ?? 0)
                }
            }
            return
        }
        let problem = GemmProblem(
            m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, b: b, ldb: ldb, transposeB: transposeB,
            c: c, ldc: ldc, bias: bias, accumulate: accumulate)
        let set = self.set
        let scratch = threadScratch.indices.map { threadScratch[$0].reserve(problem.scratchSize) }
        forEachShare(m: m, n: n, work: m * n * k, rowsPerPanel: gemmRows, columnsPerPanel: gemmColumns, rowBlock: gemmRowBlock) {
            rows, columns, thread in
            set.gemmCompute(problem, rows: rows, columns: columns, scratch: scratch[thread])
        }
    }

    /// Calls `compute(rows, columns, thread)` on shares of C [m x n] that together cover it once,
    /// each starting at a multiple of the panel sizes.
    func forEachShare(
        m: Int, n: Int, work: Int, rowsPerPanel: Int, columnsPerPanel: Int, rowBlock: Int,
        _ compute: (Range<Int>, Range<Int>, Int) -> Void
    ) {
        let parts = work < parallelThreshold ? 1 : pool.size
        if parts == 1 {
            compute(0..<m, 0..<n, 0)
            return
        }
        // Each thread computes blocks of C's rows or of its columns, and reads all of the
        // other operand. Few rows (a short message): split the columns, so that each
        // B panel serves all rows; the blocks are handed out one by one, so that a
        // thread delayed by other work on the machine does not hold up the others.
        // Many rows: split the rows in halves, so that neither thread copies what the
        // other needs.
        let rowPanels = (m + rowsPerPanel - 1) / rowsPerPanel, columnPanels = (n + columnsPerPanel - 1) / columnsPerPanel
        if rowPanels >= parts * (rowBlock / rowsPerPanel) || columnPanels < parts {
            pool.run { t in
                let panels = ThreadPool.share(of: rowPanels, part: t, parts: parts)
                let rows = min(m, panels.lowerBound * rowsPerPanel)..<min(m, panels.upperBound * rowsPerPanel)
                compute(rows, 0..<n, t)
            }
            return
        }
        let panelsPerBlock = max(1, columnPanels / (3 * parts))
        let blocks = (columnPanels + panelsPerBlock - 1) / panelsPerBlock
        let next = Counter()
        pool.run { t in
            while true {
                let block = next.take()
                if block >= blocks { break }
                let columns = block * panelsPerBlock * columnsPerPanel..<min(n, (block + 1) * panelsPerBlock * columnsPerPanel)
                compute(0..<m, columns, t)
            }
        }
    }

    // MARK: LayerNorm

    public func layerNormForward(
        output: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>? = nil,
        reciprocalStd: UnsafeMutablePointer<Float>? = nil, input: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, rows: Int, columns: Int
    ) {
        let set = self.set
        let parts = rows * columns < parallelThreshold / 4 ? 1 : min(pool.size, rows)
        runSplit(rows, parts: parts) { range in
            set.layerNormForward(
                output: output, mean: mean, reciprocalStd: reciprocalStd, input: input, weight: weight, bias: bias,
                rows: range, columns: columns)
        }
    }

    /// Adds the gradients to dInput, dWeight and dBias.
    public func layerNormBackward(
        dInput: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
        dOutput: UnsafePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, reciprocalStd: UnsafePointer<Float>, rows: Int, columns: Int
    ) {
        let set = self.set
        let parts = rows * columns < parallelThreshold / 4 ? 1 : min(pool.size, rows)
        if parts == 1 {
            set.layerNormBackward(
                dInput: dInput, dWeight: dWeight, dBias: dBias, dOutput: dOutput, input: input, weight: weight,
                mean: mean, reciprocalStd: reciprocalStd, rows: 0..<rows, columns: columns)
            return
        }
        // Each thread sums its rows' weight and bias gradients privately; then they are added up.
        let buffers = (0..<parts).map { partials[$0].reserve(2 * columns) }
        for buffer in buffers { buffer.initialize(repeating: 0, count: 2 * columns) }
        pool.run { t in
            guard t < parts else { return }
            set.layerNormBackward(
                dInput: dInput, dWeight: buffers[t], dBias: buffers[t] + columns, dOutput: dOutput, input: input,
                weight: weight, mean: mean, reciprocalStd: reciprocalStd,
                rows: ThreadPool.share(of: rows, part: t, parts: parts), columns: columns)
        }
        for buffer in buffers {
            for j in 0..<columns {
                dWeight[j] += buffer[j]
                dBias[j] += buffer[columns + j]
            }
        }
    }

    // MARK: Softmax

    /// Each row of a [rows, columns] matrix becomes softmax(row) × scale, in place.
    public func softmaxRows(_ matrix: UnsafeMutablePointer<Float>, rows: Int, columns: Int, scale: Float = 1) {
        let set = self.set
        let parts = rows * columns < parallelThreshold / 4 ? 1 : min(pool.size, rows)
        runSplit(rows, parts: parts) { set.softmaxRows(matrix, rows: $0, columns: columns, scale: scale) }
    }

    // MARK: GELU

    public func geluForward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int) {
        let set = self.set
        let parts = count < parallelThreshold / 4 ? 1 : pool.size
        runSplit(count, parts: parts, alignment: vectorWidth) { set.geluForward(output: output, input: input, range: $0) }
    }

    /// dInput = dOutput * gelu'(input).
    public func geluBackward(
        dInput: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, dOutput: UnsafePointer<Float>, count: Int
    ) {
        let set = self.set
        let parts = count < parallelThreshold / 4 ? 1 : pool.size
        runSplit(count, parts: parts, alignment: vectorWidth) {
            set.geluBackward(dInput: dInput, input: input, dOutput: dOutput, range: $0)
        }
    }

    // MARK: Attention

    /// Causal self-attention over a batch of unpadded sequences laid out one after the
    /// other: `qkv` is [total, 3C] and `output` [total, C]. For each sequence only the
    /// query rows from `firstQuery` on are computed (the classifier needs only the last
    /// in the last layer). `probabilities`, when given, receives each (sequence, head)'s
    /// [T, T] weights at `attentionProbabilityOffsets`, for the backward pass.
    public func attentionForward(
        output: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>? = nil,
        qkv: UnsafePointer<Float>, sequences: [AttentionSequence], channels: Int, heads: Int
    ) {
        let set = self.set
        let longest = sequences.map(\.tokens).max() ?? 0
        let headSize = channels / heads
        // The blocked kernel wins once there are several queries to share each key tile.
        let blocked = probabilities == nil && headSize % vectorWidth == 0
        let scratchSize = max(attentionBlockedScratchSize(tokens: longest, headSize: headSize), GemmProblem.packedBPanelSize)
        let scratch = threadScratch.indices.map { threadScratch[$0].reserve(scratchSize) }
        let offsets = probabilities == nil ? [] : Self.attentionProbabilityOffsets(sequences: sequences, heads: heads)
        let items = sequences.count * heads
        let body: (Int, Int) -> Void = { item, thread in
            let sequence = sequences[item / heads], head = item % heads
            let shape = AttentionShape(tokens: sequence.tokens, channels: channels, heads: heads)
            if blocked && sequence.tokens - sequence.firstQuery >= 4 {
                set.attentionForwardBlocked(
                    output: output + sequence.start * channels, scratch: scratch[thread],
                    qkv: qkv + sequence.start * 3 * channels, shape: shape, head: head,
                    queries: sequence.firstQuery..<sequence.tokens)
                return
            }
            set.attentionForward(
                output: output + sequence.start * channels,
                probabilities: probabilities.map { $0 + offsets[item] },
                scratch: scratch[thread], qkv: qkv + sequence.start * 3 * channels, shape: shape, head: head,
                queries: sequence.firstQuery..<sequence.tokens)
        }
        let work = sequences.reduce(0) { $0 + ($1.tokens - $1.firstQuery) * $1.tokens } * channels
        forEachItem(items, parallel: work >= parallelThreshold / 4, body)
    }

    /// Adds the gradients of all heads of all sequences to dQKV ([total, 3C]), through the
    /// query rows the forward pass computed (from each sequence's `firstQuery`).
    public func attentionBackward(
        dQKV: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
        probabilities: UnsafePointer<Float>, sequences: [AttentionSequence], channels: Int, heads: Int
    ) {
        let set = self.set
        let longest = sequences.map(\.tokens).max() ?? 0
        let scratch = threadScratch.indices.map { threadScratch[$0].reserve(max(longest, GemmProblem.packedBPanelSize)) }
        let offsets = Self.attentionProbabilityOffsets(sequences: sequences, heads: heads)
        let work = sequences.reduce(0) { $0 + ($1.tokens - $1.firstQuery) * $1.tokens } * channels
        forEachItem(sequences.count * heads, parallel: work >= parallelThreshold / 4) { item, thread in
            let sequence = sequences[item / heads], head = item % heads
            let shape = AttentionShape(tokens: sequence.tokens, channels: channels, heads: heads)
            set.attentionBackward(
                dQKV: dQKV + sequence.start * 3 * channels, scratch: scratch[thread],
                dOutput: dOutput + sequence.start * channels, qkv: qkv + sequence.start * 3 * channels,
                probabilities: probabilities + offsets[item], shape: shape, head: head,
                queries: sequence.firstQuery..<sequence.tokens)
        }
    }

    /// Where each (sequence, head)'s [T, T] attention weights start, in sequence-major
    /// order; the last element is the total size.
    public static func attentionProbabilityOffsets(sequences: [AttentionSequence], heads: Int) -> [Int] {
        var offsets: [Int] = []
        offsets.reserveCapacity(sequences.count * heads + 1)
        var offset = 0
        for sequence in sequences {
            for _ in 0..<heads {
                offsets.append(offset)
                offset += sequence.tokens * sequence.tokens
            }
        }
        offsets.append(offset)
        return offsets
    }

    // MARK: Reductions and element-wise helpers (memory-bound; plain loops suffice)

    /// sums[j] += Σ_i matrix[i, j] over `rows` rows: the gradient of a bias.
    public func addColumnSums(of matrix: UnsafePointer<Float>, rows: Int, columns: Int, into sums: UnsafeMutablePointer<Float>) {
        for i in 0..<rows {
            let row = matrix + i * columns
            for j in 0..<columns { sums[j] += row[j] }
        }
    }

    // MARK: Helpers

    func runSplit(_ count: Int, parts: Int, alignment: Int = 1, _ work: (Range<Int>) -> Void) {
        if parts <= 1 {
            work(0..<count)
            return
        }
        let blocks = (count + alignment - 1) / alignment
        pool.run { t in
            let share = ThreadPool.share(of: blocks, part: t, parts: parts)
            let range = min(count, share.lowerBound * alignment)..<min(count, share.upperBound * alignment)
            if !range.isEmpty { work(range) }
        }
    }

    /// Calls `work(item, threadIndex)` for every item, dynamically shared when `parallel`.
    private func forEachItem(_ count: Int, parallel: Bool, _ work: (Int, Int) -> Void) {
        if !parallel || pool.size == 1 {
            for item in 0..<count { work(item, 0) }
            return
        }
        let next = Counter()
        pool.run { t in
            while true {
                let item = next.take()
                if item >= count { break }
                work(item, t)
            }
        }
    }
}

/// One sequence in a batch laid out row after row: its rows are start..<start+tokens.
public struct AttentionSequence: Sendable, Equatable {
    public var start: Int
    public var tokens: Int
    public var firstQuery: Int
    public init(start: Int, tokens: Int, firstQuery: Int = 0) {
        self.start = start
        self.tokens = tokens
        self.firstQuery = firstQuery
    }
}

/// A growable, never-shrinking float buffer reused across calls.
final class ScratchBuffer {
    private var storage: UnsafeMutablePointer<Float>?
    private var capacity = 0

    deinit { storage?.deallocate() }

    func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity || storage == nil {
            storage?.deallocate()
            capacity = max(count, 1)
            storage = .allocate(capacity: capacity)
        }
        return storage!
    }
}

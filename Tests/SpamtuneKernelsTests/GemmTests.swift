import SpamtuneKernels
import SpamtuneTestSupport
import Testing

/// One instruction level on one thread count: every matmul test runs on each.
struct KernelConfiguration: Sendable, CustomTestStringConvertible {
    var instructionSet: InstructionSet
    var threads: Int
    var testDescription: String { "\(instructionSet) x\(threads)" }

    /// Every level this machine runs, on one thread and on two.
    static let all: [KernelConfiguration] = InstructionSet.supported.flatMap { level in
        [1, 2].map { KernelConfiguration(instructionSet: level, threads: $0) }
    }

    func makeKernels() -> Kernels { Kernels(threads: threads, instructionSet: instructionSet) }
}

/// Uniform floats in -1...1, made once: test inputs are slices of it at seeded offsets,
/// since generating millions of floats per case dominates a debug test run.
let randomFloats: [Float] = {
    var generator = SeededGenerator(seed: 2024)
    var values = [Float](repeating: 0, count: 1 << 23)
    values.withUnsafeMutableBufferPointer { values in
        for i in 0..<values.count {
            values[i] = Float(generator.next() >> 40) * 0x1p-23 - 1
        }
    }
    return values
}()

/// One matmul call: C[m x n] = op(A) op(B) (+ bias) (+ C), with stored operands of the
/// given strides (at least the stored row width).
struct GemmCase: CustomStringConvertible {
    var m: Int, n: Int, k: Int
    var transposeA = false, transposeB = false
    var lda: Int, ldb: Int, ldc: Int
    var bias = false, accumulate = false

    init(
        m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false, padding: (Int, Int, Int) = (0, 0, 0),
        bias: Bool = false, accumulate: Bool = false
    ) {
        self.m = m; self.n = n; self.k = k
        self.transposeA = transposeA; self.transposeB = transposeB
        lda = (transposeA ? m : k) + padding.0
        ldb = (transposeB ? k : n) + padding.1
        ldc = n + padding.2
        self.bias = bias; self.accumulate = accumulate
    }

    var description: String {
        "m=\(m) n=\(n) k=\(k)\(transposeA ? " Aᵀ" : "")\(transposeB ? " Bᵀ" : "") lda=\(lda) ldb=\(ldb) ldc=\(ldc)"
            + "\(bias ? " bias" : "")\(accumulate ? " accumulate" : "")"
    }

    /// Stored sizes: A is [m, lda] or, transposed, [k, lda]; likewise B.
    var storedA: Int { (transposeA ? k : m) * lda }
    var storedB: Int { (transposeB ? n : k) * ldb }
    var storedC: Int { m * ldc }
}

/// Runs the case on `kernels` and compares with a double-precision reference: entry
/// (i, j) may differ by 1e-4 of sum_p |a_ip b_pj| (float32 rounding over k terms grows
/// like sqrt(k) * 6e-8 of that sum; a lost or doubled term costs far more), plus a
/// little for the bias and the accumulated C. `sampled` checks a grid of rows and
/// columns that includes every block edge instead of all entries, for large shapes.
func checkMatmul(_ kernels: Kernels, _ shape: GemmCase, seed: UInt64, sampled: Bool = false) {
    var generator = SeededGenerator(seed: seed)
    func random(_ count: Int) -> [Float] {
        let start = Int.random(in: 0...(randomFloats.count - count), using: &generator)
        return Array(randomFloats[start..<start + count])
    }
    let a = random(shape.storedA), b = random(shape.storedB), bias = random(shape.n)
    let initial = random(shape.storedC)
    var c = initial
    a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            bias.withUnsafeBufferPointer { bias in
                c.withUnsafeMutableBufferPointer { c in
                    kernels.matmul(
                        m: shape.m, n: shape.n, k: shape.k, a: a.baseAddress!, lda: shape.lda,
                        transposeA: shape.transposeA, b: b.baseAddress!, ldb: shape.ldb, transposeB: shape.transposeB,
                        c: c.baseAddress!, ldc: shape.ldc, bias: shape.bias ? bias.baseAddress! : nil,
                        accumulate: shape.accumulate)
                }
            }
        }
    }
    func indicesToCheck(_ count: Int, block: Int) -> [Int] {
        if !sampled || count <= 40 { return Array(0..<count) }
        var indices = Set([0, 1, count - 2, count - 1])
        for edge in stride(from: block, to: count, by: block) { indices.formUnion([edge - 1, edge]) }
        for _ in 0..<8 { indices.insert(Int.random(in: 0..<count, using: &generator)) }
        return indices.sorted()
    }
    let rows = indicesToCheck(shape.m, block: 144), columns = indicesToCheck(shape.n, block: 64)
    var failures = 0
    a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            // Element (i, p) of op(A) is at i * rowStrideA + p * depthStrideA; likewise B.
            let (rowStrideA, depthStrideA) = shape.transposeA ? (1, shape.lda) : (shape.lda, 1)
            let (depthStrideB, columnStrideB) = shape.transposeB ? (1, shape.ldb) : (shape.ldb, 1)
            for i in rows {
                for j in columns {
                    var sum = 0.0, magnitude = 0.0
                    var x = i * rowStrideA, y = j * columnStrideB
                    for _ in 0..<shape.k {
                        let product = Double(a[x]) * Double(b[y])
                        sum += product
                        magnitude += abs(product)
                        x += depthStrideA
                        y += depthStrideB
                    }
                    if shape.bias { sum += Double(bias[j]) }
                    if shape.accumulate { sum += Double(initial[i * shape.ldc + j]) }
                    let tolerance = 1e-4 * magnitude + 1e-6 * (1 + abs(sum))
                    let got = Double(c[i * shape.ldc + j])
                    if !(abs(got - sum) <= tolerance) {
                        failures += 1
                        if failures <= 3 {
                            Issue.record(
                                "\(shape) on \(kernels.instructionSet) x\(kernels.threads): C[\(i), \(j)] = \(got), expected \(sum)")
                        }
                    }
                }
            }
        }
    }
    #expect(failures == 0, "\(failures) wrong entries for \(shape)")
    // Padding between rows of C belongs to the caller and must be left alone.
    if shape.ldc > shape.n {
        var touched = 0
        for i in 0..<shape.m {
            for j in shape.n..<shape.ldc where c[i * shape.ldc + j] != initial[i * shape.ldc + j] { touched += 1 }
        }
        #expect(touched == 0, "\(shape) wrote \(touched) floats of C's row padding")
    }
}

@Suite struct GemmTests {
    static let layers = [(k: 768, n: 2304), (k: 768, n: 768), (k: 768, n: 3072), (k: 3072, n: 768)]

    /// GPT-2's linear layers: forward y = x W + b, weight gradient dW += xᵀ dy, input
    /// gradient dx = dy Wᵀ.
    @Test(arguments: KernelConfiguration.all)
    func gpt2LinearLayers(_ configuration: KernelConfiguration) {
        let kernels = configuration.makeKernels()
        var seed: UInt64 = 1
        for tokens in [1, 23, 128] {
            for layer in Self.layers {
                seed += 1
                checkMatmul(kernels, GemmCase(m: tokens, n: layer.n, k: layer.k, bias: true), seed: seed, sampled: true)
                checkMatmul(
                    kernels, GemmCase(m: layer.k, n: layer.n, k: tokens, transposeA: true, accumulate: true), seed: seed,
                    sampled: true)
                checkMatmul(kernels, GemmCase(m: tokens, n: layer.k, k: layer.n, transposeB: true), seed: seed, sampled: true)
            }
        }
    }

    /// A long message: several row blocks, split over threads by rows.
    @Test(arguments: KernelConfiguration.all)
    func manyTokens(_ configuration: KernelConfiguration) {
        let kernels = configuration.makeKernels()
        checkMatmul(kernels, GemmCase(m: 1024, n: 768, k: 768, bias: true), seed: 7, sampled: true)
        checkMatmul(kernels, GemmCase(m: 1000, n: 768, k: 300, transposeB: true), seed: 8, sampled: true)
        checkMatmul(kernels, GemmCase(m: 3072, n: 768, k: 130, transposeA: true, accumulate: true), seed: 9, sampled: true)
    }

    /// Random shapes in 1...300 with every combination of layout, stride padding,
    /// bias and accumulation; the first 16 checked entry by entry, the others on the
    /// sampled grid (edges and random rows and columns).
    @Test(arguments: KernelConfiguration.all)
    func randomShapes(_ configuration: KernelConfiguration) {
        let kernels = configuration.makeKernels()
        var generator = SeededGenerator(seed: 42)
        for index in 0..<48 {
            let shape = GemmCase(
                m: Int.random(in: 1...300, using: &generator), n: Int.random(in: 1...300, using: &generator),
                k: Int.random(in: 1...300, using: &generator), transposeA: index & 1 != 0, transposeB: index & 2 != 0,
                padding: index & 4 != 0 ? (Int.random(in: 1...9, using: &generator), 3, 5) : (0, 0, 0),
                bias: index & 8 != 0, accumulate: index & 16 != 0)
            checkMatmul(kernels, shape, seed: UInt64(index + 100), sampled: index >= 16)
        }
    }

    /// Sizes at the edges of the blocking: one row, column or step of K, just below and
    /// above the micro-tile (6 x 64), the row and column blocks (144, 256) and the K
    /// block (at most 768, in equal parts).
    @Test(arguments: KernelConfiguration.all)
    func blockEdges(_ configuration: KernelConfiguration) {
        let kernels = configuration.makeKernels()
        var seed: UInt64 = 500
        for (m, n, k) in [
            (1, 1, 1), (1, 64, 1), (6, 64, 1), (7, 65, 769), (5, 63, 767), (144, 128, 256), (145, 257, 40),
            (150, 70, 1537), (288, 192, 17), (289, 1, 3), (1, 700, 300), (12, 2, 768),
        ] {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    seed += 1
                    checkMatmul(
                        kernels, GemmCase(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, bias: true),
                        seed: seed)
                }
            }
        }
    }

    /// The classifier head: two classes from the last token's 768 features.
    @Test(arguments: KernelConfiguration.all)
    func classificationHead(_ configuration: KernelConfiguration) {
        let kernels = configuration.makeKernels()
        checkMatmul(kernels, GemmCase(m: 1, n: 2, k: 768, bias: true), seed: 11)
        checkMatmul(kernels, GemmCase(m: 23, n: 2, k: 768, bias: true), seed: 12)
        checkMatmul(kernels, GemmCase(m: 2, n: 768, k: 23, transposeA: true, accumulate: true), seed: 13)
        checkMatmul(kernels, GemmCase(m: 23, n: 768, k: 2, transposeB: true), seed: 14)
    }

    /// Attention reads Q, K and V in place from the [T, 3C] qkv rows: scores = Q Kᵀ with
    /// both at stride 3C, and output = P V with V at stride 3C into a stride-C output.
    @Test(arguments: KernelConfiguration.all)
    func attentionStrides(_ configuration: KernelConfiguration) {
        let kernels = configuration.makeKernels()
        let channels = 768, headSize = 64, head = 3
        for tokens in [1, 23, 128] {
            let qkv = (0..<tokens * 3 * channels).map { Float(($0 * 7919) % 2003) / 1001.5 - 1 }
            var scores = [Float](repeating: 0, count: tokens * tokens)
            var output = [Float](repeating: 9, count: tokens * channels)
            qkv.withUnsafeBufferPointer { qkv in
                let q = qkv.baseAddress! + head * headSize, key = q + channels, value = q + 2 * channels
                scores.withUnsafeMutableBufferPointer { scores in
                    kernels.matmul(
                        m: tokens, n: tokens, k: headSize, a: q, lda: 3 * channels, b: key, ldb: 3 * channels,
                        transposeB: true, c: scores.baseAddress!, ldc: tokens)
                }
                var wrongScores = 0
                for i in 0..<tokens {
                    for j in 0..<tokens {
                        var sum: Float = 0
                        for p in 0..<headSize { sum += q[i * 3 * channels + p] * key[j * 3 * channels + p] }
                        if !(abs(scores[i * tokens + j] - sum) <= 1e-4 * Float(headSize)) { wrongScores += 1 }
                    }
                }
                #expect(wrongScores == 0, "\(wrongScores) wrong attention scores at \(tokens) tokens")
                output.withUnsafeMutableBufferPointer { output in
                    scores.withUnsafeBufferPointer { scores in
                        kernels.matmul(
                            m: tokens, n: headSize, k: tokens, a: scores.baseAddress!, lda: tokens, b: value,
                            ldb: 3 * channels, c: output.baseAddress! + head * headSize, ldc: channels)
                    }
                }
                var wrongOutputs = 0, outsideWrites = 0
                for i in 0..<tokens {
                    for j in 0..<channels {
                        let got = output[i * channels + j]
                        if j / headSize != head {
                            if got != 9 { outsideWrites += 1 }
                            continue
                        }
                        var sum: Float = 0, magnitude: Float = 0
                        for p in 0..<tokens {
                            sum += scores[i * tokens + p] * value[p * 3 * channels + j - head * headSize]
                            magnitude += abs(scores[i * tokens + p])
                        }
                        if !(abs(got - sum) <= 1e-5 * magnitude + 1e-5) { wrongOutputs += 1 }
                    }
                }
                #expect(wrongOutputs == 0, "\(wrongOutputs) wrong attention outputs at \(tokens) tokens")
                #expect(outsideWrites == 0, "\(outsideWrites) output columns outside the head were written")
            }
        }
    }

    /// k = 0: C becomes the bias (or keeps its value when accumulating).
    @Test(arguments: KernelConfiguration.all)
    func emptyInnerDimension(_ configuration: KernelConfiguration) {
        let kernels = configuration.makeKernels()
        checkMatmul(kernels, GemmCase(m: 5, n: 70, k: 0, bias: true), seed: 21)
        checkMatmul(kernels, GemmCase(m: 5, n: 70, k: 0, padding: (0, 0, 3), bias: true, accumulate: true), seed: 22)
    }
}

import Foundation
import SpamtuneKernelCore
import SpamtuneKernels
import SpamtuneTestSupport
import Testing

/// One int8 or BF16 matmul: C[m x n] = A[m x k] · W[k x n] (+ bias) (+ C).
struct QuantizedCase: CustomStringConvertible, Sendable {
    var m: Int, k: Int, n: Int
    var lda: Int, ldb: Int, ldc: Int
    var bias = false, accumulate = false

    init(m: Int, k: Int, n: Int, padding: (Int, Int, Int) = (0, 0, 0), bias: Bool = false, accumulate: Bool = false) {
        self.m = m; self.k = k; self.n = n
        lda = k + padding.0; ldb = n + padding.1; ldc = n + padding.2
        self.bias = bias; self.accumulate = accumulate
    }

    var description: String {
        "m=\(m) k=\(k) n=\(n) lda=\(lda) ldb=\(ldb) ldc=\(ldc)\(bias ? " bias" : "")\(accumulate ? " accumulate" : "")"
    }

    /// Ragged everywhere: rows not a multiple of the 6-row tile nor of the 96-row block,
    /// columns not a multiple of 16 or 64, K not a multiple of 4 (int8 groups) or 2 (BF16
    /// pairs); 200 rows are split by rows between two threads, fewer by columns.
    static let all: [QuantizedCase] = [
        QuantizedCase(m: 1, k: 1, n: 1),
        QuantizedCase(m: 5, k: 3, n: 17, bias: true),
        QuantizedCase(m: 7, k: 13, n: 65, padding: (3, 5, 7), accumulate: true),
        QuantizedCase(m: 16, k: 768, n: 130, bias: true),
        QuantizedCase(m: 97, k: 70, n: 200, padding: (1, 0, 2), bias: true, accumulate: true),
        QuantizedCase(m: 200, k: 768, n: 70, bias: true),
        QuantizedCase(m: 40, k: 3072, n: 96),
    ]
}

/// The operands of one case: uniform values in -1...1, with rows of A and columns of W
/// scaled over three orders of magnitude (as a layer's activations and weights are), one
/// row of A and one column of W all zero, and one outlier per row of A (the channels of
/// GPT-2's activations that dwarf the others).
struct QuantizedOperands {
    var a: [Float], w: [Float], bias: [Float], initial: [Float]

    init(_ shape: QuantizedCase, seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        func random(_ count: Int) -> [Float] {
            let start = Int.random(in: 0...(randomFloats.count - count), using: &generator)
            return Array(randomFloats[start..<start + count])
        }
        a = random(shape.m * shape.lda)
        w = random(shape.k * shape.ldb)
        bias = random(shape.n)
        initial = random(shape.m * shape.ldc)
        for i in 0..<shape.m {
            let factor = Float(pow(10, Double(i % 4) - 2))
            for p in 0..<shape.k { a[i * shape.lda + p] *= i == shape.m / 2 && shape.m > 1 ? 0 : factor }
            a[i * shape.lda + (i * 7) % shape.k] *= 20
        }
        for j in 0..<shape.n {
            let factor = Float(pow(10, Double(j % 3) - 1))
            for p in 0..<shape.k { w[p * shape.ldb + j] *= j == shape.n - 1 && shape.n > 1 ? 0 : factor }
        }
    }
}

/// γ(n) = n u / (1 − n u) for FP32's unit roundoff u = 2⁻²⁴: the relative error bound of
/// a sum of n terms rounded one by one (Higham, Accuracy and Stability, 3.1).
func gamma(_ terms: Int) -> Double {
    let nu = Double(terms) * 0x1p-24
    return nu / (1 - nu)
}

@Suite struct QuantizedGemmTests {
    static let configurations = KernelConfiguration.all

    /// Runs the case on every level and thread count, returning C per configuration.
    static func run(
        _ shape: QuantizedCase, _ operands: QuantizedOperands,
        _ multiply: (Kernels, UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafePointer<Float>?) -> Void
    ) -> [(KernelConfiguration, [Float])] {
        configurations.map { configuration in
            var c = operands.initial
            operands.a.withUnsafeBufferPointer { a in
                operands.bias.withUnsafeBufferPointer { bias in
                    c.withUnsafeMutableBufferPointer { c in
                        multiply(configuration.makeKernels(), a.baseAddress!, c.baseAddress!, shape.bias ? bias.baseAddress! : nil)
                    }
                }
            }
            return (configuration, c)
        }
    }

    /// Compares every configuration's C with `expected(i, j)` = (value, tolerance), and
    /// checks that row padding of C is untouched.
    static func check(
        _ label: String, _ shape: QuantizedCase, _ operands: QuantizedOperands, _ results: [(KernelConfiguration, [Float])],
        expected: (Int, Int) -> (value: Double, tolerance: Double)
    ) {
        var references: [(Double, Double)] = []
        references.reserveCapacity(shape.m * shape.n)
        for i in 0..<shape.m {
            for j in 0..<shape.n { references.append(expected(i, j)) }
        }
        for (configuration, c) in results {
            var failures = 0
            for i in 0..<shape.m {
                for j in 0..<shape.n {
                    let (value, tolerance) = references[i * shape.n + j]
                    let got = Double(c[i * shape.ldc + j])
                    if !(abs(got - value) <= tolerance) {
                        failures += 1
                        if failures <= 3 {
                            Issue.record(
                                "\(label) \(shape) on \(configuration.testDescription): C[\(i), \(j)] = \(got), expected \(value) ± \(tolerance)")
                        }
                    }
                }
                for j in shape.n..<shape.ldc where c[i * shape.ldc + j] != operands.initial[i * shape.ldc + j] {
                    failures += 1
                    Issue.record("\(label) \(shape) on \(configuration.testDescription): wrote C's row padding at [\(i), \(j)]")
                }
            }
            #expect(failures == 0, "\(label) \(shape) on \(configuration.testDescription): \(failures) wrong entries")
        }
    }

    /// int8 against the FP32 product, within the bound the quantization allows; against
    /// the exact product of the quantized values, within a few float roundings; and the
    /// same bits on every level and thread count (the int32 sums are exact).
    @Test(arguments: QuantizedCase.all)
    func int8(_ shape: QuantizedCase) {
        let operands = QuantizedOperands(shape, seed: UInt64(shape.m * 1_000_003 + shape.k * 1009 + shape.n))
        let weights = operands.w.withUnsafeBufferPointer { Int8Weights(weights: $0.baseAddress!, k: shape.k, n: shape.n, ldb: shape.ldb) }
        let results = Self.run(shape, operands) { kernels, a, c, bias in
            kernels.matmul(m: shape.m, a: a, lda: shape.lda, weights: weights, c: c, ldc: shape.ldc, bias: bias, accumulate: shape.accumulate)
        }
        let a = operands.a, w = operands.w, lda = shape.lda, ldb = shape.ldb
        // A's quantization as documented: scale max|a| / 127, values round(a × 127 / max|a|).
        var rowScale = [Float](repeating: 0, count: shape.m), quantizedA = [Int](repeating: 0, count: shape.m * shape.k)
        var rowLargest = [Double](repeating: 0, count: shape.m)
        for i in 0..<shape.m {
            let largest = (0..<shape.k).map { abs(a[i * lda + $0]) }.max()!
            rowScale[i] = largest / 127
            rowLargest[i] = Double(largest)
            let inverse: Float = largest > 0 ? 127 / largest : 0
            for p in 0..<shape.k { quantizedA[i * shape.k + p] = Int(max(-127, min(127, (a[i * lda + p] * inverse).rounded(.toNearestOrEven)))) }
        }
        var columnLargest = [Double](repeating: 0, count: shape.n)
        for j in 0..<shape.n { columnLargest[j] = (0..<shape.k).map { Double(abs(w[$0 * ldb + j])) }.max()! }
        func extras(_ i: Int, _ j: Int) -> (Double, Double) {
            let bias = shape.bias ? Double(operands.bias[j]) : 0
            let initial = shape.accumulate ? Double(operands.initial[i * shape.ldc + j]) : 0
            return (bias + initial, abs(bias) + abs(initial))
        }

        // |a − â| ≤ s_a / 2 and |w − ŵ| ≤ s_w / 2, so |Σ a w − Σ â ŵ| ≤ Σ (|a| s_w + |ŵ| s_a) / 2
        // with |ŵ| ≤ |w| + s_w / 2. The float steps (scaling A, converting and scaling the
        // sum, adding bias and C) are a few roundings of 2⁻²⁴ of the largest terms: 1e-6 of
        // k × max|a| × max|w| and of the added values covers them sixteen times over.
        Self.check("int8 vs fp32", shape, operands, results) { i, j in
            let sw = columnLargest[j] / 127, sa = rowLargest[i] / 127
            var sum = 0.0, bound = 0.0
            for p in 0..<shape.k {
                let x = Double(a[i * lda + p]), y = Double(w[p * ldb + j])
                sum += x * y
                bound += (abs(x) * sw + (abs(y) + sw / 2) * sa) / 2
            }
            let (added, addedMagnitude) = extras(i, j)
            let slack = 1e-6 * (Double(shape.k) * rowLargest[i] * columnLargest[j] + addedMagnitude)
            return (sum + added, bound + slack)
        }
        // The exact integer sum, scaled: only the float steps differ. A dropped or doubled
        // group of four products moves the sum by far more than this.
        Self.check("int8 vs exact int8", shape, operands, results) { i, j in
            var sum = 0
            for p in 0..<shape.k { sum += quantizedA[i * shape.k + p] * Int(weights.value(row: p, column: j)) }
            let scaled = Double(sum) * Double(rowScale[i]) * Double(weights.scale(column: j))
            let (added, addedMagnitude) = extras(i, j)
            return (scaled + added, 1e-6 * (abs(scaled) + addedMagnitude) + 1e-30)
        }
        Self.expectSameBits("int8", shape, results)
    }

    /// BF16 against the FP32 product, within the bound BF16 rounding allows; against the
    /// exact product of the BF16 values, within FP32 summation error; and the same bits on
    /// every level and thread count.
    @Test(arguments: QuantizedCase.all)
    func bf16(_ shape: QuantizedCase) {
        let operands = QuantizedOperands(shape, seed: UInt64(shape.m * 999_983 + shape.k * 1013 + shape.n))
        let weights = operands.w.withUnsafeBufferPointer { BF16Weights(weights: $0.baseAddress!, k: shape.k, n: shape.n, ldb: shape.ldb) }
        let results = Self.run(shape, operands) { kernels, a, c, bias in
            kernels.matmul(m: shape.m, a: a, lda: shape.lda, weights: weights, c: c, ldc: shape.ldc, bias: bias, accumulate: shape.accumulate)
        }
        let a = operands.a, w = operands.w, lda = shape.lda, ldb = shape.ldb
        // Rounding to BF16 (8 significant bits, to nearest) moves a value by at most
        // u = 2⁻⁸ of it, so |a w − â ŵ| ≤ (2u + u²)|a w|. The FP32 sum of the k exact
        // products, then bias and C, adds at most γ(k + 2) of the magnitudes summed.
        let u = 0x1p-8
        func extras(_ i: Int, _ j: Int) -> (Double, Double) {
            let bias = shape.bias ? Double(operands.bias[j]) : 0
            let initial = shape.accumulate ? Double(operands.initial[i * shape.ldc + j]) : 0
            return (bias + initial, abs(bias) + abs(initial))
        }
        Self.check("bf16 vs fp32", shape, operands, results) { i, j in
            var sum = 0.0, magnitude = 0.0
            for p in 0..<shape.k {
                let product = Double(a[i * lda + p]) * Double(w[p * ldb + j])
                sum += product
                magnitude += abs(product)
            }
            let (added, addedMagnitude) = extras(i, j)
            let bound = (2 * u + u * u) * magnitude + gamma(shape.k + 2) * ((1 + u) * (1 + u) * magnitude + addedMagnitude)
            return (sum + added, bound + 1e-30)
        }
        Self.check("bf16 vs exact bf16", shape, operands, results) { i, j in
            var sum = 0.0, magnitude = 0.0
            for p in 0..<shape.k {
                let product = Double(roundedToBFloat16(a[i * lda + p])) * Double(roundedToBFloat16(w[p * ldb + j]))
                sum += product
                magnitude += abs(product)
            }
            let (added, addedMagnitude) = extras(i, j)
            return (sum + added, gamma(shape.k + 2) * (magnitude + addedMagnitude) + 1e-30)
        }
        Self.expectSameBits("bf16", shape, results)
    }

    /// Every level and thread count gives the first configuration's bits: the portable
    /// paths compute the fast path's arithmetic, not an approximation of it.
    static func expectSameBits(_ label: String, _ shape: QuantizedCase, _ results: [(KernelConfiguration, [Float])]) {
        guard let (first, reference) = results.first else { return }
        for (configuration, c) in results.dropFirst() {
            let differing = zip(reference, c).filter { $0.0.bitPattern != $0.1.bitPattern }.count
            #expect(
                differing == 0,
                "\(label) \(shape): \(configuration.testDescription) differs from \(first.testDescription) in \(differing) entries")
        }
    }

    @Test func bfloat16RoundsToNearestEven() {
        #expect(roundedToBFloat16(1) == 1)
        // 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷: to the even one, 1.
        #expect(roundedToBFloat16(1 + 0x1p-8) == 1)
        #expect(roundedToBFloat16(1 + 0x1p-8 + 0x1p-20) == 1 + 0x1p-7)
        // 1 + 3 × 2⁻⁸ is halfway between 1 + 2⁻⁷ and 1 + 2⁻⁶: to the even one, 1 + 2⁻⁶.
        #expect(roundedToBFloat16(1 + 3 * 0x1p-8) == 1 + 0x1p-6)
        #expect(roundedToBFloat16(-2.5) == -2.5)
        #expect(roundedToBFloat16(.infinity) == .infinity)
        #expect(roundedToBFloat16(.nan).isNaN)
    }

    /// SPAMTUNE_ISA selects the level of a real process: spamtune-bench reports the level
    /// its kernels ran on, for each level this machine supports.
    @Test func instructionSetVariableForcesTheLevel() throws {
        let bench = ProjectPaths.builtProduct("spamtune-bench")
        try #require(FileManager.default.isExecutableFile(atPath: bench.path), "spamtune-bench is not built at \(bench.path)")
        for level in InstructionSet.supported {
            var environment = ProcessInfo.processInfo.environment
            environment["SPAMTUNE_ISA"] = level.rawValue
            let result = try runProcess(
                bench, ["gemm", "--threads", "1", "--tokens", "6", "--precision", "int8", "--seconds", "0.001"],
                environment: environment)
            #expect(result.status == 0, "\(result.standardError)")
            let levels = Set(result.standardOutput.split(separator: "\n").compactMap { line in
                line.split(separator: " ").first { $0.hasPrefix("isa=") }.map { String($0.dropFirst(4)) }
            })
            #expect(levels == [level.rawValue], "SPAMTUNE_ISA=\(level.rawValue) ran on \(levels)")
        }
    }
}

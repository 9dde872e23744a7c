import Foundation
import SpamtuneKernels
import SpamtuneSupport

/// The matrix multiplies of GPT-2 124M's linear layers, timed on `Kernels.matmul`.
///
/// One line per case, in the format `bench/gemm.sh` reads and the OpenBLAS program
/// (bench/openblas_sgemm.c) prints too:
///     gemm op=nn precision=int8 tokens=128 k=768 n=2304 threads=1 isa=avx512vnni gops=187.3 median=180.2
/// `k` and `n` are the layer's input and output widths. `op` is the pass:
///   nn  forward        y[T, n]   = x[T, k] · W[k, n]
///   tn  weight grad    dW[k, n]  = xᵀ · dy       (m = k, inner dimension = T)
///   nt  input grad     dx[T, k]  = dy[T, n] · Wᵀ (inner dimension = n)
/// `precision` is the weights' (fp32, or for the forward pass bf16 or int8, converted
/// before timing; the per-call conversion of x is timed). The precisions of a case run
/// one after the other, so that their ratios see the same load on the machine.
/// `gops` (2 × T × k × n operations per call, in billions per second) is from the
/// fastest batch of calls (the least disturbed by other work on the machine), `median`
/// from the median batch. With `--clock cpu` time is the
/// process's CPU time divided by the thread count: it leaves out the time the threads
/// were not running, which makes A/B comparisons on a busy machine steadier.
struct GemmBenchmark {
    enum Pass: String, CaseIterable {
        case nn, tn, nt
    }

    enum Precision: String, CaseIterable {
        case fp32, bf16, int8
    }

    static let layers: [(k: Int, n: Int)] = [(768, 2304), (768, 768), (768, 3072), (3072, 768)]

    var threads = [1, 2]
    var tokens = [23, 128, 1024]
    var instructionSets = [InstructionSet.preferred]
    var passes: [Pass] = [.nn]
    var precisions = Precision.allCases
    var seconds = 0.6
    var clock = CLOCK_MONOTONIC

    init(_ parsed: ParsedArguments) throws {
        func items(_ option: String) -> [String]? { parsed.value(option).map { $0.split(separator: ",").map(String.init) } }
        if let values = items("threads") { threads = try values.map { try Self.positive($0, "threads") } }
        if let values = items("tokens") { tokens = try values.map { try Self.positive($0, "tokens") } }
        if let values = items("isa") {
            instructionSets = try values.map { name in
                guard let level = InstructionSet(rawValue: name) else { throw Self.badValue("isa", name, among: InstructionSet.allCases.map(\.rawValue)) }
                guard InstructionSet.supported.contains(level) else { throw ArgumentError.conflicting("--isa: this CPU cannot run the \(name) kernels") }
                return level
            }
        }
        if let values = items("ops") {
            passes = try values.map { name in
                guard let pass = Pass(rawValue: name) else { throw Self.badValue("ops", name, among: Pass.allCases.map(\.rawValue)) }
                return pass
            }
        }
        if let values = items("precision") {
            precisions = try values.map { name in
                guard let precision = Precision(rawValue: name) else {
                    throw Self.badValue("precision", name, among: Precision.allCases.map(\.rawValue))
                }
                return precision
            }
        }
        switch parsed.value("clock") {
        case nil, "wall": clock = CLOCK_MONOTONIC
        case "cpu": clock = CLOCK_PROCESS_CPUTIME_ID
        case let other?: throw Self.badValue("clock", other, among: ["wall", "cpu"])
        }
        seconds = try positiveSeconds(parsed, default: seconds)
    }

    private static func badValue(_ option: String, _ value: String, among choices: [String]) -> ArgumentError {
        let nearest = Suggestion.nearest(to: value, among: choices).map { " (did you mean \($0)?)" } ?? ""
        return .conflicting("--\(option) takes \(choices.joined(separator: ", ")), not '\(value)'\(nearest)")
    }

    private static func positive(_ text: String, _ option: String) throws -> Int {
        guard let value = Int(text), value > 0 else { throw ArgumentError.conflicting("--\(option) takes positive numbers, not '\(text)'") }
        return value
    }

    func run() {
        for level in instructionSets {
            for threadCount in threads {
                let kernels = Kernels(threads: threadCount, instructionSet: level)
                for pass in passes {
                    for tokenCount in tokens {
                        for layer in Self.layers {
                            // Only the forward pass has weights to convert: the others are training's, in FP32.
                            for precision in pass == .nn ? precisions : [.fp32] {
                                let (best, median) = measure(
                                    kernels, pass: pass, precision: precision, tokens: tokenCount, k: layer.k, n: layer.n)
                                print(
                                    "gemm op=\(pass) precision=\(precision) tokens=\(tokenCount) k=\(layer.k) n=\(layer.n)"
                                        + " threads=\(threadCount) isa=\(level) gops=\(Self.format(best)) median=\(Self.format(median))")
                                fflush(stdout)
                            }
                        }
                    }
                }
            }
        }
    }

    private static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    /// GOP/s of the fastest and the median batch.
    private func measure(_ kernels: Kernels, pass: Pass, precision: Precision, tokens: Int, k: Int, n: Int) -> (Double, Double) {
        // Sizes of the stored operands: x [T, k], W [k, n], dy [T, n], and the result.
        let x = Self.randomMatrix(tokens * k), w = Self.randomMatrix(k * n), dy = Self.randomMatrix(tokens * n)
        let result = UnsafeMutablePointer<Float>.allocate(capacity: max(tokens, k) * max(n, k))
        defer {
            x.deallocate(); w.deallocate(); dy.deallocate(); result.deallocate()
        }
        let call: () -> Void
        switch (pass, precision) {
        case (.nn, .int8):
            let weights = Int8Weights(weights: w, k: k, n: n, ldb: n)
            call = { kernels.matmul(m: tokens, a: x, lda: k, weights: weights, c: result, ldc: n) }
        case (.nn, .bf16):
            let weights = BF16Weights(weights: w, k: k, n: n, ldb: n)
            call = { kernels.matmul(m: tokens, a: x, lda: k, weights: weights, c: result, ldc: n) }
        case (.nn, .fp32):
            call = { kernels.matmul(m: tokens, n: n, k: k, a: x, lda: k, b: w, ldb: n, c: result, ldc: n) }
        case (.tn, _):
            call = {
                kernels.matmul(m: k, n: n, k: tokens, a: x, lda: k, transposeA: true, b: dy, ldb: n, c: result, ldc: n)
            }
        case (.nt, _):
            call = {
                kernels.matmul(m: tokens, n: k, k: n, a: dy, lda: n, b: w, ldb: n, transposeB: true, c: result, ldc: k)
            }
        }
        let flops = 2.0 * Double(tokens) * Double(k) * Double(n)
        let clock = self.clock, threads = Double(kernels.threads)
        let now = { Self.now(clock) / (clock == CLOCK_MONOTONIC ? 1 : threads) }
        // Warm up (caches, page faults, thread wake-up), and size batches to ~20 ms.
        var start = now()
        call()
        var calls = 1
        while now() - start < 0.05 {
            call()
            calls += 1
        }
        let perBatch = max(1, Int(0.02 / ((now() - start) / Double(calls))))
        var rates: [Double] = []
        let end = now() + seconds
        repeat {
            start = now()
            for _ in 0..<perBatch { call() }
            rates.append(flops * Double(perBatch) / (now() - start) / 1e9)
        } while now() < end || rates.count < 5
        rates.sort()
        return (rates.last!, rates[rates.count / 2])
    }

    /// Uniform values in -1...1 from SplitMix64: the system generator makes a system
    /// call per number, which took seconds for the larger layers.
    private static func randomMatrix(_ count: Int) -> UnsafeMutablePointer<Float> {
        let matrix = UnsafeMutablePointer<Float>.allocate(capacity: count)
        var state = UInt64.random(in: 0...UInt64.max)
        for i in 0..<count {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            matrix[i] = Float(z >> 40) * 0x1p-23 - 1
        }
        return matrix
    }

    private static func now(_ clock: clockid_t) -> Double {
        var time = timespec()
        clock_gettime(clock, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }
}

/// `spamtune-bench gemm [--threads 1,2] [--tokens 23,128,1024] [--isa avx512vnni,avx512,avx2,baseline]
/// [--ops nn,tn,nt] [--precision fp32,bf16,int8] [--seconds 0.6] [--clock wall|cpu]`
func runGemmBenchmark(_ parsed: ParsedArguments) throws {
    try GemmBenchmark(parsed).run()
}

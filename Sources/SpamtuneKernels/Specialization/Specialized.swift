// This one file is compiled into each ISA module (SpamtuneKernelsAVX512, ...AVX2,
// ...Baseline; symlinked), each with its own -target-cpu: the generic kernels of
// SpamtuneKernelCore are specialised here, so their code is generated for that CPU.
// It must stay a single file: see Package.swift.
import SpamtuneKernelCore

#if SPAMTUNE_VNNI
import _Builtin_intrinsics.intel
#endif

public struct Level: InstructionLevel {
    #if SPAMTUNE_FMA
    @inlinable @inline(__always) public static var fusedMultiplyAdd: Bool { true }
    #else
    @inlinable @inline(__always) public static var fusedMultiplyAdd: Bool { false }
    #endif
    #if SPAMTUNE_AVX512
    @inlinable @inline(__always) public static var vectorRegisterBits: Int { 512 }
    #elseif SPAMTUNE_AVX2
    @inlinable @inline(__always) public static var vectorRegisterBits: Int { 256 }
    #else
    @inlinable @inline(__always) public static var vectorRegisterBits: Int { 128 }
    #endif
    #if SPAMTUNE_VNNI
    @inlinable @inline(__always)
    public static func multiplyAddBytes(_ acc: SIMD16<Int32>, _ unsigned: SIMD16<Int32>, _ signed: SIMD16<Int32>) -> SIMD16<Int32> {
        unsafeBitCast(
            _mm512_dpbusd_epi32(
                unsafeBitCast(acc, to: __m512i.self), unsafeBitCast(unsigned, to: __m512i.self),
                unsafeBitCast(signed, to: __m512i.self)),
            to: SIMD16<Int32>.self)
    }
    #endif
}

public enum SpecializedKernels: KernelSet {
    public static var name: String {
        #if SPAMTUNE_VNNI
        "avx512vnni"
        #elseif SPAMTUNE_AVX512
        "avx512"
        #elseif SPAMTUNE_AVX2
        "avx2"
        #else
        "baseline"
        #endif
    }

    public static func gemmCompute(
        _ problem: GemmProblem, rows: Range<Int>, columns: Range<Int>, scratch: UnsafeMutablePointer<Float>
    ) {
        SpamtuneKernelCore.gemmCompute(Level.self, problem, rows: rows, columns: columns, scratch: scratch)
    }

    public static func int8GemmCompute(_ problem: Int8GemmProblem, rows: Range<Int>, columns: Range<Int>) {
        SpamtuneKernelCore.int8GemmCompute(Level.self, problem, rows: rows, columns: columns)
    }

    public static func bf16GemmCompute(_ problem: BF16GemmProblem, rows: Range<Int>, columns: Range<Int>) {
        SpamtuneKernelCore.bf16GemmCompute(Level.self, problem, rows: rows, columns: columns)
    }

    public static func quantizeRows(
        _ a: UnsafePointer<Float>, lda: Int, k: Int, rows: Range<Int>, groups: Int, into output: UnsafeMutablePointer<UInt8>,
        stride: Int, scales: UnsafeMutablePointer<Float>
    ) {
        SpamtuneKernelCore.quantizeRows(
            Level.self, a, lda: lda, k: k, rows: rows, groups: groups, into: output, stride: stride, scales: scales)
    }

    public static func roundRowsToBFloat16(
        _ a: UnsafePointer<Float>, lda: Int, k: Int, rows: Range<Int>, pairs: Int, into output: UnsafeMutablePointer<Float>,
        stride: Int
    ) {
        SpamtuneKernelCore.roundRowsToBFloat16(Level.self, a, lda: lda, k: k, rows: rows, pairs: pairs, into: output, stride: stride)
    }

    public static func layerNormForward(
        output: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>?,
        reciprocalStd: UnsafeMutablePointer<Float>?, input: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, rows: Range<Int>, columns: Int
    ) {
        SpamtuneKernelCore.layerNormForward(
            Level.self, output: output, mean: mean, reciprocalStd: reciprocalStd, input: input, weight: weight,
            bias: bias, rows: rows, columns: columns)
    }

    public static func layerNormBackward(
        dInput: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
        dOutput: UnsafePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, reciprocalStd: UnsafePointer<Float>, rows: Range<Int>, columns: Int
    ) {
        SpamtuneKernelCore.layerNormBackward(
            Level.self, dInput: dInput, dWeight: dWeight, dBias: dBias, dOutput: dOutput, input: input,
            weight: weight, mean: mean, reciprocalStd: reciprocalStd, rows: rows, columns: columns)
    }

    public static func softmaxRows(_ matrix: UnsafeMutablePointer<Float>, rows: Range<Int>, columns: Int, scale: Float) {
        SpamtuneKernelCore.softmaxRows(Level.self, matrix, rows: rows, columns: columns, scale: scale)
    }

    public static func geluForward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, range: Range<Int>) {
        SpamtuneKernelCore.geluForward(Level.self, output: output, input: input, range: range)
    }

    public static func geluBackward(
        dInput: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, dOutput: UnsafePointer<Float>, range: Range<Int>
    ) {
        SpamtuneKernelCore.geluBackward(Level.self, dInput: dInput, input: input, dOutput: dOutput, range: range)
    }

    public static func attentionForward(
        output: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>?,
        scratch: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>, shape: AttentionShape, head: Int,
        queries: Range<Int>
    ) {
        SpamtuneKernelCore.attentionForward(
            Level.self, output: output, probabilities: probabilities, scratch: scratch, qkv: qkv, shape: shape,
            head: head, queries: queries)
    }

    public static func attentionForwardBlocked(
        output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
        shape: AttentionShape, head: Int, queries: Range<Int>
    ) {
        SpamtuneKernelCore.attentionForwardBlocked(
            Level.self, output: output, scratch: scratch, qkv: qkv, shape: shape, head: head, queries: queries)
    }

    public static func attentionBackward(
        dQKV: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>,
        qkv: UnsafePointer<Float>, probabilities: UnsafePointer<Float>, shape: AttentionShape, head: Int,
        queries: Range<Int>
    ) {
        SpamtuneKernelCore.attentionBackward(
            Level.self, dQKV: dQKV, scratch: scratch, dOutput: dOutput, qkv: qkv, probabilities: probabilities,
            shape: shape, head: head, queries: queries)
    }
}

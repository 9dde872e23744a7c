/// The kernels one instruction level provides. Each ISA module has one conforming type
/// whose methods forward to the generic bodies in this module, specialised there.
public protocol KernelSet {
    static var name: String { get }
    static func gemmCompute(
        _ problem: GemmProblem, rows: Range<Int>, columns: Range<Int>, scratch: UnsafeMutablePointer<Float>)
    static func int8GemmCompute(_ problem: Int8GemmProblem, rows: Range<Int>, columns: Range<Int>)
    static func bf16GemmCompute(_ problem: BF16GemmProblem, rows: Range<Int>, columns: Range<Int>)
    static func quantizeRows(
        _ a: UnsafePointer<Float>, lda: Int, k: Int, rows: Range<Int>, groups: Int, into output: UnsafeMutablePointer<UInt8>,
        stride: Int, scales: UnsafeMutablePointer<Float>)
    static func roundRowsToBFloat16(
        _ a: UnsafePointer<Float>, lda: Int, k: Int, rows: Range<Int>, pairs: Int, into output: UnsafeMutablePointer<Float>,
        stride: Int)
    static func layerNormForward(
        output: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>?,
        reciprocalStd: UnsafeMutablePointer<Float>?, input: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, rows: Range<Int>, columns: Int)
    static func layerNormBackward(
        dInput: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
        dOutput: UnsafePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, reciprocalStd: UnsafePointer<Float>, rows: Range<Int>, columns: Int)
    static func softmaxRows(_ matrix: UnsafeMutablePointer<Float>, rows: Range<Int>, columns: Int, scale: Float)
    static func geluForward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, range: Range<Int>)
    static func geluBackward(
        dInput: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, dOutput: UnsafePointer<Float>, range: Range<Int>)
    static func attentionForward(
        output: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>?,
        scratch: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>, shape: AttentionShape, head: Int,
        queries: Range<Int>)
    static func attentionForwardBlocked(
        output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
        shape: AttentionShape, head: Int, queries: Range<Int>)
    static func attentionBackward(
        dQKV: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>,
        qkv: UnsafePointer<Float>, probabilities: UnsafePointer<Float>, shape: AttentionShape, head: Int,
        queries: Range<Int>)
}

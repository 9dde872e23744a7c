// Causal multi-head self-attention for one sequence and one head, forward and backward.
//
// Layout (GPT-2's c_attn output): qkv is [T, 3C] row-major; head h's query is at column
// h*d, its key at C + h*d, its value at 2C + h*d, with d = C / heads. The output is
// [T, C] with head h at column h*d. Sequences are never padded: the caller passes each
// sequence's own rows, so no position attends to padding.

public struct AttentionShape {
    public var tokens: Int
    public var channels: Int
    public var heads: Int
    @inlinable public var headSize: Int { channels / heads }
    @inlinable public var scale: Float { 1 / Float(headSize).squareRoot() }
    @inlinable public init(tokens: Int, channels: Int, heads: Int) {
        self.tokens = tokens
        self.channels = channels
        self.heads = heads
    }
}

@inlinable @inline(__always)
func dot<L: InstructionLevel>(_ level: L.Type, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
    var i = 0
    var acc = Vector()
    while i + vectorWidth <= count {
        acc = L.multiplyAdd(loadVector(a + i), loadVector(b + i), acc)
        i += vectorWidth
    }
    var total = acc.sum()
    while i < count {
        total += a[i] * b[i]
        i += 1
    }
    return total
}

/// y += alpha * x
@inlinable @inline(__always)
func axpy<L: InstructionLevel>(_ level: L.Type, _ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
    var i = 0
    let a = Vector(repeating: alpha)
    while i + vectorWidth <= count {
        storeVector(L.multiplyAdd(a, loadVector(x + i), loadVector(y + i)), y + i)
        i += vectorWidth
    }
    while i < count {
        y[i] += alpha * x[i]
        i += 1
    }
}

/// Computes the output rows `queries` of one head. `probabilities`, when given, is this
/// head's [T, T] matrix and receives the attention weights (row t: columns 0...t, zero
/// after) for the backward pass; otherwise `scratch` (T floats) holds one row at a time.
@inlinable
public func attentionForward<L: InstructionLevel>(
    _ level: L.Type, output: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>?,
    scratch: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>, shape: AttentionShape, head: Int,
    queries: Range<Int>
) {
    let c = shape.channels, d = shape.headSize, stride = 3 * c, scale = shape.scale
    let qBase = qkv + head * d, kBase = qkv + c + head * d, vBase = qkv + 2 * c + head * d
    for t in queries {
        let row = probabilities.map { $0 + t * shape.tokens } ?? scratch
        let q = qBase + t * stride
        var maximum = -Float.infinity
        for u in 0...t {
            let s = dot(level, q, kBase + u * stride, d) * scale
            row[u] = s
            maximum = max(maximum, s)
        }
        softmaxRow(level, row, count: t + 1, maximum: maximum)
        if probabilities != nil {
            for u in (t + 1)..<shape.tokens { row[u] = 0 }
        }
        let out = output + t * c + head * d
        for j in 0..<d { out[j] = 0 }
        for u in 0...t { axpy(level, row[u], vBase + u * stride, out, d) }
    }
}

/// exp(x - maximum) normalised to sum 1, in place.
@inlinable
public func softmaxRow<L: InstructionLevel>(_ level: L.Type, _ row: UnsafeMutablePointer<Float>, count: Int, maximum: Float) {
    var i = 0
    let m = Vector(repeating: maximum)
    var sums = Vector()
    while i + vectorWidth <= count {
        let e = vectorExp(loadVector(row + i) - m)
        storeVector(e, row + i)
        sums += e
        i += vectorWidth
    }
    var total = sums.sum()
    while i < count {
        let e = expf(row[i] - maximum)
        row[i] = e
        total += e
        i += 1
    }
    let inverse = 1 / total
    i = 0
    let inv = Vector(repeating: inverse)
    while i + vectorWidth <= count {
        storeVector(loadVector(row + i) * inv, row + i)
        i += vectorWidth
    }
    while i < count {
        row[i] *= inverse
        i += 1
    }
}

/// Adds this head's gradients to dQKV ([T, 3C], same layout as qkv), for the output rows
/// `queries` (the rows the forward pass computed; dOutput and probabilities are read only
/// there). `scratch` holds T floats.
@inlinable
public func attentionBackward<L: InstructionLevel>(
    _ level: L.Type, dQKV: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
    dOutput: UnsafePointer<Float>, qkv: UnsafePointer<Float>, probabilities: UnsafePointer<Float>,
    shape: AttentionShape, head: Int, queries: Range<Int>
) {
    let c = shape.channels, d = shape.headSize, stride = 3 * c, scale = shape.scale
    let qBase = qkv + head * d, kBase = qkv + c + head * d, vBase = qkv + 2 * c + head * d
    let dqBase = dQKV + head * d, dkBase = dQKV + c + head * d, dvBase = dQKV + 2 * c + head * d
    let dScores = scratch
    for t in queries {
        let p = probabilities + t * shape.tokens
        let dout = dOutput + t * c + head * d
        var weighted: Float = 0
        for u in 0...t {
            let dp = dot(level, dout, vBase + u * stride, d)
            dScores[u] = dp
            weighted += dp * p[u]
            axpy(level, p[u], dout, dvBase + u * stride, d)
        }
        let dq = dqBase + t * stride
        let q = qBase + t * stride
        for u in 0...t {
            let ds = p[u] * (dScores[u] - weighted) * scale
            axpy(level, ds, kBase + u * stride, dq, d)
            axpy(level, ds, q, dkBase + u * stride, d)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

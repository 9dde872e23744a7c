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

/// The same as `attentionForward`, blocked for head sizes that are a multiple of 16: the
/// keys are transposed once ([d, T] in `scratch`), then tiles of 4 queries x 64 keys
/// are scored with 16 vector accumulators, and the weighted sum of values is done for
/// 4 queries x 64 channels at a time. Probabilities are not kept (inference only).
/// `scratch` holds d*T + 4*T floats.
@inlinable
public func attentionForwardBlocked<L: InstructionLevel>(
    _ level: L.Type, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
    qkv: UnsafePointer<Float>, shape: AttentionShape, head: Int, queries: Range<Int>
) {
    let c = shape.channels, d = shape.headSize, stride = 3 * c, scale = shape.scale, tokens = shape.tokens
    let qBase = qkv + head * d, kBase = qkv + c + head * d, vBase = qkv + 2 * c + head * d
    // Keys needed: 0 ..< queries.upperBound (causal).
    let keyCount = queries.upperBound
    let paddedKeys = (keyCount + 63) / 64 * 64
    let keysT = scratch  // [d, paddedKeys]
    let scores = scratch + d * paddedKeys  // [4, paddedKeys]
    for u in 0..<keyCount {
        let k = kBase + u * stride
        for j in 0..<d { keysT[j * paddedKeys + u] = k[j] }
    }
    for j in 0..<d {
        for u in keyCount..<paddedKeys { keysT[j * paddedKeys + u] = 0 }
    }
    _ = tokens
    var t0 = queries.lowerBound
    while t0 < queries.upperBound {
        let rows = min(4, queries.upperBound - t0)
        let lastKey = t0 + rows  // keys 0..<lastKey are visible to some row of the tile
        let q0 = qBase + t0 * stride
        let q1 = qBase + (t0 + min(1, rows - 1)) * stride
        let q2 = qBase + (t0 + min(2, rows - 1)) * stride
        let q3 = qBase + (t0 + min(3, rows - 1)) * stride
        var u0 = 0
        while u0 < lastKey {
            var a00 = Vector(), a01 = Vector(), a02 = Vector(), a03 = Vector()
            var a10 = Vector(), a11 = Vector(), a12 = Vector(), a13 = Vector()
            var a20 = Vector(), a21 = Vector(), a22 = Vector(), a23 = Vector()
            var a30 = Vector(), a31 = Vector(), a32 = Vector(), a33 = Vector()
            var kp = keysT + u0
            for j in 0..<d {
                let k0 = loadVector(kp), k1 = loadVector(kp + 16), k2 = loadVector(kp + 32), k3 = loadVector(kp + 48)
                var x = Vector(repeating: q0[j])
                a00 = L.multiplyAdd(x, k0, a00); a01 = L.multiplyAdd(x, k1, a01)
                a02 = L.multiplyAdd(x, k2, a02); a03 = L.multiplyAdd(x, k3, a03)
                x = Vector(repeating: q1[j])
                a10 = L.multiplyAdd(x, k0, a10); a11 = L.multiplyAdd(x, k1, a11)
                a12 = L.multiplyAdd(x, k2, a12); a13 = L.multiplyAdd(x, k3, a13)
                x = Vector(repeating: q2[j])
                a20 = L.multiplyAdd(x, k0, a20); a21 = L.multiplyAdd(x, k1, a21)
                a22 = L.multiplyAdd(x, k2, a22); a23 = L.multiplyAdd(x, k3, a23)
                x = Vector(repeating: q3[j])
                a30 = L.multiplyAdd(x, k0, a30); a31 = L.multiplyAdd(x, k1, a31)
                a32 = L.multiplyAdd(x, k2, a32); a33 = L.multiplyAdd(x, k3, a33)
                kp += paddedKeys
            }
            let sv = Vector(repeating: scale)
            storeVector(a00 * sv, scores + u0); storeVector(a01 * sv, scores + u0 + 16)
            storeVector(a02 * sv, scores + u0 + 32); storeVector(a03 * sv, scores + u0 + 48)
            let s1 = scores + paddedKeys
            storeVector(a10 * sv, s1 + u0); storeVector(a11 * sv, s1 + u0 + 16)
            storeVector(a12 * sv, s1 + u0 + 32); storeVector(a13 * sv, s1 + u0 + 48)
            let s2 = scores + 2 * paddedKeys
            storeVector(a20 * sv, s2 + u0); storeVector(a21 * sv, s2 + u0 + 16)
            storeVector(a22 * sv, s2 + u0 + 32); storeVector(a23 * sv, s2 + u0 + 48)
            let s3 = scores + 3 * paddedKeys
            storeVector(a30 * sv, s3 + u0); storeVector(a31 * sv, s3 + u0 + 16)
            storeVector(a32 * sv, s3 + u0 + 32); storeVector(a33 * sv, s3 + u0 + 48)
            u0 += 64
        }
        // Causal softmax of each row: row r sees keys 0...t0+r.
        for r in 0..<rows {
            let row = scores + r * paddedKeys
            let visible = t0 + r + 1
            var maximum = -Float.infinity
            for u in 0..<visible { maximum = max(maximum, row[u]) }
            softmaxRow(level, row, count: visible, maximum: maximum)
            for u in visible..<lastKey { row[u] = 0 }
        }
        // out[t0 + r] = sum_u p[r, u] v_u, 64 channels at a time.
        var j0 = 0
        while j0 < d {
            var o00 = Vector(), o01 = Vector(), o02 = Vector(), o03 = Vector()
            var o10 = Vector(), o11 = Vector(), o12 = Vector(), o13 = Vector()
            var o20 = Vector(), o21 = Vector(), o22 = Vector(), o23 = Vector()
            var o30 = Vector(), o31 = Vector(), o32 = Vector(), o33 = Vector()
            let width = min(64, d - j0)
            for u in 0..<lastKey {
                let v = vBase + u * stride + j0
                let v0 = loadVector(v)
                let v1 = width > 16 ? loadVector(v + 16) : Vector()
                let v2 = width > 32 ? loadVector(v + 32) : Vector()
                let v3 = width > 48 ? loadVector(v + 48) : Vector()
                var p = Vector(repeating: scores[u])
                o00 = L.multiplyAdd(p, v0, o00); o01 = L.multiplyAdd(p, v1, o01)
                o02 = L.multiplyAdd(p, v2, o02); o03 = L.multiplyAdd(p, v3, o03)
                p = Vector(repeating: scores[paddedKeys + u])
                o10 = L.multiplyAdd(p, v0, o10); o11 = L.multiplyAdd(p, v1, o11)
                o12 = L.multiplyAdd(p, v2, o12); o13 = L.multiplyAdd(p, v3, o13)
                p = Vector(repeating: scores[2 * paddedKeys + u])
                o20 = L.multiplyAdd(p, v0, o20); o21 = L.multiplyAdd(p, v1, o21)
                o22 = L.multiplyAdd(p, v2, o22); o23 = L.multiplyAdd(p, v3, o23)
                p = Vector(repeating: scores[3 * paddedKeys + u])
                o30 = L.multiplyAdd(p, v0, o30); o31 = L.multiplyAdd(p, v1, o31)
                o32 = L.multiplyAdd(p, v2, o32); o33 = L.multiplyAdd(p, v3, o33)
            }
            let tiles = [(o00, o01, o02, o03), (o10, o11, o12, o13), (o20, o21, o22, o23), (o30, o31, o32, o33)]
            for r in 0..<rows {
                let out = output + (t0 + r) * c + head * d + j0
                let (x0, x1, x2, x3) = tiles[r]
                storeVector(x0, out)
                if width > 16 { storeVector(x1, out + 16) }
                if width > 32 { storeVector(x2, out + 32) }
                if width > 48 { storeVector(x3, out + 48) }
            }
            j0 += 64
        }
        t0 += 4
    }
}

/// Scratch floats `attentionForwardBlocked` needs for a sequence of `tokens`.
@inlinable
public func attentionBlockedScratchSize(tokens: Int, headSize: Int) -> Int {
    let padded = (tokens + 63) / 64 * 64
    return (headSize + 4) * padded
}

/// exp(x - maximum) normalised to sum `scale` (1: a softmax), in place.
@inlinable
public func softmaxRow<L: InstructionLevel>(
    _ level: L.Type, _ row: UnsafeMutablePointer<Float>, count: Int, maximum: Float, scale: Float = 1
) {
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
    let inverse = scale / total
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

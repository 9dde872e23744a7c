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
/// keys are transposed once ([d, T] in `scratch`, already scaled), then tiles of 4
/// queries x up to 64 keys are scored with up to 16 vector accumulators, and the weighted
/// sum of values is done for 4 queries x 64 channels at a time. A tile scores keys only
/// up to its last query's, rounded up to a vector, so the causal triangle costs little
/// beyond itself. Probabilities are not kept (inference only). `scratch` holds
/// `attentionBlockedScratchSize` floats.
@inlinable
public func attentionForwardBlocked<L: InstructionLevel>(
    _ level: L.Type, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
    qkv: UnsafePointer<Float>, shape: AttentionShape, head: Int, queries: Range<Int>
) {
    let c = shape.channels, d = shape.headSize, stride = 3 * c, scale = shape.scale
    let qBase = qkv + head * d, kBase = qkv + c + head * d, vBase = qkv + 2 * c + head * d
    // Keys needed: 0 ..< queries.upperBound (causal).
    let keyCount = queries.upperBound
    let paddedKeys = (keyCount + 63) / 64 * 64
    let keysT = scratch  // [d, paddedKeys]
    let scores = scratch + d * paddedKeys  // [4, paddedKeys]
    // Read along each key's channel, write along a row of keysT: strided reads, not the
    // scattered writes a key-by-key copy compiles to.
    for j in 0..<d {
        let row = keysT + j * paddedKeys
        var key = kBase + j
        for u in 0..<keyCount {
            row[u] = key.pointee * scale
            key += stride
        }
        for u in keyCount..<paddedKeys { row[u] = 0 }
    }
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
            let vectors = min(4, (lastKey - u0 + vectorWidth - 1) / vectorWidth)
            if vectors == 4 {
                scoreTile(level, vectors: 4, q0, q1, q2, q3, keys: keysT + u0, keyStride: paddedKeys, depth: d,
                          into: scores + u0, rowStride: paddedKeys)
            } else {
                scoreTile(level, vectors: vectors, q0, q1, q2, q3, keys: keysT + u0, keyStride: paddedKeys, depth: d,
                          into: scores + u0, rowStride: paddedKeys)
            }
            u0 += 64
        }
        // Causal softmax of each row: row r sees keys 0...t0+r.
        for r in 0..<rows {
            let row = scores + r * paddedKeys
            let visible = t0 + r + 1
            softmaxRow(level, row, count: visible, maximum: rowMaximum(level, row, count: visible))
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
            let out = output + t0 * c + head * d + j0
            storeVectors(o00, o01, o02, o03, width: width, out)
            if rows > 1 { storeVectors(o10, o11, o12, o13, width: width, out + c) }
            if rows > 2 { storeVectors(o20, o21, o22, o23, width: width, out + 2 * c) }
            if rows > 3 { storeVectors(o30, o31, o32, o33, width: width, out + 3 * c) }
            j0 += 64
        }
        t0 += 4
    }
}

/// Scores of 4 queries against `vectors` x 16 keys (transposed: key u's channel j at
/// keys[j * keyStride + u]) into 4 rows of `into`. Inlined with `vectors` a constant,
/// the full tile keeps its 16 accumulators in registers with no test in the loop.
@inlinable @inline(__always)
func scoreTile<L: InstructionLevel>(
    _ level: L.Type, vectors: Int, _ q0: UnsafePointer<Float>, _ q1: UnsafePointer<Float>,
    _ q2: UnsafePointer<Float>, _ q3: UnsafePointer<Float>, keys: UnsafePointer<Float>, keyStride: Int,
    depth: Int, into scores: UnsafeMutablePointer<Float>, rowStride: Int
) {
    var a00 = Vector(), a01 = Vector(), a02 = Vector(), a03 = Vector()
    var a10 = Vector(), a11 = Vector(), a12 = Vector(), a13 = Vector()
    var a20 = Vector(), a21 = Vector(), a22 = Vector(), a23 = Vector()
    var a30 = Vector(), a31 = Vector(), a32 = Vector(), a33 = Vector()
    var kp = keys
    for j in 0..<depth {
        let k0 = loadVector(kp)
        let k1 = vectors > 1 ? loadVector(kp + 16) : Vector()
        let k2 = vectors > 2 ? loadVector(kp + 32) : Vector()
        let k3 = vectors > 3 ? loadVector(kp + 48) : Vector()
        var x = Vector(repeating: q0[j])
        a00 = L.multiplyAdd(x, k0, a00)
        if vectors > 1 { a01 = L.multiplyAdd(x, k1, a01) }
        if vectors > 2 { a02 = L.multiplyAdd(x, k2, a02) }
        if vectors > 3 { a03 = L.multiplyAdd(x, k3, a03) }
        x = Vector(repeating: q1[j])
        a10 = L.multiplyAdd(x, k0, a10)
        if vectors > 1 { a11 = L.multiplyAdd(x, k1, a11) }
        if vectors > 2 { a12 = L.multiplyAdd(x, k2, a12) }
        if vectors > 3 { a13 = L.multiplyAdd(x, k3, a13) }
        x = Vector(repeating: q2[j])
        a20 = L.multiplyAdd(x, k0, a20)
        if vectors > 1 { a21 = L.multiplyAdd(x, k1, a21) }
        if vectors > 2 { a22 = L.multiplyAdd(x, k2, a22) }
        if vectors > 3 { a23 = L.multiplyAdd(x, k3, a23) }
        x = Vector(repeating: q3[j])
        a30 = L.multiplyAdd(x, k0, a30)
        if vectors > 1 { a31 = L.multiplyAdd(x, k1, a31) }
        if vectors > 2 { a32 = L.multiplyAdd(x, k2, a32) }
        if vectors > 3 { a33 = L.multiplyAdd(x, k3, a33) }
        kp += keyStride
    }
    storeVectors(a00, a01, a02, a03, width: vectors * 16, scores)
    storeVectors(a10, a11, a12, a13, width: vectors * 16, scores + rowStride)
    storeVectors(a20, a21, a22, a23, width: vectors * 16, scores + 2 * rowStride)
    storeVectors(a30, a31, a32, a33, width: vectors * 16, scores + 3 * rowStride)
}

/// Stores the first `width` floats (16, 32, 48 or 64) of x0 x1 x2 x3 at `pointer`.
@inlinable @inline(__always)
func storeVectors(_ x0: Vector, _ x1: Vector, _ x2: Vector, _ x3: Vector, width: Int, _ pointer: UnsafeMutablePointer<Float>) {
    storeVector(x0, pointer)
    if width > 16 { storeVector(x1, pointer + 16) }
    if width > 32 { storeVector(x2, pointer + 32) }
    if width > 48 { storeVector(x3, pointer + 48) }
}

/// Scratch floats `attentionForwardBlocked` needs for a sequence of `tokens`.
@inlinable
public func attentionBlockedScratchSize(tokens: Int, headSize: Int) -> Int {
    let padded = (tokens + 63) / 64 * 64
    return (headSize + 4) * padded
}

/// The largest of `count` floats at `row` (count > 0).
@inlinable @inline(__always)
public func rowMaximum<L: InstructionLevel>(_ level: L.Type, _ row: UnsafePointer<Float>, count: Int) -> Float {
    var i = 0
    var maxima = Vector(repeating: -.infinity)
    while i + vectorWidth <= count {
        let x = loadVector(row + i)
        maxima.replace(with: x, where: x .> maxima)
        i += vectorWidth
    }
    var maximum = horizontalMaximum(maxima)
    while i < count {
        maximum = Swift.max(maximum, row[i])
        i += 1
    }
    return maximum
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

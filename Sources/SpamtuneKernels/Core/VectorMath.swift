// Vectorised transcendental functions. The standard library has no SIMD exp or tanh;
// these are Cephes-style approximations accurate to a few float ulps, enough for a
// model whose reference tolerance is 1e-4.

// Only operations that lower to vector instructions are used here: the standard
// library's generic `clamped`, `rounded` and Float -> Int32 conversions compile to one
// lane at a time, and made GELU cost as much as the matrix multiplies (measured with perf).
@inlinable @inline(__always)
public func vectorExp(_ input: Vector) -> Vector {
    // exp(x) = 2^n * exp(r), n = round(x / ln 2), |r| <= ln2 / 2.
    var x = input
    x.replace(with: Vector(repeating: 88.3), where: input .> Vector(repeating: 88.3))
    x.replace(with: Vector(repeating: -87.3), where: input .< Vector(repeating: -87.3))
    // Adding 1.5 * 2^23 rounds to the nearest integer and leaves it in the low bits.
    let magic = Vector(repeating: 12_582_912)
    let shifted = x * 1.442_695_04 + magic
    let n = shifted - magic
    var r = x - n * 0.693_359_375
    r = r + n * 2.121_944_4e-4
    var p = Vector(repeating: 1.987_569_1e-4)
    p = p * r + 1.398_199_9e-3
    p = p * r + 8.333_452e-3
    p = p * r + 4.166_579_6e-2
    p = p * r + 1.666_666_5e-1
    p = p * r + 5.000_000_1e-1
    p = p * (r * r) + r + 1
    // 2^n from the bit pattern: (bits(shifted) - bits(magic) + 127) << 23.
    let exponent = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- SIMD16<Int32>(repeating: 0x4B40_0000 - 127)
    return p * unsafeBitCast(exponent &<< SIMD16<Int32>(repeating: 23), to: Vector.self)
}

/// tanh(x) = 1 - 2 / (exp(2x) + 1); exact limits at +-inf come from the clamp in exp.
@inlinable @inline(__always)
public func vectorTanh(_ x: Vector) -> Vector {
    let e = vectorExp(x + x)
    return 1 - 2 / (e + 1)
}

@inlinable @inline(__always)
public func scalarGeluTanhArgument(_ x: Float) -> Float {
    0.797_884_56 * (x + 0.044_715 * x * x * x)
}

/// The largest lane, by halving: the standard library's `max()` goes lane by lane with a
/// NaN test on each, which costs more than the row maximum it ends.
@inlinable @inline(__always)
public func horizontalMaximum(_ vector: Vector) -> Float {
    var eight = vector.lowHalf
    eight.replace(with: vector.highHalf, where: vector.highHalf .> eight)
    var four = eight.lowHalf
    four.replace(with: eight.highHalf, where: eight.highHalf .> four)
    var two = four.lowHalf
    two.replace(with: four.highHalf, where: four.highHalf .> two)
    return two[1] > two[0] ? two[1] : two[0]
}

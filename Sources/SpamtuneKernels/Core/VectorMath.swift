// Vectorised transcendental functions. The standard library has no SIMD exp or tanh;
// these are Cephes-style approximations accurate to a few float ulps, enough for a
// model whose reference tolerance is 1e-4.

@inlinable @inline(__always)
public func vectorExp(_ input: Vector) -> Vector {
    // exp(x) = 2^n * exp(r), n = round(x / ln 2), |r| <= ln2 / 2.
    let x = input.clamped(lowerBound: Vector(repeating: -87.3), upperBound: Vector(repeating: 88.3))
    let n = (x * 1.442_695_04).rounded(.toNearestOrEven)
    var r = x - n * 0.693_359_375
    r = r + n * 2.121_944_4e-4
    var p = Vector(repeating: 1.987_569_1e-4)
    p = p * r + 1.398_199_9e-3
    p = p * r + 8.333_452e-3
    p = p * r + 4.166_579_6e-2
    p = p * r + 1.666_666_5e-1
    p = p * r + 5.000_000_1e-1
    p = p * (r * r) + r + 1
    let exponent = SIMD16<Int32>(truncatingIfNeeded: SIMD16<Int32>(n) &+ 127) &<< 23
    return p * unsafeBitCast(exponent, to: Vector.self)
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

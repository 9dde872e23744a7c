/// A small seeded generator (SplitMix64) so tests are repeatable on every machine.
public struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A normal sample (Box-Muller).
    public mutating func normal(mean: Float = 0, deviation: Float = 1) -> Float {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        let z = (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
        return mean + deviation * Float(z)
    }

    public mutating func normals(_ count: Int, deviation: Float = 1) -> [Float] {
        (0..<count).map { _ in normal(deviation: deviation) }
    }
}

@inline(__always) private func _log(_ x: Double) -> Double {
    #if canImport(Glibc)
    return Glibc.log(x)
    #else
    return Darwin.log(x)
    #endif
}

@inline(__always) private func _cos(_ x: Double) -> Double {
    #if canImport(Glibc)
    return Glibc.cos(x)
    #else
    return Darwin.cos(x)
    #endif
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The largest |a - b| / max(1, |b|) over two arrays: absolute below 1, relative above.
public func maximumError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "compared arrays differ in length: \(a.count) vs \(b.count)")
    var worst: Float = 0
    for (x, y) in zip(a, b) {
        let error = abs(x - y) / max(1, abs(y))
        if !(error <= worst) { worst = error.isNaN ? .infinity : max(worst, error) }
    }
    return worst
}

public func maximumError(_ a: [Float], _ b: [Double]) -> Float {
    maximumError(a, b.map { Float($0) })
}

import SpamtuneSupport

/// The seeded generator tests use: SplitMix64, the same on every machine.
public typealias SeededGenerator = SplitMix64

extension SplitMix64 {
    public mutating func normal(mean: Float = 0, deviation: Float) -> Float { mean + deviation * normal() }

    public mutating func normals(_ count: Int, deviation: Float = 1) -> [Float] {
        (0..<count).map { _ in normal(deviation: deviation) }
    }
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

// LayerNorm over the last dimension, eps 1e-5 (GPT-2's), forward and backward side by
// side as in llm.c. Row-parallel: the dispatcher hands each thread a range of rows.

public let layerNormEpsilon: Float = 1e-5

@inlinable
public func layerNormForward<L: InstructionLevel>(
    _ level: L.Type, output: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>?,
    reciprocalStd: UnsafeMutablePointer<Float>?, input: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, rows: Range<Int>, columns: Int
) {
    let vectors = columns / vectorWidth
    let tail = vectors * vectorWidth
    for row in rows {
        let x = input + row * columns
        let y = output + row * columns
        var sum = Vector()
        for v in 0..<vectors { sum += loadVector(x + v * vectorWidth) }
        var total = sum.sum()
        for j in tail..<columns { total += x[j] }
        let mu = total / Float(columns)
        var squares = Vector()
        let muVector = Vector(repeating: mu)
        for v in 0..<vectors {
            let d = loadVector(x + v * vectorWidth) - muVector
            squares = L.multiplyAdd(d, d, squares)
        }
        var variance = squares.sum()
        for j in tail..<columns { variance += (x[j] - mu) * (x[j] - mu) }
        variance /= Float(columns)
        let rstd = 1 / (variance + layerNormEpsilon).squareRoot()
        let rstdVector = Vector(repeating: rstd)
        for v in 0..<vectors {
            let o = v * vectorWidth
            let normalized = (loadVector(x + o) - muVector) * rstdVector
            storeVector(L.multiplyAdd(normalized, loadVector(weight + o), loadVector(bias + o)), y + o)
        }
        for j in tail..<columns { y[j] = (x[j] - mu) * rstd * weight[j] + bias[j] }
        mean?[row] = mu
        reciprocalStd?[row] = rstd
    }
}

/// Adds to dInput, dWeight and dBias. dWeight and dBias must be private to the caller's
/// thread (the dispatcher gives each thread its own and sums them).
@inlinable
public func layerNormBackward<L: InstructionLevel>(
    _ level: L.Type, dInput: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>,
    dBias: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>, input: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, mean: UnsafePointer<Float>, reciprocalStd: UnsafePointer<Float>,
    rows: Range<Int>, columns: Int
) {
    let vectors = columns / vectorWidth
    let tail = vectors * vectorWidth
    let count = Float(columns)
    for row in rows {
        let x = input + row * columns
        let dy = dOutput + row * columns
        let dx = dInput + row * columns
        let mu = Vector(repeating: mean[row])
        let rstd = Vector(repeating: reciprocalStd[row])
        // mean(dy * w) and mean(dy * w * xhat)
        var sumDNorm = Vector(), sumDNormXHat = Vector()
        for v in 0..<vectors {
            let o = v * vectorWidth
            let xhat = (loadVector(x + o) - mu) * rstd
            let dnorm = loadVector(dy + o) * loadVector(weight + o)
            sumDNorm += dnorm
            sumDNormXHat = L.multiplyAdd(dnorm, xhat, sumDNormXHat)
        }
        var meanDNorm = sumDNorm.sum(), meanDNormXHat = sumDNormXHat.sum()
        for j in tail..<columns {
            let xhat = (x[j] - mean[row]) * reciprocalStd[row]
            let dnorm = dy[j] * weight[j]
            meanDNorm += dnorm
            meanDNormXHat += dnorm * xhat
        }
        meanDNorm /= count
        meanDNormXHat /= count
        let a = Vector(repeating: meanDNorm), b = Vector(repeating: meanDNormXHat)
        for v in 0..<vectors {
            let o = v * vectorWidth
            let xhat = (loadVector(x + o) - mu) * rstd
            let g = loadVector(dy + o)
            storeVector(loadVector(dBias + o) + g, dBias + o)
            storeVector(L.multiplyAdd(xhat, g, loadVector(dWeight + o)), dWeight + o)
            let dnorm = g * loadVector(weight + o)
            storeVector(loadVector(dx + o) + (dnorm - a - xhat * b) * rstd, dx + o)
        }
        for j in tail..<columns {
            let xhat = (x[j] - mean[row]) * reciprocalStd[row]
            dBias[j] += dy[j]
            dWeight[j] += xhat * dy[j]
            dx[j] += (dy[j] * weight[j] - meanDNorm - xhat * meanDNormXHat) * reciprocalStd[row]
        }
    }
}

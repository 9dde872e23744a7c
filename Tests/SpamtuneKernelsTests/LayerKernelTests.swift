import Foundation
import SpamtuneKernels
import SpamtuneTestSupport
import Testing

// Forward kernels against plain double-precision references, backward kernels against
// central finite differences of a scalar loss L = Σ dY ⊙ f(X). Every test runs on each
// instruction level this machine supports, on 1 and 2 threads.

let levelsAndThreads: [(InstructionSet, Int)] = InstructionSet.supported.flatMap { [($0, 1), ($0, 2)] }

private func layerNormReference(_ x: [Float], _ w: [Float], _ b: [Float], rows: Int, columns: Int) -> [Double] {
    var out = [Double](repeating: 0, count: x.count)
    for i in 0..<rows {
        let row = (0..<columns).map { Double(x[i * columns + $0]) }
        let mean = row.reduce(0, +) / Double(columns)
        let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(columns)
        let rstd = 1 / (variance + 1e-5).squareRoot()
        for j in 0..<columns { out[i * columns + j] = (row[j] - mean) * rstd * Double(w[j]) + Double(b[j]) }
    }
    return out
}

private func geluReference(_ x: Double) -> Double {
    0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
}

/// Causal attention for one sequence, all heads, in double precision.
private func attentionReference(_ qkv: [Float], tokens: Int, channels: Int, heads: Int) -> [Double] {
    let d = channels / heads
    var out = [Double](repeating: 0, count: tokens * channels)
    for h in 0..<heads {
        for t in 0..<tokens {
            var scores = [Double]()
            for u in 0...t {
                var s = 0.0
                for j in 0..<d {
                    s += Double(qkv[t * 3 * channels + h * d + j]) * Double(qkv[u * 3 * channels + channels + h * d + j])
                }
                scores.append(s / Double(d).squareRoot())
            }
            let m = scores.max()!
            let e = scores.map { exp($0 - m) }
            let total = e.reduce(0, +)
            for u in 0...t {
                for j in 0..<d {
                    out[t * channels + h * d + j] += e[u] / total * Double(qkv[u * 3 * channels + 2 * channels + h * d + j])
                }
            }
        }
    }
    return out
}

@Suite struct LayerNormKernelTests {
    @Test(arguments: [(3, 32), (17, 768), (5, 40), (1, 7)])
    func forwardMatchesReference(shape: (Int, Int)) {
        let (rows, columns) = shape
        var random = SeededGenerator(seed: 1)
        let x = random.normals(rows * columns, deviation: 2).map { $0 + 0.5 }
        let w = random.normals(columns).map { 1 + 0.1 * $0 }
        let b = random.normals(columns, deviation: 0.1)
        let expected = layerNormReference(x, w, b, rows: rows, columns: columns)
        for (level, threads) in levelsAndThreads {
            let kernels = Kernels(threads: threads, instructionSet: level)
            var out = [Float](repeating: .nan, count: x.count)
            var mean = [Float](repeating: 0, count: rows), rstd = [Float](repeating: 0, count: rows)
            kernels.layerNormForward(
                output: &out, mean: &mean, reciprocalStd: &rstd, input: x, weight: w, bias: b, rows: rows, columns: columns)
            #expect(maximumError(out, expected) < 2e-5, "\(level) threads=\(threads)")
        }
    }

    @Test(arguments: [(4, 32), (9, 48), (3, 13), (300, 64)])
    func backwardMatchesFiniteDifferences(shape: (Int, Int)) {
        let (rows, columns) = shape
        var random = SeededGenerator(seed: 2)
        let x = random.normals(rows * columns)
        let w = random.normals(columns).map { 1 + 0.2 * $0 }
        let b = random.normals(columns, deviation: 0.1)
        let dy = random.normals(rows * columns)
        func loss(_ x: [Float], _ w: [Float], _ b: [Float]) -> Double {
            zip(layerNormReference(x, w, b, rows: rows, columns: columns), dy).reduce(0) { $0 + $1.0 * Double($1.1) }
        }
        for (level, threads) in levelsAndThreads {
            let kernels = Kernels(threads: threads, instructionSet: level)
            var out = [Float](repeating: 0, count: x.count)
            var mean = [Float](repeating: 0, count: rows), rstd = [Float](repeating: 0, count: rows)
            kernels.layerNormForward(
                output: &out, mean: &mean, reciprocalStd: &rstd, input: x, weight: w, bias: b, rows: rows, columns: columns)
            var dx = [Float](repeating: 0, count: x.count)
            var dw = [Float](repeating: 0, count: columns), db = [Float](repeating: 0, count: columns)
            kernels.layerNormBackward(
                dInput: &dx, dWeight: &dw, dBias: &db, dOutput: dy, input: x, weight: w, mean: mean, reciprocalStd: rstd,
                rows: rows, columns: columns)
            let h: Float = 1e-2
            for i in stride(from: 0, to: x.count, by: max(1, x.count / 24)) {
                var plus = x, minus = x
                plus[i] += h
                minus[i] -= h
                let numeric = (loss(plus, w, b) - loss(minus, w, b)) / Double(2 * h)
                #expect(abs(Double(dx[i]) - numeric) < 2e-3 * max(1, abs(numeric)), "dx[\(i)] \(level) \(threads)")
            }
            for j in 0..<columns {
                var plus = w, minus = w
                plus[j] += h
                minus[j] -= h
                let numeric = (loss(x, plus, b) - loss(x, minus, b)) / Double(2 * h)
                #expect(abs(Double(dw[j]) - numeric) < 2e-3 * max(1, abs(numeric)), "dw[\(j)] \(level) \(threads)")
                let dbExpected = (0..<rows).reduce(0.0) { $0 + Double(dy[$1 * columns + j]) }
                #expect(abs(Double(db[j]) - dbExpected) < 1e-4 * max(1, abs(dbExpected)))
            }
        }
    }
}

@Suite struct GeluKernelTests {
    @Test func forwardMatchesReferenceAcrossTheRange() {
        let x = stride(from: -12.0, through: 12.0, by: 0.01).map { Float($0) } + [0, -0.0, 30, -30, 1e-6]
        let expected = x.map { geluReference(Double($0)) }
        for (level, threads) in levelsAndThreads {
            let kernels = Kernels(threads: threads, instructionSet: level)
            var out = [Float](repeating: .nan, count: x.count)
            kernels.geluForward(output: &out, input: x, count: x.count)
            #expect(maximumError(out, expected) < 1e-6, "\(level) threads=\(threads)")
        }
    }

    @Test func backwardMatchesFiniteDifferences() {
        let x = stride(from: -8.0, through: 8.0, by: 0.037).map { Float($0) }
        let dy = (0..<x.count).map { Float(1 + ($0 % 3)) }
        for (level, threads) in levelsAndThreads {
            let kernels = Kernels(threads: threads, instructionSet: level)
            var dx = [Float](repeating: .nan, count: x.count)
            kernels.geluBackward(dInput: &dx, input: x, dOutput: dy, count: x.count)
            for i in x.indices {
                let h = 1e-4
                let numeric = (geluReference(Double(x[i]) + h) - geluReference(Double(x[i]) - h)) / (2 * h) * Double(dy[i])
                #expect(abs(Double(dx[i]) - numeric) < 1e-5 * max(1, abs(numeric)), "x=\(x[i]) \(level)")
            }
        }
    }
}

@Suite struct AttentionKernelTests {
    /// Sequences of different lengths in one batch (one past a 64-key tile, one a
    /// whole tile): head sizes 8 (scalar path), 64, 16 and 32.
    @Test(arguments: [(32, 4), (128, 2), (48, 3), (128, 4)])
    func forwardMatchesReferencePerSequence(shape: (Int, Int)) {
        let (channels, heads) = shape
        let lengths = [7, 19, 1, 70, 129, 64]
        var random = SeededGenerator(seed: 3)
        let total = lengths.reduce(0, +)
        let qkv = random.normals(total * 3 * channels)
        var sequences: [AttentionSequence] = []
        var start = 0
        for length in lengths {
            sequences.append(AttentionSequence(start: start, tokens: length))
            start += length
        }
        for (level, threads) in levelsAndThreads {
            let kernels = Kernels(threads: threads, instructionSet: level)
            var out = [Float](repeating: .nan, count: total * channels)
            kernels.attentionForward(output: &out, qkv: qkv, sequences: sequences, channels: channels, heads: heads)
            for sequence in sequences {
                let slice = Array(qkv[(sequence.start * 3 * channels)..<((sequence.start + sequence.tokens) * 3 * channels)])
                let expected = attentionReference(slice, tokens: sequence.tokens, channels: channels, heads: heads)
                let got = Array(out[(sequence.start * channels)..<((sequence.start + sequence.tokens) * channels)])
                #expect(maximumError(got, expected) < 1e-5, "\(level) threads=\(threads)")
            }
            // Only the last query: the same last row (summed in another order).
            let last = sequences.map { AttentionSequence(start: $0.start, tokens: $0.tokens, firstQuery: $0.tokens - 1) }
            var lastOut = [Float](repeating: .nan, count: total * channels)
            kernels.attentionForward(output: &lastOut, qkv: qkv, sequences: last, channels: channels, heads: heads)
            for sequence in sequences {
                let row = (sequence.start + sequence.tokens - 1) * channels
                #expect(maximumError(Array(lastOut[row..<(row + channels)]), Array(out[row..<(row + channels)])) < 1e-6)
            }
        }
    }

    @Test(arguments: [false, true])
    func backwardMatchesFiniteDifferences(lastQueryOnly: Bool) {
        let channels = 32, heads = 2
        let lengths = [5, 3]
        var random = SeededGenerator(seed: 4)
        let total = lengths.reduce(0, +)
        let qkv = random.normals(total * 3 * channels)
        let dOut = random.normals(total * channels)
        var sequences: [AttentionSequence] = []
        var start = 0
        for length in lengths {
            sequences.append(AttentionSequence(start: start, tokens: length, firstQuery: lastQueryOnly ? length - 1 : 0))
            start += length
        }
        func loss(_ qkv: [Float]) -> Double {
            var sum = 0.0
            for sequence in sequences {
                let slice = Array(qkv[(sequence.start * 3 * channels)..<((sequence.start + sequence.tokens) * 3 * channels)])
                let out = attentionReference(slice, tokens: sequence.tokens, channels: channels, heads: heads)
                for t in sequence.firstQuery..<sequence.tokens {
                    for j in 0..<channels {
                        sum += out[t * channels + j] * Double(dOut[(sequence.start + t) * channels + j])
                    }
                }
            }
            return sum
        }
        for (level, threads) in levelsAndThreads {
            let kernels = Kernels(threads: threads, instructionSet: level)
            var out = [Float](repeating: 0, count: total * channels)
            let size = Kernels.attentionProbabilityOffsets(sequences: sequences, heads: heads).last!
            var probabilities = [Float](repeating: 0, count: size)
            kernels.attentionForward(
                output: &out, probabilities: &probabilities, qkv: qkv, sequences: sequences, channels: channels,
                heads: heads)
            var dqkv = [Float](repeating: 0, count: qkv.count)
            kernels.attentionBackward(
                dQKV: &dqkv, dOutput: dOut, qkv: qkv, probabilities: probabilities, sequences: sequences,
                channels: channels, heads: heads)
            let h: Float = 1e-2
            for i in stride(from: 0, to: qkv.count, by: 7) {
                var plus = qkv, minus = qkv
                plus[i] += h
                minus[i] -= h
                let numeric = (loss(plus) - loss(minus)) / Double(2 * h)
                #expect(abs(Double(dqkv[i]) - numeric) < 3e-3 * max(1, abs(numeric)), "dqkv[\(i)] \(level) \(threads)")
            }
        }
    }
}

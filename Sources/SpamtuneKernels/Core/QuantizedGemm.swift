// Matrix multiply for inference with weights in int8 or BF16: C = A · W (+ bias) (+ C),
// W a linear layer's [k, n] weights, converted and packed once at load, A float rows
// converted per call.
//
// int8: each column of W has its own symmetric scale (max |w| / 127, values -127...127);
// each row of A is quantized when called, also symmetrically (max |a| / 127), and
// stored as unsigned bytes with a zero point of 128, the operand types of AVX-512
// VNNI's vpdpbusd (unsigned × signed bytes, four products summed into each int32
// lane). The zero point costs one subtraction per output, 128 × the column's sum of
// weights, computed at packing; signed activations would need vpdpbusd's sign trick
// (two more instructions per multiply, to move each activation's sign onto its
// weight). The int32 sums are exact, so every instruction level gives the same bits.
//
// BF16: W rounded to BF16 (round to nearest even) and A rounded the same way per call,
// products summed in FP32: the arithmetic of AVX512_BF16's vdpbf16ps. Swift cannot
// call that instruction (its operands are vectors of __bf16, which the Clang importer
// does not bring into Swift, and LLVM does not form it from FP32 code), so every level
// widens the BF16 weights to FP32 (a shift or a mask) and multiplies with FMA. A
// product of two BF16 values is exact in FP32, so with or without FMA every level
// rounds the same sums in the same order and gives the same bits. It halves the
// weights' bytes; the multiply rate stays FP32's.
//
// Packed layout (both): panels of `quantizedColumns` columns, the last zero-padded;
// within a panel, for each group of K (four rows of W for int8, two for BF16), one
// 32-bit lane per column holding the group's values, lowest K first. The micro-kernel
// loads four vectors of 16 lanes per group and broadcasts a group of A's row.

/// Columns per packed panel: four vectors of 16 lanes.
public let quantizedColumns = 64
/// Rows of A per block: the block's quantized rows (up to 96 × 3072 bytes for int8)
/// stay in L2 while the column panels pass.
public let quantizedRowBlock = 96
/// Largest K for int8: K × 255 × 127 must fit in an int32 sum.
public let int8MaximumDepth = 65_536

/// W as int8 per output column, packed for `int8GemmCompute`.
public final class Int8Weights: @unchecked Sendable {
    public let k: Int, n: Int
    /// Groups of four rows of W (K rounded up to a multiple of 4, divided by 4).
    public let groups: Int
    /// Panels × groups × `quantizedColumns` lanes of four bytes.
    let packed: UnsafeMutableRawPointer
    /// Per column (padded to whole panels): the scale, and 128 × the sum of its int8 values.
    let scales: UnsafeMutablePointer<Float>
    let corrections: UnsafeMutablePointer<Int32>

    /// Quantizes and packs row-major W [k, n] with row stride `ldb`.
    public init(weights: UnsafePointer<Float>, k: Int, n: Int, ldb: Int) {
        precondition(k > 0 && n > 0 && ldb >= n, "Int8Weights: bad shape k=\(k) n=\(n) ldb=\(ldb)")
        precondition(k <= int8MaximumDepth, "Int8Weights: k=\(k) is above \(int8MaximumDepth)")
        self.k = k
        self.n = n
        groups = (k + 3) / 4
        let panels = (n + quantizedColumns - 1) / quantizedColumns
        let paddedColumns = panels * quantizedColumns
        packed = .allocate(byteCount: max(1, panels * groups * quantizedColumns * 4), alignment: 64)
        packed.initializeMemory(as: Int8.self, repeating: 0, count: panels * groups * quantizedColumns * 4)
        scales = .allocate(capacity: paddedColumns)
        scales.initialize(repeating: 0, count: paddedColumns)
        corrections = .allocate(capacity: paddedColumns)
        corrections.initialize(repeating: 0, count: paddedColumns)
        let bytes = packed.assumingMemoryBound(to: Int8.self)
        // Row by row, as W is stored: a column at a time would stride through all of it.
        for p in 0..<k {
            for j in 0..<n { scales[j] = max(scales[j], abs(weights[p * ldb + j])) }
        }
        let inverses = (0..<n).map { scales[$0] > 0 ? 127 / scales[$0] : 0 }
        for j in 0..<n { scales[j] /= 127 }
        for p in 0..<k {
            let row = weights + p * ldb
            for j in 0..<n {
                let value = Int8(max(-127, min(127, (row[j] * inverses[j]).rounded(.toNearestOrEven))))
                let panel = bytes + (j / quantizedColumns) * groups * quantizedColumns * 4
                panel[((p / 4) * quantizedColumns + j % quantizedColumns) * 4 + p % 4] = value
                corrections[j] += 128 * Int32(value)
            }
        }
    }

    deinit {
        packed.deallocate()
        scales.deallocate()
        corrections.deallocate()
    }

    /// The scale of column j: its int8 value v stands for v × scale.
    public func scale(column j: Int) -> Float { scales[j] }

    /// The int8 value of W at (row p, column j).
    package func value(row p: Int, column j: Int) -> Int8 {
        let panel = packed.assumingMemoryBound(to: Int8.self) + (j / quantizedColumns) * groups * quantizedColumns * 4
        return panel[((p / 4) * quantizedColumns + j % quantizedColumns) * 4 + p % 4]
    }

    public var view: Int8PackedWeights {
        Int8PackedWeights(k: k, n: n, groups: groups, packed: UnsafeRawPointer(packed), scales: scales, corrections: corrections)
    }
}

/// W as BF16, packed in pairs of rows for `bf16GemmCompute`.
public final class BF16Weights: @unchecked Sendable {
    public let k: Int, n: Int
    /// Pairs of rows of W (K rounded up to even, halved).
    public let pairs: Int
    /// Panels × pairs × `quantizedColumns` lanes: row 2p in the low half, 2p + 1 in the high.
    let packed: UnsafeMutablePointer<UInt32>

    /// Rounds row-major W [k, n] with row stride `ldb` to BF16 and packs it.
    public init(weights: UnsafePointer<Float>, k: Int, n: Int, ldb: Int) {
        precondition(k > 0 && n > 0 && ldb >= n, "BF16Weights: bad shape k=\(k) n=\(n) ldb=\(ldb)")
        self.k = k
        self.n = n
        pairs = (k + 1) / 2
        let panels = (n + quantizedColumns - 1) / quantizedColumns
        let count = max(1, panels * pairs * quantizedColumns)
        packed = .allocate(capacity: count)
        packed.initialize(repeating: 0, count: count)
        for p in 0..<k {
            let row = weights + p * ldb
            let shift = UInt32(16 * (p % 2))
            for j in 0..<n {
                let panel = packed + (j / quantizedColumns) * pairs * quantizedColumns
                panel[(p / 2) * quantizedColumns + j % quantizedColumns] |= UInt32(bfloat16Bits(row[j])) << shift
            }
        }
    }

    deinit { packed.deallocate() }

    public var view: BF16PackedWeights {
        BF16PackedWeights(k: k, n: n, pairs: pairs, packed: UnsafePointer(packed))
    }
}

public struct Int8PackedWeights {
    public var k: Int, n: Int, groups: Int
    public var packed: UnsafeRawPointer
    public var scales: UnsafePointer<Float>
    public var corrections: UnsafePointer<Int32>
}

public struct BF16PackedWeights {
    public var k: Int, n: Int, pairs: Int
    public var packed: UnsafePointer<UInt32>
}

/// The upper 16 bits of x rounded to nearest even: x as BF16. NaN stays NaN.
@inlinable
public func bfloat16Bits(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    if x.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x40 }
    return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
}

/// x rounded to the nearest BF16 value, as a Float.
@inlinable
public func roundedToBFloat16(_ x: Float) -> Float { Float(bitPattern: UInt32(bfloat16Bits(x)) << 16) }

/// One int8 multiply: A's rows quantized (`quantizeRows`), W packed.
public struct Int8GemmProblem {
    public var m: Int
    /// Row i: `weights.groups` × 4 bytes from a + i × lda, unsigned with zero point 128.
    public var a: UnsafePointer<UInt8>
    public var lda: Int
    public var rowScales: UnsafePointer<Float>
    public var weights: Int8PackedWeights
    public var c: UnsafeMutablePointer<Float>
    public var ldc: Int
    public var bias: UnsafePointer<Float>?
    public var accumulate: Bool

    public init(
        m: Int, a: UnsafePointer<UInt8>, lda: Int, rowScales: UnsafePointer<Float>, weights: Int8PackedWeights,
        c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, accumulate: Bool
    ) {
        self.m = m; self.a = a; self.lda = lda; self.rowScales = rowScales; self.weights = weights
        self.c = c; self.ldc = ldc; self.bias = bias; self.accumulate = accumulate
    }
}

/// One BF16 multiply: A's rows rounded to BF16 (`roundRowsToBFloat16`), W packed.
public struct BF16GemmProblem {
    public var m: Int
    /// Row i: `weights.pairs` × 2 floats from a + i × lda, each a BF16 value.
    public var a: UnsafePointer<Float>
    public var lda: Int
    public var weights: BF16PackedWeights
    public var c: UnsafeMutablePointer<Float>
    public var ldc: Int
    public var bias: UnsafePointer<Float>?
    public var accumulate: Bool

    public init(
        m: Int, a: UnsafePointer<Float>, lda: Int, weights: BF16PackedWeights, c: UnsafeMutablePointer<Float>, ldc: Int,
        bias: UnsafePointer<Float>?, accumulate: Bool
    ) {
        self.m = m; self.a = a; self.lda = lda; self.weights = weights
        self.c = c; self.ldc = ldc; self.bias = bias; self.accumulate = accumulate
    }
}

public typealias IntVector = SIMD16<Int32>
public typealias WordVector = SIMD16<UInt32>

// MARK: Activations

/// Quantizes rows of A [*, k] (row stride lda): row i becomes `groups` × 4 bytes at
/// output + i × stride, round(a × 127 / max|a|) + 128, padded with 128 (zero), and
/// scales[i] = max|a| / 127.
@inlinable
public func quantizeRows<L: InstructionLevel>(
    _ level: L.Type, _ a: UnsafePointer<Float>, lda: Int, k: Int, rows: Range<Int>, groups: Int,
    into output: UnsafeMutablePointer<UInt8>, stride: Int, scales: UnsafeMutablePointer<Float>
) {
    let vectors = k / vectorWidth
    for i in rows {
        let row = a + i * lda
        var largestVector = Vector()
        // Only operations that lower to vector instructions (see VectorMath.swift): the
        // standard library's pointwiseMax, clamped, rounded and conversions go lane by lane.
        for v in 0..<vectors {
            let magnitudes = unsafeBitCast(
                UnsafeRawPointer(row + v * vectorWidth).loadUnaligned(as: WordVector.self) & 0x7FFF_FFFF, to: Vector.self)
            largestVector.replace(with: magnitudes, where: magnitudes .> largestVector)
        }
        var largest = horizontalMaximum(largestVector)
        for p in vectors * vectorWidth..<k { largest = max(largest, abs(row[p])) }
        scales[i] = largest / 127
        let inverse: Float = largest > 0 ? 127 / largest : 0
        let destination = output + i * stride
        for v in 0..<vectors {
            let scaled = loadVector(row + v * vectorWidth) * inverse
            var clamped = scaled
            clamped.replace(with: Vector(repeating: 127), where: scaled .> Vector(repeating: 127))
            clamped.replace(with: Vector(repeating: -127), where: scaled .< Vector(repeating: -127))
            // Adding 1.5 × 2²³ (bits 0x4B40_0000) rounds to the nearest integer, ties to
            // even, and leaves it in the low bits.
            let shifted = IntVector(bitPattern: clamped + Vector(repeating: 0x1.8p23)) &- 0x4B40_0000 &+ 128
            let out = destination + v * vectorWidth
            for lane in 0..<vectorWidth { out[lane] = UInt8(truncatingIfNeeded: shifted[lane]) }
        }
        for p in vectors * vectorWidth..<k {
            destination[p] = UInt8(128 + Int(max(-127, min(127, (row[p] * inverse).rounded(.toNearestOrEven)))))
        }
        for p in k..<groups * 4 { destination[p] = 128 }
    }
}

/// Rounds rows of A [*, k] (row stride lda) to BF16: row i becomes `pairs` × 2 floats
/// at output + i × stride, zero-padded.
@inlinable
public func roundRowsToBFloat16<L: InstructionLevel>(
    _ level: L.Type, _ a: UnsafePointer<Float>, lda: Int, k: Int, rows: Range<Int>, pairs: Int,
    into output: UnsafeMutablePointer<Float>, stride: Int
) {
    let vectors = k / vectorWidth
    for i in rows {
        let row = a + i * lda
        let destination = output + i * stride
        for v in 0..<vectors {
            let bits = UnsafeRawPointer(row + v * vectorWidth).loadUnaligned(as: WordVector.self)
            // Round to nearest even; the inputs are activations, never NaN.
            let rounded = (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) & 0xFFFF_0000
            UnsafeMutableRawPointer(destination + v * vectorWidth).storeBytes(of: rounded, as: WordVector.self)
        }
        for p in vectors * vectorWidth..<k { destination[p] = roundedToBFloat16(row[p]) }
        for p in k..<pairs * 2 { destination[p] = 0 }
    }
}

extension SIMD16 where Scalar == Float {
    @inlinable @inline(__always)
    init(bitPattern bits: SIMD16<Int32>) { self = unsafeBitCast(bits, to: SIMD16<Float>.self) }
}

extension SIMD16 where Scalar == Int32 {
    @inlinable @inline(__always)
    init(bitPattern values: SIMD16<Float>) { self = unsafeBitCast(values, to: SIMD16<Int32>.self) }
}

// MARK: int8

/// Computes C[rows, columns] of an int8 problem for one thread; `columns` starts at a
/// multiple of `quantizedColumns`.
@inlinable
public func int8GemmCompute<L: InstructionLevel>(
    _ level: L.Type, _ problem: Int8GemmProblem, rows: Range<Int>, columns: Range<Int>
) {
    let weights = problem.weights
    let panelBytes = weights.groups * quantizedColumns * 4
    var rowStart = rows.lowerBound
    while rowStart < rows.upperBound {
        let rowEnd = min(rows.upperBound, rowStart + quantizedRowBlock)
        var column0 = columns.lowerBound
        while column0 < columns.upperBound {
            let width = min(quantizedColumns, columns.upperBound - column0)
            let panel = weights.packed + (column0 / quantizedColumns) * panelBytes
            var row0 = rowStart
            while row0 < rowEnd {
                let height = min(gemmRows, rowEnd - row0)
                if L.vectorRegisterBits >= 512 {
                    int8Kernel6x64(level, problem, row0: row0, rows: height, column0: column0, columns: width, panel: panel)
                } else {
                    var vector = 0
                    while vector * 16 < width {
                        int8Kernel6x16(
                            level, problem, row0: row0, rows: height, column0: column0 + vector * 16,
                            columns: min(16, width - vector * 16), panel: panel + vector * 64)
                        vector += 1
                    }
                }
                row0 += gemmRows
            }
            column0 += quantizedColumns
        }
        rowStart = rowEnd
    }
}

/// Four bytes of A's row (one group of K) in every lane.
@inlinable @inline(__always)
func int8Broadcast(_ row: UnsafeRawPointer, _ offset: Int) -> IntVector {
    IntVector(repeating: row.loadUnaligned(fromByteOffset: offset, as: Int32.self))
}

/// The AVX-512 int8 micro-kernel: a 6 × 64 tile in 24 int32 accumulators; per group of
/// four K, four weight vectors and six broadcasts of A feed 24 byte dot products.
/// Rows past `rows` repeat the last row and are not stored.
@inlinable @inline(__always)
func int8Kernel6x64<L: InstructionLevel>(
    _ level: L.Type, _ problem: Int8GemmProblem, row0: Int, rows: Int, column0: Int, columns: Int, panel: UnsafeRawPointer
) {
    @inline(__always) func row(_ r: Int) -> UnsafeRawPointer { UnsafeRawPointer(problem.a + (row0 + min(r, rows - 1)) * problem.lda) }
    let a0 = row(0), a1 = row(1), a2 = row(2), a3 = row(3), a4 = row(4), a5 = row(5)
    var c00 = IntVector(), c01 = IntVector(), c02 = IntVector(), c03 = IntVector()
    var c10 = IntVector(), c11 = IntVector(), c12 = IntVector(), c13 = IntVector()
    var c20 = IntVector(), c21 = IntVector(), c22 = IntVector(), c23 = IntVector()
    var c30 = IntVector(), c31 = IntVector(), c32 = IntVector(), c33 = IntVector()
    var c40 = IntVector(), c41 = IntVector(), c42 = IntVector(), c43 = IntVector()
    var c50 = IntVector(), c51 = IntVector(), c52 = IntVector(), c53 = IntVector()
    var bp = panel
    var offset = 0
    for _ in 0..<problem.weights.groups {
        let b0 = bp.loadUnaligned(as: IntVector.self), b1 = bp.loadUnaligned(fromByteOffset: 64, as: IntVector.self)
        let b2 = bp.loadUnaligned(fromByteOffset: 128, as: IntVector.self)
        let b3 = bp.loadUnaligned(fromByteOffset: 192, as: IntVector.self)
        var x = int8Broadcast(a0, offset)
        c00 = L.multiplyAddBytes(c00, x, b0); c01 = L.multiplyAddBytes(c01, x, b1)
        c02 = L.multiplyAddBytes(c02, x, b2); c03 = L.multiplyAddBytes(c03, x, b3)
        x = int8Broadcast(a1, offset)
        c10 = L.multiplyAddBytes(c10, x, b0); c11 = L.multiplyAddBytes(c11, x, b1)
        c12 = L.multiplyAddBytes(c12, x, b2); c13 = L.multiplyAddBytes(c13, x, b3)
        x = int8Broadcast(a2, offset)
        c20 = L.multiplyAddBytes(c20, x, b0); c21 = L.multiplyAddBytes(c21, x, b1)
        c22 = L.multiplyAddBytes(c22, x, b2); c23 = L.multiplyAddBytes(c23, x, b3)
        x = int8Broadcast(a3, offset)
        c30 = L.multiplyAddBytes(c30, x, b0); c31 = L.multiplyAddBytes(c31, x, b1)
        c32 = L.multiplyAddBytes(c32, x, b2); c33 = L.multiplyAddBytes(c33, x, b3)
        x = int8Broadcast(a4, offset)
        c40 = L.multiplyAddBytes(c40, x, b0); c41 = L.multiplyAddBytes(c41, x, b1)
        c42 = L.multiplyAddBytes(c42, x, b2); c43 = L.multiplyAddBytes(c43, x, b3)
        x = int8Broadcast(a5, offset)
        c50 = L.multiplyAddBytes(c50, x, b0); c51 = L.multiplyAddBytes(c51, x, b1)
        c52 = L.multiplyAddBytes(c52, x, b2); c53 = L.multiplyAddBytes(c53, x, b3)
        bp += 256
        offset += 4
    }
    let tile = (c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23,
                c30, c31, c32, c33, c40, c41, c42, c43, c50, c51, c52, c53)
    withUnsafeBytes(of: tile) { raw in
        let sums = raw.bindMemory(to: IntVector.self)
        for r in 0..<rows {
            for v in 0..<4 where v * 16 < columns {
                int8Store(
                    problem, sums[r * 4 + v], row: row0 + r, column: column0 + v * 16, columns: min(16, columns - v * 16))
            }
        }
    }
}

/// The int8 micro-kernel for narrower registers: a 6 × 16 tile.
@inlinable @inline(__always)
func int8Kernel6x16<L: InstructionLevel>(
    _ level: L.Type, _ problem: Int8GemmProblem, row0: Int, rows: Int, column0: Int, columns: Int, panel: UnsafeRawPointer
) {
    @inline(__always) func row(_ r: Int) -> UnsafeRawPointer { UnsafeRawPointer(problem.a + (row0 + min(r, rows - 1)) * problem.lda) }
    let a0 = row(0), a1 = row(1), a2 = row(2), a3 = row(3), a4 = row(4), a5 = row(5)
    var c0 = IntVector(), c1 = IntVector(), c2 = IntVector(), c3 = IntVector(), c4 = IntVector(), c5 = IntVector()
    var bp = panel
    var offset = 0
    for _ in 0..<problem.weights.groups {
        let b = bp.loadUnaligned(as: IntVector.self)
        c0 = L.multiplyAddBytes(c0, int8Broadcast(a0, offset), b)
        c1 = L.multiplyAddBytes(c1, int8Broadcast(a1, offset), b)
        c2 = L.multiplyAddBytes(c2, int8Broadcast(a2, offset), b)
        c3 = L.multiplyAddBytes(c3, int8Broadcast(a3, offset), b)
        c4 = L.multiplyAddBytes(c4, int8Broadcast(a4, offset), b)
        c5 = L.multiplyAddBytes(c5, int8Broadcast(a5, offset), b)
        bp += 256
        offset += 4
    }
    let tile = (c0, c1, c2, c3, c4, c5)
    withUnsafeBytes(of: tile) { raw in
        let sums = raw.bindMemory(to: IntVector.self)
        for r in 0..<rows { int8Store(problem, sums[r], row: row0 + r, column: column0, columns: columns) }
    }
}

/// C[row, column..<column+columns] (=|+=) (sums − 128 Σw) × row scale × column scales (+ bias).
@inlinable @inline(__always)
func int8Store(_ problem: Int8GemmProblem, _ sums: IntVector, row: Int, column: Int, columns: Int) {
    let weights = problem.weights
    let exact = sums &- UnsafeRawPointer(weights.corrections + column).loadUnaligned(as: IntVector.self)
    let scales = loadVector(weights.scales + column) * problem.rowScales[row]
    var values = Vector()
    for lane in 0..<vectorWidth { values[lane] = Float(exact[lane]) }
    values *= scales
    let destination = problem.c + row * problem.ldc + column
    if columns == 16 {
        if let bias = problem.bias { values += loadVector(bias + column) }
        if problem.accumulate { values += loadVector(destination) }
        storeVector(values, destination)
        return
    }
    for j in 0..<columns {
        var value = values[j]
        if let bias = problem.bias { value += bias[column + j] }
        destination[j] = problem.accumulate ? destination[j] + value : value
    }
}

// MARK: BF16

/// Computes C[rows, columns] of a BF16 problem for one thread; `columns` starts at a
/// multiple of `quantizedColumns`. The tile walk is int8GemmCompute's: one walk taking
/// the micro-kernel as a closure crashes swift-frontend 6.3.1 (signal 11 in IR
/// generation of the specialised kernels), so each keeps its own.
@inlinable
public func bf16GemmCompute<L: InstructionLevel>(
    _ level: L.Type, _ problem: BF16GemmProblem, rows: Range<Int>, columns: Range<Int>
) {
    let weights = problem.weights
    let panelWords = weights.pairs * quantizedColumns
    var rowStart = rows.lowerBound
    while rowStart < rows.upperBound {
        let rowEnd = min(rows.upperBound, rowStart + quantizedRowBlock)
        var column0 = columns.lowerBound
        while column0 < columns.upperBound {
            let width = min(quantizedColumns, columns.upperBound - column0)
            let panel = weights.packed + (column0 / quantizedColumns) * panelWords
            var row0 = rowStart
            while row0 < rowEnd {
                let height = min(gemmRows, rowEnd - row0)
                if L.vectorRegisterBits >= 512 {
                    bf16Kernel6x64(level, problem, row0: row0, rows: height, column0: column0, columns: width, panel: panel)
                } else {
                    var vector = 0
                    while vector * 16 < width {
                        bf16Kernel6x16(
                            level, problem, row0: row0, rows: height, column0: column0 + vector * 16,
                            columns: min(16, width - vector * 16), panel: panel + vector * 16)
                        vector += 1
                    }
                }
                row0 += gemmRows
            }
            column0 += quantizedColumns
        }
        rowStart = rowEnd
    }
}

/// The weights of rows 2p (low halves) and 2p + 1 (high halves) as FP32.
@inlinable @inline(__always)
func bf16Widen(_ words: WordVector) -> (even: Vector, odd: Vector) {
    (unsafeBitCast(words &<< 16, to: Vector.self), unsafeBitCast(words & 0xFFFF_0000, to: Vector.self))
}

/// The AVX-512 BF16 micro-kernel: a 6 × 64 tile in 24 zmm accumulators; per pair of K,
/// four packed vectors widen to eight and twelve broadcasts of A feed 48 FMAs.
@inlinable @inline(__always)
func bf16Kernel6x64<L: InstructionLevel>(
    _ level: L.Type, _ problem: BF16GemmProblem, row0: Int, rows: Int, column0: Int, columns: Int,
    panel: UnsafePointer<UInt32>
) {
    @inline(__always) func row(_ r: Int) -> UnsafePointer<Float> { problem.a + (row0 + min(r, rows - 1)) * problem.lda }
    let a0 = row(0), a1 = row(1), a2 = row(2), a3 = row(3), a4 = row(4), a5 = row(5)
    var c00 = Vector(), c01 = Vector(), c02 = Vector(), c03 = Vector()
    var c10 = Vector(), c11 = Vector(), c12 = Vector(), c13 = Vector()
    var c20 = Vector(), c21 = Vector(), c22 = Vector(), c23 = Vector()
    var c30 = Vector(), c31 = Vector(), c32 = Vector(), c33 = Vector()
    var c40 = Vector(), c41 = Vector(), c42 = Vector(), c43 = Vector()
    var c50 = Vector(), c51 = Vector(), c52 = Vector(), c53 = Vector()
    var bp = UnsafeRawPointer(panel)
    var offset = 0
    for _ in 0..<problem.weights.pairs {
        let (e0, o0) = bf16Widen(bp.loadUnaligned(as: WordVector.self))
        let (e1, o1) = bf16Widen(bp.loadUnaligned(fromByteOffset: 64, as: WordVector.self))
        let (e2, o2) = bf16Widen(bp.loadUnaligned(fromByteOffset: 128, as: WordVector.self))
        let (e3, o3) = bf16Widen(bp.loadUnaligned(fromByteOffset: 192, as: WordVector.self))
        @inline(__always) func step(_ a: UnsafePointer<Float>, _ c0: inout Vector, _ c1: inout Vector, _ c2: inout Vector, _ c3: inout Vector) {
            let x = Vector(repeating: a[offset]), y = Vector(repeating: a[offset + 1])
            c0 = L.multiplyAdd(y, o0, L.multiplyAdd(x, e0, c0))
            c1 = L.multiplyAdd(y, o1, L.multiplyAdd(x, e1, c1))
            c2 = L.multiplyAdd(y, o2, L.multiplyAdd(x, e2, c2))
            c3 = L.multiplyAdd(y, o3, L.multiplyAdd(x, e3, c3))
        }
        step(a0, &c00, &c01, &c02, &c03)
        step(a1, &c10, &c11, &c12, &c13)
        step(a2, &c20, &c21, &c22, &c23)
        step(a3, &c30, &c31, &c32, &c33)
        step(a4, &c40, &c41, &c42, &c43)
        step(a5, &c50, &c51, &c52, &c53)
        bp += 256
        offset += 2
    }
    let c = problem.c + row0 * problem.ldc + column0
    let bias = problem.bias.map { $0 + column0 }
    let overwrite = !problem.accumulate
    gemmStoreRow(c00, c01, c02, c03, row: 0, c: c, ldc: problem.ldc, rows: rows, columns: columns, overwrite: overwrite, bias: bias)
    gemmStoreRow(c10, c11, c12, c13, row: 1, c: c, ldc: problem.ldc, rows: rows, columns: columns, overwrite: overwrite, bias: bias)
    gemmStoreRow(c20, c21, c22, c23, row: 2, c: c, ldc: problem.ldc, rows: rows, columns: columns, overwrite: overwrite, bias: bias)
    gemmStoreRow(c30, c31, c32, c33, row: 3, c: c, ldc: problem.ldc, rows: rows, columns: columns, overwrite: overwrite, bias: bias)
    gemmStoreRow(c40, c41, c42, c43, row: 4, c: c, ldc: problem.ldc, rows: rows, columns: columns, overwrite: overwrite, bias: bias)
    gemmStoreRow(c50, c51, c52, c53, row: 5, c: c, ldc: problem.ldc, rows: rows, columns: columns, overwrite: overwrite, bias: bias)
}

/// The BF16 micro-kernel for narrower registers: a 6 × 16 tile.
@inlinable @inline(__always)
func bf16Kernel6x16<L: InstructionLevel>(
    _ level: L.Type, _ problem: BF16GemmProblem, row0: Int, rows: Int, column0: Int, columns: Int,
    panel: UnsafePointer<UInt32>
) {
    @inline(__always) func row(_ r: Int) -> UnsafePointer<Float> { problem.a + (row0 + min(r, rows - 1)) * problem.lda }
    let a0 = row(0), a1 = row(1), a2 = row(2), a3 = row(3), a4 = row(4), a5 = row(5)
    var c0 = Vector(), c1 = Vector(), c2 = Vector(), c3 = Vector(), c4 = Vector(), c5 = Vector()
    var bp = UnsafeRawPointer(panel)
    var offset = 0
    for _ in 0..<problem.weights.pairs {
        let (e, o) = bf16Widen(bp.loadUnaligned(as: WordVector.self))
        c0 = L.multiplyAdd(Vector(repeating: a0[offset + 1]), o, L.multiplyAdd(Vector(repeating: a0[offset]), e, c0))
        c1 = L.multiplyAdd(Vector(repeating: a1[offset + 1]), o, L.multiplyAdd(Vector(repeating: a1[offset]), e, c1))
        c2 = L.multiplyAdd(Vector(repeating: a2[offset + 1]), o, L.multiplyAdd(Vector(repeating: a2[offset]), e, c2))
        c3 = L.multiplyAdd(Vector(repeating: a3[offset + 1]), o, L.multiplyAdd(Vector(repeating: a3[offset]), e, c3))
        c4 = L.multiplyAdd(Vector(repeating: a4[offset + 1]), o, L.multiplyAdd(Vector(repeating: a4[offset]), e, c4))
        c5 = L.multiplyAdd(Vector(repeating: a5[offset + 1]), o, L.multiplyAdd(Vector(repeating: a5[offset]), e, c5))
        bp += 256
        offset += 2
    }
    let tile = (c0, c1, c2, c3, c4, c5)
    withUnsafeBytes(of: tile) { raw in
        let sums = raw.bindMemory(to: Vector.self)
        for r in 0..<rows {
            let destination = problem.c + (row0 + r) * problem.ldc + column0
            var values = sums[r]
            if columns == 16 {
                if let bias = problem.bias { values += loadVector(bias + column0) }
                if problem.accumulate { values += loadVector(destination) }
                storeVector(values, destination)
            } else {
                for j in 0..<columns {
                    var value = values[j]
                    if let bias = problem.bias { value += bias[column0 + j] }
                    destination[j] = problem.accumulate ? destination[j] + value : value
                }
            }
        }
    }
}

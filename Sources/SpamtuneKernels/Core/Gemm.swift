// General matrix multiply, C = op(A) * op(B) (+ bias) (+ C), on one thread's share of
// C (a range of rows times a range of columns). The dispatcher (SpamtuneKernels) picks
// the shares; each thread then works alone, without synchronisation.
//
// Blocking (BLIS-style, for a 48 KB L1 and 1 MB L2 per core):
// - K is cut into equal blocks of at most `gemmDepth`; C is updated once per block.
// - B is read in panels of `gemmColumns` columns. A row-major B (a linear layer's
//   weights [in, out], row stride ldb) is read in place when one block of rows uses
//   it (a short input): the weights are never copied for inference. Only a ragged
//   last panel is copied, zero-padded. When B is transposed, or serves several blocks
//   of rows, it is copied per K block and block of `gemmColumnBlock` columns into
//   contiguous K-major panels (16 x 16 register transposes for a transposed B).
// - A is read in blocks of `gemmRowBlock` rows, which stay in L2 while the micro-kernel
//   sweeps the column panels. A row-major A is read in place (each row a contiguous
//   stream); a transposed A is copied per block into row panels of `gemmRows`,
//   K-major and row-interleaved.
// - The micro-kernel keeps a gemmRows x gemmColumns tile of C in registers: on AVX-512
//   6 x 64 in 24 zmm registers (4 B loads and 6 broadcasts per 24 FMAs); on AVX2
//   (16 ymm) four 6 x 16 tiles in turn, 12 ymm each; on the baseline (16 xmm) 6 x 4
//   tiles in 6 xmm (6 x 8 spills around the separate multiply and add, and is slower;
//   either way SSE's broadcasts bound it: a portable fallback).
//
// bench/gemm.sh measures it against OpenBLAS's sgemm on GPT-2's shapes (README,
// "Speed and memory").

public let gemmRows = 6
public let gemmColumns = 64
/// The longest K block. K is cut into equal blocks of at most this depth: a B panel
/// (768 x 64 floats, 192 KB) and a block of A rows stay in L2, and GPT-2's K = 768
/// layers update C in one pass.
public let gemmDepth = 768
/// Rows of A per block: 144 x 768 floats (432 KB) stay in L2 beside a B panel.
public let gemmRowBlock = 144
/// Columns of B copied at a time: 768 x 256 floats (768 KB), in L2.
public let gemmColumnBlock = 256

public struct GemmProblem {
    public var m: Int, n: Int, k: Int
    public var a: UnsafePointer<Float>
    public var lda: Int
    public var transposeA: Bool
    public var b: UnsafePointer<Float>
    public var ldb: Int
    public var transposeB: Bool
    public var c: UnsafeMutablePointer<Float>
    public var ldc: Int
    public var bias: UnsafePointer<Float>?
    public var accumulate: Bool

    @inlinable
    public init(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, transposeA: Bool,
        b: UnsafePointer<Float>, ldb: Int, transposeB: Bool, c: UnsafeMutablePointer<Float>, ldc: Int,
        bias: UnsafePointer<Float>?, accumulate: Bool
    ) {
        self.m = m; self.n = n; self.k = k
        self.a = a; self.lda = lda; self.transposeA = transposeA
        self.b = b; self.ldb = ldb; self.transposeB = transposeB
        self.c = c; self.ldc = ldc; self.bias = bias; self.accumulate = accumulate
    }

    @inlinable public var rowPanels: Int { (m + gemmRows - 1) / gemmRows }
    @inlinable public var columnPanels: Int { (n + gemmColumns - 1) / gemmColumns }

    /// The depth of K blocks: K in equal parts of at most `gemmDepth`.
    @inlinable public var depthBlock: Int {
        let blocks = (k + gemmDepth - 1) / gemmDepth
        return (k + blocks - 1) / max(1, blocks)
    }
    @inlinable var packedASize: Int { transposeA ? gemmRowBlock * depthBlock : 0 }
    @inlinable var packedBSize: Int {
        if transposeB || m > gemmRowBlock || stridesAliasB { return depthBlock * gemmColumnBlock }
        return n % gemmColumns == 0 ? 0 : depthBlock * gemmColumns
    }
    /// Whether B's rows are a multiple of 2 KB apart: then the cache lines of a
    /// 16-column strip fall into a thirty-second of the cache sets or fewer and evict
    /// each other from L1 and L2 (GPT-2's 3072-wide MLP weights).
    @inlinable var stridesAliasB: Bool { ldb % 512 == 0 }
    /// Whether a thread computing `rows` rows copies B into K-major panels per block:
    /// when B is transposed; for a row-major B when the copy serves more than one
    /// block of rows (contiguous panels spare the TLB and the prefetchers the long
    /// strides of a wide B), or when its stride aliases and the micro-kernel reads
    /// one 16-column strip at a time (AVX2 and below run slower in place, while
    /// AVX-512's four lines per row keep up, and copying would slow it on short
    /// inputs). Otherwise only a ragged last panel is copied.
    @inlinable func copiesB<L: InstructionLevel>(_ level: L.Type, rows: Int) -> Bool {
        transposeB || rows > gemmRowBlock || (L.vectorRegisterBits < 512 && stridesAliasB)
    }
    /// Floats of scratch each thread needs for `gemmCompute`.
    @inlinable public var scratchSize: Int { max(1, packedASize + packedBSize) }

    /// A size of per-thread scratch that other kernels may rely on.
    public static let packedBPanelSize = 256 * gemmColumns
}

/// Computes C[rows, columns] for one thread. `rows` must start at a multiple of
/// `gemmRows` and `columns` at a multiple of `gemmColumns`; `scratch` holds
/// `problem.scratchSize` floats.
///
/// Per K block, the loop over blocks of rows sits outside the loop over blocks of
/// columns when A is copied (transposed A, copied one float at a time), and inside it
/// otherwise: whichever operand costs more to copy is copied once per K block.
@inlinable
public func gemmCompute<L: InstructionLevel>(
    _ level: L.Type, _ problem: GemmProblem, rows: Range<Int>, columns: Range<Int>,
    scratch: UnsafeMutablePointer<Float>
) {
    guard !rows.isEmpty, !columns.isEmpty else { return }
    let k = problem.k
    let packedA = scratch
    let packedB = scratch + problem.packedASize
    let copiesB = problem.copiesB(level, rows: rows.count)
    let depthBlock = problem.depthBlock

    func columnBlockEnd(_ columnStart: Int) -> Int {
        copiesB ? min(columns.upperBound, columnStart + gemmColumnBlock) : columns.upperBound
    }
    func rowBlockEnd(_ rowStart: Int) -> Int { min(rows.upperBound, rowStart + gemmRowBlock) }
    func copyB(_ block: Range<Int>, depthStart: Int, depth: Int) {
        if problem.transposeB {
            gemmPackTransposedB(level, problem, columns: block, depthStart: depthStart, depth: depth, into: packedB)
        } else if copiesB {
            gemmPackB(problem, columns: block, depthStart: depthStart, depth: depth, into: packedB)
        } else if block.count % gemmColumns != 0 {
            let ragged = block.upperBound - block.count % gemmColumns
            gemmPackB(problem, columns: ragged..<block.upperBound, depthStart: depthStart, depth: depth, into: packedB)
        }
    }
    func copyA(_ block: Range<Int>, depthStart: Int, depth: Int) {
        if problem.transposeA {
            gemmPackTransposedA(problem, rows: block, depthStart: depthStart, depth: depth, into: packedA)
        }
    }

    var depthStart = 0
    while depthStart < k {
        let depth = min(depthBlock, k - depthStart)
        if problem.transposeA {
            var rowStart = rows.lowerBound
            while rowStart < rows.upperBound {
                let rowBlock = rowStart..<rowBlockEnd(rowStart)
                copyA(rowBlock, depthStart: depthStart, depth: depth)
                var columnStart = columns.lowerBound
                while columnStart < columns.upperBound {
                    let columnBlock = columnStart..<columnBlockEnd(columnStart)
                    copyB(columnBlock, depthStart: depthStart, depth: depth)
                    gemmBlock(
                        level, problem, rows: rowBlock, columns: columnBlock, depthStart: depthStart, depth: depth,
                        packedA: packedA, packedB: packedB, copiesB: copiesB)
                    columnStart = columnBlock.upperBound
                }
                rowStart = rowBlock.upperBound
            }
        } else {
            var columnStart = columns.lowerBound
            while columnStart < columns.upperBound {
                let columnBlock = columnStart..<columnBlockEnd(columnStart)
                copyB(columnBlock, depthStart: depthStart, depth: depth)
                var rowStart = rows.lowerBound
                while rowStart < rows.upperBound {
                    let rowBlock = rowStart..<rowBlockEnd(rowStart)
                    copyA(rowBlock, depthStart: depthStart, depth: depth)
                    gemmBlock(
                        level, problem, rows: rowBlock, columns: columnBlock, depthStart: depthStart, depth: depth,
                        packedA: packedA, packedB: packedB, copiesB: copiesB)
                    rowStart = rowBlock.upperBound
                }
                columnStart = columnBlock.upperBound
            }
        }
        depthStart += depth
    }
}

/// One block of rows times one block of columns over one K block, tile by tile: the
/// row panels of A (in L1/L2) against each column panel of B (streamed from L2).
@inlinable @inline(__always)
func gemmBlock<L: InstructionLevel>(
    _ level: L.Type, _ problem: GemmProblem, rows: Range<Int>, columns: Range<Int>, depthStart: Int, depth: Int,
    packedA: UnsafePointer<Float>, packedB: UnsafePointer<Float>, copiesB: Bool
) {
    let overwrite = depthStart == 0 && !problem.accumulate
    let bias = depthStart == 0 ? problem.bias : nil
    var column0 = columns.lowerBound
    while column0 < columns.upperBound {
        let width = min(gemmColumns, columns.upperBound - column0)
        let panelB: UnsafePointer<Float>
        let strideB: Int
        if copiesB {
            panelB = packedB + (column0 - columns.lowerBound) * depth
            strideB = gemmColumns
        } else if width < gemmColumns {
            panelB = packedB
            strideB = gemmColumns
        } else {
            panelB = problem.b + depthStart * problem.ldb + column0
            strideB = problem.ldb
        }
        var row0 = rows.lowerBound
        while row0 < rows.upperBound {
            let panelA: UnsafePointer<Float>
            let rowStride: Int, depthStride: Int
            if problem.transposeA {
                panelA = packedA + (row0 - rows.lowerBound) * depth
                rowStride = 1
                depthStride = gemmRows
            } else {
                panelA = problem.a + row0 * problem.lda + depthStart
                rowStride = problem.lda
                depthStride = 1
            }
            gemmTile(
                level, a: panelA, rowStride: rowStride, depthStride: depthStride,
                rows: min(gemmRows, rows.upperBound - row0), b: panelB, strideB: strideB, depth: depth,
                c: problem.c + row0 * problem.ldc + column0, ldc: problem.ldc, columns: width,
                overwrite: overwrite, bias: bias.map { $0 + column0 })
            row0 += gemmRows
        }
        column0 += gemmColumns
    }
}

/// Copies op(A)[rows, depthStart..<depthStart+depth] (A transposed: element (i, p) at
/// a[p * lda + i]) into row panels of `gemmRows`, K-major, zero-padded past the rows.
@inlinable
func gemmPackTransposedA(
    _ problem: GemmProblem, rows: Range<Int>, depthStart: Int, depth: Int, into packed: UnsafeMutablePointer<Float>
) {
    let a = problem.a, lda = problem.lda
    var row0 = rows.lowerBound
    var destination = packed
    while row0 < rows.upperBound {
        let height = min(gemmRows, rows.upperBound - row0)
        var source = a + depthStart * lda + row0
        if height == gemmRows {
            for _ in 0..<depth {
                destination[0] = source[0]; destination[1] = source[1]; destination[2] = source[2]
                destination[3] = source[3]; destination[4] = source[4]; destination[5] = source[5]
                destination += gemmRows
                source += lda
            }
        } else {
            for _ in 0..<depth {
                for r in 0..<gemmRows { destination[r] = r < height ? source[r] : 0 }
                destination += gemmRows
                source += lda
            }
        }
        row0 += gemmRows
    }
}

/// Copies B[depthStart..<depthStart+depth, columns] into consecutive panels of
/// `gemmColumns`, K-major, the last one zero-padded.
@inlinable
func gemmPackB(
    _ problem: GemmProblem, columns: Range<Int>, depthStart: Int, depth: Int, into packed: UnsafeMutablePointer<Float>
) {
    var column0 = columns.lowerBound
    var panel = packed
    while column0 < columns.upperBound {
        let width = min(gemmColumns, columns.upperBound - column0)
        var source = problem.b + depthStart * problem.ldb + column0
        var destination = panel
        if width == gemmColumns {
            for _ in 0..<depth {
                storeVector(loadVector(source), destination)
                storeVector(loadVector(source + 16), destination + 16)
                storeVector(loadVector(source + 32), destination + 32)
                storeVector(loadVector(source + 48), destination + 48)
                source += problem.ldb
                destination += gemmColumns
            }
        } else {
            for _ in 0..<depth {
                for j in 0..<width { destination[j] = source[j] }
                for j in width..<gemmColumns { destination[j] = 0 }
                source += problem.ldb
                destination += gemmColumns
            }
        }
        panel += depth * gemmColumns
        column0 += gemmColumns
    }
}

/// Copies op(B)[depthStart..<depthStart+depth, columns] (B transposed: element (p, j)
/// at b[j * ldb + p]) into consecutive panels of `gemmColumns`, K-major, zero-padded.
/// With wide vectors, 16 x 16 blocks are transposed in registers; one float at a time
/// the copy would cost as much as the multiply for a short input.
@inlinable
func gemmPackTransposedB<L: InstructionLevel>(
    _ level: L.Type, _ problem: GemmProblem, columns: Range<Int>, depthStart: Int, depth: Int,
    into packed: UnsafeMutablePointer<Float>
) {
    let b = problem.b, ldb = problem.ldb
    var column0 = columns.lowerBound
    var panel = packed
    while column0 < columns.upperBound {
        let width = min(gemmColumns, columns.upperBound - column0)
        var j0 = 0
        while j0 < gemmColumns {
            var p0 = 0
            if L.vectorRegisterBits >= 256 && j0 + 16 <= width {
                let source = b + (column0 + j0) * ldb + depthStart
                while p0 + 16 <= depth {
                    transpose16x16(source + p0, stride: ldb, into: panel + p0 * gemmColumns + j0, stride: gemmColumns)
                    p0 += 16
                }
            }
            for j in j0..<j0 + 16 {
                if j < width {
                    let source = b + (column0 + j) * ldb + depthStart
                    for p in p0..<depth { panel[p * gemmColumns + j] = source[p] }
                } else {
                    for p in p0..<depth { panel[p * gemmColumns + j] = 0 }
                }
            }
            j0 += 16
        }
        panel += depth * gemmColumns
        column0 += gemmColumns
    }
}

@usableFromInline
typealias VectorBlock = (
    Vector, Vector, Vector, Vector, Vector, Vector, Vector, Vector,
    Vector, Vector, Vector, Vector, Vector, Vector, Vector, Vector
)

/// The even and the odd elements of x followed by y (one vpermt2ps each on AVX-512).
@inlinable @inline(__always)
func deinterleave(_ x: Vector, _ y: Vector) -> (Vector, Vector) {
    let joined = SIMD32(lowHalf: x, highHalf: y)
    return (joined.evenHalf, joined.oddHalf)
}

/// One round of pairing vector u with vector u + 8: the element at vector bits v and
/// lane bits l moves to vector (v2 v1 v0 l0), lane (v3 l3 l2 l1). Four rounds move
/// (row i, column j) to vector reverse(j), lane reverse(i), bits reversed.
@inlinable @inline(__always)
func deinterleaveRound(_ x: VectorBlock) -> VectorBlock {
    let (e0, o0) = deinterleave(x.0, x.8), (e1, o1) = deinterleave(x.1, x.9)
    let (e2, o2) = deinterleave(x.2, x.10), (e3, o3) = deinterleave(x.3, x.11)
    let (e4, o4) = deinterleave(x.4, x.12), (e5, o5) = deinterleave(x.5, x.13)
    let (e6, o6) = deinterleave(x.6, x.14), (e7, o7) = deinterleave(x.7, x.15)
    return (e0, o0, e1, o1, e2, o2, e3, o3, e4, o4, e5, o5, e6, o6, e7, o7)
}

/// destination[q * destinationStride + i] = source[i * sourceStride + q], i, q < 16.
/// Rows are loaded in bit-reversed order, so that after the four rounds lane i holds
/// row i, and column q is vector reverse(q).
@inlinable @inline(__always)
func transpose16x16(
    _ source: UnsafePointer<Float>, stride sourceStride: Int, into destination: UnsafeMutablePointer<Float>,
    stride destinationStride: Int
) {
    @inline(__always) func row(_ i: Int) -> Vector { loadVector(source + i * sourceStride) }
    var block: VectorBlock = (
        row(0), row(8), row(4), row(12), row(2), row(10), row(6), row(14),
        row(1), row(9), row(5), row(13), row(3), row(11), row(7), row(15)
    )
    block = deinterleaveRound(deinterleaveRound(deinterleaveRound(deinterleaveRound(block))))
    @inline(__always) func store(_ column: Int, _ value: Vector) {
        storeVector(value, destination + column * destinationStride)
    }
    store(0, block.0); store(8, block.1); store(4, block.2); store(12, block.3)
    store(2, block.4); store(10, block.5); store(6, block.6); store(14, block.7)
    store(1, block.8); store(9, block.9); store(5, block.10); store(13, block.11)
    store(3, block.12); store(11, block.13); store(7, block.14); store(15, block.15)
}

/// C[rows x columns] (=|+=) A_panel * B_panel (+ bias) for one tile of gemmRows x
/// gemmColumns, with the micro-kernel shape of the instruction level.
/// A element (r, p) is at a[r * rowStride + p * depthStride]; B row p at b + p * strideB.
@inlinable @inline(__always)
func gemmTile<L: InstructionLevel>(
    _ level: L.Type, a: UnsafePointer<Float>, rowStride: Int, depthStride: Int, rows: Int,
    b: UnsafePointer<Float>, strideB: Int, depth: Int, c: UnsafeMutablePointer<Float>, ldc: Int, columns: Int,
    overwrite: Bool, bias: UnsafePointer<Float>?
) {
    if L.vectorRegisterBits >= 512 {
        gemmKernel6x64(
            level, a: a, rowStride: rowStride, depthStride: depthStride, rows: rows, b: b, strideB: strideB,
            depth: depth, c: c, ldc: ldc, columns: columns, overwrite: overwrite, bias: bias)
    } else if L.vectorRegisterBits >= 256 {
        var column = 0
        while column < columns {
            gemmKernel6xVector(
                level, SIMD16<Float>.self, a: a, rowStride: rowStride, depthStride: depthStride, rows: rows,
                b: b + column, strideB: strideB, depth: depth, c: c + column, ldc: ldc,
                columns: min(16, columns - column), overwrite: overwrite, bias: bias.map { $0 + column })
            column += 16
        }
    } else {
        var column = 0
        while column < columns {
            gemmKernel6xVector(
                level, SIMD4<Float>.self, a: a, rowStride: rowStride, depthStride: depthStride, rows: rows,
                b: b + column, strideB: strideB, depth: depth, c: c + column, ldc: ldc,
                columns: min(4, columns - column), overwrite: overwrite, bias: bias.map { $0 + column })
            column += 4
        }
    }
}

/// The AVX-512 micro-kernel: a 6 x 64 tile in 24 zmm accumulators; per step of K, four
/// B vectors and six broadcasts of A feed 24 FMAs. Rows past `rows` repeat the last
/// row (so that A is never read out of bounds) and are not stored.
@inlinable @inline(__always)
func gemmKernel6x64<L: InstructionLevel>(
    _ level: L.Type, a: UnsafePointer<Float>, rowStride: Int, depthStride: Int, rows: Int,
    b: UnsafePointer<Float>, strideB: Int, depth: Int, c: UnsafeMutablePointer<Float>, ldc: Int, columns: Int,
    overwrite: Bool, bias: UnsafePointer<Float>?
) {
    let a0 = a, a1 = a + min(1, rows - 1) * rowStride, a2 = a + min(2, rows - 1) * rowStride
    let a3 = a + min(3, rows - 1) * rowStride, a4 = a + min(4, rows - 1) * rowStride
    let a5 = a + min(5, rows - 1) * rowStride
    var c00 = Vector(), c01 = Vector(), c02 = Vector(), c03 = Vector()
    var c10 = Vector(), c11 = Vector(), c12 = Vector(), c13 = Vector()
    var c20 = Vector(), c21 = Vector(), c22 = Vector(), c23 = Vector()
    var c30 = Vector(), c31 = Vector(), c32 = Vector(), c33 = Vector()
    var c40 = Vector(), c41 = Vector(), c42 = Vector(), c43 = Vector()
    var c50 = Vector(), c51 = Vector(), c52 = Vector(), c53 = Vector()
    var offset = 0
    var bp = b
    for _ in 0..<depth {
        let b0 = loadVector(bp), b1 = loadVector(bp + 16), b2 = loadVector(bp + 32), b3 = loadVector(bp + 48)
        var x = Vector(repeating: a0[offset])
        c00 = L.multiplyAdd(x, b0, c00); c01 = L.multiplyAdd(x, b1, c01)
        c02 = L.multiplyAdd(x, b2, c02); c03 = L.multiplyAdd(x, b3, c03)
        x = Vector(repeating: a1[offset])
        c10 = L.multiplyAdd(x, b0, c10); c11 = L.multiplyAdd(x, b1, c11)
        c12 = L.multiplyAdd(x, b2, c12); c13 = L.multiplyAdd(x, b3, c13)
        x = Vector(repeating: a2[offset])
        c20 = L.multiplyAdd(x, b0, c20); c21 = L.multiplyAdd(x, b1, c21)
        c22 = L.multiplyAdd(x, b2, c22); c23 = L.multiplyAdd(x, b3, c23)
        x = Vector(repeating: a3[offset])
        c30 = L.multiplyAdd(x, b0, c30); c31 = L.multiplyAdd(x, b1, c31)
        c32 = L.multiplyAdd(x, b2, c32); c33 = L.multiplyAdd(x, b3, c33)
        x = Vector(repeating: a4[offset])
        c40 = L.multiplyAdd(x, b0, c40); c41 = L.multiplyAdd(x, b1, c41)
        c42 = L.multiplyAdd(x, b2, c42); c43 = L.multiplyAdd(x, b3, c43)
        x = Vector(repeating: a5[offset])
        c50 = L.multiplyAdd(x, b0, c50); c51 = L.multiplyAdd(x, b1, c51)
        c52 = L.multiplyAdd(x, b2, c52); c53 = L.multiplyAdd(x, b3, c53)
        offset += depthStride
        bp += strideB
    }
    gemmStoreRow(c00, c01, c02, c03, row: 0, c: c, ldc: ldc, rows: rows, columns: columns, overwrite: overwrite, bias: bias)
    gemmStoreRow(c10, c11, c12, c13, row: 1, c: c, ldc: ldc, rows: rows, columns: columns, overwrite: overwrite, bias: bias)
    gemmStoreRow(c20, c21, c22, c23, row: 2, c: c, ldc: ldc, rows: rows, columns: columns, overwrite: overwrite, bias: bias)
    gemmStoreRow(c30, c31, c32, c33, row: 3, c: c, ldc: ldc, rows: rows, columns: columns, overwrite: overwrite, bias: bias)
    gemmStoreRow(c40, c41, c42, c43, row: 4, c: c, ldc: ldc, rows: rows, columns: columns, overwrite: overwrite, bias: bias)
    gemmStoreRow(c50, c51, c52, c53, row: 5, c: c, ldc: ldc, rows: rows, columns: columns, overwrite: overwrite, bias: bias)
}

@inlinable @inline(__always)
func gemmStoreRow(
    _ v0: Vector, _ v1: Vector, _ v2: Vector, _ v3: Vector, row: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
    rows: Int, columns: Int, overwrite: Bool, bias: UnsafePointer<Float>?
) {
    guard row < rows else { return }
    let destination = c + row * ldc
    if columns == gemmColumns {
        var sums = (v0, v1, v2, v3)
        if let bias {
            sums.0 += loadVector(bias); sums.1 += loadVector(bias + 16)
            sums.2 += loadVector(bias + 32); sums.3 += loadVector(bias + 48)
        }
        if !overwrite {
            sums.0 += loadVector(destination); sums.1 += loadVector(destination + 16)
            sums.2 += loadVector(destination + 32); sums.3 += loadVector(destination + 48)
        }
        storeVector(sums.0, destination); storeVector(sums.1, destination + 16)
        storeVector(sums.2, destination + 32); storeVector(sums.3, destination + 48)
        return
    }
    var buffer = (v0, v1, v2, v3)
    withUnsafeBytes(of: &buffer) { raw in
        gemmStorePartial(raw.bindMemory(to: Float.self), destination, columns: columns, overwrite: overwrite, bias: bias)
    }
}

@inlinable @inline(__always)
func gemmStorePartial(
    _ values: UnsafeBufferPointer<Float>, _ destination: UnsafeMutablePointer<Float>, columns: Int, overwrite: Bool,
    bias: UnsafePointer<Float>?
) {
    for j in 0..<columns {
        var value = values[j]
        if let bias { value += bias[j] }
        destination[j] = overwrite ? value : destination[j] + value
    }
}

/// The micro-kernel for narrower registers: a 6 x V.scalarCount tile in six
/// accumulators (12 ymm registers on AVX2 with SIMD16, 6 xmm on the baseline with
/// SIMD4), leaving room for B, the broadcast and, without FMA, the product.
@inlinable @inline(__always)
func gemmKernel6xVector<L: InstructionLevel, V: SIMD>(
    _ level: L.Type, _ vector: V.Type, a: UnsafePointer<Float>, rowStride: Int, depthStride: Int, rows: Int,
    b: UnsafePointer<Float>, strideB: Int, depth: Int, c: UnsafeMutablePointer<Float>, ldc: Int, columns: Int,
    overwrite: Bool, bias: UnsafePointer<Float>?
) where V.Scalar == Float {
    let a0 = a, a1 = a + min(1, rows - 1) * rowStride, a2 = a + min(2, rows - 1) * rowStride
    let a3 = a + min(3, rows - 1) * rowStride, a4 = a + min(4, rows - 1) * rowStride
    let a5 = a + min(5, rows - 1) * rowStride
    var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V()
    var offset = 0
    var bp = b
    for _ in 0..<depth {
        let b0 = UnsafeRawPointer(bp).loadUnaligned(as: V.self)
        c0 = L.multiplyAdd(V(repeating: a0[offset]), b0, c0)
        c1 = L.multiplyAdd(V(repeating: a1[offset]), b0, c1)
        c2 = L.multiplyAdd(V(repeating: a2[offset]), b0, c2)
        c3 = L.multiplyAdd(V(repeating: a3[offset]), b0, c3)
        c4 = L.multiplyAdd(V(repeating: a4[offset]), b0, c4)
        c5 = L.multiplyAdd(V(repeating: a5[offset]), b0, c5)
        offset += depthStride
        bp += strideB
    }
    let accumulators = (c0, c1, c2, c3, c4, c5)
    withUnsafeBytes(of: accumulators) { raw in
        let values = raw.bindMemory(to: V.self)
        for row in 0..<rows {
            let destination = c + row * ldc
            if columns == V.scalarCount {
                var sum = values[row]
                if let bias { sum += UnsafeRawPointer(bias).loadUnaligned(as: V.self) }
                if !overwrite { sum += UnsafeRawPointer(destination).loadUnaligned(as: V.self) }
                UnsafeMutableRawPointer(destination).storeBytes(of: sum, as: V.self)
            } else {
                let scalars = UnsafeRawBufferPointer(rebasing: raw[(row * MemoryLayout<V>.stride)...])
                    .bindMemory(to: Float.self)
                gemmStorePartial(scalars, destination, columns: columns, overwrite: overwrite, bias: bias)
            }
        }
    }
}

// General matrix multiply, C = op(A) * op(B) (+ bias) (+ C), on one thread's share of
// the work. The dispatcher (SpamtuneKernels) splits the work and packs A once.
//
// Blocking: A is packed into panels of `gemmRows` rows, K-major, one per K block of
// `gemmDepth`; B is read in panels of `gemmColumns` columns, straight from memory when
// it is row-major with whole panels (the usual case: weights are [in, out]) and packed
// otherwise. The micro-kernel keeps a 6 x 64 tile of C in 24 vector registers.

public let gemmRows = 6
public let gemmColumns = 64
public let gemmDepth = 256

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
    /// Floats needed for the packed copy of A.
    @inlinable public var packedASize: Int { rowPanels * gemmRows * k }
    /// Whether B can be read in place (row-major, whole panels, 64-column aligned reads).
    @inlinable public var readsBInPlace: Bool { !transposeB && n % gemmColumns == 0 }
    /// Floats of per-thread scratch needed to pack one B panel.
    public static let packedBPanelSize = gemmDepth * gemmColumns
}

/// Packs the row panels `panels` of op(A): for each K block, panel i holds
/// `gemmRows x depth` floats, row-interleaved, zero-padded past m.
@inlinable
public func gemmPackA(_ problem: GemmProblem, panels: Range<Int>, into packed: UnsafeMutablePointer<Float>) {
    let m = problem.m, k = problem.k, lda = problem.lda, a = problem.a
    let paddedRows = problem.rowPanels * gemmRows
    var blockStart = 0
    while blockStart < k {
        let depth = min(gemmDepth, k - blockStart)
        let block = packed + blockStart * paddedRows
        for panel in panels {
            let destination = block + panel * gemmRows * depth
            for r in 0..<gemmRows {
                let row = panel * gemmRows + r
                if row >= m {
                    for p in 0..<depth { destination[p * gemmRows + r] = 0 }
                } else if problem.transposeA {
                    for p in 0..<depth { destination[p * gemmRows + r] = a[(blockStart + p) * lda + row] }
                } else {
                    let source = a + row * lda + blockStart
                    for p in 0..<depth { destination[p * gemmRows + r] = source[p] }
                }
            }
        }
        blockStart += gemmDepth
    }
}

/// Computes the C tiles of column panels `columns` x row panels `rows`, reading the
/// packed A. `scratch` holds `GemmProblem.packedBPanelSize` floats.
@inlinable
public func gemmCompute<L: InstructionLevel>(
    _ level: L.Type, _ problem: GemmProblem, packedA: UnsafePointer<Float>,
    columns: Range<Int>, rows: Range<Int>, scratch: UnsafeMutablePointer<Float>
) {
    let k = problem.k, n = problem.n
    let paddedRows = problem.rowPanels * gemmRows
    for columnPanel in columns {
        let column0 = columnPanel * gemmColumns
        let width = min(gemmColumns, n - column0)
        var blockStart = 0
        while blockStart < k {
            let depth = min(gemmDepth, k - blockStart)
            let panelB: UnsafePointer<Float>
            let strideB: Int
            if problem.readsBInPlace {
                panelB = problem.b + blockStart * problem.ldb + column0
                strideB = problem.ldb
            } else {
                gemmPackB(problem, column0: column0, width: width, blockStart: blockStart, depth: depth, into: scratch)
                panelB = UnsafePointer(scratch)
                strideB = gemmColumns
            }
            let firstBlock = blockStart == 0
            let block = packedA + blockStart * paddedRows
            for rowPanel in rows {
                let row0 = rowPanel * gemmRows
                gemmMicroKernel(
                    level, a: block + rowPanel * gemmRows * depth, b: panelB, strideB: strideB, depth: depth,
                    c: problem.c + row0 * problem.ldc + column0, ldc: problem.ldc,
                    rows: min(gemmRows, problem.m - row0), columns: width,
                    overwrite: firstBlock && !problem.accumulate,
                    bias: firstBlock ? problem.bias.map { $0 + column0 } : nil)
            }
            blockStart += gemmDepth
        }
    }
}

@inlinable
func gemmPackB(
    _ problem: GemmProblem, column0: Int, width: Int, blockStart: Int, depth: Int,
    into packed: UnsafeMutablePointer<Float>
) {
    let b = problem.b, ldb = problem.ldb
    if problem.transposeB {
        // op(B)[p, j] = B[j, p]
        for j in 0..<gemmColumns {
            if j < width {
                let source = b + (column0 + j) * ldb + blockStart
                for p in 0..<depth { packed[p * gemmColumns + j] = source[p] }
            } else {
                for p in 0..<depth { packed[p * gemmColumns + j] = 0 }
            }
        }
    } else {
        for p in 0..<depth {
            let source = b + (blockStart + p) * ldb + column0
            let destination = packed + p * gemmColumns
            for j in 0..<width { destination[j] = source[j] }
            for j in width..<gemmColumns { destination[j] = 0 }
        }
    }
}

/// C[rows x columns] (=|+=) A_panel * B_panel (+ bias), with A packed 6-interleaved.
@inlinable @inline(__always)
func gemmMicroKernel<L: InstructionLevel>(
    _ level: L.Type, a: UnsafePointer<Float>, b: UnsafePointer<Float>, strideB: Int, depth: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, columns: Int, overwrite: Bool, bias: UnsafePointer<Float>?
) {
    var c00 = Vector(), c01 = Vector(), c02 = Vector(), c03 = Vector()
    var c10 = Vector(), c11 = Vector(), c12 = Vector(), c13 = Vector()
    var c20 = Vector(), c21 = Vector(), c22 = Vector(), c23 = Vector()
    var c30 = Vector(), c31 = Vector(), c32 = Vector(), c33 = Vector()
    var c40 = Vector(), c41 = Vector(), c42 = Vector(), c43 = Vector()
    var c50 = Vector(), c51 = Vector(), c52 = Vector(), c53 = Vector()
    var ap = a
    var bp = b
    for _ in 0..<depth {
        let b0 = loadVector(bp), b1 = loadVector(bp + 16), b2 = loadVector(bp + 32), b3 = loadVector(bp + 48)
        var x = Vector(repeating: ap[0])
        c00 = L.multiplyAdd(x, b0, c00); c01 = L.multiplyAdd(x, b1, c01)
        c02 = L.multiplyAdd(x, b2, c02); c03 = L.multiplyAdd(x, b3, c03)
        x = Vector(repeating: ap[1])
        c10 = L.multiplyAdd(x, b0, c10); c11 = L.multiplyAdd(x, b1, c11)
        c12 = L.multiplyAdd(x, b2, c12); c13 = L.multiplyAdd(x, b3, c13)
        x = Vector(repeating: ap[2])
        c20 = L.multiplyAdd(x, b0, c20); c21 = L.multiplyAdd(x, b1, c21)
        c22 = L.multiplyAdd(x, b2, c22); c23 = L.multiplyAdd(x, b3, c23)
        x = Vector(repeating: ap[3])
        c30 = L.multiplyAdd(x, b0, c30); c31 = L.multiplyAdd(x, b1, c31)
        c32 = L.multiplyAdd(x, b2, c32); c33 = L.multiplyAdd(x, b3, c33)
        x = Vector(repeating: ap[4])
        c40 = L.multiplyAdd(x, b0, c40); c41 = L.multiplyAdd(x, b1, c41)
        c42 = L.multiplyAdd(x, b2, c42); c43 = L.multiplyAdd(x, b3, c43)
        x = Vector(repeating: ap[5])
        c50 = L.multiplyAdd(x, b0, c50); c51 = L.multiplyAdd(x, b1, c51)
        c52 = L.multiplyAdd(x, b2, c52); c53 = L.multiplyAdd(x, b3, c53)
        ap += gemmRows
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
        let values = raw.bindMemory(to: Float.self)
        for j in 0..<columns {
            var value = values[j]
            if let bias { value += bias[j] }
            destination[j] = overwrite ? value : destination[j] + value
        }
    }
}

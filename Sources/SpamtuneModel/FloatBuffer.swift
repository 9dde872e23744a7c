/// An owned, uninitialised-on-growth float array that keeps its storage between uses,
/// so a forward pass allocates nothing once the largest batch has been seen.
public final class FloatBuffer: @unchecked Sendable {
    public private(set) var pointer: UnsafeMutablePointer<Float>
    public private(set) var capacity: Int

    public init(count: Int = 0) {
        capacity = max(count, 1)
        pointer = .allocate(capacity: capacity)
    }

    public convenience init(copying source: UnsafePointer<Float>, count: Int) {
        self.init(count: count)
        pointer.update(from: source, count: count)
    }

    deinit { pointer.deallocate() }

    /// At least `count` floats; contents are undefined after growth.
    @discardableResult
    public func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            pointer.deallocate()
            capacity = count
            pointer = .allocate(capacity: count)
        }
        return pointer
    }

    /// At least `count` floats, all zero.
    public func zeroed(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = reserve(count)
        p.update(repeating: 0, count: count)
        return p
    }
}

/// Row gathers and scatters between a batch's full token rows and the rows whose output
/// is needed (the last token of each sequence, in the top block).
enum Rows {
    static func gather(
        _ source: UnsafePointer<Float>, rows: [Int], columns: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        for (r, row) in rows.enumerated() {
            (destination + r * columns).update(from: source + row * columns, count: columns)
        }
    }

    static func scatterAdd(
        _ source: UnsafePointer<Float>, rows: [Int], columns: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        for (r, row) in rows.enumerated() {
            let d = destination + row * columns, s = source + r * columns
            for j in 0..<columns { d[j] += s[j] }
        }
    }
}

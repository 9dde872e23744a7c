/// What the GPT-2 pattern distinguishes in a scalar: \p{L}, \p{N}, \s, or none of them.
enum ScalarClass: UInt8 {
    case other = 0, letter = 1, number = 2, whitespace = 3
}

/// Scalar -> class in two steps (the scalar's 256-scalar page, then the scalar within
/// its page), with identical pages stored once: ~50 KB in all. Built once per process from
/// `referenceScalarClassRuns`, never written afterwards.
final class ScalarClassTable: @unchecked Sendable {
    static let reference = ScalarClassTable(runs: referenceScalarClassRuns)

    private let pageOfBlock: UnsafeMutablePointer<UInt16>  // 0x1100 blocks of 256 scalars
    private let classes: UnsafeMutablePointer<ScalarClass>

    init(runs: [UInt32]) {
        var flat = [ScalarClass](repeating: .other, count: 0x110000)
        for (index, run) in runs.enumerated() {
            let first = Int(run >> 2)
            let end = index + 1 < runs.count ? Int(runs[index + 1] >> 2) : 0x110000
            for scalar in first..<end { flat[scalar] = ScalarClass(rawValue: UInt8(run & 3))! }
        }
        // Block 0 comes first, so ASCII's classes are the first 128 entries of `classes`.
        var pageNumbers = [[ScalarClass]: UInt16]()
        var pages = [ScalarClass]()
        pageOfBlock = .allocate(capacity: 0x1100)
        for block in 0..<0x1100 {
            let page = Array(flat[block * 256..<(block + 1) * 256])
            if let number = pageNumbers[page] {
                pageOfBlock[block] = number
            } else {
                let number = UInt16(pageNumbers.count)
                pageNumbers[page] = number
                pages += page
                pageOfBlock[block] = number
            }
        }
        classes = .allocate(capacity: pages.count)
        classes.initialize(from: pages, count: pages.count)
    }

    deinit {
        pageOfBlock.deallocate()
        classes.deallocate()
    }

    @inline(__always)
    func classOf(_ scalar: UInt32) -> ScalarClass {
        let page = Int(pageOfBlock[Int(truncatingIfNeeded: scalar >> 8)])
        return classes[page &<< 8 | Int(truncatingIfNeeded: scalar & 0xFF)]
    }

    @inline(__always)
    func classOf(ascii byte: UInt8) -> ScalarClass { classes[Int(byte)] }
}

/// Splits UTF-8 text into the pieces that GPT-2's pattern
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
/// finds, written out by hand over the bytes (a regex engine is several times slower).
/// Every piece is then byte-pair encoded on its own. The alternatives, at a piece's start:
/// - an apostrophe followed by s, t, m, d, ll, ve or re (lower case only) is a piece;
/// - a run of letters, of numbers, or of other non-space scalars is a piece, and one
///   ASCII space (only that) before such a run belongs to it;
/// - a run of whitespace is a piece, except that when non-space text follows, its last
///   scalar is left over to start the next piece (the `\s+(?!\S)` rule: "a  b" is "a",
///   " ", " b").
/// The text must be valid UTF-8 (it comes from a Swift String).
struct PreTokenizer {
    private let text: UnsafePointer<UInt8>
    private let end: Int
    private var position = 0
    private let classes: ScalarClassTable

    init(text: UnsafeBufferPointer<UInt8>, classes: ScalarClassTable = .reference) {
        // An empty buffer may have no address; any valid pointer serves, nothing is read.
        self.text = text.baseAddress ?? UnsafePointer(bitPattern: 1)!
        self.end = text.count
        self.classes = classes
    }

    /// Class and byte length of the scalar at `offset`.
    @inline(__always)
    private func scalar(at offset: Int) -> (ScalarClass, length: Int) {
        let lead = text[offset]
        if lead < 0x80 { return (classes.classOf(ascii: lead), 1) }
        let value: UInt32
        let length: Int
        if lead < 0xE0 {
            length = 2
            value = UInt32(lead & 0x1F) << 6 | UInt32(continuation(offset &+ 1))
        } else if lead < 0xF0 {
            length = 3
            value = UInt32(lead & 0x0F) << 12 | UInt32(continuation(offset &+ 1)) << 6 | UInt32(continuation(offset &+ 2))
        } else {
            length = 4
            value = UInt32(lead & 0x07) << 18 | UInt32(continuation(offset &+ 1)) << 12
                | UInt32(continuation(offset &+ 2)) << 6 | UInt32(continuation(offset &+ 3))
        }
        return (classes.classOf(value), min(length, end &- offset))
    }

    /// Never reads past the end, whatever the bytes.
    @inline(__always)
    private func continuation(_ offset: Int) -> UInt8 { offset < end ? text[offset] & 0x3F : 0 }

    /// Moves past scalars of `wanted` class from `offset`; returns where the run ends.
    @inline(__always)
    private func skipRun(of wanted: ScalarClass, from offset: Int) -> Int {
        var offset = offset
        while offset < end {
            let byte = text[offset]
            if byte < 0x80 {
                if classes.classOf(ascii: byte) != wanted { break }
                offset &+= 1
            } else {
                let (found, length) = scalar(at: offset)
                if found != wanted { break }
                offset &+= length
            }
        }
        return offset
    }

    /// Length of a contraction at `offset` (which holds an apostrophe), or 0.
    @inline(__always)
    private func contractionLength(at offset: Int) -> Int {
        guard offset &+ 1 < end else { return 0 }
        switch text[offset &+ 1] {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"):
            return 2
        case UInt8(ascii: "l"):
            return offset &+ 2 < end && text[offset &+ 2] == UInt8(ascii: "l") ? 3 : 0
        case UInt8(ascii: "v"), UInt8(ascii: "r"):
            return offset &+ 2 < end && text[offset &+ 2] == UInt8(ascii: "e") ? 3 : 0
        default:
            return 0
        }
    }

    /// The next piece as a byte range of the text, or nil at the end.
    @inline(__always)
    mutating func next() -> Range<Int>? {
        let start = position
        guard start < end else { return nil }
        let (startClass, startLength) = scalar(at: start)
        var pieceEnd = start &+ startLength
        switch startClass {
        case .letter, .number:
            pieceEnd = skipRun(of: startClass, from: pieceEnd)
        case .other:
            let contraction = text[start] == UInt8(ascii: "'") ? contractionLength(at: start) : 0
            pieceEnd = contraction > 0 ? start &+ contraction : skipRun(of: .other, from: pieceEnd)
        case .whitespace:
            if text[start] == UInt8(ascii: " "), pieceEnd < end {
                let (nextClass, nextLength) = scalar(at: pieceEnd)
                if nextClass != .whitespace {
                    pieceEnd = skipRun(of: nextClass, from: pieceEnd &+ nextLength)
                    break
                }
            }
            var lastScalarStart = start
            while pieceEnd < end {
                let (found, length) = scalar(at: pieceEnd)
                if found != .whitespace { break }
                lastScalarStart = pieceEnd
                pieceEnd &+= length
            }
            if pieceEnd < end && lastScalarStart > start { pieceEnd = lastScalarStart }
        }
        position = pieceEnd
        return start..<pieceEnd
    }
}

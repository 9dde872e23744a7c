#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Byte-level helpers shared by the parsers. They work on buffer pointers with
// explicit ranges so that scanning a 50 MB message copies nothing, and use memchr so
// that even a debug build scans a long line quickly.

typealias Bytes = UnsafeBufferPointer<UInt8>

enum ASCII {
    static let tab: UInt8 = 0x09
    static let lineFeed: UInt8 = 0x0A
    static let carriageReturn: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let quote: UInt8 = 0x22
    static let hyphen: UInt8 = 0x2D
    static let colon: UInt8 = 0x3A
    static let semicolon: UInt8 = 0x3B
    static let lessThan: UInt8 = 0x3C
    static let equals: UInt8 = 0x3D
    static let greaterThan: UInt8 = 0x3E
    static let question: UInt8 = 0x3F
    static let at: UInt8 = 0x40
    static let backslash: UInt8 = 0x5C

    @inline(__always) static func isHorizontalSpace(_ byte: UInt8) -> Bool { byte == space || byte == tab }
    @inline(__always) static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == space || byte == tab || byte == lineFeed || byte == carriageReturn || byte == 0x0C
    }
    @inline(__always) static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
    }
    @inline(__always) static func isLetter(_ byte: UInt8) -> Bool {
        let lower = byte | 0x20
        return lower >= 0x61 && lower <= 0x7A
    }
    @inline(__always) static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    @inline(__always) static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }
}

extension UnsafeBufferPointer where Element == UInt8 {
    /// The index of the first `byte` in `start..<end`, or nil.
    @inline(__always) func firstIndex(of byte: UInt8, from start: Int, to end: Int) -> Int? {
        guard start < end, let base = baseAddress else { return nil }
        guard let found = memchr(base + start, Int32(byte), end - start) else { return nil }
        return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }

    /// The end of the line that starts at `start`: the index of its LF, or `end`.
    @inline(__always) func lineEnd(from start: Int, to end: Int) -> Int {
        firstIndex(of: ASCII.lineFeed, from: start, to: end) ?? end
    }

    /// Where the content of a line ends: before a CR that precedes its LF.
    @inline(__always) func contentEnd(lineStart: Int, lineEnd: Int) -> Int {
        lineEnd > lineStart && self[lineEnd - 1] == ASCII.carriageReturn ? lineEnd - 1 : lineEnd
    }

    /// Whether the bytes at `position` equal `pattern`, ASCII letters compared without case.
    func hasPrefixIgnoringCase(_ pattern: [UInt8], at position: Int, end: Int) -> Bool {
        guard position >= 0, end - position >= pattern.count else { return false }
        for offset in 0..<pattern.count where ASCII.lowercased(self[position + offset]) != pattern[offset] {
            return false
        }
        return true
    }

    /// Whether the bytes at `position` equal `pattern` exactly.
    func hasPrefix(_ pattern: [UInt8], at position: Int, end: Int) -> Bool {
        guard position >= 0, end - position >= pattern.count, let base = baseAddress else { return false }
        return pattern.withUnsafeBufferPointer { memcmp(base + position, $0.baseAddress!, pattern.count) == 0 }
    }

    /// The first index of `pattern` (lowercase ASCII) in `start..<end`, ignoring case.
    func firstIndex(ofIgnoringCase pattern: [UInt8], from start: Int, to end: Int) -> Int? {
        guard let first = pattern.first else { return start }
        let upperFirst = first >= 0x61 && first <= 0x7A ? first - 0x20 : first
        var position = start
        while position + pattern.count <= end {
            let searchEnd = end - pattern.count + 1
            let lower = firstIndex(of: first, from: position, to: searchEnd)
            let upper = upperFirst == first ? nil : firstIndex(of: upperFirst, from: position, to: lower ?? searchEnd)
            guard let candidate = upper ?? lower else { return nil }
            if hasPrefixIgnoringCase(pattern, at: candidate, end: end) { return candidate }
            position = candidate + 1
        }
        return nil
    }

    /// The first index of `pattern` in `start..<end`. It looks for the first byte
    /// with memchr, then compares: meant for short patterns, and for ones that start
    /// with a line feed, so that a hostile text costs one comparison per line.
    func firstIndex(of pattern: [UInt8], from start: Int, to end: Int) -> Int? {
        guard let first = pattern.first else { return start }
        var position = start
        while position + pattern.count <= end {
            guard let candidate = firstIndex(of: first, from: position, to: end - pattern.count + 1) else { return nil }
            if hasPrefix(pattern, at: candidate, end: end) { return candidate }
            position = candidate + 1
        }
        return nil
    }
}

/// Bytes whose charset nobody declared: UTF-8 when they are valid UTF-8 (RFC 6532
/// allows it in headers, and it is what most senders mean), otherwise Windows-1252,
/// which is what a mislabelled 8-bit byte almost always is.
func decodeUnlabelled<C: Collection<UInt8>>(_ bytes: C) -> String {
    if let text = String(validating: bytes, as: UTF8.self) { return text }
    return SingleByteCharset.windows1252.decode(bytes)
}

// RFC 1951 (DEFLATE) decompression. spamtune unzips the SMS Spam Collection that UCI
// serves; Foundation on Linux has no zip support and the product may not link zlib
// through a C target, so the decoder is written here.
//
// Decoding is table-driven: each Huffman code is looked up with one probe of a
// primary table indexed by the next `primaryBits` input bits, and codes longer than
// that take a second probe into a subtable (the layout zlib and libdeflate use). The
// output size is bounded by the caller so a small hostile stream cannot expand into
// gigabytes (a "zip bomb").

public enum InflateError: Error, Equatable, CustomStringConvertible {
    /// The stream ended before its final block did.
    case truncated
    /// A block header names the reserved block type 3.
    case reservedBlockType
    /// A stored block's length and its one's complement disagree.
    case storedLengthMismatch(length: Int, complement: Int)
    /// A set of Huffman code lengths does not form a valid prefix code.
    case invalidCodeLengths(String)
    /// A code was read that the block's table does not define.
    case invalidSymbol(String)
    /// A back-reference points before the start of the output.
    case distanceTooFar(distance: Int, available: Int)
    /// The output would grow beyond the caller's limit.
    case outputLimitExceeded(limit: Int)

    public var description: String {
        switch self {
        case .truncated: "the compressed data ends early"
        case .reservedBlockType: "a block uses the reserved block type 3"
        case .storedLengthMismatch(let length, let complement):
            "a stored block's length \(length) does not match its check value \(complement)"
        case .invalidCodeLengths(let detail): "invalid Huffman code lengths (\(detail))"
        case .invalidSymbol(let detail): "invalid compressed data (\(detail))"
        case .distanceTooFar(let distance, let available):
            "a back-reference reaches \(distance) bytes back but only \(available) bytes were written"
        case .outputLimitExceeded(let limit): "the data expands beyond the limit of \(limit) bytes"
        }
    }
}

public enum Inflate {
    /// Decompresses a raw DEFLATE stream (no zlib or gzip wrapper).
    /// - Parameters:
    ///   - maximumOutputSize: decoding stops with `.outputLimitExceeded` past this size.
    ///   - expectedOutputSize: a size hint (e.g. from a zip header) to allocate once.
    public static func decompress(
        _ input: UnsafeRawBufferPointer, maximumOutputSize: Int, expectedOutputSize: Int? = nil
    ) throws(InflateError) -> [UInt8] {
        let initialCapacity = min(max(expectedOutputSize ?? input.count * 3, 64), maximumOutputSize)
        let output = OutputBuffer(capacity: initialCapacity, limit: maximumOutputSize)
        var reader = BitReader(input)
        var isFinalBlock = false
        while !isFinalBlock {
            isFinalBlock = try reader.bits(1) == 1
            switch try reader.bits(2) {
            case 0: try copyStoredBlock(&reader, into: output)
            case 1: try decodeHuffmanBlock(&reader, into: output, literals: FixedTables.literals, distances: FixedTables.distances)
            case 2:
                let tables = try readDynamicTables(&reader)
                try decodeHuffmanBlock(&reader, into: output, literals: tables.literals, distances: tables.distances)
            default: throw .reservedBlockType
            }
        }
        return output.bytes()
    }

    public static func decompress(
        _ input: [UInt8], maximumOutputSize: Int, expectedOutputSize: Int? = nil
    ) throws(InflateError) -> [UInt8] {
        let result: Result<[UInt8], InflateError> = input.withUnsafeBytes { buffer in
            Result { () throws(InflateError) -> [UInt8] in
                try decompress(buffer, maximumOutputSize: maximumOutputSize, expectedOutputSize: expectedOutputSize)
            }
        }
        return try result.get()
    }

    // MARK: Blocks

    private static func copyStoredBlock(_ reader: inout BitReader, into output: OutputBuffer) throws(InflateError) {
        try reader.alignToByte()
        let length = try reader.bits(16)
        let complement = try reader.bits(16)
        guard length == ~complement & 0xFFFF else { throw .storedLengthMismatch(length: length, complement: complement) }
        try reader.copyBytes(length, into: output)
    }

    // The order in which code-length code lengths are sent (RFC 1951 3.2.7).
    private static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    private static func readDynamicTables(_ reader: inout BitReader) throws(InflateError) -> (literals: HuffmanTable, distances: HuffmanTable) {
        let literalCount = try reader.bits(5) + 257
        let distanceCount = try reader.bits(5) + 1
        let codeLengthCount = try reader.bits(4) + 4
        guard literalCount <= 286, distanceCount <= 30 else {
            throw .invalidCodeLengths("\(literalCount) literal/length codes and \(distanceCount) distance codes declared")
        }
        var codeLengthLengths = [UInt8](repeating: 0, count: 19)
        for index in 0..<codeLengthCount { codeLengthLengths[codeLengthOrder[index]] = UInt8(try reader.bits(3)) }
        let codeLengthTable = try HuffmanTable(lengths: codeLengthLengths, primaryBits: 7, kind: .codeLengths)

        var lengths = [UInt8](repeating: 0, count: literalCount + distanceCount)
        var index = 0
        while index < lengths.count {
            let symbol = try reader.decode(codeLengthTable)
            switch symbol {
            case 0..<16:
                lengths[index] = UInt8(symbol)
                index += 1
            case 16:
                guard index > 0 else { throw .invalidCodeLengths("a repeat code comes before any length") }
                let repeated = lengths[index - 1]
                let count = 3 + (try reader.bits(2))
                guard index + count <= lengths.count else { throw .invalidCodeLengths("a repeat runs past the last code") }
                for offset in 0..<count { lengths[index + offset] = repeated }
                index += count
            default:
                let count = symbol == 17 ? 3 + (try reader.bits(3)) : 11 + (try reader.bits(7))
                guard index + count <= lengths.count else { throw .invalidCodeLengths("a run of zeros runs past the last code") }
                index += count  // already zero
            }
        }
        guard lengths[256] != 0 else { throw .invalidCodeLengths("the block has no end-of-block code") }
        let literals = try HuffmanTable(lengths: Array(lengths[0..<literalCount]), primaryBits: 10, kind: .literals)
        let distances = try HuffmanTable(lengths: Array(lengths[literalCount...]), primaryBits: 8, kind: .distances)
        return (literals, distances)
    }

    private static let lengthBase: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    private static let lengthExtraBits: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    private static let distanceBase: [Int] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ]
    private static let distanceExtraBits: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    private static func decodeHuffmanBlock(
        _ reader: inout BitReader, into output: OutputBuffer, literals: HuffmanTable, distances: HuffmanTable
    ) throws(InflateError) {
        while true {
            let symbol = try reader.decode(literals)
            if symbol < 256 {
                try output.append(UInt8(truncatingIfNeeded: symbol))
                continue
            }
            if symbol == 256 { return }
            let lengthIndex = symbol - 257
            guard lengthIndex < 29 else { throw .invalidSymbol("length code \(symbol)") }
            let length = lengthBase[lengthIndex] + (try reader.bits(lengthExtraBits[lengthIndex]))
            let distanceSymbol = try reader.decode(distances)
            guard distanceSymbol < 30 else { throw .invalidSymbol("distance code \(distanceSymbol)") }
            let distance = distanceBase[distanceSymbol] + (try reader.bits(distanceExtraBits[distanceSymbol]))
            try output.copyMatch(distance: distance, length: length)
        }
    }

    private enum FixedTables {
        static let literals: HuffmanTable = {
            var lengths = [UInt8](repeating: 8, count: 288)
            for symbol in 144..<256 { lengths[symbol] = 9 }
            for symbol in 256..<280 { lengths[symbol] = 7 }
            return try! HuffmanTable(lengths: lengths, primaryBits: 9, kind: .literals)
        }()
        // 30 codes of 5 bits; codes 30 and 31 exist in the fixed code but are invalid.
        static let distances: HuffmanTable = try! HuffmanTable(lengths: [UInt8](repeating: 5, count: 32), primaryBits: 5, kind: .distances)
    }
}

// MARK: Huffman tables

/// A two-level decoding table. An entry is either a leaf, holding the symbol (bits
/// 8...23) and the full code length (bits 0...7), or, with bit 31 set, a link to a
/// subtable: its offset (bits 8...30) and how many further bits index it (bits 0...7).
/// A zero entry is a code the table does not define.
struct HuffmanTable {
    enum Kind { case literals, distances, codeLengths }
    static let maximumCodeLength = 15
    static let linkFlag: UInt32 = 1 << 31

    let entries: [UInt32]
    let primaryBits: Int

    init(lengths: [UInt8], primaryBits: Int, kind: Kind) throws(InflateError) {
        self.primaryBits = primaryBits
        var countPerLength = [Int](repeating: 0, count: Self.maximumCodeLength + 1)
        for length in lengths { countPerLength[Int(length)] += 1 }
        countPerLength[0] = 0
        let longest = countPerLength.lastIndex { $0 > 0 } ?? 0

        // Kraft's inequality: `remaining` is the share of the code space not yet used.
        var remaining = 1
        for length in 1...Self.maximumCodeLength {
            remaining = remaining * 2 - countPerLength[length]
            if remaining < 0 { throw .invalidCodeLengths("over-subscribed \(kind) code") }
        }
        // As zlib does: an incomplete code is accepted only when it is a single code of
        // one bit (RFC 1951 sends a lone distance code that way) or no code at all.
        if remaining > 0 && !(longest <= 1 && kind != .codeLengths) {
            throw .invalidCodeLengths("incomplete \(kind) code")
        }

        // Canonical codes (RFC 1951 3.2.2): the first code of each length follows the
        // last code of the length below.
        var nextCode = [Int](repeating: 0, count: Self.maximumCodeLength + 1)
        var code = 0
        for length in 1...Self.maximumCodeLength {
            code = (code + countPerLength[length - 1]) << 1
            nextCode[length] = code
        }

        // Bit-reversed codes: DEFLATE packs Huffman codes most-significant bit first
        // into an LSB-first bit stream, so the table is indexed by the reversed code.
        var reversedCodes = [Int](repeating: 0, count: lengths.count)
        for (symbol, length) in lengths.enumerated() where length > 0 {
            reversedCodes[symbol] = Self.reverse(nextCode[Int(length)], bits: Int(length))
            nextCode[Int(length)] += 1
        }

        // Subtable sizes: for each primary slot, the longest code starting with it.
        let primarySize = 1 << primaryBits
        let primaryMask = primarySize - 1
        var longestUnderPrefix = [Int](repeating: 0, count: primarySize)
        for (symbol, length) in lengths.enumerated() where Int(length) > primaryBits {
            let prefix = reversedCodes[symbol] & primaryMask
            longestUnderPrefix[prefix] = max(longestUnderPrefix[prefix], Int(length))
        }
        var table = [UInt32](repeating: 0, count: primarySize)
        for prefix in 0..<primarySize where longestUnderPrefix[prefix] > 0 {
            let subtableBits = longestUnderPrefix[prefix] - primaryBits
            table[prefix] = Self.linkFlag | UInt32(table.count) << 8 | UInt32(subtableBits)
            table.append(contentsOf: repeatElement(0, count: 1 << subtableBits))
        }

        for (symbol, lengthByte) in lengths.enumerated() where lengthByte > 0 {
            let length = Int(lengthByte)
            let leaf = UInt32(symbol) << 8 | UInt32(length)
            let reversed = reversedCodes[symbol]
            if length <= primaryBits {
                var slot = reversed
                while slot < primarySize {
                    table[slot] = leaf
                    slot += 1 << length
                }
            } else {
                let link = table[reversed & primaryMask]
                let subtableStart = Int((link >> 8) & 0x7F_FFFF)
                let subtableBits = Int(link & 0xFF)
                let suffixBits = length - primaryBits
                var slot = reversed >> primaryBits
                while slot < 1 << subtableBits {
                    table[subtableStart + slot] = leaf
                    slot += 1 << suffixBits
                }
            }
        }
        entries = table
    }

    private static func reverse(_ code: Int, bits: Int) -> Int {
        var reversed = 0
        var remaining = code
        for _ in 0..<bits {
            reversed = reversed << 1 | remaining & 1
            remaining >>= 1
        }
        return reversed
    }
}

// MARK: Bit input

struct BitReader {
    private let base: UnsafePointer<UInt8>?
    private let count: Int
    private var position = 0
    private var buffer: UInt64 = 0
    private var bitCount = 0
    /// Zero bytes fed in past the end; consuming any of them means truncated input.
    private var paddingBytes = 0

    init(_ input: UnsafeRawBufferPointer) {
        base = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        count = input.count
    }

    @inline(__always) private mutating func refill() {
        while bitCount <= 56 {
            if position < count {
                buffer |= UInt64(base.unsafelyUnwrapped[position]) << UInt64(bitCount)
                position += 1
            } else {
                paddingBytes += 1
            }
            bitCount += 8
        }
    }

    @inline(__always) private func checkNotPastEnd() throws(InflateError) {
        if paddingBytes > 0 && bitCount < paddingBytes * 8 { throw .truncated }
    }

    @inline(__always) mutating func bits(_ n: Int) throws(InflateError) -> Int {
        if n == 0 { return 0 }
        if bitCount < n { refill() }
        let value = Int(truncatingIfNeeded: buffer & ((1 << UInt64(n)) - 1))
        buffer >>= UInt64(n)
        bitCount -= n
        try checkNotPastEnd()
        return value
    }

    @inline(__always) mutating func decode(_ table: HuffmanTable) throws(InflateError) -> Int {
        if bitCount < HuffmanTable.maximumCodeLength { refill() }
        let entry: UInt32 = table.entries.withUnsafeBufferPointer { entries in
            let first = entries[Int(truncatingIfNeeded: buffer) & ((1 << table.primaryBits) - 1)]
            guard first & HuffmanTable.linkFlag != 0 else { return first }
            let subtableStart = Int((first >> 8) & 0x7F_FFFF)
            let subtableMask = (1 << Int(first & 0xFF)) - 1
            return entries[subtableStart + (Int(truncatingIfNeeded: buffer >> UInt64(table.primaryBits)) & subtableMask)]
        }
        let length = Int(entry & 0xFF)
        guard length > 0 else {
            // Past the end the reader sees zero bits, which may spell an undefined code.
            if paddingBytes > 0 { throw .truncated }
            throw .invalidSymbol("a code the block's Huffman table does not define")
        }
        buffer >>= UInt64(length)
        bitCount -= length
        try checkNotPastEnd()
        return Int((entry >> 8) & 0xFFFF)
    }

    mutating func alignToByte() throws(InflateError) {
        let drop = bitCount % 8
        buffer >>= UInt64(drop)
        bitCount -= drop
        try checkNotPastEnd()
    }

    /// Copies `length` whole bytes (after `alignToByte`) straight from the input.
    mutating func copyBytes(_ length: Int, into output: OutputBuffer) throws(InflateError) {
        // Give back the input bytes still held in the bit buffer, then read the input directly.
        let heldInputBytes = bitCount / 8 - paddingBytes
        guard heldInputBytes >= 0 else { throw .truncated }
        let next = position - heldInputBytes
        guard count - next >= length else { throw .truncated }
        buffer = 0
        bitCount = 0
        paddingBytes = 0
        position = next
        if length > 0 {
            try output.append(UnsafeBufferPointer(start: base.unsafelyUnwrapped + position, count: length))
            position += length
        }
    }
}

// MARK: Output

/// The growing output. A class so that its memory is freed however decoding ends.
final class OutputBuffer {
    private var storage: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private(set) var count = 0
    private let limit: Int

    /// `capacity` never exceeds `limit`, so the fast paths need not check the limit.
    init(capacity: Int, limit: Int) {
        self.capacity = max(0, min(capacity, limit))
        self.limit = limit
        storage = .allocate(capacity: max(self.capacity, 1))
    }

    deinit { storage.deallocate() }

    private func reserve(_ extra: Int) throws(InflateError) {
        let needed = count + extra
        guard needed <= limit else { throw .outputLimitExceeded(limit: limit) }
        if needed <= capacity { return }
        let newCapacity = min(max(needed, capacity * 2), limit)
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        grown.update(from: storage, count: count)
        storage.deallocate()
        storage = grown
        capacity = newCapacity
    }

    @inline(__always) func append(_ byte: UInt8) throws(InflateError) {
        if count == capacity { try reserve(1) }
        storage[count] = byte
        count += 1
    }

    func append(_ bytes: UnsafeBufferPointer<UInt8>) throws(InflateError) {
        try reserve(bytes.count)
        (storage + count).update(from: bytes.baseAddress!, count: bytes.count)
        count += bytes.count
    }

    @inline(__always) func copyMatch(distance: Int, length: Int) throws(InflateError) {
        guard distance <= count else { throw .distanceTooFar(distance: distance, available: count) }
        if count + length > capacity { try reserve(length) }
        let source = storage + (count - distance)
        let destination = storage + count
        if distance >= length {
            destination.update(from: source, count: length)
        } else {
            // Overlapping copy: the match repeats the last `distance` bytes.
            for index in 0..<length { destination[index] = source[index] }
        }
        count += length
    }

    func bytes() -> [UInt8] { [UInt8](UnsafeBufferPointer(start: storage, count: count)) }
}

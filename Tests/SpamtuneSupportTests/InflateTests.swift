import Foundation
import SpamtuneSupport
import SpamtuneTestSupport
import Testing

/// Writes a DEFLATE bit stream by hand, for streams no compressor would produce.
private struct DeflateBitWriter {
    var bytes: [UInt8] = []
    private var bitCount = 0

    /// Extra bits and header fields: least-significant bit first.
    mutating func bits(_ value: Int, count: Int) {
        for index in 0..<count { push(value >> index & 1) }
    }

    /// Huffman codes: most-significant bit first.
    mutating func code(_ value: Int, length: Int) {
        for index in stride(from: length - 1, through: 0, by: -1) { push(value >> index & 1) }
    }

    /// A symbol of the fixed literal/length code (RFC 1951 3.2.6).
    mutating func fixedLiteral(_ symbol: Int) {
        switch symbol {
        case 0..<144: code(0x30 + symbol, length: 8)
        case 144..<256: code(0x190 + symbol - 144, length: 9)
        case 256..<280: code(symbol - 256, length: 7)
        default: code(0xC0 + symbol - 280, length: 8)
        }
    }

    private mutating func push(_ bit: Int) {
        if bitCount % 8 == 0 { bytes.append(0) }
        bytes[bytes.count - 1] |= UInt8(bit) << UInt8(bitCount % 8)
        bitCount += 1
    }
}

@Suite struct InflateTests {
    /// 'a', then a match of length 10 at distance 1: the copy overlaps itself.
    private func overlappingRunStream() -> [UInt8] {
        var writer = DeflateBitWriter()
        writer.bits(1, count: 1)  // final block
        writer.bits(1, count: 2)  // fixed Huffman
        writer.fixedLiteral(Int(UInt8(ascii: "a")))
        writer.fixedLiteral(264)  // length 10
        writer.code(0, length: 5)  // distance 1
        writer.fixedLiteral(256)
        return writer.bytes
    }

    @Test func anOverlappingMatchRepeatsTheLastBytes() throws {
        let output = try Inflate.decompress(overlappingRunStream(), maximumOutputSize: 100)
        #expect(output == Array("aaaaaaaaaaa".utf8))
    }

    @Test func outputBeyondTheLimitIsRefused() {
        #expect(throws: InflateError.outputLimitExceeded(limit: 5)) {
            try Inflate.decompress(overlappingRunStream(), maximumOutputSize: 5)
        }
    }

    @Test func aMatchReachingBeforeTheStartIsRefused() {
        var writer = DeflateBitWriter()
        writer.bits(1, count: 1)
        writer.bits(1, count: 2)
        writer.fixedLiteral(Int(UInt8(ascii: "a")))
        writer.fixedLiteral(257)  // length 3
        writer.code(4, length: 5)  // distance 5...
        writer.bits(0, count: 1)  // ...plus 0
        writer.fixedLiteral(256)
        #expect(throws: InflateError.distanceTooFar(distance: 5, available: 1)) {
            try Inflate.decompress(writer.bytes, maximumOutputSize: 100)
        }
    }

    @Test func theReservedBlockTypeIsRefused() {
        #expect(throws: InflateError.reservedBlockType) { try Inflate.decompress([0x07, 0, 0], maximumOutputSize: 10) }
    }

    @Test func aStoredBlockWithABadLengthCheckIsRefused() {
        #expect(throws: InflateError.storedLengthMismatch(length: 5, complement: 0)) {
            try Inflate.decompress([0x01, 0x05, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5], maximumOutputSize: 10)
        }
    }

    @Test func aStoredBlockIsCopied() throws {
        let output = try Inflate.decompress([0x01, 0x03, 0x00, 0xFC, 0xFF, 7, 8, 9], maximumOutputSize: 10)
        #expect(output == [7, 8, 9])
    }

    @Test func cutStreamsAreReportedAsTruncated() throws {
        let stored: [UInt8] = [0x01, 0x03, 0x00, 0xFC, 0xFF, 7, 8]
        #expect(throws: InflateError.truncated) { try Inflate.decompress(stored, maximumOutputSize: 10) }
        #expect(throws: InflateError.truncated) { try Inflate.decompress([], maximumOutputSize: 10) }
        // A fixed-Huffman stream cut in its middle, and one whose final block never comes.
        let run = overlappingRunStream()
        #expect(throws: InflateError.truncated) { try Inflate.decompress(Array(run.prefix(2)), maximumOutputSize: 100) }
        #expect(throws: InflateError.truncated) { try Inflate.decompress([0x00, 0x00, 0x00, 0xFF, 0xFF], maximumOutputSize: 10) }
    }

    @Test func overSubscribedCodeLengthsAreRefused() {
        // A dynamic block whose code-length code gives three symbols one bit each.
        var writer = DeflateBitWriter()
        writer.bits(1, count: 1)
        writer.bits(2, count: 2)
        writer.bits(0, count: 5)  // 257 literal/length codes
        writer.bits(0, count: 5)  // 1 distance code
        writer.bits(0, count: 4)  // 4 code-length codes: for 16, 17, 18, 0
        for _ in 0..<3 { writer.bits(1, count: 3) }
        writer.bits(0, count: 3)
        #expect(throws: InflateError.invalidCodeLengths("over-subscribed codeLengths code")) {
            try Inflate.decompress(writer.bytes, maximumOutputSize: 10)
        }
    }

    @Test func randomAndMutatedStreamsGiveTypedErrorsNeverATrap() throws {
        var random = SeededGenerator(seed: 1951)
        // Random bytes: mostly invalid headers and tables.
        for length in 0..<3000 {
            let input = (0..<(length % 300)).map { _ in UInt8.random(in: 0...255, using: &random) }
            _ = try? Inflate.decompress(input, maximumOutputSize: 1 << 20)
        }
        // Bit flips in a real dynamic-Huffman stream reach the decoding loops.
        let archive = SMSArchive.bytes
        let stream = Array(archive[SMSArchive.collectionDataOffset..<SMSArchive.collectionDataOffset + 4000])  // the start of SMSSpamCollection's deflate data
        var outcomes = [String: Int]()
        for _ in 0..<300 {
            var mutated = stream
            for _ in 0..<3 { mutated[Int.random(in: 0..<mutated.count, using: &random)] ^= UInt8(1 << Int.random(in: 0..<8, using: &random)) }
            do {
                _ = try Inflate.decompress(mutated, maximumOutputSize: 1 << 20)
                outcomes["decoded", default: 0] += 1
            } catch {
                outcomes[String(describing: error).components(separatedBy: " ").prefix(3).joined(separator: " "), default: 0] += 1
            }
        }
        #expect(outcomes.keys.count > 2)
    }

    @Test func crc32KnownValues() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
        var incremental = CRC32()
        incremental.update(Array("12345".utf8))
        incremental.update(Array("6789".utf8))
        #expect(incremental.value == 0xCBF4_3926)
    }
}

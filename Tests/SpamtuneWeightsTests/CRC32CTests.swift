import SpamtuneWeights
import Testing

@Suite struct CRC32CTests {
    @Test func matchesPublishedVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        // RFC 3720 (iSCSI) appendix B.4.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xff, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    /// The eight-byte path and the byte-at-a-time tail must agree at every split and length.
    @Test func continuingAcrossAnySplitEqualsOneShot() {
        var values = SeededValues(seed: 3)
        let data = (0..<1000).map { _ in UInt8(truncatingIfNeeded: Int((values.next() + 0.5) * 256)) }
        let whole = CRC32C.checksum(data)
        for split in [0, 1, 3, 7, 8, 9, 63, 500, 999, 1000] {
            let first = CRC32C.checksum(Array(data[..<split]))
            #expect(CRC32C.checksum(Array(data[split...]), continuing: first) == whole, "split at \(split)")
        }
        for length in 0..<20 {
            var bitwise: UInt32 = 0xffff_ffff
            for byte in data[..<length] {
                bitwise ^= UInt32(byte)
                for _ in 0..<8 { bitwise = bitwise & 1 != 0 ? (bitwise >> 1) ^ 0x82F6_3B78 : bitwise >> 1 }
            }
            #expect(CRC32C.checksum(Array(data[..<length])) == ~bitwise, "length \(length)")
        }
    }

    @Test func maskingIsTensorFlowsAndReversible() {
        let crc: UInt32 = 0x1234_5678
        #expect(CRC32C.mask(crc) == ((crc >> 15) | (crc << 17)) &+ 0xa282_ead8)
        for value: UInt32 in [0, 1, 0xffff_ffff, 0xE306_9283, crc] { #expect(CRC32C.unmask(CRC32C.mask(value)) == value) }
    }
}

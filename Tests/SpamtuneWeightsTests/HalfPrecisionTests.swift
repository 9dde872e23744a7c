import Foundation
import SpamtuneWeights
import Testing

/// Every one of the 65,536 F16 and BF16 bit patterns, through a real safetensors file.
@Suite struct HalfPrecisionTests {
    private func widened(_ dtype: String) throws -> (file: SafetensorsFile, values: [Float], directory: TemporaryDirectory) {
        let directory = try TemporaryDirectory()
        let data = (0...UInt16.max).flatMap { withUnsafeBytes(of: $0.littleEndian) { Array($0) } }
        let header = "{\"all\":{\"dtype\":\"\(dtype)\",\"shape\":[65536],\"data_offsets\":[0,131072]}}"
        let path = try directory.write("all.safetensors", safetensorsBytes(header: header, data: data))
        let file = try SafetensorsFile(path: path)
        return (file, try file.tensor(named: "all").toArray(), directory)
    }

    @Test func float16WidensExactlyIncludingSubnormalsInfinitiesAndNaN() throws {
        let (file, values, _) = try widened("F16")
        #expect(values.count == 65536)
        #if arch(x86_64) || arch(arm64)
        for bits in 0...UInt16.max {
            let expected = Float(Float16(bitPattern: bits))
            let actual = values[Int(bits)]
            if expected.isNaN {
                #expect(actual.isNaN, "bits \(bits)")
            } else {
                #expect(actual.bitPattern == expected.bitPattern, "bits \(bits): \(actual) vs \(expected)")
            }
        }
        #endif
        #expect(values[0x0001] == 0x1p-24)  // smallest subnormal
        #expect(values[0x03ff] == 1023 * 0x1p-24)  // largest subnormal
        #expect(values[0x0400] == 0x1p-14)  // smallest normal
        #expect(values[0x3c00] == 1)
        #expect(values[0x7bff] == 65504)
        #expect(values[0x7c00] == .infinity)
        #expect(values[0xfc00] == -.infinity)
        #expect(values[0x8000] == 0 && values[0x8000].sign == .minus)
        #expect(values[0x7e00].isNaN && values[0x7c01].isNaN)
        let view = try file.tensor(named: "all")
        #expect(!pointer(view, liesIn: file.mappedBytes), "converted tensors live in their own buffer")
        #expect(try file.tensor(named: "all").pointer == view.pointer, "conversion happens once")
    }

    @Test func bfloat16IsTheUpperHalfOfAFloat() throws {
        let (_, values, _) = try widened("BF16")
        for bits in 0...UInt16.max {
            let expected = Float(bitPattern: UInt32(bits) << 16)
            let actual = values[Int(bits)]
            #expect(expected.isNaN ? actual.isNaN : actual.bitPattern == expected.bitPattern, "bits \(bits)")
        }
        #expect(values[0x3f80] == 1 && values[0x7f80] == .infinity && values[0xff80] == -.infinity)
    }
}

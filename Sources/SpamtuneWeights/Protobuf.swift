/// Just enough protocol-buffer wire format to read TensorFlow's BundleEntryProto and
/// BundleHeaderProto: fields are decoded by number, unknown ones skipped, every length
/// checked against the buffer.
struct ProtobufError: Error {
    let reason: String
}

enum ProtobufValue {
    case varint(UInt64)
    case fixed64(UInt64)
    case lengthDelimited(ArraySlice<UInt8>)
    case fixed32(UInt32)
}

struct ProtobufField {
    let number: Int
    let value: ProtobufValue

    func varint() throws -> UInt64 {
        guard case .varint(let value) = value else { throw ProtobufError(reason: "field \(number) should be a varint") }
        return value
    }

    /// An int64/int32 field: negative numbers arrive as 10-byte two's-complement varints.
    func signedInteger() throws -> Int64 { Int64(bitPattern: try varint()) }

    func message() throws -> ArraySlice<UInt8> {
        guard case .lengthDelimited(let bytes) = value else { throw ProtobufError(reason: "field \(number) should be length-delimited") }
        return bytes
    }

    func fixed32() throws -> UInt32 {
        guard case .fixed32(let value) = value else { throw ProtobufError(reason: "field \(number) should be fixed32") }
        return value
    }
}

/// Reads varints from a byte slice; shared by the protobuf and the SSTable decoders.
struct ByteReader {
    private let bytes: ArraySlice<UInt8>
    private(set) var position: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        position = bytes.startIndex
    }

    var isAtEnd: Bool { position >= bytes.endIndex }
    var remaining: Int { bytes.endIndex - position }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < bytes.endIndex else { throw ProtobufError(reason: "varint runs past the end") }
            let byte = bytes[position]
            position += 1
            guard shift < 64, shift < 63 || byte <= 1 else { throw ProtobufError(reason: "varint longer than 64 bits") }
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// A varint that is a length or offset: it must fit in Int.
    mutating func length() throws -> Int {
        let value = try varint()
        guard value <= UInt64(Int.max) else { throw ProtobufError(reason: "length \(value) is too large") }
        return Int(value)
    }

    mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else { throw ProtobufError(reason: "a \(count)-byte field runs past the end (\(remaining) left)") }
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    mutating func littleEndian32() throws -> UInt32 {
        let raw = try take(4)
        return raw.reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func littleEndian64() throws -> UInt64 {
        let raw = try take(8)
        return raw.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
}

func protobufFields(_ bytes: ArraySlice<UInt8>) throws -> [ProtobufField] {
    var reader = ByteReader(bytes)
    var fields: [ProtobufField] = []
    while !reader.isAtEnd {
        let tag = try reader.varint()
        let number = tag >> 3
        guard number >= 1, number <= 536_870_911 else { throw ProtobufError(reason: "invalid field number \(number)") }
        switch tag & 7 {
        case 0: fields.append(ProtobufField(number: Int(number), value: .varint(try reader.varint())))
        case 1: fields.append(ProtobufField(number: Int(number), value: .fixed64(try reader.littleEndian64())))
        case 2: fields.append(ProtobufField(number: Int(number), value: .lengthDelimited(try reader.take(try reader.length()))))
        case 5: fields.append(ProtobufField(number: Int(number), value: .fixed32(try reader.littleEndian32())))
        default: throw ProtobufError(reason: "unsupported wire type \(tag & 7) for field \(number)")
        }
    }
    return fields
}

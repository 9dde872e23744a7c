/// GPT-2's byte-level alphabet. encoder.json and vocab.bpe spell every byte as one
/// printable Unicode scalar, so that tokens of raw bytes (spaces, newlines, halves of
/// UTF-8 sequences) fit in JSON keys and space-separated merge lines: bytes that print as
/// themselves in Latin-1 keep their scalar, the other 68 move to U+0100...U+0143 in byte
/// order (a space is "Ġ", U+0120). This is `bytes_to_unicode` of OpenAI's encoder.py.
enum ByteLevelAlphabet {
    static func printsAsItself(_ byte: Int) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }

    /// The scalar that spells each byte.
    static let scalarValueForByte: [UInt32] = {
        var values = [UInt32](repeating: 0, count: 256)
        var nextMoved: UInt32 = 0x100
        for byte in 0..<256 {
            if printsAsItself(byte) {
                values[byte] = UInt32(byte)
            } else {
                values[byte] = nextMoved
                nextMoved += 1
            }
        }
        return values
    }()

    /// Inverse of `scalarValueForByte`, indexed by scalar value; -1 where no byte maps.
    private static let byteForScalarValue: [Int16] = {
        var bytes = [Int16](repeating: -1, count: 0x144)
        for (byte, scalar) in scalarValueForByte.enumerated() { bytes[Int(scalar)] = Int16(byte) }
        return bytes
    }()

    static func byte(spelledBy scalar: Unicode.Scalar) -> UInt8? {
        let value = Int(scalar.value)
        guard value < byteForScalarValue.count, byteForScalarValue[value] >= 0 else { return nil }
        return UInt8(byteForScalarValue[value])
    }

    /// Byte tokens in the order tiktoken ranks them: the bytes that print as themselves
    /// first, then the moved ones. For GPT-2 this order equals the ids in encoder.json.
    static let bytesInRankOrder: [UInt8] =
        (0..<256).filter { printsAsItself($0) }.map { UInt8($0) } + (0..<256).filter { !printsAsItself($0) }.map { UInt8($0) }

    /// The raw bytes a token string spells, or nil if it has a scalar outside the alphabet.
    static func bytes<Scalars: Sequence<Unicode.Scalar>>(spelledBy scalars: Scalars) -> [UInt8]? {
        var bytes = [UInt8]()
        for scalar in scalars {
            guard let byte = byte(spelledBy: scalar) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    static func spelling(of bytes: some Sequence<UInt8>) -> String {
        var text = String.UnicodeScalarView()
        for byte in bytes { text.append(Unicode.Scalar(scalarValueForByte[Int(byte)])!) }
        return String(text)
    }
}

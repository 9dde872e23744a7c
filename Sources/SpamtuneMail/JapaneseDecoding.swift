import Foundation

/// ISO-2022-JP and EUC-JP. Both carry the same character sets (ASCII, JIS X 0201
/// katakana, JIS X 0208, JIS X 0212), one with escape sequences and one with the
/// high bit. The structure is read here; runs of JIS X 0208 or 0212 characters are
/// converted by Foundation's ISO-2022-JP converter, which works on this platform
/// where its EUC-JP converter does not.
enum JapaneseDecoding {
    private enum Mode { case ascii, roman, katakana, jis0208, jis0212, unsupportedDoubleByte }

    static func decodeISO2022JP(_ bytes: [UInt8]) -> String {
        var output = JISOutput()
        var mode = Mode.ascii
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x1B {
                output.flush()
                if let (newMode, length) = escapeSequence(in: bytes, at: index) {
                    mode = newMode
                    index += length
                } else {
                    output.append("\u{FFFD}")
                    index += 1
                }
                continue
            }
            if byte == ASCII.lineFeed || byte == ASCII.carriageReturn {
                // RFC 1468 returns to ASCII before each line end; a sender that forgot
                // should not turn the rest of the message into kanji.
                output.flush()
                mode = .ascii
                output.append(Unicode.Scalar(byte))
                index += 1
                continue
            }
            if byte >= 0x80 {
                output.flush()
                output.append("\u{FFFD}")
                index += 1
                continue
            }
            switch mode {
            case .ascii:
                output.append(Unicode.Scalar(byte))
                index += 1
            case .roman:
                output.append(byte == 0x5C ? "\u{00A5}" : byte == 0x7E ? "\u{203E}" : Unicode.Scalar(byte))
                index += 1
            case .katakana:
                output.append(byte >= 0x21 && byte <= 0x5F ? Unicode.Scalar(0xFF61 + UInt32(byte) - 0x21)! : "\u{FFFD}")
                index += 1
            case .jis0208, .jis0212, .unsupportedDoubleByte:
                guard index + 1 < bytes.count, isJISByte(byte), isJISByte(bytes[index + 1]) else {
                    output.flush()
                    output.append(byte < 0x21 ? Unicode.Scalar(byte) : "\u{FFFD}")
                    index += 1
                    continue
                }
                switch mode {
                case .jis0208: output.addPair(byte, bytes[index + 1], supplementary: false)
                case .jis0212: output.addPair(byte, bytes[index + 1], supplementary: true)
                default: output.flush(); output.append("\u{FFFD}")
                }
                index += 2
            }
        }
        output.flush()
        return String(output.scalars)
    }

    static func decodeEUCJP(_ bytes: [UInt8]) -> String {
        var output = JISOutput()
        var index = 0
        func isEUCByte(_ byte: UInt8) -> Bool { byte >= 0xA1 && byte <= 0xFE }
        while index < bytes.count {
            let byte = bytes[index]
            let next: UInt8? = index + 1 < bytes.count ? bytes[index + 1] : nil
            if byte < 0x80 {
                output.flush()
                output.append(Unicode.Scalar(byte))
                index += 1
            } else if byte == 0x8E, let next, next >= 0xA1 && next <= 0xDF {
                output.flush()
                output.append(Unicode.Scalar(0xFF61 + UInt32(next) - 0xA1)!)
                index += 2
            } else if byte == 0x8F, let next, isEUCByte(next), index + 2 < bytes.count, isEUCByte(bytes[index + 2]) {
                output.addPair(next & 0x7F, bytes[index + 2] & 0x7F, supplementary: true)
                index += 3
            } else if isEUCByte(byte), let next, isEUCByte(next) {
                output.addPair(byte & 0x7F, next & 0x7F, supplementary: false)
                index += 2
            } else {
                output.flush()
                output.append("\u{FFFD}")
                index += 1
            }
        }
        output.flush()
        return String(output.scalars)
    }

    private static func isJISByte(_ byte: UInt8) -> Bool { byte >= 0x21 && byte <= 0x7E }

    private static func escapeSequence(in bytes: [UInt8], at index: Int) -> (Mode, Int)? {
        func byte(_ offset: Int) -> UInt8? { index + offset < bytes.count ? bytes[index + offset] : nil }
        switch (byte(1), byte(2), byte(3)) {
        case (0x28, 0x42, _): return (.ascii, 3)          // ESC ( B
        case (0x28, 0x4A, _): return (.roman, 3)          // ESC ( J
        case (0x28, 0x49, _): return (.katakana, 3)       // ESC ( I
        case (0x24, 0x40, _), (0x24, 0x42, _): return (.jis0208, 3)  // ESC $ @, ESC $ B
        case (0x24, 0x28, 0x44): return (.jis0212, 4)     // ESC $ ( D
        case (0x24, 0x41, _): return (.unsupportedDoubleByte, 3)     // ESC $ A (GB 2312, ISO-2022-JP-2)
        case (0x24, 0x28, 0x43): return (.unsupportedDoubleByte, 4)  // ESC $ ( C (KS C 5601)
        default: return nil
        }
    }
}

/// Collects runs of JIS X 0208/0212 pairs and converts each run in one call.
private struct JISOutput {
    var scalars = String.UnicodeScalarView()
    private var run: [UInt8] = []
    private var runIsSupplementary = false
    private var budget = RunConverter.characterConversionBudget

    mutating func append(_ scalar: Unicode.Scalar) { scalars.append(scalar) }

    mutating func addPair(_ first: UInt8, _ second: UInt8, supplementary: Bool) {
        if !run.isEmpty && supplementary != runIsSupplementary { flush() }
        runIsSupplementary = supplementary
        run.append(first)
        run.append(second)
    }

    mutating func flush() {
        guard !run.isEmpty else { return }
        // ESC $ B (JIS X 0208) through the ISO-2022-JP converter; ESC $ ( D (JIS X
        // 0212) needs ISO-2022-JP-2 (kCFStringEncodingISO_2022_JP_2).
        let prefix: [UInt8] = runIsSupplementary ? [0x1B, 0x24, 0x28, 0x44] : [0x1B, 0x24, 0x42]
        let suffix: [UInt8] = [0x1B, 0x28, 0x42]
        let encoding = runIsSupplementary ? String.Encoding(rawValue: 0x8000_0821) : .iso2022JP
        if let text = String(bytes: prefix + run + suffix, encoding: encoding) {
            scalars.append(contentsOf: text.unicodeScalars)
        } else {
            var index = 0
            while index + 1 < run.count {
                if budget > 0, let text = String(bytes: prefix + run[index..<index + 2] + suffix, encoding: encoding) {
                    scalars.append(contentsOf: text.unicodeScalars)
                } else {
                    scalars.append("\u{FFFD}")
                }
                budget -= 1
                index += 2
            }
        }
        run.removeAll(keepingCapacity: true)
    }
}

/// RFC 2047 encoded words (`=?charset?B?...?=`, `=?charset?Q?...?=`) in header values.
///
/// Tolerant the way mail clients are: an encoded word is decoded even where RFC 2047
/// forbids one (inside a quoted string or a word), whitespace between two encoded
/// words is dropped, and adjacent words in the same charset are joined before
/// decoding, because senders split a multi-byte character across two words.
public enum EncodedWords {
    private enum Segment {
        case literal(ArraySlice<UInt8>)
        case encoded(charset: String, bytes: [UInt8])
    }

    public static func decode(_ text: String) -> String {
        guard text.utf8.contains(ASCII.equals), text.contains("=?") else { return text }
        let bytes = Array(text.utf8)
        var segments: [Segment] = []
        var literalStart = 0
        var index = 0
        while index + 1 < bytes.count {
            guard bytes[index] == ASCII.equals, bytes[index + 1] == ASCII.question else {
                index += 1
                continue
            }
            switch encodedWord(in: bytes, at: index) {
            case .word(let segment, let end):
                if literalStart < index { segments.append(.literal(bytes[literalStart..<index])) }
                segments.append(segment)
                index = end
                literalStart = end
            case .notAWord(let resumeAt):
                index = max(index + 1, resumeAt)
            }
        }
        if literalStart < bytes.count { segments.append(.literal(bytes[literalStart...])) }

        var output = ""
        var pending: (charset: String, bytes: [UInt8])?
        func flush() {
            if let run = pending { output += MailCharset.decode(run.bytes, charsetName: run.charset) }
            pending = nil
        }
        for (position, segment) in segments.enumerated() {
            switch segment {
            case .encoded(let charset, let decoded):
                if pending != nil, MailCharset.key(for: pending!.charset) == MailCharset.key(for: charset) {
                    pending!.bytes.append(contentsOf: decoded)
                } else {
                    flush()
                    pending = (charset, decoded)
                }
            case .literal(let literal):
                let betweenEncodedWords = position > 0 && position + 1 < segments.count
                    && literal.allSatisfy(ASCII.isWhitespace)
                    && { if case .encoded = segments[position + 1] { return true } else { return false } }()
                if betweenEncodedWords, pending != nil { continue }
                flush()
                output += String(decoding: literal, as: UTF8.self)
            }
        }
        flush()
        return output
    }

    private enum Scan {
        case word(Segment, end: Int)
        /// Not an encoded word; no encoded word can start before `resumeAt` either,
        /// which keeps a value full of "=?" linear rather than quadratic.
        case notAWord(resumeAt: Int)
    }

    /// The encoded word starting at `start` ("=?"), and the index after its "?=".
    /// Its text runs to the first "?=" and may not hold blanks or controls.
    private static func encodedWord(in bytes: [UInt8], at start: Int) -> Scan {
        var index = start + 2
        let charsetStart = index
        while index < bytes.count, bytes[index] != ASCII.question {
            guard index - charsetStart < 64, bytes[index] > ASCII.space, bytes[index] < 0x7F else { return .notAWord(resumeAt: start + 1) }
            index += 1
        }
        guard index > charsetStart, index + 2 < bytes.count, bytes[index + 2] == ASCII.question else {
            return .notAWord(resumeAt: start + 1)
        }
        let charset = String(decoding: bytes[charsetStart..<index], as: UTF8.self)
        let encoding = ASCII.lowercased(bytes[index + 1])
        guard encoding == UInt8(ascii: "b") || encoding == UInt8(ascii: "q") else { return .notAWord(resumeAt: start + 1) }
        let textStart = index + 3
        var textEnd = textStart
        while true {
            // Any "=?" between here and where this scan fails would fail at the same place.
            guard textEnd + 1 < bytes.count else { return .notAWord(resumeAt: bytes.count) }
            if bytes[textEnd] == ASCII.question && bytes[textEnd + 1] == ASCII.equals { break }
            guard bytes[textEnd] > ASCII.space, bytes[textEnd] < 0x7F else { return .notAWord(resumeAt: textEnd) }
            textEnd += 1
        }
        let decoded: [UInt8] = bytes.withUnsafeBufferPointer { buffer in
            if encoding == UInt8(ascii: "b") {
                return TransferDecoding.decodeBase64(buffer, range: textStart..<textEnd, limit: .max).bytes
            }
            return decodeQ(buffer, range: textStart..<textEnd)
        }
        return .word(.encoded(charset: charset, bytes: decoded), end: textEnd + 2)
    }

    /// The "Q" encoding: quoted-printable with "_" for space.
    private static func decodeQ(_ buffer: Bytes, range: Range<Int>) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(range.count)
        var index = range.lowerBound
        while index < range.upperBound {
            let byte = buffer[index]
            if byte == UInt8(ascii: "_") {
                output.append(ASCII.space)
            } else if byte == ASCII.equals, index + 2 < range.upperBound,
                      let high = ASCII.hexValue(buffer[index + 1]), let low = ASCII.hexValue(buffer[index + 2]) {
                output.append(high << 4 | low)
                index += 2
            } else {
                output.append(byte)
            }
            index += 1
        }
        return output
    }
}

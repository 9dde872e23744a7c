import Foundation

/// A part's Content-Transfer-Encoding (RFC 2045 §6).
public enum TransferEncoding: String, Sendable, Hashable {
    /// 7bit, 8bit, binary, a missing field, or one this module does not know: the
    /// bytes are the content.
    case identity
    case base64
    case quotedPrintable = "quoted-printable"

    public init(fieldValue: String?) {
        guard let fieldValue else { self = .identity; return }
        let token = fieldValue.split(whereSeparator: { $0 == ";" || $0 == "(" }).first?
            .trimmingCharacters(in: .whitespacesAndNewlines).lowercased() ?? ""
        switch token {
        case "base64", "x-base64": self = .base64
        case "quoted-printable", "x-quoted-printable", "quotedprintable": self = .quotedPrintable
        default: self = .identity
        }
    }

    /// Decodes `range` of `buffer`, producing at most `limit` bytes. Malformed input
    /// is decoded as far as it makes sense (invalid base64 characters are skipped,
    /// a truncated quantum yields the bytes it holds, a stray `=` in
    /// quoted-printable stays literal); it never fails.
    func decode(_ buffer: Bytes, range: Range<Int>, limit: Int) -> (bytes: [UInt8], truncated: Bool) {
        switch self {
        case .identity:
            let end = min(range.upperBound, range.lowerBound + max(0, limit))
            return (Array(buffer[range.lowerBound..<end]), end < range.upperBound)
        case .base64:
            return TransferDecoding.decodeBase64(buffer, range: range, limit: limit)
        case .quotedPrintable:
            return TransferDecoding.decodeQuotedPrintable(buffer, range: range, limit: limit)
        }
    }
}

enum TransferDecoding {
    private static let base64Values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(byte)] = UInt8(index)
        }
        // The URL-safe alphabet turns up in mail from web forms; accept it too.
        table[Int(UInt8(ascii: "-"))] = 62
        table[Int(UInt8(ascii: "_"))] = 63
        return table
    }()

    static func decodeBase64(_ buffer: Bytes, range: Range<Int>, limit: Int) -> (bytes: [UInt8], truncated: Bool) {
        var output: [UInt8] = []
        output.reserveCapacity(min(limit, range.count * 3 / 4 + 3))
        var accumulator: UInt32 = 0
        var count = 0
        var index = range.lowerBound
        base64Values.withUnsafeBufferPointer { values in
            while index < range.upperBound && output.count < limit {
                let byte = buffer[index]
                index += 1
                let value = values[Int(byte)]
                if value != 0xFF {
                    accumulator = accumulator << 6 | UInt32(value)
                    count += 1
                    if count == 4 {
                        output.append(UInt8(truncatingIfNeeded: accumulator >> 16))
                        output.append(UInt8(truncatingIfNeeded: accumulator >> 8))
                        output.append(UInt8(truncatingIfNeeded: accumulator))
                        accumulator = 0
                        count = 0
                    }
                } else if byte == ASCII.equals {
                    // Padding ends a quantum; some mailers then start another encoded
                    // stream, so decoding goes on.
                    flushPartialQuantum(accumulator, count, into: &output)
                    accumulator = 0
                    count = 0
                }
            }
        }
        if output.count < limit { flushPartialQuantum(accumulator, count, into: &output) }
        let truncated = output.count >= limit && index < range.upperBound
        if output.count > limit { output.removeLast(output.count - limit) }
        return (output, truncated)
    }

    private static func flushPartialQuantum(_ accumulator: UInt32, _ count: Int, into output: inout [UInt8]) {
        switch count {
        case 2:
            output.append(UInt8(truncatingIfNeeded: accumulator >> 4))
        case 3:
            output.append(UInt8(truncatingIfNeeded: accumulator >> 10))
            output.append(UInt8(truncatingIfNeeded: accumulator >> 2))
        default:
            break
        }
    }

    static func decodeQuotedPrintable(_ buffer: Bytes, range: Range<Int>, limit: Int) -> (bytes: [UInt8], truncated: Bool) {
        var output: [UInt8] = []
        output.reserveCapacity(min(limit, range.count))
        var index = range.lowerBound
        let end = range.upperBound
        while index < end && output.count < limit {
            let literalEnd = buffer.firstIndex(of: ASCII.equals, from: index, to: end) ?? end
            let take = min(literalEnd - index, limit - output.count)
            output.append(contentsOf: buffer[index..<index + take])
            index += take
            guard index < end, output.count < limit else { break }
            index += 1  // past the equals sign
            if index + 1 < end, let high = ASCII.hexValue(buffer[index]), let low = ASCII.hexValue(buffer[index + 1]) {
                output.append(high << 4 | low)
                index += 2
                continue
            }
            // A soft line break: "=" then optional trailing blanks, then the line end.
            var probe = index
            while probe < end && ASCII.isHorizontalSpace(buffer[probe]) { probe += 1 }
            if probe < end && buffer[probe] == ASCII.carriageReturn { probe += 1 }
            if probe < end && buffer[probe] == ASCII.lineFeed {
                index = probe + 1
            } else if probe >= end {
                index = end
            } else {
                output.append(ASCII.equals)
            }
        }
        return (output, index < end)
    }
}

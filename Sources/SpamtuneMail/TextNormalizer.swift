import Foundation

/// The whitespace normalisation that every text the model reads goes through, mail
/// and plain text (SMS) alike, so that the same words always reach the tokenizer as
/// the same characters:
///
/// 1. Line breaks (CR LF, CR, LF, VT, FF, NEL U+0085, U+2028, U+2029) become LF.
/// 2. Other whitespace (tab, space, no-break space U+00A0, U+1680, U+2000…U+200A,
///    U+202F, U+205F, U+3000) becomes a space.
/// 3. Control characters (Unicode category Cc) and invisible format characters
///    (category Cf: soft hyphen, zero-width space and joiners, byte-order mark,
///    bidirectional controls), which spam uses to split words, are removed.
/// 4. Runs of spaces become one space; spaces at the start and end of a line go.
/// 5. Runs of blank lines become one blank line; blank lines at the start and end go.
///    (In `singleLine` mode every line break becomes a space instead.)
/// 6. The text is cut to at most `maxCharacters` Unicode scalars (counting the
///    separators that are kept), at a scalar boundary, and trailing whitespace that
///    the cut leaves is dropped.
/// 7. When the result has combining marks, it is put in Unicode Normalization Form C,
///    so that "é" decomposed (e.g. from Windows-1258 or a Mac) and precomposed match.
public enum TextNormalizer {
    public struct Result: Sendable, Hashable {
        public let text: String
        /// Whether characters were left out to stay within `maxCharacters`.
        public let wasCut: Bool
        /// Unicode scalars in `text`.
        public let characterCount: Int
    }

    public static func normalize(_ text: String, maxCharacters: Int = .max, singleLine: Bool = false) -> Result {
        var text = text
        return text.withUTF8 { normalize(utf8: $0, maxCharacters: maxCharacters, singleLine: singleLine) }
    }

    /// Works on the UTF-8 bytes, copying whole scalars into a String's own storage:
    /// appending scalar by scalar to a String costs ten times more, and this runs
    /// over every body. The output is never longer than the input (every separator
    /// stands for at least as many whitespace bytes), so one allocation does.
    private static func normalize(utf8 input: UnsafeBufferPointer<UInt8>, maxCharacters: Int, singleLine: Bool) -> Result {
        var outcome = Outcome()
        var result = String(unsafeUninitializedCapacity: input.count) { output in
            outcome = normalize(input, into: output, maxCharacters: maxCharacters, singleLine: singleLine)
            return outcome.written
        }
        var count = outcome.count
        if outcome.hasCombiningMarks {
            result = result.precomposedStringWithCanonicalMapping
            count = result.unicodeScalars.count
        }
        return Result(text: result, wasCut: outcome.wasCut, characterCount: count)
    }

    private struct Outcome {
        var written = 0
        var count = 0
        var wasCut = false
        var hasCombiningMarks = false
    }

    private static func normalize(
        _ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>, maxCharacters: Int, singleLine: Bool
    ) -> Outcome {
        var outcome = Outcome()
        var written = 0, count = 0
        var pendingSpace = false
        var pendingLineBreaks = 0
        var index = 0
        let end = input.count
        while index < end {
            let lead = input[index]
            let length: Int
            let kind: ScalarClass
            var composable = false
            if lead < 0x80 {
                length = 1
                kind = asciiClass(lead)
                // CR LF is one line break.
                if lead == 0x0D && index + 1 < end && input[index + 1] == 0x0A { index += 1 }
            } else {
                let value: UInt32
                // The input is a Swift String, so its UTF-8 is valid.
                if lead < 0xE0 {
                    length = 2
                    value = UInt32(lead & 0x1F) << 6 | UInt32(input[index + 1] & 0x3F)
                } else if lead < 0xF0 {
                    length = 3
                    value = UInt32(lead & 0x0F) << 12 | UInt32(input[index + 1] & 0x3F) << 6 | UInt32(input[index + 2] & 0x3F)
                } else {
                    length = 4
                    value = UInt32(lead & 0x07) << 18 | UInt32(input[index + 1] & 0x3F) << 12
                        | UInt32(input[index + 2] & 0x3F) << 6 | UInt32(input[index + 3] & 0x3F)
                }
                (kind, composable) = classify(nonASCII: value)
            }
            switch kind {
            case .lineBreak:
                if singleLine { pendingSpace = true } else { pendingLineBreaks += 1 }
                index += length
                continue
            case .space:
                pendingSpace = true
                index += length
                continue
            case .removed:
                index += length
                continue
            case .visible:
                break
            }
            var separatorCount = 0
            var separator = ASCII.space
            if written > 0 {
                if pendingLineBreaks > 0 { separator = ASCII.lineFeed; separatorCount = min(2, pendingLineBreaks) }
                else if pendingSpace { separatorCount = 1 }
            }
            guard count + separatorCount + 1 <= maxCharacters else {
                outcome.wasCut = true
                break
            }
            if separatorCount > 0 {
                output[written] = separator
                if separatorCount > 1 { output[written + 1] = separator }
                written += separatorCount
            }
            count += separatorCount
            pendingSpace = false
            pendingLineBreaks = 0
            if length > 1 {
                for offset in 0..<length { output[written + offset] = input[index + offset] }
                written += length
                count += 1
                if composable { outcome.hasCombiningMarks = true }
                index += length
                continue
            }
            // Plain ASCII words with single spaces between them come out as they went
            // in: copy the whole run at once.
            var runEnd = index + 1
            let runLimit = index + min(end - index, maxCharacters - count)
            while runEnd < runLimit {
                let byte = input[runEnd]
                if byte > 0x20 && byte < 0x7F {
                    runEnd += 1
                } else if byte == 0x20 && runEnd + 1 < runLimit && input[runEnd + 1] > 0x20 && input[runEnd + 1] < 0x7F {
                    runEnd += 2
                } else {
                    break
                }
            }
            let runLength = runEnd - index
            UnsafeMutableRawPointer(output.baseAddress! + written).copyMemory(from: input.baseAddress! + index, byteCount: runLength)
            written += runLength
            count += runLength
            index = runEnd
        }
        outcome.written = written
        outcome.count = count
        return outcome
    }

    @inline(__always)
    private static func asciiClass(_ byte: UInt8) -> ScalarClass {
        if byte >= 0x21 && byte < 0x7F { return .visible }
        switch byte {
        case 0x20, 0x09: return .space
        case 0x0A, 0x0B, 0x0C, 0x0D: return .lineBreak
        default: return .removed
        }
    }

    private enum ScalarClass { case visible, space, lineBreak, removed }

    /// The class of a scalar above ASCII, and whether NFC could change text holding
    /// it (combining marks and conjoining Hangul jamo).
    @inline(__always)
    private static func classify(nonASCII value: UInt32) -> (ScalarClass, composable: Bool) {
        switch value {
        case 0x85, 0x2028, 0x2029: return (.lineBreak, false)
        case 0xA0, 0x1680, 0x2000...0x200A, 0x202F, 0x205F, 0x3000: return (.space, false)
        case 0x80..<0x300: return (value < 0xA0 || value == 0xAD ? .removed : .visible, false)
        case 0x1100...0x11FF: return (.visible, true)
        // Letters of the commonest scripts in mail, without looking up their category:
        // Cyrillic (without its combining marks), kana, CJK ideographs, Hangul syllables.
        case 0x0400...0x0482, 0x048A...0x052F, 0x3041...0x3096, 0x30A0...0x30FF, 0x4E00...0x9FFF, 0xAC00...0xD7A3:
            return (.visible, false)
        default: break
        }
        guard let scalar = Unicode.Scalar(value) else { return (.removed, false) }
        switch scalar.properties.generalCategory {
        case .control, .format: return (.removed, false)
        case .lineSeparator, .paragraphSeparator: return (.lineBreak, false)
        case .spaceSeparator: return (.space, false)
        case .nonspacingMark, .spacingMark, .enclosingMark: return (.visible, true)
        default: return (.visible, false)
        }
    }
}

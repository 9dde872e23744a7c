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
    }

    public static func normalize(_ text: String, maxCharacters: Int = .max, singleLine: Bool = false) -> Result {
        var output = String.UnicodeScalarView()
        var count = 0
        var pendingSpace = false
        var pendingLineBreaks = 0
        var previousWasCarriageReturn = false
        var hasCombiningMarks = false
        var wasCut = false

        for scalar in text.unicodeScalars {
            let value = scalar.value
            let isCarriageReturn = value == 0x0D
            defer { previousWasCarriageReturn = isCarriageReturn }
            if value == 0x0A && previousWasCarriageReturn { continue }
            switch classify(scalar) {
            case .lineBreak:
                if singleLine { pendingSpace = true } else { pendingLineBreaks += 1 }
                continue
            case .space:
                pendingSpace = true
                continue
            case .removed:
                continue
            case .visible:
                break
            }
            var separatorCount = 0
            var separator: Unicode.Scalar = " "
            if !output.isEmpty {
                if pendingLineBreaks > 0 { separator = "\n"; separatorCount = min(2, pendingLineBreaks) }
                else if pendingSpace { separatorCount = 1 }
            }
            guard count + separatorCount + 1 <= maxCharacters else {
                wasCut = true
                break
            }
            if separatorCount > 0 { output.append(separator) }
            if separatorCount > 1 { output.append(separator) }
            output.append(scalar)
            count += separatorCount + 1
            pendingSpace = false
            pendingLineBreaks = 0
            if value >= 0x300 && !hasCombiningMarks && isComposable(scalar) { hasCombiningMarks = true }
        }
        var result = String(output)
        if hasCombiningMarks { result = result.precomposedStringWithCanonicalMapping }
        return Result(text: result, wasCut: wasCut)
    }

    private enum ScalarClass { case visible, space, lineBreak, removed }

    @inline(__always)
    private static func classify(_ scalar: Unicode.Scalar) -> ScalarClass {
        let value = scalar.value
        if value < 0x80 {
            if value >= 0x21 && value < 0x7F { return .visible }
            switch value {
            case 0x20, 0x09: return .space
            case 0x0A, 0x0B, 0x0C, 0x0D: return .lineBreak
            default: return .removed
            }
        }
        switch value {
        case 0x85, 0x2028, 0x2029: return .lineBreak
        case 0xA0, 0x1680, 0x2000...0x200A, 0x202F, 0x205F, 0x3000: return .space
        default: break
        }
        switch scalar.properties.generalCategory {
        case .control, .format: return .removed
        case .lineSeparator, .paragraphSeparator: return .lineBreak
        case .spaceSeparator: return .space
        default: return .visible
        }
    }

    /// Whether NFC could change text containing `scalar`: combining marks and the
    /// conjoining Hangul jamo.
    private static func isComposable(_ scalar: Unicode.Scalar) -> Bool {
        if (0x1100...0x11FF).contains(scalar.value) { return true }
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: return true
        default: return false
        }
    }
}

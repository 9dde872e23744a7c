import Foundation

/// The double-byte charsets of East Asian mail, converted by Foundation.
///
/// Foundation's converter returns nothing at all for a buffer with one malformed
/// byte, or, for some charsets, silently drops it. So the bytes are first cut, by
/// the charset's byte structure, into segments of well-formed characters (one
/// segment for ordinary text), each malformed byte becoming U+FFFD; a segment
/// Foundation still rejects (a character it cannot map) is converted character by
/// character, and what fails becomes U+FFFD. The character-by-character step is
/// bounded per buffer, so hostile bytes cost at most a few thousand conversions.
enum MultiByteScheme: CaseIterable, Sendable, Hashable {
    case gb18030, big5, windows31J, windows949

    var name: String {
        switch self {
        case .gb18030: "gb18030"
        case .big5: "big5"
        case .windows31J: "shift_jis"
        case .windows949: "euc-kr"
        }
    }

    var aliases: [String] {
        switch self {
        case .gb18030: ["gb2312", "gbk", "cp936", "ms936", "windows-936", "euc-cn", "chinese", "csgb2312", "csiso58gb231280",
                        "gb_2312", "gb_2312-80", "iso-ir-58", "x-gbk", "x-euc-cn", "gb18030-2000", "gb18030-2005"]
        case .big5: ["big5-hkscs", "cn-big5", "csbig5", "x-x-big5", "big-5", "big-five", "bigfive", "cp950", "ms950"]
        case .windows31J: ["shift-jis", "sjis", "x-sjis", "ms_kanji", "csshiftjis", "windows-31j", "cp932", "ms932",
                           "mskanji", "x-ms-cp932"]
        case .windows949: ["ks_c_5601-1987", "ks_c_5601-1989", "ksc5601", "ksc_5601", "korean", "csksc56011987",
                           "iso-ir-149", "windows-949", "cp949", "ms949", "uhc", "euckr", "cseuckr"]
        }
    }

    /// CoreFoundation's GB_18030_2000, Big5_HKSCS_1999, DOSJapanese (NSShiftJIS)
    /// and DOSKorean: the supersets of what the names above promise.
    var foundationEncoding: String.Encoding {
        switch self {
        case .gb18030: String.Encoding(rawValue: 0x8000_0632)
        case .big5: String.Encoding(rawValue: 0x8000_0A06)
        case .windows31J: .shiftJIS
        case .windows949: String.Encoding(rawValue: 0x8000_0422)
        }
    }

    /// The length of the well-formed character starting at `index` (1 for a
    /// single-byte one at or above 0x80), or nil when the bytes there are malformed.
    func characterLength(in bytes: [UInt8], at index: Int) -> Int? {
        let lead = bytes[index]
        let next: UInt8? = index + 1 < bytes.count ? bytes[index + 1] : nil
        switch self {
        case .gb18030:
            guard lead >= 0x81 && lead <= 0xFE else { return lead == 0x80 ? 1 : nil }
            guard let next else { return nil }
            if next >= 0x30 && next <= 0x39 {
                guard index + 3 < bytes.count,
                      bytes[index + 2] >= 0x81 && bytes[index + 2] <= 0xFE,
                      bytes[index + 3] >= 0x30 && bytes[index + 3] <= 0x39 else { return nil }
                return 4
            }
            return (next >= 0x40 && next <= 0xFE && next != 0x7F) ? 2 : nil
        case .big5:
            guard lead >= 0x81 && lead <= 0xFE, let next else { return nil }
            return ((next >= 0x40 && next <= 0x7E) || (next >= 0xA1 && next <= 0xFE)) ? 2 : nil
        case .windows31J:
            if lead >= 0xA1 && lead <= 0xDF { return 1 }
            guard (lead >= 0x81 && lead <= 0x9F) || (lead >= 0xE0 && lead <= 0xFC), let next else { return nil }
            return ((next >= 0x40 && next <= 0x7E) || (next >= 0x80 && next <= 0xFC)) ? 2 : nil
        case .windows949:
            guard lead >= 0x81 && lead <= 0xFE, let next else { return nil }
            return ((next >= 0x41 && next <= 0x5A) || (next >= 0x61 && next <= 0x7A) || (next >= 0x81 && next <= 0xFE)) ? 2 : nil
        }
    }

    /// Cuts `bytes` at malformed bytes (by this charset's structure) into segments of
    /// well-formed characters and ASCII, converts each segment in one call, and
    /// replaces each malformed byte. Foundation is not asked about malformed bytes at
    /// all: for some charsets it drops them silently rather than failing.
    func decode(_ bytes: [UInt8]) -> String {
        let encoding = foundationEncoding
        var output = String.UnicodeScalarView()
        var characterBudget = RunConverter.characterConversionBudget
        var segmentStart = 0, index = 0
        func flushSegment(upTo end: Int) {
            if segmentStart < end {
                RunConverter.convert(bytes, range: segmentStart..<end, encoding: encoding, into: &output, budget: &characterBudget) {
                    bytes[$0] < 0x80 ? 1 : (self.characterLength(in: bytes, at: $0) ?? 1)
                }
            }
        }
        while index < bytes.count {
            if bytes[index] < 0x80 {
                index += 1
            } else if let length = characterLength(in: bytes, at: index) {
                index += length
            } else {
                flushSegment(upTo: index)
                output.append("\u{FFFD}")
                index += 1
                segmentStart = index
            }
        }
        flushSegment(upTo: index)
        return String(output)
    }
}

/// Converts a segment of well-formed characters through Foundation. When Foundation
/// rejects it (a character it cannot map), the segment is halved at a character
/// boundary and each half tried again, down to single characters, which become
/// U+FFFD; so one bad character costs about log2(n) calls, not the whole text.
enum RunConverter {
    /// Foundation calls allowed per buffer after the first rejection; past it,
    /// non-ASCII characters still unconverted become U+FFFD.
    static let characterConversionBudget = 4096

    static func convert(
        _ bytes: [UInt8], range: Range<Int>, encoding: String.Encoding, into output: inout String.UnicodeScalarView,
        budget: inout Int, characterLength: (Int) -> Int
    ) {
        if let text = String(bytes: bytes[range], encoding: encoding) {
            output.append(contentsOf: text.unicodeScalars)
            return
        }
        var starts: [Int] = []
        var index = range.lowerBound
        while index < range.upperBound {
            starts.append(index)
            index += max(1, min(characterLength(index), range.upperBound - index))
        }
        starts.append(range.upperBound)
        convertHalves(bytes, starts: starts[...], encoding: encoding, into: &output, budget: &budget)
    }

    /// Converts the characters starting at `starts` (the last entry is the end).
    private static func convertHalves(
        _ bytes: [UInt8], starts: ArraySlice<Int>, encoding: String.Encoding,
        into output: inout String.UnicodeScalarView, budget: inout Int
    ) {
        let first = starts.first!, end = starts.last!
        let characters = starts.count - 1
        if characters == 1 {
            if end - first == 1 && bytes[first] < 0x80 {
                output.append(Unicode.Scalar(bytes[first]))
            } else if budget > 0, let text = String(bytes: bytes[first..<end], encoding: encoding) {
                budget -= 1
                output.append(contentsOf: text.unicodeScalars)
            } else {
                budget -= 1
                output.append("\u{FFFD}")
            }
            return
        }
        let middle = starts.startIndex + characters / 2
        for half in [starts[...middle], starts[middle...]] {
            if budget > 0, let text = String(bytes: bytes[half.first!..<half.last!], encoding: encoding) {
                budget -= 1
                output.append(contentsOf: text.unicodeScalars)
            } else {
                budget -= 1
                convertHalves(bytes, starts: half, encoding: encoding, into: &output, budget: &budget)
            }
        }
    }
}

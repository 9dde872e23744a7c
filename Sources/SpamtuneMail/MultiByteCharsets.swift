import Foundation

/// The double-byte charsets of East Asian mail, converted by Foundation.
///
/// Foundation's converter returns nothing at all for a buffer with one malformed
/// byte. So a buffer it rejects is cut, by the charset's byte structure, into runs of
/// well-formed characters separated by ASCII and malformed bytes; each run is
/// converted on its own, a run still rejected is converted character by character,
/// and what remains becomes U+FFFD. The character-by-character step is bounded per
/// buffer, so hostile bytes cost at most a few thousand conversions.
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

    func decode(_ bytes: [UInt8]) -> String {
        let encoding = foundationEncoding
        if let whole = String(bytes: bytes, encoding: encoding) { return whole }
        var output = String.UnicodeScalarView()
        var characterBudget = RunConverter.characterConversionBudget
        var runStart = 0, index = 0
        func flushRun(upTo end: Int) {
            if runStart < end {
                RunConverter.convert(bytes[runStart..<end], encoding: encoding, into: &output, budget: &characterBudget) {
                    self.characterLength(in: bytes, at: $0) ?? 1
                }
            }
        }
        while index < bytes.count {
            if bytes[index] < 0x80 {
                flushRun(upTo: index)
                output.append(Unicode.Scalar(bytes[index]))
                index += 1
                runStart = index
            } else if let length = characterLength(in: bytes, at: index) {
                index += length
            } else {
                flushRun(upTo: index)
                output.append("\u{FFFD}")
                index += 1
                runStart = index
            }
        }
        flushRun(upTo: index)
        return String(output)
    }
}

/// Converts a run of well-formed multi-byte characters through Foundation, falling
/// back to one character at a time (within a budget) when the run is rejected.
enum RunConverter {
    static let characterConversionBudget = 4096

    static func convert(
        _ run: ArraySlice<UInt8>, encoding: String.Encoding, into output: inout String.UnicodeScalarView,
        budget: inout Int, characterLength: (Int) -> Int
    ) {
        if let text = String(bytes: run, encoding: encoding) {
            output.append(contentsOf: text.unicodeScalars)
            return
        }
        var index = run.startIndex
        while index < run.endIndex {
            let length = min(characterLength(index), run.endIndex - index)
            if budget > 0, let text = String(bytes: run[index..<index + length], encoding: encoding) {
                output.append(contentsOf: text.unicodeScalars)
            } else {
                output.append("\u{FFFD}")
            }
            budget -= 1
            index += length
        }
    }
}

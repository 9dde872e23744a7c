import Foundation

/// A MIME charset, resolved from the name a message declares to a decoder that
/// never fails: bytes that the charset cannot map become U+FFFD.
///
/// Names follow the WHATWG Encoding Standard's labels, which is what mail clients
/// do: `iso-8859-1`, `latin1` and `us-ascii` decode as Windows-1252 (a superset
/// for every byte real mail uses), `iso-8859-9` as Windows-1254, `tis-620` and
/// `iso-8859-11` as Windows-874, `gb2312` and `gbk` as GB18030, `shift_jis` as
/// Windows-31J, `euc-kr` and `ks_c_5601-1987` as Windows-949 (each the superset
/// senders actually produce).
///
/// Where the bytes come from, on this platform (swift-corelibs-foundation on Linux,
/// measured by `CharsetTests`):
/// - UTF-8, UTF-16, UTF-32: the standard library.
/// - The 8-bit charsets (ISO-8859-2…16, Windows-874 and 1250…1258, KOI8-R, KOI8-U,
///   IBM 437/850/866, Mac Roman): a table of 128 code points per charset, read once
///   from Foundation's converter byte by byte; Windows-1252 is built in. Bytes a
///   charset leaves undefined (e.g. 0xA1 in ISO-8859-6) become U+FFFD.
/// - GB18030 (GB2312, GBK), Big5 (HKSCS), Windows-31J, Windows-949: Foundation's
///   converter. It rejects a whole buffer for one bad byte, so on failure the bytes are
///   split into runs of well-formed characters, each run converted separately, and
///   malformed bytes replaced.
/// - ISO-2022-JP and EUC-JP: decoded here (escape sequences, JIS X 0201 Roman and
///   katakana), with the JIS X 0208 and JIS X 0212 characters converted by
///   Foundation's ISO-2022-JP(-2) converter; Foundation has no working EUC-JP.
/// - ISO-2022-KR, HZ-GB-2312, UTF-7: Foundation, line by line; a line it rejects
///   keeps its ASCII and has other bytes replaced.
/// Unknown names, and a missing charset, are read as UTF-8 when the bytes are valid
/// UTF-8 and as Windows-1252 otherwise.
public struct MailCharset: Sendable, Hashable, CustomStringConvertible {
    /// The charset's name as this module calls it (WHATWG-style, lowercase).
    public let name: String
    let decoding: Decoding

    enum Decoding: Sendable, Hashable {
        case utf8
        /// US-ASCII and unknown: UTF-8 if valid, else Windows-1252.
        case unlabelled
        case singleByte(SingleByteCharset)
        case multiByte(MultiByteScheme)
        case iso2022JP
        case eucJP
        case utf16(bigEndian: Bool?)
        case utf32(bigEndian: Bool?)
        /// Stateful encodings with no structure this module knows: converted line by line.
        case foundationLines(UInt)
    }

    /// The charset that a MIME charset name means, or nil when it is unknown.
    public init?(name: String) {
        guard let resolved = MailCharset.resolve(name) else { return nil }
        self = resolved
    }

    init(name: String, decoding: Decoding) {
        self.name = name
        self.decoding = decoding
    }

    public var description: String { name }

    /// Decodes `bytes`; never fails.
    public func decode<C: Collection<UInt8>>(_ bytes: C) -> String {
        switch decoding {
        case .utf8:
            return String(decoding: bytes, as: UTF8.self)
        case .unlabelled:
            return decodeUnlabelled(bytes)
        case .singleByte(let charset):
            return charset.decode(bytes)
        case .multiByte(let scheme):
            return scheme.decode(Array(bytes))
        case .iso2022JP:
            return JapaneseDecoding.decodeISO2022JP(Array(bytes))
        case .eucJP:
            return JapaneseDecoding.decodeEUCJP(Array(bytes))
        case .utf16(let bigEndian):
            return UnicodeWidthDecoding.decodeUTF16(Array(bytes), bigEndian: bigEndian)
        case .utf32(let bigEndian):
            return UnicodeWidthDecoding.decodeUTF32(Array(bytes), bigEndian: bigEndian)
        case .foundationLines(let rawEncoding):
            return decodeByLines(Array(bytes), encoding: String.Encoding(rawValue: rawEncoding))
        }
    }

    /// Decodes `bytes` declared as `charsetName` (nil or unknown: UTF-8 if valid, else
    /// Windows-1252).
    public static func decode<C: Collection<UInt8>>(_ bytes: C, charsetName: String?) -> String {
        let charset = charsetName.flatMap(MailCharset.init(name:)) ?? .unlabelled
        return charset.decode(bytes)
    }

    static let unlabelled = MailCharset(name: "us-ascii", decoding: .unlabelled)
    static let utf8 = MailCharset(name: "utf-8", decoding: .utf8)

    /// A charset name reduced to lowercase letters and digits, without an `x-` prefix
    /// or a `:year` or `*language` suffix, so that `ISO_8859-1:1987`, `iso8859-1` and
    /// `ISO-8859-1` meet.
    static func key(for name: String) -> String {
        var text = Substring(name.lowercased())
        if let star = text.firstIndex(of: "*") { text = text[..<star] }
        if let colon = text.firstIndex(of: ":") { text = text[..<colon] }
        text = text.drop(while: { $0 == " " || $0 == "\"" || $0 == "'" })
        while text.hasPrefix("x-") { text = text.dropFirst(2) }
        return String(text.unicodeScalars.filter { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") }.map(Character.init))
    }

    static func resolve(_ name: String) -> MailCharset? {
        let key = key(for: name)
        return aliases[key]
    }

    /// Every name this module understands, as keys (see `key(for:)`).
    public static var knownNameKeys: [String] { aliases.keys.sorted() }

    private static let aliases: [String: MailCharset] = {
        var table: [String: MailCharset] = [:]
        func add(_ charset: MailCharset, _ names: [String]) {
            for name in names + [charset.name] { table[key(for: name)] = charset }
        }
        add(.utf8, ["utf8", "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8"])
        add(.unlabelled, ["ascii", "ansi_x3.4-1968", "iso646-us", "us", "ibm367", "cp367", "csascii", "iso-ir-6",
                          "unknown-8bit", "unknown", "default", "8bit", "7bit"])
        for charset in SingleByteCharset.allCases {
            add(MailCharset(name: charset.name, decoding: .singleByte(charset)), charset.aliases)
        }
        for scheme in MultiByteScheme.allCases {
            add(MailCharset(name: scheme.name, decoding: .multiByte(scheme)), scheme.aliases)
        }
        add(MailCharset(name: "iso-2022-jp", decoding: .iso2022JP),
            ["csiso2022jp", "iso-2022-jp-1", "iso-2022-jp-2", "iso-2022-jp-3", "jis", "jis7"])
        add(MailCharset(name: "euc-jp", decoding: .eucJP),
            ["cseucpkdfmtjapanese", "eucjp", "ujis", "extended_unix_code_packed_format_for_japanese", "eucjpms", "cp51932"])
        add(MailCharset(name: "utf-16", decoding: .utf16(bigEndian: nil)), ["unicode", "ucs-2", "iso-10646-ucs-2", "csunicode"])
        add(MailCharset(name: "utf-16be", decoding: .utf16(bigEndian: true)), ["unicodefffe", "ucs-2be"])
        add(MailCharset(name: "utf-16le", decoding: .utf16(bigEndian: false)), ["ucs-2le", "unicodefeff"])
        add(MailCharset(name: "utf-32", decoding: .utf32(bigEndian: nil)), ["ucs-4", "iso-10646-ucs-4"])
        add(MailCharset(name: "utf-32be", decoding: .utf32(bigEndian: true)), [])
        add(MailCharset(name: "utf-32le", decoding: .utf32(bigEndian: false)), [])
        // kCFStringEncodingISO_2022_KR, HZ_GB_2312 and UTF7 (CFStringEncodingExt.h).
        add(MailCharset(name: "iso-2022-kr", decoding: .foundationLines(0x8000_0840)), ["csiso2022kr"])
        add(MailCharset(name: "hz-gb-2312", decoding: .foundationLines(0x8000_0A05)), ["hz"])
        add(MailCharset(name: "utf-7", decoding: .foundationLines(0x8400_0100)), ["unicode-1-1-utf-7", "csunicode11utf7"])
        return table
    }()
}

/// Converts line by line, so that one bad line costs only itself.
func decodeByLines(_ bytes: [UInt8], encoding: String.Encoding) -> String {
    if let whole = String(bytes: bytes, encoding: encoding) { return whole }
    var output = ""
    var lineStart = 0
    while lineStart < bytes.count {
        let lineEnd = bytes[lineStart...].firstIndex(of: ASCII.lineFeed).map { $0 + 1 } ?? bytes.count
        let line = bytes[lineStart..<lineEnd]
        if let text = String(bytes: line, encoding: encoding) {
            output += text
        } else {
            output.unicodeScalars.append(contentsOf: line.map { $0 < 0x80 ? Unicode.Scalar($0) : "\u{FFFD}" })
        }
        lineStart = lineEnd
    }
    return output
}

/// UTF-16 and UTF-32, with or without a byte-order mark (big-endian when neither the
/// name nor a mark says, as RFC 2781 asks). Unpaired surrogates and a trailing odd
/// byte become U+FFFD.
enum UnicodeWidthDecoding {
    static func decodeUTF16(_ bytes: [UInt8], bigEndian declared: Bool?) -> String {
        var start = 0
        var bigEndian = declared ?? true
        if declared == nil, bytes.count >= 2 {
            if bytes[0] == 0xFF && bytes[1] == 0xFE { bigEndian = false; start = 2 }
            else if bytes[0] == 0xFE && bytes[1] == 0xFF { bigEndian = true; start = 2 }
        }
        var units: [UInt16] = []
        units.reserveCapacity((bytes.count - start) / 2)
        var index = start
        while index + 1 < bytes.count {
            let high = UInt16(bytes[index]), low = UInt16(bytes[index + 1])
            units.append(bigEndian ? high << 8 | low : low << 8 | high)
            index += 2
        }
        var text = String(decoding: units, as: UTF16.self)
        if index < bytes.count { text.unicodeScalars.append("\u{FFFD}") }
        return text
    }

    static func decodeUTF32(_ bytes: [UInt8], bigEndian declared: Bool?) -> String {
        var start = 0
        var bigEndian = declared ?? true
        if declared == nil, bytes.count >= 4 {
            if bytes[0] == 0xFF && bytes[1] == 0xFE && bytes[2] == 0 && bytes[3] == 0 { bigEndian = false; start = 4 }
            else if bytes[0] == 0 && bytes[1] == 0 && bytes[2] == 0xFE && bytes[3] == 0xFF { bigEndian = true; start = 4 }
        }
        var scalars = String.UnicodeScalarView()
        var index = start
        while index + 3 < bytes.count {
            let b = (UInt32(bytes[index]), UInt32(bytes[index + 1]), UInt32(bytes[index + 2]), UInt32(bytes[index + 3]))
            let value = bigEndian ? b.0 << 24 | b.1 << 16 | b.2 << 8 | b.3 : b.3 << 24 | b.2 << 16 | b.1 << 8 | b.0
            scalars.append(Unicode.Scalar(value) ?? "\u{FFFD}")
            index += 4
        }
        if index < bytes.count { scalars.append("\u{FFFD}") }
        return String(scalars)
    }
}

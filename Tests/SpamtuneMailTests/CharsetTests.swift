import Foundation
import SpamtuneMail
import SpamtuneTestSupport
import Testing

/// The charsets of issue 5, checked against Python's codecs (Tests/Fixtures/mail/charsets.json,
/// written by generate.py): every byte of every 8-bit charset, and sample texts of the others.
@Suite struct CharsetTests {
    struct Sample: Decodable, Sendable, CustomTestStringConvertible {
        let charset: String
        let text: String
        let bytes: String
        var testDescription: String { "\(charset): \(text)" }
    }

    struct Tables: Decodable {
        /// Code points of bytes 0x80...0xFF; -1 where Python's codec defines none.
        let singleByte: [String: [Int]]
        let samples: [Sample]
    }

    static let tables: Tables = {
        let url = ProjectPaths.fixture("mail/charsets.json")
        guard let data = try? Data(contentsOf: url), let tables = try? JSONDecoder().decode(Tables.self, from: data) else {
            return Tables(singleByte: [:], samples: [])
        }
        return tables
    }()

    @Test func tablesArePresent() {
        #expect(CharsetTests.tables.singleByte.count == 27)
        #expect(CharsetTests.tables.samples.count == 18)
    }

    @Test(arguments: CharsetTests.tables.singleByte.keys.sorted())
    func everyByteOfAnEightBitCharset(_ name: String) throws {
        let charset = try #require(MailCharset(name: name))
        let expected = try #require(CharsetTests.tables.singleByte[name])
        var differences: [String] = []
        for byte in 0x80...0xFF {
            let decoded = charset.decode([UInt8(byte)]).unicodeScalars.map { Int($0.value) }
            let python = expected[byte - 0x80]
            // A byte the charset leaves undefined is U+FFFD, or, as WHATWG decodes the
            // Windows charsets, the C1 control of the same number (removed later by
            // TextNormalizer); never another character.
            let acceptable = python >= 0 ? [[python]] : [[0xFFFD], [byte]]
            // Python's cp437 has MICRO SIGN where Foundation has GREEK SMALL LETTER MU.
            let knownVariant = name == "ibm437" && byte == 0xE6 && decoded == [0x03BC]
            if !acceptable.contains(decoded) && !knownVariant {
                differences.append(String(format: "0x%02X: U+%04X, Python %d", byte, decoded.first ?? 0, python))
            }
        }
        #expect(differences.isEmpty, "\(name) differs from Python's codec at \(differences)")
        // ASCII stays ASCII, and a buffer decodes as its bytes do one by one.
        let all = (0...255).map(UInt8.init)
        let together = charset.decode(all)
        #expect(together.unicodeScalars.count == 256)
        #expect(Array(together.unicodeScalars.prefix(128)).map(\.value) == (0..<128).map(UInt32.init))
    }

    @Test(arguments: CharsetTests.tables.samples)
    func sampleText(_ sample: Sample) throws {
        let bytes = try #require(Data(base64Encoded: sample.bytes))
        let decoded = MailCharset.decode([UInt8](bytes), charsetName: sample.charset)
        #expect(decoded == sample.text)
    }

    @Test(arguments: [
        ("latin1", "windows-1252"), ("ISO_8859-1:1987", "windows-1252"), ("iso8859-1", "windows-1252"),
        ("US-ASCII", "us-ascii"), ("x-unknown", "us-ascii"), ("cp1252", "windows-1252"), ("ISO-8859-9", "windows-1254"),
        ("tis-620", "windows-874"), ("GB2312", "gb18030"), ("x-gbk", "gb18030"), ("x-sjis", "shift_jis"),
        ("Shift_JIS", "shift_jis"), ("KS_C_5601-1987", "euc-kr"), ("utf8", "utf-8"), ("UTF-8*en", "utf-8"),
        ("\"utf-8\"", "utf-8"), ("x-euc-jp", "euc-jp"), ("csISO2022JP", "iso-2022-jp"), ("koi8", "koi8-r"),
        ("big5-hkscs", "big5"), ("win-1251", "windows-1251"),
    ])
    func aliases(_ label: String, _ name: String) {
        #expect(MailCharset(name: label)?.name == name)
    }

    @Test func unknownCharsetsAreNil() {
        #expect(MailCharset(name: "x-klingon") == nil)
        #expect(MailCharset(name: "") == nil)
    }

    @Test func undecodableBytesAreReplacedNeverFatal() {
        let cases: [(String, [UInt8], String)] = [
            ("utf-8", [0x61, 0xFF, 0x62], "a\u{FFFD}b"),
            ("shift_jis", [0x41, 0x82], "A\u{FFFD}"),
            ("shift_jis", [0x82, 0xA0, 0x41], "\u{3042}A"),
            ("big5", [0xA4, 0x41, 0xFF, 0x20], "\u{4E59}\u{FFFD} "),
            ("gbk", [0xC4, 0xE3, 0x80, 0xFF, 0xC4], "\u{4F60}\u{20AC}\u{FFFD}\u{FFFD}"),
            ("euc-kr", [0xB0, 0xA1, 0xFF], "\u{AC00}\u{FFFD}"),
            ("euc-jp", [0xA4, 0xB3, 0xFF, 0xA4], "\u{3053}\u{FFFD}\u{FFFD}"),
            ("euc-jp", [0x8E, 0xB1, 0x8E], "\u{FF71}\u{FFFD}"),
            ("iso-2022-jp", [0x1B, 0x24, 0x42, 0x24, 0x33, 0x24, 0x0A, 0x41], "\u{3053}\u{FFFD}\nA"),
            ("iso-2022-jp", [0x1B, 0x24, 0x42, 0x24, 0x33, 0x0A, 0x41], "\u{3053}\nA"),
            ("iso-2022-jp", [0x1B, 0x5A, 0x41, 0xE4], "\u{FFFD}ZA\u{FFFD}"),
            ("iso-2022-jp", [0x1B, 0x28, 0x4A, 0x5C, 0x1B, 0x28, 0x49, 0x31], "\u{A5}\u{FF71}"),
            ("utf-16", [0xFF, 0xFE, 0x41, 0x00, 0x42], "A\u{FFFD}"),
            ("utf-16be", [0xD8, 0x00, 0x00, 0x41], "\u{FFFD}A"),
            ("utf-32", [0x00, 0x11, 0x00, 0x00], "\u{FFFD}"),
            ("iso-8859-6", [0xC7, 0xA1], "\u{0627}\u{FFFD}"),
            ("utf-7", [0x2B, 0xFF, 0x0A, 0x41], "+\u{FFFD}\nA"),
        ]
        for (charset, bytes, expected) in cases {
            let decoded = MailCharset.decode(bytes, charsetName: charset)
            #expect(decoded == expected, "\(charset) \(bytes): \(decoded.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    /// 0x81 0xAD is well-formed Shift_JIS that maps to nothing: Foundation rejects any
    /// buffer holding it. The rest of a long text must survive it.
    @Test func oneUnmappableCharacterCostsOnlyItself() {
        let line: [UInt8] = [0x82, 0xB1, 0x82, 0xF1, 0x82, 0xC9, 0x82, 0xBF, 0x82, 0xCD, 0x0A]  // こんにちは
        let text = Array(repeating: line, count: 2_000).joined()
        let bytes = Array(text.prefix(11_000)) + [0x81, 0xAD] + Array(text.suffix(11_000))
        let decoded = MailCharset.decode(bytes, charsetName: "shift_jis")
        let expected = String(repeating: "こんにちは\n", count: 1_000) + "\u{FFFD}" + String(repeating: "こんにちは\n", count: 1_000)
        #expect(decoded == expected)
    }

    @Test func unlabelledBytesAreUTF8WhenValidElseWindows1252() {
        #expect(MailCharset.decode(Array("naïve".utf8), charsetName: nil) == "naïve")
        #expect(MailCharset.decode([0x6E, 0x61, 0xEF, 0x76, 0x65, 0x80], charsetName: nil) == "naïve€")
        #expect(MailCharset.decode([0x6E, 0x61, 0xEF, 0x76, 0x65], charsetName: "us-ascii") == "naïve")
    }
}

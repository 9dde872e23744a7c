import Foundation
import Synchronization

/// The 8-bit charsets: ASCII below 0x80 and one code point per byte above. Each is
/// decoded through a table of those 128 code points, read once from Foundation's
/// converter one byte at a time: Foundation rejects a whole buffer for one
/// undefined byte, a table maps that byte alone to U+FFFD, and a lookup is faster.
/// A byte Foundation maps into the Private Use Area (Apple's stand-ins for bytes a
/// charset leaves undefined, e.g. 0xDB in Windows-874) is U+FFFD too.
///
/// Checked byte by byte against Python's codecs (CharsetTests). Foundation on Linux
/// gets IBM 866 wrong (another Cyrillic table) and Mac Roman wrong (shifted), so
/// IBM 866 is built in and Mac Roman is not offered.
enum SingleByteCharset: Int, CaseIterable, Sendable, Hashable {
    // Raw values are CoreFoundation's CFStringEncoding constants (CFStringEncodingExt.h).
    case iso8859_2 = 0x0202, iso8859_3 = 0x0203, iso8859_4 = 0x0204, iso8859_5 = 0x0205
    case iso8859_6 = 0x0206, iso8859_7 = 0x0207, iso8859_8 = 0x0208, iso8859_10 = 0x020A
    case iso8859_13 = 0x020D, iso8859_14 = 0x020E, iso8859_15 = 0x020F, iso8859_16 = 0x0210
    case windows1250 = 0x0501, windows1251 = 0x0502, windows1252 = 0x0500, windows1253 = 0x0503
    case windows1254 = 0x0504, windows1255 = 0x0505, windows1256 = 0x0506, windows1257 = 0x0507
    case windows1258 = 0x0508, windows874 = 0x041D
    case koi8R = 0x0A02, koi8U = 0x0A08, ibm866 = 0x0413, ibm437 = 0x0400, ibm850 = 0x0410

    var name: String {
        switch self {
        case .iso8859_2: "iso-8859-2"
        case .iso8859_3: "iso-8859-3"
        case .iso8859_4: "iso-8859-4"
        case .iso8859_5: "iso-8859-5"
        case .iso8859_6: "iso-8859-6"
        case .iso8859_7: "iso-8859-7"
        case .iso8859_8: "iso-8859-8"
        case .iso8859_10: "iso-8859-10"
        case .iso8859_13: "iso-8859-13"
        case .iso8859_14: "iso-8859-14"
        case .iso8859_15: "iso-8859-15"
        case .iso8859_16: "iso-8859-16"
        case .windows1250: "windows-1250"
        case .windows1251: "windows-1251"
        case .windows1252: "windows-1252"
        case .windows1253: "windows-1253"
        case .windows1254: "windows-1254"
        case .windows1255: "windows-1255"
        case .windows1256: "windows-1256"
        case .windows1257: "windows-1257"
        case .windows1258: "windows-1258"
        case .windows874: "windows-874"
        case .koi8R: "koi8-r"
        case .koi8U: "koi8-u"
        case .ibm866: "ibm866"
        case .ibm437: "ibm437"
        case .ibm850: "ibm850"
        }
    }

    /// Other names senders use for it, after WHATWG's label list.
    var aliases: [String] {
        switch self {
        case .iso8859_2: ["iso8859-2", "iso_8859-2", "latin2", "l2", "iso-ir-101", "csisolatin2"]
        case .iso8859_3: ["iso8859-3", "latin3", "l3", "iso-ir-109", "csisolatin3"]
        case .iso8859_4: ["iso8859-4", "latin4", "l4", "iso-ir-110", "csisolatin4"]
        case .iso8859_5: ["iso8859-5", "cyrillic", "iso-ir-144", "csisolatincyrillic"]
        case .iso8859_6: ["iso8859-6", "arabic", "iso-8859-6-e", "iso-8859-6-i", "asmo-708", "ecma-114", "iso-ir-127", "csisolatinarabic"]
        case .iso8859_7: ["iso8859-7", "greek", "greek8", "elot_928", "ecma-118", "iso-ir-126", "csisolatingreek", "sun_eu_greek"]
        case .iso8859_8: ["iso8859-8", "hebrew", "iso-8859-8-i", "iso-8859-8-e", "logical", "visual", "iso-ir-138", "csisolatinhebrew"]
        case .iso8859_10: ["iso8859-10", "latin6", "l6", "iso-ir-157", "csisolatin6"]
        case .iso8859_13: ["iso8859-13", "latin7", "l7"]
        case .iso8859_14: ["iso8859-14", "latin8", "l8"]
        case .iso8859_15: ["iso8859-15", "latin9", "latin-9", "l9", "csisolatin9"]
        case .iso8859_16: ["iso8859-16", "latin10", "l10"]
        case .windows1250: ["cp1250", "win1250", "cp-1250", "ms-ee"]
        case .windows1251: ["cp1251", "win1251", "cp-1251", "ms-cyrl"]
        case .windows1252: ["cp1252", "win1252", "cp-1252", "ms-ansi", "iso-8859-1", "iso8859-1", "latin1", "l1",
                            "iso-ir-100", "csisolatin1", "ibm819", "cp819"]
        case .windows1253: ["cp1253", "win1253", "cp-1253", "ms-greek"]
        case .windows1254: ["cp1254", "win1254", "cp-1254", "ms-turk", "iso-8859-9", "iso8859-9", "latin5", "l5",
                            "iso-ir-148", "csisolatin5"]
        case .windows1255: ["cp1255", "win1255", "cp-1255", "ms-hebr"]
        case .windows1256: ["cp1256", "win1256", "cp-1256", "ms-arab"]
        case .windows1257: ["cp1257", "win1257", "cp-1257", "winbaltrim"]
        case .windows1258: ["cp1258", "win1258", "cp-1258"]
        case .windows874: ["cp874", "dos-874", "tis-620", "iso-8859-11", "iso8859-11"]
        case .koi8R: ["koi8", "koi", "cskoi8r", "koi8_r"]
        case .koi8U: ["koi8-ru"]
        case .ibm866: ["cp866", "866", "csibm866"]
        case .ibm437: ["cp437", "437", "cspc8codepage437"]
        case .ibm850: ["cp850", "850", "cspc850multilingual"]
        }
    }

    /// The Foundation encoding whose converter the table is read from.
    private var foundationEncoding: String.Encoding {
        switch self {
        case .windows1250: .windowsCP1250
        case .windows1251: .windowsCP1251
        case .windows1252: .windowsCP1252
        case .windows1253: .windowsCP1253
        case .windows1254: .windowsCP1254
        case .iso8859_2: .isoLatin2
        default: String.Encoding(rawValue: 0x8000_0000 | UInt(rawValue))
        }
    }

    /// For each byte 0x80...0xFF, the UTF-8 bytes of its code point.
    struct Table: Sendable {
        let utf8: [[UInt8]]
        /// How many bytes the charset leaves undefined (decoded as U+FFFD).
        let undefinedCount: Int
    }

    private static let tables = Mutex<[SingleByteCharset: Table]>([:])

    var table: Table {
        if let cached = SingleByteCharset.tables.withLock({ $0[self] }) { return cached }
        let built = buildTable()
        SingleByteCharset.tables.withLock { $0[self] = built }
        return built
    }

    private func buildTable() -> Table {
        var utf8: [[UInt8]] = []
        var undefined = 0
        for byte in 0x80...0xFF {
            let scalar: Unicode.Scalar
            if self == .windows1252 {
                scalar = Windows1252.scalar(for: UInt8(byte))
            } else if self == .ibm866 {
                scalar = IBM866.scalar(for: UInt8(byte))
            } else if let text = String(bytes: [UInt8(byte)], encoding: foundationEncoding),
                      text.unicodeScalars.count == 1, let only = text.unicodeScalars.first,
                      !(0xE000...0xF8FF).contains(only.value) {
                scalar = only
            } else {
                scalar = "\u{FFFD}"
                undefined += 1
            }
            utf8.append(Array(String(scalar).utf8))
        }
        return Table(utf8: utf8, undefinedCount: undefined)
    }

    func decode<C: Collection<UInt8>>(_ bytes: C) -> String {
        let table = self.table.utf8
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + bytes.count / 2)
        for byte in bytes {
            if byte < 0x80 { output.append(byte) } else { output.append(contentsOf: table[Int(byte) - 0x80]) }
        }
        return String(decoding: output, as: UTF8.self)
    }
}

/// Windows-1252, built in because it is the fallback for every unlabelled 8-bit byte
/// and the meaning HTML gives to numeric references 128…159.
enum Windows1252 {
    /// 0x80...0x9F; the five bytes Windows leaves undefined keep their C1 code point,
    /// as WHATWG decodes them.
    private static let high: [UInt32] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
        0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
    ]

    static func scalar(for byte: UInt8) -> Unicode.Scalar {
        if byte >= 0x80 && byte <= 0x9F { return Unicode.Scalar(high[Int(byte) - 0x80])! }
        return Unicode.Scalar(byte)
    }
}

/// IBM 866 (DOS Cyrillic), built in because Foundation's converter for it is wrong
/// on Linux: Cyrillic letters, box drawing, and a few symbols.
enum IBM866 {
    static func scalar(for byte: UInt8) -> Unicode.Scalar {
        let value: UInt32
        switch byte {
        case 0x80...0xAF: value = 0x0410 + UInt32(byte - 0x80)
        case 0xE0...0xEF: value = 0x0440 + UInt32(byte - 0xE0)
        case 0xB0...0xDF: value = boxDrawing[Int(byte - 0xB0)]
        case 0xF0...0xFF: value = symbols[Int(byte - 0xF0)]
        default: value = UInt32(byte)
        }
        return Unicode.Scalar(value)!
    }

    private static let boxDrawing: [UInt32] = [
        0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x2561, 0x2562, 0x2556, 0x2555, 0x2563, 0x2551, 0x2557, 0x255D, 0x255C, 0x255B, 0x2510,
        0x2514, 0x2534, 0x252C, 0x251C, 0x2500, 0x253C, 0x255E, 0x255F, 0x255A, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256C, 0x2567,
        0x2568, 0x2564, 0x2565, 0x2559, 0x2558, 0x2552, 0x2553, 0x256B, 0x256A, 0x2518, 0x250C, 0x2588, 0x2584, 0x258C, 0x2590, 0x2580,
    ]
    private static let symbols: [UInt32] = [
        0x0401, 0x0451, 0x0404, 0x0454, 0x0407, 0x0457, 0x040E, 0x045E, 0x00B0, 0x2219, 0x00B7, 0x221A, 0x2116, 0x00A4, 0x25A0, 0x00A0,
    ]
}

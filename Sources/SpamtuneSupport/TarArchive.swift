// A reader for the tar archives spamtune downloads (the SpamAssassin public corpus):
// ustar, GNU and pax, in memory. Only regular files are listed; directories, links,
// devices and FIFOs are passed over. Long names come from GNU `L` records and pax `path`
// records, which are applied to the entry they precede. Every header's checksum is
// verified, and names that climb out of a directory (`..`) or are absolute are refused
// when the archive is read, so a hostile archive is rejected as a whole before anything
// in it is used.
//
// Not supported, and refused with a message saying so: GNU sparse files and multi-volume
// archives.

public struct TarError: Error, Equatable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        /// The archive stops inside a header or an entry's data, or before its end marker.
        case truncated(String)
        /// A header fails its checksum or holds a field that cannot be read.
        case corruptHeader(block: Int, detail: String)
        case unsafeEntryName(String)
        case unsupported(entry: String, detail: String)
    }

    /// The archive, as named in messages (usually its path).
    public let archive: String
    public let reason: Reason

    public init(archive: String, reason: Reason) {
        self.archive = archive
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case .truncated(let detail):
            "\(archive) is truncated: \(detail) (was the download cut short?)"
        case .corruptHeader(let block, let detail):
            "the archive \(archive) is corrupt: the header at block \(block) \(detail)"
        case .unsafeEntryName(let name):
            "\(archive) holds an entry named '\(name)', which points outside the directory it would be extracted to; the archive is refused"
        case .unsupported(let entry, let detail):
            "entry \(entry) of \(archive) is \(detail), which spamtune does not read"
        }
    }
}

public struct TarArchive: Sendable {
    /// A regular file in the archive.
    public struct Entry: Equatable, Sendable {
        /// The full name: a long name from a GNU or pax record, or ustar's prefix and name.
        public let name: String
        public let size: Int
        let dataOffset: Int
    }

    /// How the archive is named in messages.
    public let source: String
    /// The regular files, in archive order.
    public let entries: [Entry]
    private let bytes: [UInt8]

    public init(bytes: [UInt8], source: String) throws(TarError) {
        self.bytes = bytes
        self.source = source
        entries = try Self.readHeaders(bytes, source: source)
    }

    public func contents(of entry: Entry) -> [UInt8] {
        Array(bytes[entry.dataOffset..<entry.dataOffset + entry.size])
    }

    // MARK: Structure

    static let blockSize = 512
    /// `0`, and NUL and `7` (contiguous file) that readers treat as `0`.
    private static let regularFileTypes: Set<UInt8> = [UInt8(ascii: "0"), 0, UInt8(ascii: "7")]
    /// Hard and symbolic links, devices, directories, FIFOs: no data follows their header.
    private static let headerOnlyTypes = Set("123456".utf8)

    private enum Field {
        static let name = 0..<100
        static let size = 124..<136
        static let checksum = 148..<156
        static let typeflag = 156
        static let magic = 257..<263
        static let prefix = 345..<500
    }

    /// What pax and GNU records say about the entry that follows them.
    private struct PendingAttributes {
        var name: [UInt8]?
        var size: Int?
    }

    private static func readHeaders(_ bytes: [UInt8], source: String) throws(TarError) -> [Entry] {
        func fail(_ reason: TarError.Reason) -> TarError { TarError(archive: source, reason: reason) }
        var entries = [Entry]()
        var pending = PendingAttributes()
        var offset = 0
        while true {
            let block = offset / blockSize
            guard bytes.count - offset >= blockSize else {
                throw fail(.truncated(offset == bytes.count
                    ? "it ends after \(block) blocks without the end-of-archive marker"
                    : "it ends inside the header at block \(block)"))
            }
            let header = bytes[offset..<offset + blockSize]
            // An all-zero block marks the end; what follows (a second one, padding) is not read.
            if header.allSatisfy({ $0 == 0 }) { break }
            try verifyChecksum(header, block: block, fail: fail)

            let typeflag = header[offset + Field.typeflag]
            let recordedName = cString(header, Field.name, base: offset)
            var size = try number(header, Field.size, base: offset, field: "size", block: block, fail: fail)
            var name = recordedName
            let isPOSIXUstar = Array(header[offset + Field.magic.lowerBound..<offset + Field.magic.upperBound]) == Array("ustar\0".utf8)
            if isPOSIXUstar {
                // (GNU's own format keeps other fields where POSIX has the prefix.)
                let prefix = cString(header, Field.prefix, base: offset)
                if !prefix.isEmpty { name = prefix + [UInt8(ascii: "/")] + recordedName }
            }
            if let long = pending.name { name = long }
            if let paxSize = pending.size { size = paxSize }
            let displayName = String(decoding: name, as: UTF8.self)

            let dataSize = headerOnlyTypes.contains(typeflag) ? 0 : size
            let dataOffset = offset + blockSize
            guard bytes.count - dataOffset >= dataSize else {
                throw fail(.truncated("entry \(displayName) needs \(dataSize) bytes of data but only \(bytes.count - dataOffset) remain"))
            }
            let data = bytes[dataOffset..<dataOffset + dataSize]

            switch typeflag {
            case UInt8(ascii: "L"):
                pending.name = cString(data, data.indices, base: 0)
            case UInt8(ascii: "x"):
                pending = try paxAttributes(data, into: pending, block: block, fail: fail)
            case UInt8(ascii: "K"), UInt8(ascii: "g"), UInt8(ascii: "V"):
                // A long link target, global pax attributes, a volume label: nothing a file reader needs.
                break
            case UInt8(ascii: "S"):
                throw fail(.unsupported(entry: displayName, detail: "a GNU sparse file"))
            case UInt8(ascii: "M"):
                throw fail(.unsupported(entry: displayName, detail: "continued from another volume"))
            default:
                // Every name is checked, not only the files': a `..` anywhere marks the archive hostile.
                guard ArchiveEntryName.isSafe(name) else { throw fail(.unsafeEntryName(displayName)) }
                // Old tars mark a directory only by the slash that ends its name.
                if regularFileTypes.contains(typeflag) && name.last != UInt8(ascii: "/") {
                    entries.append(Entry(name: displayName, size: dataSize, dataOffset: dataOffset))
                }
                pending = PendingAttributes()
            }
            let paddedSize = (dataSize + blockSize - 1) / blockSize * blockSize
            offset = dataOffset + min(paddedSize, bytes.count - dataOffset)
        }
        return entries
    }

    /// The checksum is the sum of the header's bytes with its own field read as spaces;
    /// some old tars summed signed bytes, so that sum is accepted too.
    private static func verifyChecksum(_ header: ArraySlice<UInt8>, block: Int, fail: (TarError.Reason) -> TarError) throws(TarError) {
        let base = header.startIndex
        let recorded = try number(header, Field.checksum, base: base, field: "checksum", block: block, fail: fail)
        var unsigned = 0, signed = 0
        for index in header.indices {
            let byte = Field.checksum.contains(index - base) ? UInt8(ascii: " ") : header[index]
            unsigned += Int(byte)
            signed += Int(Int8(bitPattern: byte))
        }
        guard recorded == unsigned || recorded == signed else {
            throw fail(.corruptHeader(block: block, detail: "fails its checksum (recorded \(recorded), computed \(unsigned))"))
        }
    }

    /// An octal number padded with spaces or NULs, or GNU's base-256 form (first byte's
    /// high bit set) used for sizes of 8 GiB and more.
    private static func number(
        _ header: ArraySlice<UInt8>, _ field: Range<Int>, base: Int, field fieldName: String, block: Int,
        fail: (TarError.Reason) -> TarError
    ) throws(TarError) -> Int {
        let bytes = header[base + field.lowerBound..<base + field.upperBound]
        if let first = bytes.first, first & 0x80 != 0 {
            guard first & 0x40 == 0 else { throw fail(.corruptHeader(block: block, detail: "has a negative \(fieldName)")) }
            var value = Int(first & 0x3F)
            for byte in bytes.dropFirst() {
                guard value < Int.max >> 8 else { throw fail(.corruptHeader(block: block, detail: "has a \(fieldName) too large to read")) }
                value = value << 8 | Int(byte)
            }
            return value
        }
        let digits = bytes.drop { $0 == UInt8(ascii: " ") }.prefix { $0 != 0 && $0 != UInt8(ascii: " ") }
        var value = 0
        for digit in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(digit) else {
                let shown = String(decoding: bytes.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
                throw fail(.corruptHeader(block: block, detail: "has a \(fieldName) field that is not an octal number ('\(shown)')"))
            }
            value = value * 8 + Int(digit - UInt8(ascii: "0"))
        }
        return value
    }

    /// pax records, `<length> <key>=<value>\n` each; `path` and `size` are used.
    private static func paxAttributes(
        _ data: ArraySlice<UInt8>, into pending: PendingAttributes, block: Int, fail: (TarError.Reason) -> TarError
    ) throws(TarError) -> PendingAttributes {
        var result = pending
        var position = data.startIndex
        while position < data.endIndex {
            if data[position] == 0 { break }
            guard let space = data[position...].firstIndex(of: UInt8(ascii: " ")),
                let length = Int(String(decoding: data[position..<space], as: UTF8.self)), length > 0,
                data.endIndex - position >= length, data[position + length - 1] == UInt8(ascii: "\n"),
                let equals = data[space + 1..<position + length].firstIndex(of: UInt8(ascii: "="))
            else { throw fail(.corruptHeader(block: block, detail: "starts a pax record that cannot be read")) }
            let key = String(decoding: data[space + 1..<equals], as: UTF8.self)
            let value = Array(data[equals + 1..<position + length - 1])
            switch key {
            case "path":
                result.name = value
            case "size":
                guard let size = Int(String(decoding: value, as: UTF8.self)), size >= 0 else {
                    throw fail(.corruptHeader(block: block, detail: "has a pax size that is not a number"))
                }
                result.size = size
            default:
                break
            }
            position += length
        }
        return result
    }

    /// The bytes of `field` up to the first NUL.
    private static func cString(_ bytes: ArraySlice<UInt8>, _ field: Range<Int>, base: Int) -> [UInt8] {
        Array(bytes[base + field.lowerBound..<base + field.upperBound].prefix { $0 != 0 })
    }
}

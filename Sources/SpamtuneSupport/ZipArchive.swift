import Foundation

// A reader for the zip archives spamtune downloads (the SMS Spam Collection as UCI
// serves it): the central directory, stored and deflated entries, each entry's CRC-32
// checked. Entries are extracted to memory only. Names that climb out of a directory
// (`..`) or are absolute are refused when the archive is opened, so a hostile archive
// is rejected as a whole before anything in it is used.
//
// Not supported, and refused with a message saying so: zip64, archives split over
// several disks, encrypted entries, methods other than stored (0) and deflate (8).

/// CRC-32 as zip, gzip and PNG use it (reflected polynomial 0xEDB88320).
public struct CRC32: Sendable {
    public private(set) var value: UInt32 = 0

    public init() {}

    private static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
        return crc
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var crc = ~value
        Self.table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        value = ~crc
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }
}

public struct ZipError: Error, Equatable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        /// No end-of-central-directory record: the file is not a zip archive.
        case notAZipArchive
        /// The file starts like a zip archive but its end is missing.
        case truncated
        /// A structure points outside the file or carries a wrong signature.
        case corruptStructure(String)
        case zip64Unsupported
        case multipleDisksUnsupported
        case unsafeEntryName(String)
        case encryptedEntry(String)
        case unsupportedMethod(entry: String, method: UInt16)
        case corruptEntry(entry: String, detail: String)
        case checksumMismatch(entry: String, expected: UInt32, actual: UInt32)
        case entryTooLarge(entry: String, size: Int, limit: Int)
        case noSuchEntry(entry: String, available: [String])
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
        case .notAZipArchive:
            "\(archive) is not a zip archive (no end-of-central-directory record)"
        case .truncated:
            "\(archive) is truncated: it starts as a zip archive but its central directory is missing (was the download cut short?)"
        case .corruptStructure(let detail):
            "the archive \(archive) is corrupt: \(detail)"
        case .zip64Unsupported:
            "\(archive) is a zip64 archive, which spamtune does not read; repack it as a plain zip"
        case .multipleDisksUnsupported:
            "\(archive) is split over several disks, which spamtune does not read"
        case .unsafeEntryName(let name):
            "\(archive) holds an entry named '\(name)', which points outside the directory it would be extracted to; the archive is refused"
        case .encryptedEntry(let name):
            "entry \(name) of \(archive) is encrypted, which spamtune does not read"
        case .unsupportedMethod(let name, let method):
            "entry \(name) of \(archive) uses compression method \(method); only stored (0) and deflate (8) are read"
        case .corruptEntry(let name, let detail):
            "the archive \(archive) is corrupt: entry \(name): \(detail)"
        case .checksumMismatch(let name, let expected, let actual):
            "the archive \(archive) is corrupt: entry \(name) fails its CRC check (recorded \(Self.hex(expected)), computed \(Self.hex(actual)))"
        case .entryTooLarge(let name, let size, let limit):
            "entry \(name) of \(archive) would expand to \(size) bytes, beyond the limit of \(limit) bytes; refusing it"
        case .noSuchEntry(let name, let available):
            "\(archive) has no entry named \(name) (it holds: \(available.isEmpty ? "nothing" : available.joined(separator: ", ")))"
        }
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}

public struct ZipArchive: Sendable {
    public enum CompressionMethod: Equatable, Sendable {
        case stored
        case deflate
        case other(UInt16)

        init(_ code: UInt16) {
            switch code {
            case 0: self = .stored
            case 8: self = .deflate
            default: self = .other(code)
            }
        }
    }

    public struct Entry: Equatable, Sendable {
        public let name: String
        public let method: CompressionMethod
        public let compressedSize: Int
        public let uncompressedSize: Int
        public let crc32: UInt32
        public var isDirectory: Bool { name.hasSuffix("/") }
        let flags: UInt16
        let localHeaderOffset: Int
    }

    /// How the archive is named in messages.
    public let source: String
    public let entries: [Entry]
    private let bytes: [UInt8]

    /// Entries may expand to at most this much unless a caller says otherwise.
    public static let defaultMaximumEntrySize = 256 << 20

    public init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw FileAccessError(path: url.path, reason: "cannot read the archive: \(error.localizedDescription)")
        }
        try self.init(bytes: [UInt8](data), source: url.path)
    }

    public init(bytes: [UInt8], source: String) throws(ZipError) {
        self.bytes = bytes
        self.source = source
        entries = try Self.readCentralDirectory(bytes, source: source)
    }

    public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// The uncompressed bytes of the entry `name`, checked against its CRC-32.
    public func contents(ofEntryNamed name: String, maximumSize: Int = defaultMaximumEntrySize) throws(ZipError) -> [UInt8] {
        guard let entry = entry(named: name) else {
            throw ZipError(archive: source, reason: .noSuchEntry(entry: name, available: entries.map(\.name)))
        }
        return try contents(of: entry, maximumSize: maximumSize)
    }

    public func contents(of entry: Entry, maximumSize: Int = defaultMaximumEntrySize) throws(ZipError) -> [UInt8] {
        func fail(_ reason: ZipError.Reason) -> ZipError { ZipError(archive: source, reason: reason) }
        if entry.flags & 1 != 0 { throw fail(.encryptedEntry(entry.name)) }
        guard entry.uncompressedSize <= maximumSize else {
            throw fail(.entryTooLarge(entry: entry.name, size: entry.uncompressedSize, limit: maximumSize))
        }
        let dataStart = try localDataOffset(of: entry)
        guard dataStart <= bytes.count, bytes.count - dataStart >= entry.compressedSize else {
            throw fail(.corruptEntry(entry: entry.name, detail: "its data runs past the end of the archive"))
        }
        let output: [UInt8]
        switch entry.method {
        case .stored:
            guard entry.compressedSize == entry.uncompressedSize else {
                throw fail(.corruptEntry(entry: entry.name, detail: "a stored entry's sizes differ (\(entry.compressedSize) and \(entry.uncompressedSize))"))
            }
            output = Array(bytes[dataStart..<dataStart + entry.compressedSize])
        case .deflate:
            do throws(InflateError) {
                // The declared size bounds the output: a stream that expands beyond it is
                // refused as soon as it does, however large the limit.
                let inflated: Result<[UInt8], InflateError> = bytes.withUnsafeBytes { archive in
                    Result { () throws(InflateError) in
                        try Inflate.decompress(
                            UnsafeRawBufferPointer(rebasing: archive[dataStart..<dataStart + entry.compressedSize]),
                            maximumOutputSize: entry.uncompressedSize, expectedOutputSize: entry.uncompressedSize)
                    }
                }
                output = try inflated.get()
            } catch .outputLimitExceeded {
                throw fail(.corruptEntry(entry: entry.name, detail: "it expands beyond its recorded size of \(entry.uncompressedSize) bytes"))
            } catch {
                throw fail(.corruptEntry(entry: entry.name, detail: error.description))
            }
        case .other(let code):
            throw fail(.unsupportedMethod(entry: entry.name, method: code))
        }
        guard output.count == entry.uncompressedSize else {
            throw fail(.corruptEntry(entry: entry.name, detail: "it expands to \(output.count) bytes, not the recorded \(entry.uncompressedSize)"))
        }
        let actual = CRC32.checksum(output)
        guard actual == entry.crc32 else { throw fail(.checksumMismatch(entry: entry.name, expected: entry.crc32, actual: actual)) }
        return output
    }

    // MARK: Structure

    private static let localHeaderSignature: UInt32 = 0x0403_4B50
    private static let centralHeaderSignature: UInt32 = 0x0201_4B50
    private static let endOfCentralDirectorySignature: UInt32 = 0x0605_4B50
    private static let zip64LocatorSignature: UInt32 = 0x0706_4B50
    private static let endRecordSize = 22

    private func localDataOffset(of entry: Entry) throws(ZipError) -> Int {
        let offset = entry.localHeaderOffset
        guard offset >= 0, bytes.count - offset >= 30, Self.uint32(bytes, offset) == Self.localHeaderSignature else {
            throw ZipError(archive: source, reason: .corruptEntry(entry: entry.name, detail: "its local header is missing"))
        }
        let nameLength = Int(Self.uint16(bytes, offset + 26))
        let extraLength = Int(Self.uint16(bytes, offset + 28))
        return offset + 30 + nameLength + extraLength
    }

    private static func readCentralDirectory(_ bytes: [UInt8], source: String) throws(ZipError) -> [Entry] {
        func fail(_ reason: ZipError.Reason) -> ZipError { ZipError(archive: source, reason: reason) }
        let startsLikeZip = bytes.count >= 4 && uint32(bytes, 0) == localHeaderSignature
        guard let end = findEndRecord(bytes) else { throw fail(startsLikeZip ? .truncated : .notAZipArchive) }

        let diskNumber = uint16(bytes, end + 4)
        let directoryDisk = uint16(bytes, end + 6)
        let entriesOnDisk = uint16(bytes, end + 8)
        let entryCount = uint16(bytes, end + 10)
        let directorySize = uint32(bytes, end + 12)
        let directoryOffset = uint32(bytes, end + 16)
        if end >= 20 && uint32(bytes, end - 20) == zip64LocatorSignature { throw fail(.zip64Unsupported) }
        if entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            throw fail(.zip64Unsupported)
        }
        guard diskNumber == 0, directoryDisk == 0, entriesOnDisk == entryCount else { throw fail(.multipleDisksUnsupported) }
        guard Int(directoryOffset) + Int(directorySize) <= end else {
            // The directory claims to lie beyond what is here: the front of the file was cut or it is damaged.
            throw fail(startsLikeZip ? .truncated : .corruptStructure("the central directory lies outside the file"))
        }

        var entries = [Entry]()
        var offset = Int(directoryOffset)
        for index in 0..<Int(entryCount) {
            guard end - offset >= 46, uint32(bytes, offset) == centralHeaderSignature else {
                throw fail(.corruptStructure("central directory entry \(index + 1) of \(entryCount) is damaged"))
            }
            let flags = uint16(bytes, offset + 8)
            let method = uint16(bytes, offset + 10)
            let crc = uint32(bytes, offset + 16)
            let compressedSize = uint32(bytes, offset + 20)
            let uncompressedSize = uint32(bytes, offset + 24)
            let nameLength = Int(uint16(bytes, offset + 28))
            let extraLength = Int(uint16(bytes, offset + 30))
            let commentLength = Int(uint16(bytes, offset + 32))
            let localOffset = uint32(bytes, offset + 42)
            let recordEnd = offset + 46 + nameLength + extraLength + commentLength
            guard recordEnd <= end else {
                throw fail(.corruptStructure("central directory entry \(index + 1) runs past the directory's end"))
            }
            let nameBytes = Array(bytes[offset + 46..<offset + 46 + nameLength])
            let name = String(decoding: nameBytes, as: UTF8.self)
            if compressedSize == 0xFFFF_FFFF || uncompressedSize == 0xFFFF_FFFF || localOffset == 0xFFFF_FFFF
                || hasZip64Extra(bytes, from: offset + 46 + nameLength, count: extraLength)
            {
                throw fail(.zip64Unsupported)
            }
            if !ArchiveEntryName.isSafe(nameBytes) { throw fail(.unsafeEntryName(name)) }
            entries.append(Entry(
                name: name, method: CompressionMethod(method), compressedSize: Int(compressedSize),
                uncompressedSize: Int(uncompressedSize), crc32: crc, flags: flags, localHeaderOffset: Int(localOffset)))
            offset = recordEnd
        }
        return entries
    }

    /// The end-of-central-directory record: searched backwards over the at most 64 KiB
    /// comment that may follow it. A candidate whose comment length reaches exactly to
    /// the end of the file is preferred over a stray signature inside the comment.
    private static func findEndRecord(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= endRecordSize else { return nil }
        let latest = bytes.count - endRecordSize
        let earliest = max(0, latest - 0xFFFF)
        var fallback: Int?
        var candidate = latest
        while candidate >= earliest {
            if uint32(bytes, candidate) == endOfCentralDirectorySignature {
                if candidate + endRecordSize + Int(uint16(bytes, candidate + 20)) == bytes.count { return candidate }
                if fallback == nil { fallback = candidate }
            }
            candidate -= 1
        }
        return fallback
    }

    private static func hasZip64Extra(_ bytes: [UInt8], from start: Int, count: Int) -> Bool {
        var offset = start
        while offset + 4 <= start + count {
            if uint16(bytes, offset) == 0x0001 { return true }
            offset += 4 + Int(uint16(bytes, offset + 2))
        }
        return false
    }

    private static func uint16(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
        UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    private static func uint32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
    }
}

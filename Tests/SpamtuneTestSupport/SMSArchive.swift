import Foundation

/// `sms+spam+collection.zip` as the UCI repository serves it: the SMS Spam Collection and
/// a readme, deflated. Built from the copy shipped in the repository, so the download,
/// unzip and inflate tests read a real dynamic-Huffman archive without a downloaded file.
/// The deflate streams come from the system's gzip (essential on Debian), wrapped here in
/// the zip container.
public enum SMSArchive {
    public static let collectionEntry = "SMSSpamCollection"
    public static let readmeEntry = "readme"
    /// The offset of the collection's deflate data: right after its local header and name.
    public static let collectionDataOffset = 30 + collectionEntry.utf8.count

    public static let bytes: [UInt8] = {
        do {
            let readme = Array("SMS Spam Collection v.1, built for spamtune's tests from the shipped copy.\n".utf8)
            return try zip([(collectionEntry, Array(try Data(contentsOf: ProjectPaths.smsCollection))), (readmeEntry, readme)])
        } catch {
            fatalError("cannot build sms+spam+collection.zip from \(ProjectPaths.smsCollection.path): \(error)")
        }
    }()

    /// A zip of `entries`, each deflated by gzip -9.
    public static func zip(_ entries: [(name: String, contents: [UInt8])]) throws -> [UInt8] {
        var archive: [UInt8] = []
        var central: [UInt8] = []
        for (name, contents) in entries {
            let stream = try gzipDeflate(contents)
            let offset = archive.count
            let nameBytes = Array(name.utf8)
            var common: [UInt8] = []
            common.append16(20)  // version needed: deflate
            common.append16(0)  // flags
            common.append16(8)  // method: deflate
            common.append16(0)  // modification time
            common.append16(0x21)  // modification date: 1980-01-01
            common.append32(stream.crc32)
            common.append32(UInt32(stream.data.count))
            common.append32(UInt32(contents.count))
            common.append16(UInt16(nameBytes.count))
            common.append16(0)  // extra field length

            archive.append32(0x0403_4b50)
            archive += common + nameBytes + stream.data

            central.append32(0x0201_4b50)
            central.append16(0x0314)  // made by: Unix, 2.0
            central += common
            central.append16(0)  // comment length
            central.append16(0)  // disk number
            central.append16(0)  // internal attributes
            central.append32(0o100644 << 16)  // external attributes: a regular file, rw-r--r--
            central.append32(UInt32(offset))
            central += nameBytes
        }
        let centralOffset = archive.count
        archive += central
        archive.append32(0x0605_4b50)
        archive.append16(0)
        archive.append16(0)
        archive.append16(UInt16(entries.count))
        archive.append16(UInt16(entries.count))
        archive.append32(UInt32(central.count))
        archive.append32(UInt32(centralOffset))
        archive.append16(0)  // comment length
        return archive
    }

    /// The raw deflate stream of `contents` and its CRC-32, from gzip's member format
    /// (RFC 1952): a 10-byte header (no name with -n), the stream, CRC-32 and size.
    private static func gzipDeflate(_ contents: [UInt8]) throws -> (data: [UInt8], crc32: UInt32) {
        let result = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["gzip", "-9", "-n", "-c"], input: Data(contents))
        let gzip = [UInt8](result.standardOutputData)
        guard result.status == 0, gzip.count >= 18, gzip[0] == 0x1f, gzip[1] == 0x8b, gzip[2] == 8, gzip[3] == 0 else {
            throw SMSArchiveError(description: "gzip failed (status \(result.status)): \(result.standardError)")
        }
        func little32(_ at: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 | UInt32(gzip[at + $1]) << (8 * $1) } }
        guard little32(gzip.count - 4) == UInt32(truncatingIfNeeded: contents.count) else {
            throw SMSArchiveError(description: "gzip's output does not end with the input's size")
        }
        return (Array(gzip[10..<(gzip.count - 8)]), little32(gzip.count - 8))
    }
}

public struct SMSArchiveError: Error, CustomStringConvertible {
    public let description: String
}

extension [UInt8] {
    fileprivate mutating func append16(_ value: UInt16) {
        append(UInt8(value & 0xff))
        append(UInt8(value >> 8))
    }

    fileprivate mutating func append32(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { append(UInt8((value >> UInt32(shift)) & 0xff)) }
    }
}

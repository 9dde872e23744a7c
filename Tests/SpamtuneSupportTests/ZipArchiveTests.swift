import Foundation
import SpamtuneSupport
import SpamtuneTestSupport
import Testing

@Suite struct ZipArchiveTests {
    private func fixture(_ name: String) throws -> ZipArchive {
        try ZipArchive(contentsOf: ProjectPaths.fixture("zip/\(name)"))
    }

    private func fixtureBytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: ProjectPaths.fixture("zip/\(name)")))
    }

    private func reason(_ body: () throws -> Void) -> ZipError.Reason? {
        do {
            try body()
            return nil
        } catch let error as ZipError {
            return error.reason
        } catch {
            return nil
        }
    }

    /// The first bits of an entry's data: the block type of its first deflate block.
    private func firstBlockType(_ archive: [UInt8], entry: ZipArchive.Entry, in zip: ZipArchive) throws -> Int {
        let offset = try #require(localHeaderOffset(of: entry.name, in: archive))
        let nameLength = Int(archive[offset + 26]) | Int(archive[offset + 27]) << 8
        let extraLength = Int(archive[offset + 28]) | Int(archive[offset + 29]) << 8
        return Int(archive[offset + 30 + nameLength + extraLength] >> 1 & 3)
    }

    private func localHeaderOffset(of name: String, in archive: [UInt8]) -> Int? {
        let signature: [UInt8] = [0x50, 0x4B, 0x03, 0x04]
        let nameBytes = Array(name.utf8)
        for offset in 0..<(archive.count - 30) where Array(archive[offset..<offset + 4]) == signature {
            let length = Int(archive[offset + 26]) | Int(archive[offset + 27]) << 8
            if length == nameBytes.count && Array(archive[offset + 30..<offset + 30 + length]) == nameBytes { return offset }
        }
        return nil
    }

    /// Offset of the central directory record for `name`.
    private func centralHeaderOffset(of name: String, in archive: [UInt8]) -> Int? {
        let signature: [UInt8] = [0x50, 0x4B, 0x01, 0x02]
        let nameBytes = Array(name.utf8)
        for offset in 0..<(archive.count - 46) where Array(archive[offset..<offset + 4]) == signature {
            let length = Int(archive[offset + 28]) | Int(archive[offset + 29]) << 8
            if length == nameBytes.count && Array(archive[offset + 46..<offset + 46 + length]) == nameBytes { return offset }
        }
        return nil
    }

    @Test func theSharedSMSArchiveExtractsToThePublishedFile() throws {
        let archive = try ZipArchive(bytes: SMSArchive.bytes, source: "sms+spam+collection.zip")
        #expect(archive.entries.map(\.name) == ["SMSSpamCollection", "readme"])
        let start = ContinuousClock.now
        let collection = try archive.contents(ofEntryNamed: "SMSSpamCollection")
        let elapsed = ContinuousClock.now - start
        #expect(collection.count == 477_907)
        #expect(SHA256.hexDigest(collection) == "7d039a24a6083ed9ef0f806ebad56bbb976e3aeb8de05669173bfdc4996c239d")
        print("inflated and CRC-checked 477,907 bytes in \(elapsed)")
    }

    @Test func storedEntriesDirectoriesAndEmptyFiles() throws {
        let archive = try fixture("stored.zip")
        #expect(archive.entries.map(\.name) == ["hello.txt", "empty.txt", "folder/", "folder/nested.txt"])
        #expect(archive.entries.allSatisfy { $0.method == .stored })
        #expect(try archive.contents(ofEntryNamed: "hello.txt") == Array("Hello, spamtune!\n".utf8))
        #expect(try archive.contents(ofEntryNamed: "empty.txt") == [])
        #expect(try archive.contents(ofEntryNamed: "folder/nested.txt") == Array("nested\n".utf8))
        #expect(archive.entry(named: "folder/")?.isDirectory == true)
    }

    @Test func fixedDynamicStoredAndEmptyDeflateStreams() throws {
        let bytes = try fixtureBytes("deflate.zip")
        let archive = try ZipArchive(bytes: bytes, source: "deflate.zip")
        // The fixture must really exercise each kind of block.
        let blockTypes = try archive.entries.map { try firstBlockType(bytes, entry: $0, in: archive) }
        #expect(blockTypes == [1, 2, 1, 0])

        #expect(try archive.contents(ofEntryNamed: "fixed.txt") == Array("Hello hello hello, spamtune!\n".utf8))
        let sms = [UInt8](try Data(contentsOf: ProjectPaths.smsCollection))
        #expect(try archive.contents(ofEntryNamed: "dynamic.txt") == Array(sms.prefix(20000)))
        #expect(try archive.contents(ofEntryNamed: "empty.txt") == [])
        let expectedLevel0 = (0..<70000).map { UInt8(truncatingIfNeeded: ($0 * 7919) ^ ($0 >> 8)) }
        #expect(try archive.contents(ofEntryNamed: "level0.bin") == expectedLevel0)
    }

    @Test func entriesThatClimbOutOrAreAbsoluteAreRefused() throws {
        #expect(reason { _ = try fixture("unsafe-dotdot.zip") } == .unsafeEntryName("../evil"))
        #expect(reason { _ = try fixture("unsafe-absolute.zip") } == .unsafeEntryName("/abs"))
        do {
            _ = try fixture("unsafe-dotdot.zip")
        } catch {
            #expect("\(error)".contains("'../evil', which points outside"))
        }
    }

    @Test func aCorruptChecksumIsReported() throws {
        var bytes = try fixtureBytes("deflate.zip")
        let central = try #require(centralHeaderOffset(of: "dynamic.txt", in: bytes))
        bytes[central + 16] ^= 0xFF
        let archive = try ZipArchive(bytes: bytes, source: "deflate.zip")
        do {
            _ = try archive.contents(ofEntryNamed: "dynamic.txt")
            Issue.record("a wrong CRC went unnoticed")
        } catch {
            guard case .checksumMismatch(entry: "dynamic.txt", _, _) = error.reason else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(error.description.hasPrefix("the archive deflate.zip is corrupt: entry dynamic.txt fails its CRC check"))
        }
    }

    @Test func corruptCompressedDataIsReportedNotCrashedOn() throws {
        let original = try fixtureBytes("deflate.zip")
        let local = try #require(localHeaderOffset(of: "dynamic.txt", in: original))
        let dataStart = local + 30 + "dynamic.txt".utf8.count
        // Damage the stream at many places: every outcome must be a typed, named error.
        var seen = Set<String>()
        for position in stride(from: dataStart, to: dataStart + 9000, by: 97) {
            var bytes = original
            bytes[position] ^= 0x5A
            let archive = try ZipArchive(bytes: bytes, source: "deflate.zip")
            switch reason({ _ = try archive.contents(ofEntryNamed: "dynamic.txt") }) {
            case .corruptEntry(entry: "dynamic.txt", let detail)?: seen.insert(String(detail.prefix(20)))
            case .checksumMismatch(entry: "dynamic.txt", _, _)?: seen.insert("crc")
            case let other: Issue.record("damage at \(position) gave \(String(describing: other))")
            }
        }
        #expect(seen.contains("crc"))
        #expect(seen.count > 1)
    }

    @Test func truncatedAndForeignFilesAreNamedAsSuch() throws {
        let whole = SMSArchive.bytes
        let half = ZipError.Reason.truncated
        #expect(reason { _ = try ZipArchive(bytes: Array(whole.prefix(whole.count / 2)), source: "x.zip") } == half)
        #expect(reason { _ = try ZipArchive(bytes: Array(whole.dropLast(10)), source: "x.zip") } == half)
        #expect(reason { _ = try ZipArchive(bytes: Array("<html>404 Not Found</html>".utf8), source: "x.zip") } == .notAZipArchive)
        #expect(reason { _ = try ZipArchive(bytes: [], source: "x.zip") } == .notAZipArchive)
        do {
            _ = try ZipArchive(bytes: Array(whole.prefix(1000)), source: "cache/data/sms+spam+collection.zip")
        } catch {
            #expect("\(error)".contains("cache/data/sms+spam+collection.zip is truncated"))
        }
    }

    @Test func anEntryBeyondTheSizeLimitIsRefusedBeforeInflating() throws {
        let archive = try fixture("bomb.zip")
        let entry = try #require(archive.entry(named: "zeros.bin"))
        #expect(entry.uncompressedSize == 10 << 20 && entry.compressedSize < 11_000)
        #expect(reason { _ = try archive.contents(of: entry, maximumSize: 1 << 20) }
            == .entryTooLarge(entry: "zeros.bin", size: 10 << 20, limit: 1 << 20))
        #expect(try archive.contents(of: entry, maximumSize: 16 << 20).count == 10 << 20)
    }

    @Test func aBombThatUnderstatesItsSizeStopsAtTheStatedSize() throws {
        var bytes = try fixtureBytes("bomb.zip")
        let central = try #require(centralHeaderOffset(of: "zeros.bin", in: bytes))
        // Claim 1,000 bytes where the stream makes 10 MiB.
        bytes.replaceSubrange(central + 24..<central + 28, with: [0xE8, 0x03, 0, 0])
        let archive = try ZipArchive(bytes: bytes, source: "bomb.zip")
        #expect(reason { _ = try archive.contents(ofEntryNamed: "zeros.bin") }
            == .corruptEntry(entry: "zeros.bin", detail: "it expands beyond its recorded size of 1000 bytes"))
    }

    @Test func zip64IsRefusedClearly() throws {
        #expect(reason { _ = try fixture("zip64.zip") } == .zip64Unsupported)
    }

    @Test func aMissingEntryListsWhatIsThere() throws {
        let archive = try fixture("stored.zip")
        do {
            _ = try archive.contents(ofEntryNamed: "SMSSpamCollection")
        } catch {
            #expect(error.description.contains("has no entry named SMSSpamCollection (it holds: hello.txt, empty.txt"))
        }
    }
}

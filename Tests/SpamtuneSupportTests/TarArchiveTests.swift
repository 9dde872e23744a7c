import Foundation
import SpamtuneSupport
import SpamtuneTestSupport
import Testing

@Suite struct TarArchiveTests {
    private func reason(_ body: () throws -> Void) -> TarError.Reason? {
        do {
            try body()
            return nil
        } catch let error as TarError {
            return error.reason
        } catch {
            return nil
        }
    }

    private static let longDirectory = "a-folder-whose-name-is-long-enough/and-another-one-below-it-also-long/"
    private static let longName = longDirectory + "message-with-a-name-beyond-one-hundred-bytes.eml"

    private static let files: [(name: String, contents: [UInt8])] = [
        ("short.txt", Array("short\n".utf8)),
        ("empty", []),
        (longName, Array("From: a@example.org\nSubject: long\n\nbody\n".utf8)),
        ("block/exactly-512", [UInt8](repeating: 0x41, count: 512)),
        ("block/513", [UInt8](repeating: 0x42, count: 513)),
    ]

    /// Files, a directory entry and a symbolic link archived by the real tar in `format`.
    private func archive(format: String) throws -> [UInt8] {
        let directory = try TestArchives.scratchDirectory("tar-\(format)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try TestArchives.write(Self.files, under: directory)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("empty-folder"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent("link").path, withDestinationPath: "short.txt")
        return try TestArchives.tar(Self.files.map(\.name) + ["empty-folder", "link"], in: directory, format: format)
    }

    @Test(arguments: ["gnu", "posix", "ustar"])
    func readsTheRealTarsFilesAndSkipsDirectoriesAndLinks(format: String) throws {
        #expect(Self.longName.utf8.count > 100)
        let bytes = try archive(format: format)
        let tar = try TarArchive(bytes: bytes, source: "test.tar")
        #expect(tar.entries.map(\.name) == Self.files.map(\.name))
        for (entry, file) in zip(tar.entries, Self.files) {
            #expect(tar.contents(of: entry) == file.contents, "\(entry.name)")
        }
    }

    @Test func aNameThatClimbsOutIsRefused() throws {
        let hostile = TestArchives.handMadeArchive(name: "corpus/../../etc/cron.d/x", contents: Array("* * * * * root true\n".utf8))
        #expect(reason { _ = try TarArchive(bytes: hostile, source: "hostile.tar") } == .unsafeEntryName("corpus/../../etc/cron.d/x"))

        let absolute = TestArchives.handMadeArchive(name: "/etc/passwd", contents: [])
        #expect(reason { _ = try TarArchive(bytes: absolute, source: "hostile.tar") } == .unsafeEntryName("/etc/passwd"))

        // A directory entry that climbs out marks the archive hostile too.
        let directory = TestArchives.handMadeArchive(name: "../outside/", contents: [], typeflag: "5")
        #expect(reason { _ = try TarArchive(bytes: directory, source: "hostile.tar") } == .unsafeEntryName("../outside/"))

        // The hand-made header is a sound one: the same archive with a plain name is read.
        let plain = TestArchives.handMadeArchive(name: "corpus/x", contents: Array("hello".utf8))
        let tar = try TarArchive(bytes: plain, source: "plain.tar")
        #expect(tar.entries.map(\.name) == ["corpus/x"])
        #expect(tar.contents(of: tar.entries[0]) == Array("hello".utf8))
    }

    @Test func aTruncatedArchiveIsRefusedClearly() throws {
        let bytes = try archive(format: "gnu")
        // Inside an entry's data, inside a header, and cut just before the end-of-archive blocks.
        let inData = Array(bytes.prefix(512 + 3))
        #expect(reason { _ = try TarArchive(bytes: inData, source: "cut.tar") }.map { if case .truncated = $0 { true } else { false } } == true)
        let inHeader = Array(bytes.prefix(1024 + 100))
        #expect(reason { _ = try TarArchive(bytes: inHeader, source: "cut.tar") } == .truncated("it ends inside the header at block 2"))
        let blocks = bytes.count / 512
        let lastHeaderOrData = try #require((0..<blocks).last { block in bytes[block * 512..<block * 512 + 512].contains { $0 != 0 } })
        let withoutEnd = Array(bytes.prefix((lastHeaderOrData + 1) * 512))
        do {
            _ = try TarArchive(bytes: withoutEnd, source: "/cache/cut.tar")
            Issue.record("an archive without its end was accepted")
        } catch {
            #expect(error.description.hasPrefix("/cache/cut.tar is truncated: it ends after"))
            #expect(error.description.hasSuffix("(was the download cut short?)"))
        }
    }

    @Test func aDamagedHeaderFailsItsChecksum() throws {
        var bytes = try archive(format: "gnu")
        bytes[2] ^= 0x20  // a letter of the first name
        guard case .corruptHeader(let block, let detail) = reason({ _ = try TarArchive(bytes: bytes, source: "bad.tar") }) else {
            Issue.record("a damaged header was accepted")
            return
        }
        #expect(block == 0)
        #expect(detail.hasPrefix("fails its checksum"))

        var notOctal = TestArchives.handMadeArchive(name: "x", contents: [])
        notOctal[124] = UInt8(ascii: "9")
        #expect(reason { _ = try TarArchive(bytes: notOctal, source: "bad.tar") } != nil)
    }

    @Test func anOldStyleDirectoryMarkedOnlyByItsSlashIsNotAFile() throws {
        let archive = TestArchives.handMadeArchive(name: "easy_ham/", contents: [], typeflag: "0")
        #expect(try TarArchive(bytes: archive, source: "old.tar").entries.isEmpty)
    }

    @Test func anEmptyArchiveHasNoEntries() throws {
        #expect(try TarArchive(bytes: [UInt8](repeating: 0, count: 10240), source: "empty.tar").entries.isEmpty)
    }
}

import Foundation

/// Tar and bzip2 files made at test time by the system's own `/usr/bin/tar` and
/// `/usr/bin/bzip2`, from files the test writes, so readers are checked against the real
/// tools rather than against themselves.
public enum TestArchives {
    public struct ToolError: Error, CustomStringConvertible {
        public let description: String
    }

    /// A fresh directory under /tmp for one archive's inputs; removed by the caller.
    public static func scratchDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("spamtune-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// `tar --format FORMAT -cf - NAMES` run in `directory`, folders read in name order.
    /// - Parameter format: gnu, posix (pax), ustar or v7.
    public static func tar(_ names: [String], in directory: URL, format: String = "gnu") throws -> [UInt8] {
        let result = try runProcess(
            URL(fileURLWithPath: "/usr/bin/tar"), ["--format", format, "--sort=name", "-C", directory.path, "-cf", "-"] + names)
        guard result.status == 0 else { throw ToolError(description: "tar failed: \(result.standardError)") }
        return Array(result.standardOutputData)
    }

    /// Writes `files` (relative name -> contents) under `directory`, creating their folders.
    public static func write(_ files: [(name: String, contents: [UInt8])], under directory: URL) throws {
        for file in files {
            let url = directory.appendingPathComponent(file.name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(file.contents).write(to: url)
        }
    }

    /// `files` written to a scratch directory and archived by `/usr/bin/tar`, in the order given.
    public static func tar(_ files: [(name: String, contents: [UInt8])], format: String = "gnu") throws -> [UInt8] {
        let directory = try scratchDirectory("tar")
        defer { try? FileManager.default.removeItem(at: directory) }
        try write(files, under: directory)
        return try tar(files.map(\.name), in: directory, format: format)
    }

    /// `bytes` compressed by `/usr/bin/bzip2`.
    public static func bzip2(_ bytes: [UInt8], level: Int = 9) throws -> [UInt8] {
        let result = try runProcess(URL(fileURLWithPath: "/usr/bin/bzip2"), ["-c", "-\(level)"], input: Data(bytes))
        guard result.status == 0 else { throw ToolError(description: "bzip2 failed: \(result.standardError)") }
        return Array(result.standardOutputData)
    }

    /// A ustar header for `name` made by hand, with a correct checksum: for names the
    /// real tar will not write (`../x`, `/etc/x`).
    public static func handMadeHeader(name: String, size: Int, typeflag: Character = "0") -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) {
            for (index, byte) in text.utf8.enumerated() { header[offset + index] = byte }
        }
        put(name, at: 0)
        put("0000644", at: 100)
        put("0000000", at: 108)
        put("0000000", at: 116)
        put(String(format: "%011o", size), at: 124)
        put("00000000000", at: 136)
        put(String(typeflag), at: 156)
        put("ustar", at: 257)
        put("00", at: 263)
        put("        ", at: 148)
        let sum = header.reduce(0) { $0 + Int($1) }
        put(String(format: "%06o", sum), at: 148)
        header[154] = 0
        header[155] = UInt8(ascii: " ")
        return header
    }

    /// One hand-made entry (header and padded data) followed by the end-of-archive blocks.
    public static func handMadeArchive(name: String, contents: [UInt8], typeflag: Character = "0") -> [UInt8] {
        var archive = handMadeHeader(name: name, size: contents.count, typeflag: typeflag) + contents
        archive += [UInt8](repeating: 0, count: (512 - contents.count % 512) % 512)
        return archive + [UInt8](repeating: 0, count: 1024)
    }
}

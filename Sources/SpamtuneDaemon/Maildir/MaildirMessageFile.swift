import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A message file opened for reading. The descriptor keeps the same message even if a
/// mail client renames the file meanwhile.
final class MaildirMessageFile {
    let path: String
    let descriptor: Int32
    let info: stat
    var size: Int { Int(info.st_size) }
    var inode: UInt64 { UInt64(info.st_ino) }

    /// nil when there is no such file (taken by a mail client) or it is not a regular file.
    init?(path: String) throws {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ENOENT || errno == ELOOP { return nil }
            throw MaildirError(path, "open the message")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            throw MaildirError(path, "read the message's status")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            return nil
        }
        self.path = path
        descriptor = fd
        self.info = info
    }

    deinit { close(descriptor) }

    /// The first `limit` bytes (all of a shorter message).
    func prefix(_ limit: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: min(size, limit))
        guard Self.readFully(descriptor, into: &bytes, at: 0) else { throw MaildirError(path, "read the message") }
        return bytes
    }

    func contents() throws -> [UInt8] { try prefix(size) }

    /// Fills `bytes` from `offset`; false on an error or when the file is shorter.
    static func readFully(_ fd: Int32, into bytes: inout [UInt8], at offset: Int) -> Bool {
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(offset + done)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            done += count
        }
        return true
    }
}

/// Writing the scanned copy of a message: the scan mark, spamtuned's header fields, then
/// the original with any copies of those fields removed (a sender cannot pre-set
/// `X-Spam-Flag: NO` or a scan mark). The body is copied in pieces, never held whole.
struct MaildirRewrite {
    /// Header fields larger than this are not searched for fields to remove.
    static let headerSearchLimit = 256 << 10
    static let copyChunk = 256 << 10

    let signer: MaildirMarkSigner
    /// Field names (lower case) removed from the original's header.
    let removedFields: Set<String>

    init(signer: MaildirMarkSigner, headerNames: [String]) {
        self.signer = signer
        removedFields = Set((headerNames + [MaildirScanMark.headerName]).map { $0.lowercased() })
    }

    /// Writes the scanned copy of `original` to `path`, owned, moded and dated like the
    /// original (mail servers show a Maildir file's mtime as its arrival time), synced
    /// to disk before this returns.
    /// Returns the copy's sizes, for the `,S=` and `,W=` of its file name.
    @discardableResult
    func write(_ original: MaildirMessageFile, mark: MaildirScanMark, fields: [(name: String, value: String)], to path: String) throws -> MaildirMessageSize {
        let (header, bodyOffset, lineEnding) = try originalHeader(original)
        var restHead: [UInt8] = []
        for field in fields { restHead += Array("\(field.name): \(field.value)".utf8) + lineEnding }
        restHead += header
        let bodyLength = original.size - bodyOffset
        let restLength = restHead.count + bodyLength
        var restPrefix = Array(restHead.prefix(MaildirScanMark.checkedPrefixLength))
        if restPrefix.count < MaildirScanMark.checkedPrefixLength && bodyLength > 0 {
            var body = [UInt8](repeating: 0, count: min(bodyLength, MaildirScanMark.checkedPrefixLength - restPrefix.count))
            guard MaildirMessageFile.readFully(original.descriptor, into: &body, at: bodyOffset) else {
                throw MaildirError(original.path, "read the message")
            }
            restPrefix += body
        }
        let markLine = signer.line(for: mark, restLength: restLength, restPrefix: restPrefix, lineEnding: lineEnding)

        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw MaildirError(path, "create the scanned copy") }
        defer { close(fd) }
        var size = MaildirMessageSize()
        size.count(markLine + restHead)
        try Self.writeAll(fd, markLine + restHead, path: path)
        var buffer = [UInt8](repeating: 0, count: min(Self.copyChunk, max(bodyLength, 1)))
        var offset = bodyOffset
        while offset < original.size {
            let count = buffer.withUnsafeMutableBytes {
                pread(original.descriptor, $0.baseAddress, min($0.count, original.size - offset), off_t(offset))
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                throw MaildirError(original.path, "read the message", code: count == 0 ? 0 : errno, detail: count == 0 ? "it became shorter while being read" : nil)
            }
            size.count(buffer[..<count])
            try Self.writeAll(fd, buffer[..<count], path: path)
            offset += count
        }
        if geteuid() == 0 && fchown(fd, original.info.st_uid, original.info.st_gid) != 0 {
            throw MaildirError(path, "give the scanned copy to uid \(original.info.st_uid)")
        }
        guard fchmod(fd, original.info.st_mode & 0o7777) == 0 else { throw MaildirError(path, "set the scanned copy's mode") }
        var times = [original.info.st_atim, original.info.st_mtim]
        guard futimens(fd, &times) == 0 else { throw MaildirError(path, "set the scanned copy's time") }
        guard fsync(fd) == 0 else { throw MaildirError(path, "sync the scanned copy") }
        return size
    }

    /// The original's header section without the removed fields, where its body starts,
    /// and its line ending (a file written with CRLF gets CRLF fields).
    private func originalHeader(_ original: MaildirMessageFile) throws -> (header: [UInt8], bodyOffset: Int, lineEnding: [UInt8]) {
        let head = try original.prefix(Self.headerSearchLimit)
        let newline = UInt8(ascii: "\n")
        let lineEnding: [UInt8] =
            if let first = head.firstIndex(of: newline), first > 0, head[first - 1] == UInt8(ascii: "\r") { [13, 10] } else { [10] }
        // The header ends after the first empty line; without one in reach, nothing is removed.
        var lineStart = 0
        var headerEnd: Int?
        while lineStart < head.count {
            guard let end = head[lineStart...].firstIndex(of: newline) else {
                if head.count == original.size { headerEnd = head.count }  // a message that is all header
                break
            }
            let isEmpty = end == lineStart || (end == lineStart + 1 && head[lineStart] == 13)
            lineStart = end + 1
            if isEmpty {
                headerEnd = lineStart
                break
            }
        }
        guard let headerEnd else { return ([], 0, lineEnding) }
        return (removingFields(head[..<headerEnd]), headerEnd, lineEnding)
    }

    /// The header lines, without the removed fields and their continuation lines.
    func removingFields(_ header: ArraySlice<UInt8>) -> [UInt8] {
        var kept: [UInt8] = []
        kept.reserveCapacity(header.count)
        var dropping = false
        for line in Self.lines(header) {
            if let first = line.first, first == 32 || first == 9 {
                if !dropping { kept += line }
                continue
            }
            dropping = fieldName(line).map(removedFields.contains) ?? false
            if !dropping { kept += line }
        }
        return kept
    }

    /// The message as it was before spamtuned scanned it: the scan mark and the fields
    /// spamtuned wrote on top are taken off (the feedback store learns from what the
    /// sender sent, not from spamtuned's own verdict).
    func unscanned(_ message: [UInt8]) -> [UInt8] {
        let markName = (MaildirScanMark.headerName + ":").lowercased()
        guard String(decoding: message.prefix(markName.utf8.count), as: UTF8.self).lowercased() == markName else { return message }
        var offset = 0
        var isFirstLine = true
        var dropping = false
        while offset < message.count {
            let end = message[offset...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? message.count
            let line = message[offset..<end]
            if isFirstLine {
                isFirstLine = false
            } else if let byte = line.first, byte == 32 || byte == 9 {
                guard dropping else { break }
            } else {
                guard let name = fieldName(line), removedFields.contains(name) else { break }
                dropping = true
            }
            offset = end
        }
        return Array(message[offset...])
    }

    private func fieldName(_ line: ArraySlice<UInt8>) -> String? {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        var name = line[line.startIndex..<colon]
        while let last = name.last, last == 32 || last == 9 { name = name.dropLast() }
        return String(decoding: name, as: UTF8.self).lowercased()
    }

    /// Lines with their endings; a last line without one is included.
    static func lines(_ bytes: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        while start < bytes.endIndex {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? bytes.endIndex
            lines.append(bytes[start..<end])
            start = end
        }
        return lines
    }

    static func writeAll(_ fd: Int32, _ bytes: some Collection<UInt8>, path: String) throws {
        let array = Array(bytes)
        var done = 0
        while done < array.count {
            let count = array.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw MaildirError(path, "write the scanned copy") }
            done += count
        }
    }
}

/// A message's size and its size with CRLF line endings (what IMAP reports), which
/// Dovecot keeps in Maildir file names as `,S=` and `,W=`.
struct MaildirMessageSize: Equatable {
    private(set) var size = 0
    private(set) var virtualSize = 0
    private var lastByte: UInt8 = 0

    mutating func count(_ bytes: some Collection<UInt8>) {
        for byte in bytes {
            if byte == 10 && lastByte != 13 { virtualSize += 1 }
            lastByte = byte
        }
        size += bytes.count
        virtualSize += bytes.count
    }

    /// The sizes of a file on disk.
    static func measure(_ path: String) throws -> MaildirMessageSize {
        guard let file = try MaildirMessageFile(path: path) else { throw MaildirError(path, "measure the scanned copy", code: ENOENT) }
        var size = MaildirMessageSize()
        var offset = 0
        var buffer = [UInt8](repeating: 0, count: 256 << 10)
        while offset < file.size {
            let count = buffer.withUnsafeMutableBytes { pread(file.descriptor, $0.baseAddress, min($0.count, file.size - offset), off_t(offset)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw MaildirError(path, "measure the scanned copy") }
            size.count(buffer[..<count])
            offset += count
        }
        return size
    }

    /// `name` with its `,S=` and `,W=` (where it has them) saying these sizes: a mail
    /// server that trusts them must not be told the size of the message before spamtuned
    /// added its lines.
    func applied(to name: String) -> String {
        let info = name.firstIndex(of: ":").map { String(name[$0...]) } ?? ""
        let base = name.prefix { $0 != ":" }
        var parts = base.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard parts.count > 1 else { return name }
        for index in 1..<parts.count {
            if parts[index].hasPrefix("S="), parts[index].dropFirst(2).allSatisfy(\.isNumber) { parts[index] = "S=\(size)" }
            if parts[index].hasPrefix("W="), parts[index].dropFirst(2).allSatisfy(\.isNumber) { parts[index] = "W=\(virtualSize)" }
        }
        return parts.joined(separator: ",") + info
    }
}

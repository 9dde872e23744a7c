import Foundation
import SpamtuneSupport

/// Where a message in a mailbox came from: enough to find it again and to name it in
/// a training report.
public enum MailSource: Sendable, Hashable, CustomStringConvertible {
    /// A message file (`.eml`, or a single message given by path).
    case file(path: String)
    /// A Maildir message; `folder` is "" for the Maildir itself and the Maildir++
    /// folder name (".Junk", ".Archive.2024") otherwise.
    case maildir(path: String, folder: String)
    /// The `index`-th message (from 0) of an mbox file, whose `From ` line starts at
    /// `byteOffset`.
    case mbox(path: String, index: Int, byteOffset: Int)

    public var description: String {
        switch self {
        case .file(let path): path
        case .maildir(let path, _): path
        case .mbox(let path, let index, let byteOffset): "\(path) message \(index) (byte \(byteOffset))"
        }
    }
}

public struct MailboxMessage: Sendable {
    public let source: MailSource
    /// The message as stored (for mbox: without its `From ` line, `>From ` unquoted).
    public let bytes: [UInt8]
    /// Whether the message was larger than the reader's `maxMessageBytes` and only its
    /// start was read.
    public let isTruncated: Bool
}

public enum MailboxError: Error, Equatable, CustomStringConvertible {
    case cannotRead(path: String, reason: String)
    case notAMailbox(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotRead(let path, let reason): "cannot read \(path): \(reason)"
        case .notAMailbox(let path, let reason): "\(path) is not a mailbox: \(reason)"
        }
    }
}

/// Messages of a mailbox, one at a time: a mailbox can be far larger than memory.
public protocol MailboxReader {
    /// The next message, or nil after the last. Throws when a file cannot be read.
    mutating func nextMessage() throws -> MailboxMessage?
    /// Files met so far that were not read as messages, for the reader's caller to
    /// report: a folder of mail that is silently read in part trains on less than
    /// the admin gave it.
    var skippedFiles: [String] { get }
}

extension MailboxReader {
    public var skippedFiles: [String] { [] }

    /// Reads every remaining message (for small mailboxes and tests).
    public mutating func readAll() throws -> [MailboxMessage] {
        var messages: [MailboxMessage] = []
        while let message = try nextMessage() { messages.append(message) }
        return messages
    }
}

public enum Mailbox {
    /// The default bound on one message's size when reading mailboxes.
    public static let defaultMaxMessageBytes = 64 * 1024 * 1024

    /// A reader for whatever `path` is: a Maildir (a directory with `cur` or `new`),
    /// a directory of message files (see `EMLDirectoryReader`), an mbox file (starts with `From `), or a single
    /// message file.
    public static func open(path: String, maxMessageBytes: Int = defaultMaxMessageBytes) throws -> any MailboxReader {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw MailboxError.cannotRead(path: path, reason: "no such file or directory")
        }
        if isDirectory.boolValue {
            if MaildirReader.isMaildir(path) { return try MaildirReader(path: path, maxMessageBytes: maxMessageBytes) }
            return try EMLDirectoryReader(path: path, maxMessageBytes: maxMessageBytes)
        }
        let start = try MailFiles.read(path: path, maxBytes: 5).bytes
        if start == Array("From ".utf8) { return try MboxReader(path: path, maxMessageBytes: maxMessageBytes) }
        return SingleFileReader(path: path, maxMessageBytes: maxMessageBytes)
    }
}

enum MailFiles {
    static func read(path: String, maxBytes: Int) throws -> (bytes: [UInt8], isTruncated: Bool) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw MailboxError.cannotRead(path: path, reason: String(cString: strerror(errno)))
        }
        defer { try? handle.close() }
        do {
            let data = try handle.read(upToCount: maxBytes) ?? Data()
            let more = data.count == maxBytes ? try handle.read(upToCount: 1) : nil
            return ([UInt8](data), !(more?.isEmpty ?? true))
        } catch {
            throw MailboxError.cannotRead(path: path, reason: "\(error.localizedDescription)")
        }
    }

    /// The names in a directory, sorted (so that training sees a stable order),
    /// without hidden ones.
    static func sortedEntries(of directory: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix(".") }.sorted()
        } catch {
            throw MailboxError.cannotRead(path: directory, reason: "cannot list the directory: \(error.localizedDescription)")
        }
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}

/// One message file.
public struct SingleFileReader: MailboxReader {
    public let path: String
    let maxMessageBytes: Int
    private var done = false

    public init(path: String, maxMessageBytes: Int = Mailbox.defaultMaxMessageBytes) {
        self.path = path
        self.maxMessageBytes = maxMessageBytes
    }

    public mutating func nextMessage() throws -> MailboxMessage? {
        guard !done else { return nil }
        done = true
        let (bytes, truncated) = try MailFiles.read(path: path, maxBytes: maxMessageBytes)
        return MailboxMessage(source: .file(path: path), bytes: bytes, isTruncated: truncated)
    }
}

/// A Maildir: the messages in `new/` then `cur/` (`tmp/` holds deliveries in
/// progress and is skipped), then those of each Maildir++ folder (a subdirectory whose
/// name starts with "." and that has `cur/` or `new/`), folders in name order.
public struct MaildirReader: MailboxReader {
    public let path: String
    /// The folders read, "" for the Maildir itself.
    public let folders: [String]
    let maxMessageBytes: Int
    private var pendingDirectories: [(folder: String, directory: String)]
    private var currentFolder = ""
    private var currentDirectory = ""
    private var pendingNames: [String] = []
    private var nameIndex = 0

    public static func isMaildir(_ path: String) -> Bool {
        MailFiles.isDirectory(MailFiles.join(path, "cur")) || MailFiles.isDirectory(MailFiles.join(path, "new"))
    }

    public init(path: String, includeSubfolders: Bool = true, maxMessageBytes: Int = Mailbox.defaultMaxMessageBytes) throws {
        guard MaildirReader.isMaildir(path) else {
            throw MailboxError.notAMailbox(path: path, reason: "a Maildir has a cur/ or new/ directory")
        }
        self.path = path
        self.maxMessageBytes = maxMessageBytes
        var folders = [""]
        if includeSubfolders {
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
            } catch {
                throw MailboxError.cannotRead(path: path, reason: "cannot list the directory: \(error.localizedDescription)")
            }
            folders += names.filter { $0.hasPrefix(".") && $0 != "." && $0 != ".." && MaildirReader.isMaildir(MailFiles.join(path, $0)) }
        }
        self.folders = folders
        pendingDirectories = folders.flatMap { folder in
            let base = folder.isEmpty ? path : MailFiles.join(path, folder)
            return ["new", "cur"].map { (folder, MailFiles.join(base, $0)) }.filter { MailFiles.isDirectory($0.1) }
        }
        pendingDirectories.reverse()
    }

    public mutating func nextMessage() throws -> MailboxMessage? {
        while true {
            while nameIndex < pendingNames.count {
                let file = MailFiles.join(currentDirectory, pendingNames[nameIndex])
                nameIndex += 1
                guard !MailFiles.isDirectory(file) else { continue }
                let (bytes, truncated) = try MailFiles.read(path: file, maxBytes: maxMessageBytes)
                return MailboxMessage(source: .maildir(path: file, folder: currentFolder), bytes: bytes, isTruncated: truncated)
            }
            guard let next = pendingDirectories.popLast() else { return nil }
            currentFolder = next.folder
            currentDirectory = next.directory
            pendingNames = try MailFiles.sortedEntries(of: next.directory)
            nameIndex = 0
        }
    }
}

/// A directory tree of message files in name order, a directory's files before its
/// subdirectories. Every file that is not hidden is a message when it is named `*.eml`
/// (any case) or with a number (as MH folders and the public corpora name them: `17`,
/// `00042.5e2a…`), or when it starts as mail does (see `startsAsMail`), whatever its
/// name: corpora and exports name messages by hash, `inmail.1`, `msg-0001.txt`. The
/// other files (notes, a corpus's `cmds` index) are skipped and listed in
/// `skippedFiles`.
public struct EMLDirectoryReader: MailboxReader {
    public let path: String
    let maxMessageBytes: Int
    public private(set) var skippedFiles: [String] = []
    private var pendingDirectories: [String]
    private var pendingFiles: [(path: String, isNamedAsMessage: Bool)] = []

    public init(path: String, maxMessageBytes: Int = Mailbox.defaultMaxMessageBytes) throws {
        guard MailFiles.isDirectory(path) else {
            throw MailboxError.notAMailbox(path: path, reason: "not a directory")
        }
        self.path = path
        self.maxMessageBytes = maxMessageBytes
        pendingDirectories = [path]
    }

    public mutating func nextMessage() throws -> MailboxMessage? {
        while true {
            while let file = pendingFiles.popLast() {
                if !file.isNamedAsMessage {
                    // A tarball or a disk image left in the folder costs a header's read, not a message's.
                    let start = try MailFiles.read(path: file.path, maxBytes: EMLDirectoryReader.headerSniffBytes).bytes
                    guard EMLDirectoryReader.startsAsMail(start) else {
                        skippedFiles.append(file.path)
                        continue
                    }
                }
                let (bytes, truncated) = try MailFiles.read(path: file.path, maxBytes: maxMessageBytes)
                return MailboxMessage(source: .file(path: file.path), bytes: bytes, isTruncated: truncated)
            }
            guard let directory = pendingDirectories.popLast() else { return nil }
            var files: [(String, Bool)] = [], subdirectories: [String] = []
            for name in try MailFiles.sortedEntries(of: directory) {
                let child = MailFiles.join(directory, name)
                if MailFiles.isDirectory(child) { subdirectories.append(child) }
                else { files.append((child, EMLDirectoryReader.isMessageFileName(name))) }
            }
            pendingFiles = files.reversed()
            pendingDirectories.append(contentsOf: subdirectories.reversed())
        }
    }
}

extension EMLDirectoryReader {
    static func isMessageFileName(_ name: String) -> Bool {
        name.lowercased().hasSuffix(".eml") || name.first.map { $0.isASCII && $0.isNumber } == true
    }

    /// Header fields that nearly every real message has one of, and a note or an index
    /// that happens to start with "Word:" has not.
    static let commonMailFields: Set<String> = [
        "from", "to", "subject", "date", "message-id", "received", "return-path", "delivered-to", "sender", "mime-version",
    ]

    /// Whether `bytes` open with a mail header (after an mbox `From ` line, if any) that
    /// has at least one of `commonMailFields`: what the parser reads as the header.
    static func startsAsMail(_ bytes: [UInt8]) -> Bool {
        MailMessage(bytes: bytes).fields.contains { commonMailFields.contains($0.lowercasedName) }
    }

    /// How much of a file `startsAsMail` reads: a message whose first common field is
    /// further in is rare enough to be named `.eml` by whoever has one.
    static let headerSniffBytes = 64 * 1024
}

/// An mbox file (mboxrd and mboxo): messages separated by `From ` lines, each at the
/// start of the file or after an empty line (a body line starting "From " that a
/// writer failed to quote is rarely after an empty line, and the rule keeps such a
/// line in its message). Lines `>From `, `>>From `… lose one `>`. The empty line a
/// writer puts before the next `From ` line is not part of the message. The file is
/// memory-mapped, so a large mbox costs page cache, not memory.
public struct MboxReader: MailboxReader {
    public let path: String
    let maxMessageBytes: Int
    private let file: MappedFile
    private var position = 0
    private var index = 0

    public init(path: String, maxMessageBytes: Int = Mailbox.defaultMaxMessageBytes) throws {
        do {
            file = try MappedFile(path: path)
        } catch {
            throw MailboxError.cannotRead(path: path, reason: "\(error)")
        }
        self.path = path
        self.maxMessageBytes = maxMessageBytes
        let buffer = file.bytes.bindMemory(to: UInt8.self)
        guard buffer.isEmpty || buffer.hasPrefix(Array("From ".utf8), at: 0, end: buffer.count) else {
            throw MailboxError.notAMailbox(path: path, reason: "an mbox file starts with a \"From \" line")
        }
    }

    public mutating func nextMessage() throws -> MailboxMessage? {
        let buffer = file.bytes.bindMemory(to: UInt8.self)
        let end = buffer.count
        guard position < end else { return nil }
        let fromLineStart = position
        let messageStart = min(end, buffer.lineEnd(from: position, to: end) + 1)
        // The next separator: "\nFrom " at a line start that follows an empty line.
        var separator = end
        let pattern = Array("\nFrom ".utf8)
        var searchFrom = messageStart > fromLineStart ? messageStart - 1 : messageStart
        while let found = buffer.firstIndex(of: pattern, from: searchFrom, to: end) {
            let lineStart = found + 1
            if lineStart == messageStart || MboxReader.previousLineIsEmpty(buffer, lineStart: lineStart, floor: messageStart) {
                separator = lineStart
                break
            }
            searchFrom = lineStart
        }
        var messageEnd = separator
        if separator < end {
            // Drop the empty line that precedes the separator.
            messageEnd -= 1
            if messageEnd > messageStart, buffer[messageEnd - 1] == ASCII.carriageReturn { messageEnd -= 1 }
        }
        messageEnd = max(messageStart, messageEnd)
        let (bytes, truncated) = MboxReader.unquoted(buffer, range: messageStart..<messageEnd, maxBytes: maxMessageBytes)
        let message = MailboxMessage(source: .mbox(path: path, index: index, byteOffset: fromLineStart),
                                     bytes: bytes, isTruncated: truncated)
        position = separator
        index += 1
        return message
    }

    private static func previousLineIsEmpty(_ buffer: Bytes, lineStart: Int, floor: Int) -> Bool {
        // lineStart - 1 is the LF ending the previous line.
        var index = lineStart - 1
        guard index > floor else { return index == floor }
        index -= 1
        if buffer[index] == ASCII.carriageReturn {
            guard index > floor else { return true }
            index -= 1
        }
        return buffer[index] == ASCII.lineFeed
    }

    /// The message with one ">" taken from each line that matches `>+From `.
    static func unquoted(_ buffer: Bytes, range: Range<Int>, maxBytes: Int) -> ([UInt8], Bool) {
        var output: [UInt8] = []
        output.reserveCapacity(min(range.count, maxBytes))
        var lineStart = range.lowerBound
        let quotedFrom = Array("From ".utf8)
        while lineStart < range.upperBound && output.count < maxBytes {
            let lineEnd = min(range.upperBound, buffer.lineEnd(from: lineStart, to: range.upperBound) + 1)
            var contentStart = lineStart
            if buffer[lineStart] == ASCII.greaterThan {
                var probe = lineStart
                while probe < lineEnd && buffer[probe] == ASCII.greaterThan { probe += 1 }
                if buffer.hasPrefix(quotedFrom, at: probe, end: lineEnd) { contentStart = lineStart + 1 }
            }
            let take = min(lineEnd - contentStart, maxBytes - output.count)
            output.append(contentsOf: buffer[contentStart..<contentStart + take])
            if take < lineEnd - contentStart { return (output, true) }
            lineStart = lineEnd
        }
        return (output, lineStart < range.upperBound)
    }
}

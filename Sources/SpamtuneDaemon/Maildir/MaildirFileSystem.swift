import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A system call on a Maildir path that failed, worded for the mail admin's log.
struct MaildirError: Error, CustomStringConvertible, Equatable {
    let path: String
    let operation: String
    /// errno, or 0 when the problem is not a system call's.
    let code: Int32
    let detail: String?

    init(_ path: String, _ operation: String, code: Int32 = errno, detail: String? = nil) {
        self.path = path
        self.operation = operation
        self.code = code
        self.detail = detail
    }

    var description: String {
        "\(path): cannot \(operation): \(detail ?? String(cString: strerror(code)))"
    }
}

/// The few file operations the Maildir state machine is built from, each one atomic.
enum MaildirFileSystem {
    private typealias Renameat2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    /// glibc declares renameat2(2) only under _GNU_SOURCE, which Swift's Glibc module does
    /// not set; the symbol is there since glibc 2.28, so it is looked up at run time.
    private static let renameat2: Renameat2? = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "renameat2") else { return nil }
        return unsafeBitCast(symbol, to: Renameat2.self)
    }()
    private static let renameNoReplaceFlag: UInt32 = 1
    private static let renameExchangeFlag: UInt32 = 2

    enum MoveResult: Equatable {
        case moved
        case sourceMissing
        case destinationExists
    }

    /// Moves `source` to `destination` unless something is already there. Without
    /// renameat2 (or on a file system that lacks RENAME_NOREPLACE) it is link + unlink,
    /// which leaves the source with a second link for a moment: recovery checks the
    /// link count for exactly that.
    static func moveWithoutReplacing(_ source: String, to destination: String) throws -> MoveResult {
        if let renameat2 {
            if renameat2(AT_FDCWD, source, AT_FDCWD, destination, renameNoReplaceFlag) == 0 { return .moved }
            switch errno {
            case ENOENT: return try missingEnd(source, destination)
            case EEXIST: return .destinationExists
            case EINVAL, ENOSYS, EOPNOTSUPP: break
            default: throw MaildirError(source, "move it to \(destination)")
            }
        }
        if link(source, destination) != 0 {
            switch errno {
            case ENOENT: return try missingEnd(source, destination)
            case EEXIST: return .destinationExists
            default: throw MaildirError(source, "link it to \(destination)")
            }
        }
        guard unlink(source) == 0 || errno == ENOENT else { throw MaildirError(source, "remove it") }
        return .moved
    }

    /// ENOENT means the source went away (a mail client took the message) unless it is
    /// the destination's directory that is missing.
    private static func missingEnd(_ source: String, _ destination: String) throws -> MoveResult {
        if exists(source) { throw MaildirError((destination as NSString).deletingLastPathComponent, "move a message into it", code: ENOENT) }
        return .sourceMissing
    }

    enum ExchangeResult: Equatable {
        case exchanged
        /// One of the two is gone: `second` was taken away meanwhile.
        case secondMissing
        /// The file system cannot exchange; use claim and move instead.
        case unsupported
    }

    /// Swaps two names atomically: the replacement takes the original's name and the
    /// original takes the replacement's, or nothing happens when the original has gone.
    static func exchange(_ first: String, _ second: String) throws -> ExchangeResult {
        guard let renameat2 else { return .unsupported }
        if renameat2(AT_FDCWD, first, AT_FDCWD, second, renameExchangeFlag) == 0 { return .exchanged }
        switch errno {
        case ENOENT: return .secondMissing
        case EINVAL, ENOSYS, EOPNOTSUPP: return .unsupported
        default: throw MaildirError(first, "exchange it with \(second)")
        }
    }

    /// rename(2), for moves within our own tmp/ names. False when the source is gone.
    static func rename(_ source: String, to destination: String) throws -> Bool {
        if Glibc.rename(source, destination) == 0 { return true }
        if errno == ENOENT && !exists(source) { return false }
        throw MaildirError(source, "rename it to \(destination)")
    }

    /// Removes a file; one that is already gone is fine.
    static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else { throw MaildirError(path, "remove it") }
    }

    /// Makes a directory's entries (renames, new names) durable, so a rename is on disk
    /// before the step that depends on it.
    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw MaildirError(path, "open the directory") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw MaildirError(path, "sync the directory") }
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// lstat(2); nil when there is nothing there.
    static func status(_ path: String) -> stat? {
        var info = stat()
        return lstat(path, &info) == 0 ? info : nil
    }

    /// The names in a directory, without `.` and `..`.
    static func names(in directory: String) throws -> [String] {
        guard let stream = opendir(directory) else { throw MaildirError(directory, "list it") }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Creates a directory owned like `owner` (when running as root, so that the user's
    /// IMAP server can use what spamtuned creates). An existing directory is fine.
    static func makeDirectory(_ path: String, ownedLike owner: stat) throws {
        if mkdir(path, 0o700) != 0 {
            guard errno == EEXIST, isDirectory(path) else { throw MaildirError(path, "create the directory") }
            return
        }
        if geteuid() == 0 && chown(path, owner.st_uid, owner.st_gid) != 0 {
            throw MaildirError(path, "give the directory to uid \(owner.st_uid)")
        }
    }

    private static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count - 1)
        // Maildir names may not contain / or :, and \057, \072 is how Maildir spells them.
        let name = String(cString: buffer)
        return name.isEmpty ? "localhost" : name.replacingOccurrences(of: "/", with: "\\057").replacingOccurrences(of: ":", with: "\\072")
    }()
    private static let counter = Atomic<Int>(0)

    /// A fresh Maildir unique name (time, microseconds, process, counter, host), for the
    /// rare message whose own name is already taken in the folder it goes to.
    static func uniqueName() -> String {
        var now = timeval()
        gettimeofday(&now, nil)
        let sequence = counter.add(1, ordering: .relaxed).newValue
        return "\(now.tv_sec).M\(now.tv_usec)P\(getpid())Q\(sequence).\(hostName)"
    }
}

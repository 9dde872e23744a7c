#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import SpamtuneSupport

/// A failed file operation with the operating system's reason, e.g. "No space left on
/// device" or "Read-only file system", which is what an admin needs to see.
struct FileSystemError: Error, CustomStringConvertible {
    let path: String
    let operation: String
    let code: Int32

    var reason: String { "\(operation): \(String(cString: strerror(code)))" }
    var description: String { "\(path): \(reason)" }

    /// Space and permission problems that no retry fixes.
    var isStorageProblem: Bool { [ENOSPC, EDQUOT, EROFS, EACCES, EPERM, EFBIG].contains(code) }
}

/// The few POSIX file operations the downloads and dataset files need, with errno kept.
enum FileSystem {
    static func size(_ path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(info.st_size)
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func remove(_ path: String) { unlink(path) }

    static func createDirectory(_ path: String) throws(FileSystemError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw FileSystemError(path: current, operation: "cannot create the directory", code: errno)
            }
        }
        var info = stat()
        guard stat(path, &info) == 0 else { throw FileSystemError(path: path, operation: "cannot create the directory", code: errno) }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw FileSystemError(path: path, operation: "not a directory", code: ENOTDIR) }
    }

    static func readFile(_ path: String) throws(FileSystemError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileSystemError(path: path, operation: "cannot open", code: errno) }
        defer { close(descriptor) }
        var bytes = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(path: path, operation: "cannot read", code: errno)
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }

    /// Writes `bytes` to `path.partial`-like temporary beside it, fsyncs, renames.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(FileSystemError) {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial").path
        do throws(FileSystemError) {
            let file = try AppendingFile(path: temporary, truncate: true)
            defer { file.close() }
            try file.write(bytes)
            try file.synchronize()
        } catch {
            remove(temporary)
            throw FileSystemError(path: path, operation: error.operation, code: error.code)
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            remove(temporary)
            throw FileSystemError(path: path, operation: "cannot rename into place", code: code)
        }
    }

    /// SHA-256 of a file, read in chunks.
    static func sha256(of path: String) throws(FileSystemError) -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileSystemError(path: path, operation: "cannot open", code: errno) }
        defer { close(descriptor) }
        var hasher = SHA256()
        let chunkSize = 1 << 20
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 64)
        defer { chunk.deallocate() }
        while true {
            let count = read(descriptor, chunk.baseAddress, chunkSize)
            if count < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(path: path, operation: "cannot read", code: errno)
            }
            if count == 0 { return hasher.finalize().hexString }
            hasher.update(UnsafeRawBufferPointer(rebasing: chunk[0..<count]))
        }
    }
}

/// A file opened for appending, written with `write(2)` so errors keep their errno.
final class AppendingFile {
    let path: String
    private var descriptor: Int32

    init(path: String, truncate: Bool) throws(FileSystemError) {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0o644)
        guard descriptor >= 0 else { throw FileSystemError(path: path, operation: "cannot create", code: errno) }
    }

    func write(_ buffer: UnsafeRawBufferPointer) throws(FileSystemError) {
        var offset = 0
        while offset < buffer.count {
            let written = systemWrite(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(path: path, operation: "cannot write", code: errno)
            }
            offset += written
        }
    }

    func write(_ bytes: [UInt8]) throws(FileSystemError) {
        let outcome: Result<Void, FileSystemError> = bytes.withUnsafeBytes { buffer in
            Result { () throws(FileSystemError) in try write(buffer) }
        }
        try outcome.get()
    }

    func truncateToEmpty() throws(FileSystemError) {
        guard ftruncate(descriptor, 0) == 0 else { throw FileSystemError(path: path, operation: "cannot truncate", code: errno) }
    }

    func synchronize() throws(FileSystemError) {
        guard fsync(descriptor) == 0 else { throw FileSystemError(path: path, operation: "cannot flush to disk", code: errno) }
    }

    func close() {
        if descriptor >= 0 {
            _ = systemClose(descriptor)
            descriptor = -1
        }
    }

    deinit { close() }
}

// `write` and `close` are also method names above; these reach the C functions.
private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(descriptor, buffer, count) }
private func systemClose(_ descriptor: Int32) -> Int32 { close(descriptor) }

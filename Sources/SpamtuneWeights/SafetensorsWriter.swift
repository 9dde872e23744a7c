#if canImport(Glibc)
import Glibc
private let posixWrite = Glibc.write
private let posixClose = Glibc.close
#elseif canImport(Darwin)
import Darwin
private let posixWrite = Darwin.write
private let posixClose = Darwin.close
#endif
import Foundation
import SpamtuneSupport

/// Writes F32 tensors as safetensors, the way Hugging Face's library lays them out: the
/// header padded with spaces to a multiple of 8 bytes so the data is aligned, tensors
/// sorted by name so the same tensors always give the same bytes, and `__metadata__`
/// first. Tensor data is written straight from each view's memory, never copied.
public enum SafetensorsWriter {
    /// Writes (creating or truncating) `path`. On failure the file may be partial: use
    /// `writeAtomically` for anything that must survive a crash or a full disk, and for
    /// any file a running process may have mapped (truncating a mapped file kills its
    /// reader with SIGBUS; a rename leaves the old file intact for it).
    public static func write(_ tensors: [TensorView], metadata: [String: String] = [:], to path: String) throws {
        let ordered = try orderedForWriting(tensors, file: path)
        let header = headerBytes(for: ordered, metadata: metadata)
        let output = try OutputFile(creating: path)
        do {
            try output.write(header)
            for tensor in ordered {
                try output.write(UnsafeRawBufferPointer(start: tensor.pointer, count: tensor.count * 4), tensor: tensor.name)
            }
            try output.close(syncing: false)
        } catch {
            output.abandon()
            throw error
        }
    }

    /// Writes to a temporary file beside `path`, flushes it to disk, renames it over
    /// `path` and flushes the directory: afterwards `path` holds either the old file or the
    /// complete new one, even across a power cut.
    public static func writeAtomically(_ tensors: [TensorView], metadata: [String: String] = [:], to path: String) throws {
        let ordered = try orderedForWriting(tensors, file: path)
        let header = headerBytes(for: ordered, metadata: metadata)
        try AtomicFile.write(to: path) { output in
            try output.write(header)
            for tensor in ordered {
                try output.write(UnsafeRawBufferPointer(start: tensor.pointer, count: tensor.count * 4), tensor: tensor.name)
            }
        }
    }

    private static func orderedForWriting(_ tensors: [TensorView], file: String) throws -> [TensorView] {
        let ordered = tensors.sorted { $0.name < $1.name }
        for (previous, next) in zip(ordered, ordered.dropFirst()) where previous.name == next.name {
            throw WeightsError(.invalidTensor, file: file, tensor: next.name, "given twice to the writer")
        }
        if let reserved = ordered.first(where: { $0.name == "__metadata__" }) {
            throw WeightsError(.invalidTensor, file: file, tensor: reserved.name, "a tensor cannot be called __metadata__")
        }
        return ordered
    }

    static func headerBytes(for ordered: [TensorView], metadata: [String: String]) -> [UInt8] {
        var json = "{"
        var fields: [String] = []
        if !metadata.isEmpty {
            let entries = metadata.sorted { $0.key < $1.key }.map { "\(JSONText.quote($0.key)):\(JSONText.quote($0.value))" }
            fields.append("\"__metadata__\":{" + entries.joined(separator: ",") + "}")
        }
        var offset = 0
        for tensor in ordered {
            let end = offset + tensor.count * 4
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            fields.append("\(JSONText.quote(tensor.name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        json += fields.joined(separator: ",") + "}"
        var header = Array(json.utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        var bytes = [UInt8]()
        bytes.reserveCapacity(8 + header.count)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: header)
        return bytes
    }

}

/// A file being written with POSIX calls, so that every failure (ENOSPC above all) is
/// seen and reported with the file's name rather than lost in a buffered stream.
public final class OutputFile {
    public let path: String
    private var descriptor: Int32

    public init(creating path: String, permissions: mode_t = 0o644) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, permissions)
        guard descriptor >= 0 else { throw WeightsError(.fileAccess, file: path, "cannot create: \(String(cString: strerror(errno)))") }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0, tensor: nil) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer, tensor: String? = nil) throws {
        guard var next = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            // Linux writes at most ~2 GB per call; smaller pieces also keep a stall short.
            let written = posixWrite(descriptor, next, min(remaining, 1 << 30))
            if written < 0 {
                if errno == EINTR { continue }
                throw Self.writeError(errno, path: path, tensor: tensor)
            }
            next += written
            remaining -= written
        }
    }

    static func writeError(_ code: Int32, path: String, tensor: String?) -> WeightsError {
        if code == ENOSPC || code == EDQUOT {
            return WeightsError(.diskFull, file: path, tensor: tensor, "cannot write: the disk is full (\(String(cString: strerror(code))))")
        }
        return WeightsError(.fileAccess, file: path, tensor: tensor, "cannot write: \(String(cString: strerror(code)))")
    }

    /// Closes the file, after flushing it to the disk if `syncing`. Errors that only show
    /// at this point (delayed allocation, NFS) are reported too.
    public func close(syncing: Bool) throws {
        guard descriptor >= 0 else { return }
        if syncing, fsync(descriptor) != 0 {
            let code = errno
            abandon()
            throw Self.writeError(code, path: path, tensor: nil)
        }
        let result = posixClose(descriptor)
        descriptor = -1
        if result != 0 { throw Self.writeError(errno, path: path, tensor: nil) }
    }

    /// Closes without reporting: the caller is already handling an error.
    public func abandon() {
        if descriptor >= 0 { _ = posixClose(descriptor) }
        descriptor = -1
    }

    deinit { abandon() }
}

/// Replace-a-file-in-one-step: write a temporary sibling, fsync it, rename it over the
/// target, fsync the directory. Readers see the old or the new file, never a mix.
public enum AtomicFile {
    public static func write(to path: String, permissions: mode_t = 0o644, _ body: (OutputFile) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        let output = try OutputFile(creating: temporary, permissions: permissions)
        do {
            try body(output)
            try output.close(syncing: true)
            guard rename(temporary, path) == 0 else {
                throw WeightsError(.fileAccess, file: path, "cannot move the new file into place: \(String(cString: strerror(errno)))")
            }
        } catch {
            output.abandon()
            unlink(temporary)
            throw error
        }
        try syncDirectory(directory)
    }

    /// Makes a rename in `directory` durable.
    public static func syncDirectory(_ directory: String) throws {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw WeightsError(.fileAccess, file: directory, "cannot open the directory to flush it: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else {
            throw WeightsError(.fileAccess, file: directory, "cannot flush the directory: \(String(cString: strerror(errno)))")
        }
    }
}

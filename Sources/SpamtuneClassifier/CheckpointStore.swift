import Foundation
import SpamtuneWeights

#if canImport(Glibc)
import Glibc
#endif

/// A directory of checkpoint versions with a `current` link, as spamtuned reads it:
///
///     models/
///       current -> 2026-11-23T04-00-00Z
///       2026-11-22T04-00-00Z/   spamtune.json model.safetensors encoder.json vocab.bpe report.*
///       2026-11-23T04-00-00Z/
///
/// A version is written complete under a hidden staging name, flushed to disk and then
/// renamed into place; `current` is switched with one atomic rename of a symlink. A
/// crash or kill at any point leaves the previous checkpoint serving and whole.
public struct CheckpointStore: Sendable {
    public let root: URL
    /// How many versions to keep (the current one is always kept).
    public var keep: Int

    public static let currentLinkName = "current"

    public init(root: URL, keep: Int = 5) {
        self.root = root
        self.keep = max(1, keep)
    }

    public var currentLink: URL { root.appendingPathComponent(Self.currentLinkName) }

    /// The version `current` points to, if any.
    public var currentVersion: String? {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: currentLink.path) else { return nil }
        return URL(fileURLWithPath: target).lastPathComponent
    }

    /// Versions present, oldest first (names sort by time).
    public func versions() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.filter { !$0.hasPrefix(".") && $0 != Self.currentLinkName && isCheckpoint($0) }.sorted()
    }

    public func directory(of version: String) -> URL { root.appendingPathComponent(version) }

    private func isCheckpoint(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: root.appendingPathComponent(name).appendingPathComponent(CheckpointManifest.fileName).path)
    }

    /// A new version name from the time: 2026-11-23T04-00-00Z (with a suffix if taken).
    public func newVersionName(date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH-mm-ss'Z'"
        let base = formatter.string(from: date)
        var name = base
        var suffix = 1
        while FileManager.default.fileExists(atPath: root.appendingPathComponent(name).path) {
            suffix += 1
            name = "\(base)-\(suffix)"
        }
        return name
    }

    /// What goes into a version besides the manifest.
    public struct Contents {
        public var tensors: [TensorView]
        /// Files copied in under their own names (the tokenizer's).
        public var copiedFiles: [URL]
        /// Small files written from memory (report.json, report.md, plots).
        public var writtenFiles: [(name: String, data: Data)]

        public init(tensors: [TensorView], copiedFiles: [URL], writtenFiles: [(name: String, data: Data)] = []) {
            self.tensors = tensors
            self.copiedFiles = copiedFiles
            self.writtenFiles = writtenFiles
        }
    }

    /// Writes a complete version and returns its directory; with `makeCurrent` it
    /// becomes the one spamtuned loads.
    @discardableResult
    public func write(_ manifest: CheckpointManifest, contents: Contents, makeCurrent: Bool) throws -> URL {
        try createRoot()
        removeStaleStaging()
        let staging = root.appendingPathComponent(".staging-\(manifest.version)-\(getpid())")
        try? FileManager.default.removeItem(at: staging)
        do {
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: false)
            try SafetensorsWriter.writeAtomically(
                contents.tensors, metadata: ["format": "pt", "spamtune_version": manifest.version],
                to: staging.appendingPathComponent(CheckpointManifest.weightsFileName).path)
            for file in contents.copiedFiles {
                try writeFile(Data(contentsOf: file), to: staging.appendingPathComponent(file.lastPathComponent))
            }
            for (name, data) in contents.writtenFiles {
                try writeFile(data, to: staging.appendingPathComponent(name))
            }
            // The manifest last: a directory with a manifest is a complete checkpoint.
            try writeFile(try manifest.encoded(), to: staging.appendingPathComponent(CheckpointManifest.fileName))
            try AtomicFile.syncDirectory(staging.path)
            let final = directory(of: manifest.version)
            guard rename(staging.path, final.path) == 0 else {
                throw ClassifierError.checkpoint(final.path, "cannot be moved into place: \(String(cString: strerror(errno)))")
            }
            try AtomicFile.syncDirectory(root.path)
            if makeCurrent { try setCurrent(manifest.version) }
            prune()
            return final
        } catch {
            try? FileManager.default.removeItem(at: staging)
            if let error = error as? ClassifierError { throw error }
            throw ClassifierError.checkpoint(root.path, "could not be written: \(error) (the previous checkpoint is untouched)")
        }
    }

    /// Points `current` at `version`, atomically.
    public func setCurrent(_ version: String) throws {
        guard isCheckpoint(version) else {
            throw ClassifierError.checkpoint(directory(of: version).path, "is not a complete checkpoint")
        }
        let temporary = root.appendingPathComponent(".current-\(getpid())")
        unlink(temporary.path)
        guard symlink(version, temporary.path) == 0 else {
            throw ClassifierError.checkpoint(root.path, "cannot create a link: \(String(cString: strerror(errno)))")
        }
        guard rename(temporary.path, currentLink.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary.path)
            throw ClassifierError.checkpoint(root.path, "cannot switch \(Self.currentLinkName): \(reason)")
        }
        try AtomicFile.syncDirectory(root.path)
    }

    /// Points `current` at the version before it; returns that version.
    @discardableResult
    public func rollback() throws -> String {
        let all = versions()
        guard let current = currentVersion, let index = all.firstIndex(of: current) else {
            throw ClassifierError.checkpoint(root.path, "has no current checkpoint to roll back from")
        }
        guard index > 0 else {
            throw ClassifierError.checkpoint(root.path, "has no version older than \(current) to roll back to")
        }
        try setCurrent(all[index - 1])
        return all[index - 1]
    }

    /// Removes the oldest versions beyond `keep`, never the current one.
    public func prune() {
        let all = versions()
        guard all.count > keep else { return }
        let current = currentVersion
        for version in all.prefix(all.count - keep) where version != current {
            try? FileManager.default.removeItem(at: directory(of: version))
        }
    }

    private func createRoot() throws {
        do {
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        } catch {
            throw ClassifierError.checkpoint(root.path, "cannot be created: \(error.localizedDescription)")
        }
    }

    /// Staging directories of writers that died (killed mid-write) are garbage.
    private func removeStaleStaging() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        for name in names where name.hasPrefix(".staging-") {
            let pid = name.split(separator: "-").last.flatMap { Int32($0) }
            if let pid, pid != getpid(), kill(pid, 0) == 0 { continue }  // another live writer
            try? FileManager.default.removeItem(at: root.appendingPathComponent(name))
        }
    }

    private func writeFile(_ data: Data, to url: URL) throws {
        let output = try OutputFile(creating: url.path)
        do {
            try data.withUnsafeBytes { try output.write($0) }
            try output.close(syncing: true)
        } catch {
            output.abandon()
            throw error
        }
    }
}

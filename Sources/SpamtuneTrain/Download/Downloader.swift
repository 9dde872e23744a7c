import Foundation
import SpamtuneSupport

public struct DownloadOptions: Sendable, Equatable {
    /// Use only the cache; a missing file is an error that names it.
    public var offline: Bool
    /// Requests per source before giving up on retryable failures (connection errors,
    /// timeouts, 5xx, a body cut short).
    public var attempts: Int
    /// The wait before the first retry; it doubles for each further retry.
    public var baseDelay: Double
    public var maximumDelay: Double
    /// Seconds without any data before a request is abandoned (and retried).
    public var timeout: Double
    public var progress: ProgressStyle

    public init(
        offline: Bool = false, attempts: Int = 4, baseDelay: Double = 2, maximumDelay: Double = 60, timeout: Double = 60,
        progress: ProgressStyle = .automatic
    ) {
        self.offline = offline
        self.attempts = max(1, attempts)
        self.baseDelay = baseDelay
        self.maximumDelay = maximumDelay
        self.timeout = timeout
        self.progress = progress
    }

    func delay(afterAttempt attempt: Int) -> Double {
        min(maximumDelay, baseDelay * Double(1 << min(attempt - 1, 30)))
    }
}

/// A complete, verified file in the cache.
public struct CachedFile: Sendable, Equatable {
    public enum Origin: Sendable, Equatable {
        /// It was already complete in the cache.
        case cache
        case downloaded(from: URL)
    }

    public let name: String
    /// Where the file is on disk.
    public let location: URL
    public let size: Int64
    public let sha256: String
    public let origin: Origin
}

/// Fetches files into a cache directory: complete files are skipped, interrupted ones
/// resumed, every file's size and hash checked when known and its hash recorded.
///
/// On disk, beside each file `NAME` of a cache directory:
/// - `NAME.partial`: the bytes downloaded so far; renamed to `NAME` only once complete
///   and verified, so `NAME` is never a half-written or unverified file;
/// - `.NAME.partial.json`: the URL and entity tag the partial bytes came from, so a
///   later run resumes with `Range` + `If-Range` (and starts over if the file changed);
/// - `.NAME.complete`: JSON with the URL, size, sha256 and time of a completed file,
///   so later runs skip it without hashing it again.
public final class Downloader: Sendable {
    public let cacheRoot: URL
    public let options: DownloadOptions
    public let log: TrainingLog

    public init(cacheRoot: URL, options: DownloadOptions = DownloadOptions(), log: TrainingLog = .standardError) {
        self.cacheRoot = cacheRoot
        self.options = options
        self.log = log
    }

    /// `$SPAMTUNE_CACHE_DIR`, else `/var/cache/spamtune` for root, else
    /// `$XDG_CACHE_HOME/spamtune` or `~/.cache/spamtune`.
    public static func defaultCacheRoot(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let explicit = environment["SPAMTUNE_CACHE_DIR"], !explicit.isEmpty { return URL(fileURLWithPath: explicit) }
        if getuid() == 0 { return URL(fileURLWithPath: "/var/cache/spamtune") }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return URL(fileURLWithPath: xdg).appendingPathComponent("spamtune") }
        let home = environment["HOME"].map { URL(fileURLWithPath: $0) } ?? FileManager.default.homeDirectoryForCurrentUser
        return home.appendingPathComponent(".cache/spamtune")
    }

    public func directory(for plan: DownloadPlan) -> URL { cacheRoot.appendingPathComponent(plan.directory) }

    /// Every file of `plan`, in order; stops at the first that cannot be had.
    public func fetch(_ plan: DownloadPlan) async throws(DownloadError) -> [CachedFile] {
        let directory = directory(for: plan)
        var fetched = [CachedFile]()
        for file in plan.files { fetched.append(try await fetch(file, into: directory)) }
        return fetched
    }

    public func fetch(_ file: RemoteFile, into directory: URL) async throws(DownloadError) -> CachedFile {
        let destination = directory.appendingPathComponent(file.name)
        func failure(_ reason: DownloadError.Reason, url: URL? = file.urls.first) -> DownloadError {
            DownloadError(file: file.name, destination: destination.path, url: url, reason: reason)
        }
        switch cacheState(of: file, at: destination) {
        case .complete(let cached):
            log("\(file.name): complete in the cache (\(ProgressReporter.bytes(cached.size)))")
            return cached
        case .damaged(let why):
            if options.offline { throw failure(.offlineDamaged(why)) }
            log.warning("the cached \(destination.path) is damaged (\(why)); downloading it again")
            FileSystem.remove(destination.path)
            FileSystem.remove(recordPath(destination))
        case .missing:
            if options.offline { throw failure(.offlineMissing) }
        }
        do {
            try FileSystem.createDirectory(directory.path)
        } catch {
            throw failure(.storage(error.reason))
        }

        var errors = [DownloadError]()
        for (index, url) in file.urls.enumerated() {
            do {
                return try await download(file, from: url, to: destination)
            } catch {
                if case .storage = error.reason { throw error }
                if error.reason == .cancelled { throw error }
                errors.append(error)
                if index + 1 < file.urls.count {
                    log.warning("\(error.description)\n  trying the next source: \(file.urls[index + 1].absoluteString)")
                }
            }
        }
        if errors.count == 1 { throw errors[0] }
        throw failure(.everySourceFailed(errors), url: nil)
    }

    /// Deletes a cached file and its records, e.g. an archive found unusable after
    /// download, so the next run fetches it again.
    public func evict(_ name: String, of plan: DownloadPlan) {
        let destination = directory(for: plan).appendingPathComponent(name)
        for path in [destination.path, destination.path + ".partial", recordPath(destination), hiddenPath(destination, suffix: ".partial.json")] {
            FileSystem.remove(path)
        }
    }

    // MARK: One source, with retries

    private func download(_ file: RemoteFile, from url: URL, to destination: URL) async throws(DownloadError) -> CachedFile {
        var attempt = 1
        while true {
            do {
                return try await transfer(file, from: url, to: destination)
            } catch {
                var error = error
                error.attempts = attempt
                guard error.isRetryable, attempt < options.attempts else { throw error }
                let delay = options.delay(afterAttempt: attempt)
                log("\(file.name): \(Self.shortReason(error.reason)); retrying in \(ProgressReporter.duration(delay)) (attempt \(attempt + 1) of \(options.attempts))")
                do {
                    try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
                } catch {
                    throw DownloadError(file: file.name, destination: destination.path, url: url, reason: .cancelled, attempts: attempt)
                }
                attempt += 1
            }
        }
    }

    private struct PartialRecord: Codable {
        var url: String
        var entityTag: String?
    }

    /// One request: resume or start the partial file, then verify and move it into place.
    private func transfer(_ file: RemoteFile, from url: URL, to destination: URL) async throws(DownloadError) -> CachedFile {
        func failure(_ reason: DownloadError.Reason) -> DownloadError {
            DownloadError(file: file.name, destination: destination.path, url: url, reason: reason)
        }
        let partial = destination.path + ".partial"
        let partialRecordPath = hiddenPath(destination, suffix: ".partial.json")
        var offset = FileSystem.size(partial) ?? 0
        var validator: String?
        if offset > 0 {
            let record = (try? FileSystem.readFile(partialRecordPath)).flatMap { try? JSONDecoder().decode(PartialRecord.self, from: Data($0)) }
            // Bytes from another URL are only trusted when the hash will catch a mix-up.
            let sameSource = record?.url == url.absoluteString || file.expectedSHA256 != nil
            if !sameSource || (file.expectedSize.map { offset > $0 } ?? false) {
                offset = 0
            } else {
                validator = record?.entityTag
            }
        }
        let handle: AppendingFile
        do {
            handle = try AppendingFile(path: partial, truncate: offset == 0)
        } catch {
            throw failure(.storage(error.reason))
        }
        defer { handle.close() }

        if offset > 0 && offset == file.expectedSize {
            log("\(file.name): the partial download is already whole")
        } else {
            if offset > 0 {
                log("\(file.name): resuming at \(ProgressReporter.bytes(offset)) from \(url.absoluteString)")
            } else {
                log("downloading \(file.name) from \(url.absoluteString)\(file.expectedSize.map { " (\(ProgressReporter.bytes($0)))" } ?? "")")
            }
            let progress = ProgressReporter(name: file.name, style: options.progress, log: log)
            let transfer = HTTPTransfer(
                url: url, file: handle, offset: offset, validator: validator, expectedSize: file.expectedSize, timeout: options.timeout,
                progress: progress, log: log
            ) { entityTag in
                // Remembered as soon as the response arrives, so a run killed mid-transfer resumes safely.
                let record = PartialRecord(url: url.absoluteString, entityTag: entityTag)
                if let data = try? JSONEncoder().encode(record) { try? FileSystem.writeAtomically([UInt8](data), to: partialRecordPath) }
            }
            do {
                _ = try await transfer.run()
            } catch let error as HTTPTransfer.Failure {
                throw failure(error.reason)
            } catch {
                throw failure(.connection(error.localizedDescription))
            }
        }
        do {
            try handle.synchronize()
        } catch {
            throw failure(.storage(error.reason))
        }
        handle.close()
        return try verifyAndInstall(file, partial: partial, destination: destination, url: url)
    }

    private func verifyAndInstall(_ file: RemoteFile, partial: String, destination: URL, url: URL) throws(DownloadError) -> CachedFile {
        func failure(_ reason: DownloadError.Reason) -> DownloadError {
            DownloadError(file: file.name, destination: destination.path, url: url, reason: reason)
        }
        func discard() {
            FileSystem.remove(partial)
            FileSystem.remove(hiddenPath(destination, suffix: ".partial.json"))
        }
        let size = FileSystem.size(partial) ?? 0
        if let expected = file.expectedSize, size != expected {
            discard()
            throw failure(.sizeMismatch(expected: expected, actual: size))
        }
        let sha256: String
        do {
            if size > 100_000_000 { log("\(file.name): checking its sha256") }
            sha256 = try FileSystem.sha256(of: partial)
        } catch {
            throw failure(.storage(error.reason))
        }
        if let expected = file.expectedSHA256, sha256 != expected {
            discard()
            throw failure(.hashMismatch(expected: expected, actual: sha256))
        }
        guard rename(partial, destination.path) == 0 else {
            throw failure(.storage("cannot rename \(partial) into place: \(String(cString: strerror(errno)))"))
        }
        FileSystem.remove(hiddenPath(destination, suffix: ".partial.json"))
        writeRecord(CompletionRecord(url: url.absoluteString, size: size, sha256: sha256, completed: Date()), for: destination)
        return CachedFile(name: file.name, location: destination, size: size, sha256: sha256, origin: .downloaded(from: url))
    }

    // MARK: The cache

    private enum CacheState {
        case complete(CachedFile)
        case missing
        case damaged(String)
    }

    private struct CompletionRecord: Codable {
        var url: String
        var size: Int64
        var sha256: String
        var completed: Date
    }

    /// A file is complete when it is at its place (files get there only through
    /// `verifyAndInstall`, or by hand) and agrees with what is known of it: the expected
    /// size and hash, and the size its completion record noted.
    private func cacheState(of file: RemoteFile, at destination: URL) -> CacheState {
        guard let size = FileSystem.size(destination.path) else { return .missing }
        if let expected = file.expectedSize, size != expected { return .damaged("\(size) bytes, expected \(expected)") }
        let record = readRecord(for: destination)
        if let record, record.size != size { return .damaged("\(size) bytes, but \(record.size) were downloaded") }
        if let record, file.expectedSHA256 == nil || record.sha256 == file.expectedSHA256 {
            return .complete(CachedFile(name: file.name, location: destination, size: size, sha256: record.sha256, origin: .cache))
        }
        // No record (placed by hand, or written by an older run): hash it once.
        guard let sha256 = try? FileSystem.sha256(of: destination.path) else { return .damaged("unreadable") }
        if let expected = file.expectedSHA256, sha256 != expected { return .damaged("sha256 \(sha256), expected \(expected)") }
        writeRecord(CompletionRecord(url: record?.url ?? "", size: size, sha256: sha256, completed: Date()), for: destination)
        return .complete(CachedFile(name: file.name, location: destination, size: size, sha256: sha256, origin: .cache))
    }

    private func recordPath(_ destination: URL) -> String { hiddenPath(destination, suffix: ".complete") }

    private func hiddenPath(_ destination: URL, suffix: String) -> String {
        destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent)\(suffix)").path
    }

    private func readRecord(for destination: URL) -> CompletionRecord? {
        guard let bytes = try? FileSystem.readFile(recordPath(destination)) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(CompletionRecord.self, from: Data(bytes))
    }

    private func writeRecord(_ record: CompletionRecord, for destination: URL) {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // The record only saves hashing next time; failing to write it loses nothing.
        if let data = try? encoder.encode(record) { try? FileSystem.writeAtomically([UInt8](data), to: recordPath(destination)) }
    }

    private static func shortReason(_ reason: DownloadError.Reason) -> String {
        switch reason {
        case .httpStatus(let status): "the server answered HTTP \(status)"
        case .connection(let detail), .unreachable(let detail): detail
        case .truncated(let received, let expected): "the transfer stopped at \(received) of \(expected) bytes"
        case .protocolViolation(let detail): detail
        default: "\(reason)"
        }
    }
}

import Foundation

/// Why a file could not be had, naming the file, the URL and what to do about it.
public struct DownloadError: Error, Equatable, CustomStringConvertible {
    public indirect enum Reason: Equatable, Sendable {
        /// 404 or 410: the URL is wrong. Not retried.
        case notFound(status: Int)
        /// Any other unsuccessful status. 5xx, 408 and 429 are retried.
        case httpStatus(Int)
        /// The connection broke or stalled (reset, lost mid-body, timed out): a passing
        /// fault. Retried.
        case connection(String)
        /// The host's name does not resolve, it refuses connections, or there is no
        /// network: what an offline machine gets at once, and waiting will not change it
        /// within a run. Not retried, so the next source (and then the shipped fallback)
        /// follows without delay.
        case unreachable(String)
        /// The body ended before the announced length. Retried, resuming.
        case truncated(received: Int64, expected: Int64)
        /// The server broke HTTP's rules for resuming. Retried from the start.
        case protocolViolation(String)
        case sizeMismatch(expected: Int64, actual: Int64)
        /// The response announced (Content-Length, Content-Range) another size than the
        /// known one: refused before its body was read.
        case announcedSizeMismatch(expected: Int64, announced: Int64)
        case hashMismatch(expected: String, actual: String)
        /// The file cannot be written: disk full, read-only, no permission. Not retried.
        case storage(String)
        /// `--offline` and the file is not in the cache.
        case offlineMissing
        /// `--offline` and the cached file is damaged.
        case offlineDamaged(String)
        case cancelled
        /// Every source of the file failed; one error per source, in order.
        case everySourceFailed([DownloadError])
    }

    /// The file's name (`model.safetensors`).
    public let file: String
    /// Where it was to be written.
    public let destination: String
    public let url: URL?
    public let reason: Reason
    /// How many times the request was made.
    public var attempts: Int

    public init(file: String, destination: String, url: URL?, reason: Reason, attempts: Int = 1) {
        self.file = file
        self.destination = destination
        self.url = url
        self.reason = reason
        self.attempts = attempts
    }

    public var isRetryable: Bool {
        switch reason {
        case .connection, .truncated, .protocolViolation: true
        case .httpStatus(let status): status >= 500 || status == 408 || status == 429
        default: false
        }
    }

    /// What arrived is not the file (a wrong size or hash, a damaged cached copy): trying
    /// again later will not help, another source might.
    public var isBadData: Bool {
        switch reason {
        case .sizeMismatch, .announcedSizeMismatch, .hashMismatch, .offlineDamaged: true
        case .everySourceFailed(let errors): errors.contains(where: \.isBadData)
        default: false
        }
    }

    /// Nothing of the file could be had, for want of a network or a working server:
    /// offline, the host unreachable, an HTTP error, a transfer that keeps breaking off.
    public var isUnreachable: Bool {
        switch reason {
        case .offlineMissing, .connection, .unreachable, .httpStatus, .notFound, .truncated, .protocolViolation: true
        case .everySourceFailed(let errors): errors.allSatisfy(\.isUnreachable)
        default: false
        }
    }

    public var description: String {
        let source = url.map { $0.absoluteString } ?? "?"
        let tries = attempts > 1 ? " (\(attempts) attempts)" : ""
        switch reason {
        case .notFound(let status):
            return "cannot download \(file): \(source) answers \(status) Not Found. The URL is wrong or the file has moved; give another source with --mirror URL or the file's own URL option"
        case .httpStatus(let status):
            return "cannot download \(file): \(source) answers HTTP \(status)\(tries). Try again later, or use another source with --mirror URL"
        case .connection(let detail), .unreachable(let detail):
            let host = url?.host.map { " \($0)" } ?? ""
            return "cannot download \(file): cannot reach\(host): \(detail)\(tries). Check the network, use --mirror URL, or --offline with a filled cache"
        case .truncated(let received, let expected):
            return "cannot download \(file): \(source) stopped after \(received) of \(expected) bytes\(tries); run again to resume"
        case .protocolViolation(let detail):
            return "cannot download \(file) from \(source): \(detail)\(tries)"
        case .sizeMismatch(let expected, let actual):
            return "the downloaded \(file) has \(actual) bytes, expected \(expected); it was deleted. The source (\(source)) may serve a different version: try again, or another source with --mirror URL"
        case .announcedSizeMismatch(let expected, let announced):
            return "\(source) announces \(announced) bytes for \(file), expected \(expected); refused before downloading it. The source may serve a different version or another file under this name: check it, or use another source with --mirror URL"
        case .hashMismatch(let expected, let actual):
            return "the downloaded \(file) has sha256 \(actual), expected \(expected); it was deleted. The source (\(source)) may be damaged or serve a different version: try again, or another source with --mirror URL"
        case .storage(let detail):
            return "cannot write \(destination): \(detail). Free space there or choose another cache directory"
        case .offlineMissing:
            return "offline: \(file) is not in the cache (\(destination)); run once without --offline to download it, or copy the file there"
        case .offlineDamaged(let detail):
            return "offline: the cached \(destination) is damaged (\(detail)); run once without --offline to download it again"
        case .cancelled:
            return "the download of \(file) was cancelled"
        case .everySourceFailed(let errors):
            return "cannot download \(file) from any source:\n" + errors.map { "  - \($0.description)" }.joined(separator: "\n")
        }
    }
}

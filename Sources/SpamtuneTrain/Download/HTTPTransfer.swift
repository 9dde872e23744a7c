import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP GET that appends its body to a partial file, resuming with `Range` when the
/// file already has bytes. URLSession (libcurl underneath on Linux) does the HTTP and
/// TLS; the body streams to disk through the delegate, never whole in memory.
///
/// Measured with the loopback server: URLSession on Linux passes `Range` and `If-Range`
/// through, reports 206 and 416 as they are, keeps headers across redirects, and
/// reports a body cut short as a failed transfer, so no HTTP client of our own is needed.
final class HTTPTransfer: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    struct Outcome {
        /// The file's full size on the server, when it said.
        let totalSize: Int64?
        /// The file's size on disk now.
        let bytesOnDisk: Int64
        /// The entity tag, for `If-Range` when resuming later.
        let entityTag: String?
    }

    private let url: URL
    private let file: AppendingFile
    private let timeout: TimeInterval
    private let progress: ProgressReporter
    private let validator: String?
    /// The file's known size: a response announcing another is refused before its body.
    private let expectedSize: Int64?
    private let log: TrainingLog
    private let onResponse: (String?) -> Void
    // State below is touched only on the session's serial delegate queue.
    private var offset: Int64
    private var received: Int64 = 0
    private var totalSize: Int64?
    private var entityTag: String?
    private var failure: DownloadError.Reason?
    /// A 416 answered a request for the rest of a partial file that was already whole.
    private var alreadyComplete = false
    private var continuation: CheckedContinuation<Outcome, Error>?

    /// - Parameters:
    ///   - file: the partial file, opened for appending; `offset` bytes are already in it.
    ///   - validator: the entity tag the partial bytes came with, sent as `If-Range`.
    ///   - onResponse: called with the entity tag when the body starts to arrive.
    init(
        url: URL, file: AppendingFile, offset: Int64, validator: String?, expectedSize: Int64?, timeout: TimeInterval,
        progress: ProgressReporter, log: TrainingLog, onResponse: @escaping (String?) -> Void
    ) {
        self.expectedSize = expectedSize
        self.onResponse = onResponse
        self.url = url
        self.file = file
        self.offset = offset
        self.validator = validator
        self.timeout = timeout
        self.progress = progress
        self.log = log
    }

    func run() async throws -> Outcome {
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        request.setValue("spamtune", forHTTPHeaderField: "User-Agent")
        // A compressed representation would make byte ranges and sizes refer to other bytes.
        request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        if offset > 0 {
            request.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range")
            if let validator { request.setValue(validator, forHTTPHeaderField: "If-Range") }
        }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.urlCache = nil
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: configuration, delegate: self, delegateQueue: queue)
        defer { session.finishTasksAndInvalidate() }
        let task = session.dataTask(with: request)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                queue.addOperation {
                    self.continuation = continuation
                    task.resume()
                }
            }
        } onCancel: {
            task.cancel()
        }
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
    ) {
        // The .cancel disposition alone lets URLSession on Linux read the whole body before
        // it completes the task; cancelling the task ends it at once.
        let refuse = {
            completionHandler(.cancel)
            dataTask.cancel()
        }
        guard let http = response as? HTTPURLResponse else {
            failure = .protocolViolation("not an HTTP response")
            return refuse()
        }
        entityTag = http.value(forHTTPHeaderField: "ETag")
        let length = http.expectedContentLength >= 0 ? http.expectedContentLength : nil
        switch http.statusCode {
        case 200:
            if let expectedSize, let length, length != expectedSize {
                failure = .announcedSizeMismatch(expected: expectedSize, announced: length)
                return refuse()
            }
            if offset > 0 {
                log("\(url.lastPathComponent): the server sent the whole file instead of the rest; starting over")
                do {
                    try file.truncateToEmpty()
                } catch {
                    failure = .storage(error.reason)
                    return refuse()
                }
                offset = 0
            }
            totalSize = length
        case 206:
            guard let range = http.value(forHTTPHeaderField: "Content-Range").flatMap(Self.parseContentRange), range.start == offset else {
                failure = .protocolViolation("the server resumed at a different byte than asked (\(http.value(forHTTPHeaderField: "Content-Range") ?? "no Content-Range"))")
                truncateQuietly()
                return refuse()
            }
            if let expectedSize, let total = range.total, total != expectedSize {
                failure = .announcedSizeMismatch(expected: expectedSize, announced: total)
                return refuse()
            }
            totalSize = range.total
        case 416:
            // Nothing left to send: the partial file may already be whole.
            let total = http.value(forHTTPHeaderField: "Content-Range").flatMap(Self.parseUnsatisfiedRange)
            if let total, total == offset {
                totalSize = total
                alreadyComplete = true
            } else {
                failure = .protocolViolation("the server has \(total.map(String.init) ?? "fewer") bytes but \(offset) were already downloaded; starting over")
                truncateQuietly()
            }
            return refuse()
        case 404, 410:
            failure = .notFound(status: http.statusCode)
            return refuse()
        default:
            failure = .httpStatus(http.statusCode)
            return refuse()
        }
        onResponse(entityTag)
        progress.begin(existingBytes: offset, total: totalSize)
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard failure == nil else { return }
        let written: Result<Void, FileSystemError> = data.withUnsafeBytes { buffer in
            Result { () throws(FileSystemError) in try file.write(buffer) }
        }
        if case .failure(let error) = written {
            failure = .storage(error.reason)
            dataTask.cancel()
            return
        }
        received += Int64(data.count)
        progress.update(offset + received)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        guard let continuation else { return }
        self.continuation = nil
        let onDisk = offset + received
        let outcome = Outcome(totalSize: totalSize, bytesOnDisk: onDisk, entityTag: entityTag)
        if let failure {
            progress.finish(success: false)
            return continuation.resume(throwing: Failure(reason: failure))
        }
        if alreadyComplete {
            return continuation.resume(returning: outcome)
        }
        if let error {
            progress.finish(success: false)
            return continuation.resume(throwing: Failure(reason: Self.reason(for: error, received: onDisk, total: totalSize)))
        }
        if let totalSize, onDisk != totalSize {
            progress.finish(success: false)
            return continuation.resume(throwing: Failure(reason: .truncated(received: onDisk, expected: totalSize)))
        }
        progress.finish(success: true)
        continuation.resume(returning: outcome)
    }

    /// A failed transfer; the downloader adds the file, URL and attempt count.
    struct Failure: Error {
        let reason: DownloadError.Reason
    }

    private func truncateQuietly() {
        try? file.truncateToEmpty()
        offset = 0
        received = 0
    }

    private static func reason(for error: Error, received: Int64, total: Int64?) -> DownloadError.Reason {
        guard let urlError = error as? URLError else { return .connection(error.localizedDescription) }
        switch urlError.code {
        case .cancelled: return .cancelled
        case .timedOut: return .connection("no data arrived within the timeout")
        case .cannotConnectToHost: return .unreachable("the connection was refused")
        case .cannotFindHost, .dnsLookupFailed: return .unreachable("the host name does not resolve")
        case .notConnectedToInternet: return .unreachable("this machine is not connected to a network")
        default: break
        }
        // Whatever libcurl calls it, a body that stops short of its announced length is
        // a truncated transfer, and the next attempt resumes it.
        if let total, received < total { return .truncated(received: received, expected: total) }
        switch urlError.code {
        case .networkConnectionLost: return .connection("the connection was lost")
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid,
            .serverCertificateHasUnknownRoot:
            return .connection("the TLS connection failed (\(urlError.localizedDescription))")
        default: return .connection(urlError.localizedDescription)
        }
    }

    /// `bytes START-END/TOTAL` (TOTAL may be `*`).
    static func parseContentRange(_ value: String) -> (start: Int64, total: Int64?)? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("bytes ") else { return nil }
        let parts = trimmed.dropFirst(6).split(separator: "/")
        guard parts.count == 2, let dash = parts[0].firstIndex(of: "-"), let start = Int64(parts[0][..<dash]) else { return nil }
        return (start, Int64(parts[1]))
    }

    /// `bytes */TOTAL`, as a 416 carries it.
    static func parseUnsatisfiedRange(_ value: String) -> Int64? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("bytes */") else { return nil }
        return Int64(trimmed.dropFirst(8))
    }
}

import Foundation
import SpamtuneConfiguration

/// `metrics_listen`: `GET /metrics` for Prometheus, over plain HTTP/1.x on TCP.
///
/// Whoever can reach the port is a stranger: a request is at most `maximumRequestBytes`
/// of request line and header fields, must arrive whole within `requestSeconds`, and is
/// answered once, after which the connection closes (no keep-alive, no body read). Other
/// paths get 404, other methods 405. The listener has its own few connections and
/// threads, and building the page only copies counters under their locks, so a scrape,
/// slow or hostile, never holds up scoring.
final class MetricsServer: WayIn, Sendable {
    let name: String
    private let listener: SocketListener
    private let service: ScoringService
    private let log: Logger

    static let path = "/metrics"
    static let maximumRequestBytes = 8192
    static let requestSeconds = 10.0
    /// Prometheus scrapes one target with one connection at a time; a few more leave room
    /// for a second Prometheus (HA pairs) and an admin's curl.
    static let maximumConnections = 8

    static func make(_ context: DaemonContext) throws -> WayIn? {
        guard let address = context.configuration.metricsListen else { return nil }
        return try MetricsServer(address: address, context: context)
    }

    init(address: ListenAddress, context: DaemonContext) throws {
        service = context.service
        log = context.log
        let configuration = context.configuration
        listener = try SocketListener(
            address: address, adopting: context.systemdSockets.take(address),
            limits: ConnectionLimits(
                maxConnections: Self.maximumConnections, perPeer: Self.maximumConnections / 2,
                firstByte: min(configuration.firstByteTimeout, Self.requestSeconds), idle: Self.requestSeconds),
            log: context.log, statistics: context.service.statistics.listener("metrics"))
        name = "metrics on http://\(address)\(Self.path)"
        listener.start { [self] connection in serve(connection) }
    }

    /// The bound port (tests listen on a port the system picks).
    var port: UInt16? { listener.boundPort }

    func stop(graceful: Bool) {
        // A scrape is cheap to repeat: nothing to drain.
        listener.stop(closeConnections: true)
        listener.waitForConnections(seconds: 1)
    }

    private func serve(_ connection: SocketConnection) {
        switch Self.readRequestHead(from: connection) {
        case .closed:
            return
        case let .refused(refusal):
            log.debug("metrics: \(connection.peerDescription): \(refusal.status) \(refusal.reason)")
            guard (try? connection.write(refusal.encoded)) != nil else { return }
            Self.discardUnread(connection)
        case let .request(method, target):
            try? connection.write(respond(method: method, target: target).encoded)
        }
    }

    /// Closing with unread bytes makes the kernel reset the connection, and the peer may
    /// lose the answer before reading it: after a refusal, what the peer still sends is
    /// read and dropped, within a bound, once the answer has gone out.
    private static func discardUnread(_ connection: SocketConnection) {
        connection.finishWriting()
        var discarded = 0
        while discarded < 8 * maximumRequestBytes, let piece = try? connection.readSome(), !piece.isEmpty {
            discarded += piece.count
        }
    }

    func respond(method: String, target: String) -> HTTPResponse {
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? target
        guard path == Self.path else {
            return HTTPResponse(status: 404, reason: "Not Found", body: "spamtuned serves its metrics at \(Self.path)\n")
        }
        guard method == "GET" || method == "HEAD" else {
            return HTTPResponse(
                status: 405, reason: "Method Not Allowed", extraFields: ["Allow: GET, HEAD"], body: "\(Self.path) answers GET and HEAD\n")
        }
        let page = DaemonMetrics.page(service: service)
        return HTTPResponse(status: 200, reason: "OK", contentType: MetricsPage.contentType, body: page, headOnly: method == "HEAD")
    }

    enum RequestHead {
        case request(method: String, target: String)
        /// Answer this and close.
        case refused(HTTPResponse)
        /// The peer left or said nothing: there is nobody to answer.
        case closed
    }

    /// The request line, once the header fields have ended; the fields themselves are
    /// not needed (no Host, no keep-alive, no body) and are only skipped.
    static func readRequestHead(from connection: SocketConnection) -> RequestHead {
        let deadline = Date(timeIntervalSinceNow: requestSeconds)
        var head: [UInt8] = []
        while !endsHead(head) {
            guard head.count < maximumRequestBytes else {
                return .refused(HTTPResponse(status: 431, reason: "Request Header Fields Too Large", body: "at most \(maximumRequestBytes) bytes\n"))
            }
            guard Date() < deadline else {
                return .refused(HTTPResponse(status: 408, reason: "Request Timeout", body: "the request took longer than \(Int(requestSeconds)) s\n"))
            }
            let piece: ArraySlice<UInt8>
            do {
                piece = try connection.readSome(limit: maximumRequestBytes - head.count)
            } catch ConnectionError.timedOut {
                if head.isEmpty { return .closed }
                return .refused(HTTPResponse(status: 408, reason: "Request Timeout", body: "the request was not finished in time\n"))
            } catch {
                return .closed
            }
            if piece.isEmpty { return .closed }
            head += piece
        }
        let firstLine = head.prefix { $0 != UInt8(ascii: "\n") }
        let words = String(decoding: firstLine, as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
            .split(separator: " ", omittingEmptySubsequences: false)
        guard words.count == 3, words[2].hasPrefix("HTTP/1."), !words[0].isEmpty, words[1].hasPrefix("/"),
            words[0].allSatisfy({ $0.isASCII && $0.isUppercase })
        else {
            return .refused(HTTPResponse(status: 400, reason: "Bad Request", body: "expected a request line like GET \(path) HTTP/1.1\n"))
        }
        return .request(method: String(words[0]), target: String(words[1]))
    }

    /// A blank line ends the head (CRLF CRLF, or bare LFs from a hand-typed request).
    private static func endsHead(_ bytes: [UInt8]) -> Bool {
        zip(bytes, bytes.dropFirst()).contains { $0 == 10 && $1 == 10 }
            || zip(bytes, bytes.dropFirst(2)).enumerated().contains { index, pair in
                pair == (10, 10) && bytes[index + 1] == 13
            }
    }
}

/// One HTTP/1.1 answer, after which the connection closes.
struct HTTPResponse {
    var status: Int
    var reason: String
    var contentType = "text/plain; charset=utf-8"
    var extraFields: [String] = []
    var body: String
    var headOnly = false

    var encoded: [UInt8] {
        let bytes = Array(body.utf8)
        var head = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(contentType)\r\nContent-Length: \(bytes.count)\r\n"
        for field in extraFields { head += field + "\r\n" }
        head += "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
        return Array(head.utf8) + (headOnly ? [] : bytes)
    }

    init(status: Int, reason: String, contentType: String? = nil, extraFields: [String] = [], body: String, headOnly: Bool = false) {
        self.status = status
        self.reason = reason
        if let contentType { self.contentType = contentType }
        self.extraFields = extraFields
        self.body = body
        self.headOnly = headOnly
    }
}

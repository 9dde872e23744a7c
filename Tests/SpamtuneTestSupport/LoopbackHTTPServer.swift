#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A small HTTP/1.1 server on 127.0.0.1 for download tests: it serves files from a
/// directory or from memory, honours `Range` (206, 416) and `If-Range`, records every
/// request, and misbehaves on demand per path (404, 500 a few times, a body cut short,
/// a delay, a wrong body, a range ignored, a redirect). One connection per request
/// (`Connection: close`), each on its own thread.
public final class LoopbackHTTPServer: @unchecked Sendable {
    public enum Fault: Sendable, Equatable {
        /// Answer 404 (every time).
        case notFound
        /// Answer with `status` the next `times` requests, then serve normally.
        case status(Int, times: Int)
        /// Send the headers for the whole body, then only `afterBytes` bytes of it, and
        /// close the connection; for the next `times` requests.
        case truncate(afterBytes: Int, times: Int)
        /// Send the headers for the whole body, then `afterBytes` bytes of it, then nothing
        /// more until the client gives up or the server stops; for the next `times` requests.
        case stall(afterBytes: Int, times: Int)
        /// Wait this long before answering (every time).
        case delay(seconds: Double)
        /// Serve these bytes instead of the file (every time).
        case wrongBody([UInt8])
        /// Answer range requests with 200 and the whole body (every time).
        case ignoreRange
        /// Answer 302 with `Location: <path>` on this server (every time).
        case redirect(to: String)
        /// Send the body `chunk` bytes at a time, pausing `interval` seconds between
        /// chunks (every time): a slow link, to interrupt a transfer midway.
        case slowBody(chunk: Int, interval: Double)

        /// 500 the next `times` requests.
        public static func serverError(times: Int) -> Fault { .status(500, times: times) }
    }

    public struct Request: Sendable {
        public let method: String
        public let path: String
        /// Header names in lower case.
        public let headers: [String: String]
        public var range: String? { headers["range"] }
    }

    public let port: UInt16
    public var baseURL: URL { URL(string: "http://127.0.0.1:\(port)")! }

    private let root: URL?
    private let lock = NSLock()
    private var files: [String: [UInt8]]
    /// Entity tags by path, computed once per body (hashing a large body per request is slow).
    private var entityTags: [String: String] = [:]
    private var faults: [String: [Fault]] = [:]
    private var recorded: [Request] = []
    /// Body bytes the client accepted, by path: how much of a body was read before the
    /// client hung up.
    private var sentBodyBytes: [String: Int] = [:]
    private var listener: Int32
    private let acceptLoopDone = DispatchSemaphore(value: 0)
    private let handlers = DispatchGroup()
    private var stopped = false
    /// Connections being served, cut by `stop()` so that it never waits on a slow client.
    private var openConnections = Set<Int32>()

    /// - Parameters:
    ///   - root: files are served from here when not in `files` (paths under it only).
    ///   - files: in-memory bodies by path, e.g. `["/data/x.zip": bytes]`.
    public init(root: URL? = nil, files: [String: [UInt8]] = [:]) throws {
        self.root = root
        self.files = files
        let (socket, port) = try Self.openListener()
        listener = socket
        self.port = port
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "LoopbackHTTPServer.accept"
        thread.start()
    }

    deinit { stop() }

    public func url(_ path: String) -> URL { URL(string: "http://127.0.0.1:\(port)\(path)")! }

    public func setFile(_ path: String, _ bytes: [UInt8]) {
        lock.withLock {
            files[path] = bytes
            entityTags[path] = nil
        }
    }

    public func inject(_ fault: Fault, at path: String) { lock.withLock { faults[path, default: []].append(fault) } }

    public func clearFaults() { lock.withLock { faults.removeAll() } }

    public var requests: [Request] { lock.withLock { recorded } }

    public func bodyBytesSent(for path: String) -> Int { lock.withLock { sentBodyBytes[path] ?? 0 } }

    private func countSent(_ count: Int, for path: String) { lock.withLock { sentBodyBytes[path, default: 0] += count } }

    public func requests(for path: String) -> [Request] { requests.filter { $0.path == path } }

    /// Stops accepting and cuts the connections still open; returns once their threads
    /// have let go (at once: delays and slow bodies notice the stop).
    public func stop() {
        let (wasRunning, connections): (Bool, Set<Int32>) = lock.withLock {
            defer { stopped = true }
            return (!stopped, openConnections)
        }
        guard wasRunning else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for connection in connections { shutdown(connection, Int32(SHUT_RDWR)) }
        _ = acceptLoopDone.wait(timeout: .now() + 2)
        _ = handlers.wait(timeout: .now() + 2)
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    /// Sleeps in short steps; false when the server was stopped meanwhile.
    private func pause(_ seconds: Double) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if isStopped { return false }
            Thread.sleep(forTimeInterval: min(0.01, max(0, end.timeIntervalSinceNow)))
        }
        return !isStopped
    }

    /// A port on 127.0.0.1 that nothing listens on (bound, read, released), for
    /// "unreachable host" tests.
    public static func closedPort() throws -> UInt16 {
        let (socket, port) = try openListener()
        close(socket)
        return port
    }

    // MARK: Serving

    private func acceptLoop() {
        defer { acceptLoopDone.signal() }
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                return  // the listener was closed by stop()
            }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            handlers.enter()
            let thread = Thread { [self] in
                defer { handlers.leave() }
                handle(connection)
            }
            thread.start()
        }
    }

    private func handle(_ connection: Int32) {
        lock.withLock { _ = openConnections.insert(connection) }
        defer {
            lock.withLock { _ = openConnections.remove(connection) }
            shutdown(connection, Int32(SHUT_RDWR))
            close(connection)
        }
        guard let request = readRequest(connection) else { return }
        let (decision, body, etag) = lock.withLock { () -> (Decision, [UInt8]?, String?) in
            recorded.append(request)
            return plan(for: request)
        }
        if decision.delay > 0 && !pause(decision.delay) { return }
        respond(to: request, on: connection, decision: decision, body: body, etag: etag)
    }

    private struct Decision {
        var status: Int?
        var truncateAfter: Int?
        var stallAfter: Int?
        var delay: Double = 0
        var wrongBody: [UInt8]?
        var ignoreRange = false
        var redirect: String?
        var slowBody: (chunk: Int, interval: Double)?
    }

    /// Consumes the counted faults that act on this request. A fault that replaces the
    /// response (404, a status, a redirect) leaves body faults for a later request.
    /// Called with the lock held.
    private func plan(for request: Request) -> (Decision, [UInt8]?, String?) {
        var decision = Decision()
        var pending = faults[request.path] ?? []
        for index in pending.indices where decision.status == nil && decision.redirect == nil {
            switch pending[index] {
            case .notFound: decision.status = 404
            case .redirect(let target): decision.redirect = target
            case .status(let code, let times) where times > 0:
                decision.status = code
                pending[index] = .status(code, times: times - 1)
            default: break
            }
        }
        for index in pending.indices {
            switch pending[index] {
            case .delay(let seconds): decision.delay += seconds
            case .wrongBody(let bytes): decision.wrongBody = bytes
            case .ignoreRange: decision.ignoreRange = true
            case .slowBody(let chunk, let interval): decision.slowBody = (max(1, chunk), interval)
            case .truncate(let count, let times) where times > 0 && decision.status == nil && decision.redirect == nil && decision.truncateAfter == nil:
                decision.truncateAfter = count
                pending[index] = .truncate(afterBytes: count, times: times - 1)
            default: break
            }
        }
        for index in pending.indices {
            if case .stall(let count, let times) = pending[index], times > 0, decision.status == nil, decision.redirect == nil,
                decision.truncateAfter == nil, decision.stallAfter == nil
            {
                decision.stallAfter = count
                pending[index] = .stall(afterBytes: count, times: times - 1)
            }
        }
        faults[request.path] = pending.filter {
            switch $0 {
            case .status(_, let times), .truncate(_, let times), .stall(_, let times): times > 0
            default: true
            }
        }
        if let wrongBody = decision.wrongBody { return (decision, wrongBody, Self.entityTag(wrongBody)) }
        guard let body = files[request.path] ?? readFromRoot(request.path) else { return (decision, nil, nil) }
        if entityTags[request.path] == nil || files[request.path] == nil { entityTags[request.path] = Self.entityTag(body) }
        return (decision, body, entityTags[request.path])
    }

    private func readFromRoot(_ path: String) -> [UInt8]? {
        guard let root, !path.split(separator: "/").contains("..") else { return nil }
        return (try? Data(contentsOf: root.appendingPathComponent(String(path.dropFirst())))).map { [UInt8]($0) }
    }

    private func respond(to request: Request, on connection: Int32, decision: Decision, body: [UInt8]?, etag: String?) {
        if let target = decision.redirect {
            send(connection, head(302, ["Location": "http://127.0.0.1:\(port)\(target)", "Content-Length": "0"]))
            return
        }
        if let status = decision.status {
            let message = Array("status \(status) for \(request.path)\n".utf8)
            send(connection, head(status, ["Content-Length": "\(message.count)", "Content-Type": "text/plain"]) + message)
            return
        }
        guard let body, let etag else {
            let message = Array("no such file: \(request.path)\n".utf8)
            send(connection, head(404, ["Content-Length": "\(message.count)", "Content-Type": "text/plain"]) + message)
            return
        }
        var status = 200
        var slice = body[...]
        var headers = ["Accept-Ranges": "bytes", "ETag": etag, "Content-Type": "application/octet-stream"]
        let rangeApplies = request.headers["if-range"].map { $0 == etag } ?? true
        if let range = request.range, rangeApplies, !decision.ignoreRange, let (start, end) = Self.parseRange(range, size: body.count) {
            if start >= body.count {
                send(connection, head(416, ["Content-Range": "bytes */\(body.count)", "Content-Length": "0"]))
                return
            }
            status = 206
            slice = body[start...min(end, body.count - 1)]
            headers["Content-Range"] = "bytes \(start)-\(start + slice.count - 1)/\(body.count)"
        }
        headers["Content-Length"] = "\(slice.count)"
        send(connection, head(status, headers))
        if request.method == "HEAD" { return }
        var payload = Array(slice)
        if let cut = decision.truncateAfter ?? decision.stallAfter { payload = Array(payload.prefix(cut)) }
        if let (chunk, interval) = decision.slowBody {
            var offset = 0
            while offset < payload.count {
                let end = min(payload.count, offset + chunk)
                guard send(connection, Array(payload[offset..<end])) else { return }
                countSent(end - offset, for: request.path)
                offset = end
                if offset < payload.count && !pause(interval) { return }
            }
        } else {
            guard send(connection, payload) else { return }
            countSent(payload.count, for: request.path)
        }
        if decision.stallAfter != nil { _ = pause(.infinity) }
    }

    private func head(_ status: Int, _ headers: [String: String]) -> [UInt8] {
        let reasons = [200: "OK", 206: "Partial Content", 302: "Found", 404: "Not Found", 416: "Range Not Satisfiable", 500: "Internal Server Error", 503: "Service Unavailable"]
        var text = "HTTP/1.1 \(status) \(reasons[status] ?? "Status")\r\nConnection: close\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { text += "\(name): \(value)\r\n" }
        return Array((text + "\r\n").utf8)
    }

    /// False when the client has gone.
    @discardableResult
    private func send(_ connection: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Self.systemSend(connection, $0.baseAddress!, $0.count) }
            if sent <= 0 {
                if sent < 0 && errno == EINTR { continue }
                return false
            }
            offset += sent
        }
        return true
    }

    private func readRequest(_ connection: Int32) -> Request? {
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        let terminator: [UInt8] = [13, 10, 13, 10]
        while data.count < 65536 {
            let count = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return nil }
            data += chunk[0..<count]
            if data.count >= 4 && data.indices.dropLast(3).contains(where: { Array(data[$0..<$0 + 4]) == terminator }) { break }
        }
        let text = String(decoding: data, as: UTF8.self)
        var lines = text.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count >= 2 else { return nil }
        var headers = [String: String]()
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var path = String(requestLine[1])
        if let query = path.firstIndex(of: "?") { path = String(path[..<query]) }
        return Request(method: String(requestLine[0]), path: path.removingPercentEncoding ?? path, headers: headers)
    }

    /// `bytes=N-` or `bytes=N-M`; other forms are ignored (served whole), as RFC 9110 allows.
    private static func parseRange(_ value: String, size: Int) -> (Int, Int)? {
        guard value.hasPrefix("bytes="), !value.contains(",") else { return nil }
        let parts = value.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = Int(parts[0]) else { return nil }
        if parts[1].isEmpty { return (start, Int.max) }
        guard let end = Int(parts[1]), end >= start else { return nil }
        return (start, end)
    }

    /// A strong validator from the content (FNV-1a), so a changed body gets a new tag.
    private static func entityTag(_ body: [UInt8]) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        body.withUnsafeBufferPointer { bytes in
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        }
        return "\"\(String(hash, radix: 16))-\(body.count)\""
    }

    private static func systemSend(_ socket: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
        #if canImport(Glibc)
        return Glibc.send(socket, buffer, count, Int32(MSG_NOSIGNAL))
        #else
        return Darwin.send(socket, buffer, count, 0)
        #endif
    }

    private static func openListener() throws -> (Int32, UInt16) {
        #if canImport(Glibc)
        let socketType = Int32(SOCK_STREAM.rawValue)
        #else
        let socketType = SOCK_STREAM
        #endif
        let socket = Foundation.socket(AF_INET, socketType, 0)
        guard socket >= 0 else { throw ServerError("socket: \(String(cString: strerror(errno)))") }
        var reuse: Int32 = 1
        setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Foundation.listen(socket, 64) == 0 else {
            let reason = String(cString: strerror(errno))
            close(socket)
            throw ServerError("bind/listen on 127.0.0.1: \(reason)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        return (socket, UInt16(bigEndian: address.sin_port))
    }

    public struct ServerError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}

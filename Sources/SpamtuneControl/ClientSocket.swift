import Foundation
import SpamtuneConfiguration
import SpamtuneSupport

#if canImport(Glibc)
import Glibc
#endif

/// The client end of a Unix or TCP stream, blocking with timeouts: what `spamtune`
/// uses to reach the control socket, and the spamd load client and tests use to reach
/// a spamd socket.
package final class ClientSocket: @unchecked Sendable {
    private let descriptor: Int32
    private var closed = false
    private var buffer: [UInt8] = []

    package enum Failure: Error, Equatable, CustomStringConvertible {
        /// Nothing at that path, or nothing listening there.
        case noServer(String)
        case failed(String)
        case timedOut(String)

        package var description: String {
            switch self {
            case let .noServer(message), let .failed(message), let .timedOut(message): message
            }
        }
    }

    package init(connectingTo address: ListenAddress, timeout: Double) throws {
        switch address {
        case let .unix(path):
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw Failure.failed("socket: \(String(cString: strerror(errno)))") }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
                Glibc.close(fd)
                throw Failure.failed("\(path) is longer than a Unix socket path may be")
            }
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                for (i, byte) in bytes.enumerated() { raw[i] = byte }
                raw[bytes.count] = 0
            }
            SocketIO.setTimeouts(fd, receive: timeout, send: timeout)
            let result = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard result == 0 else {
                let code = errno
                Glibc.close(fd)
                if code == ENOENT { throw Failure.noServer("no socket at \(path)") }
                if code == ECONNREFUSED { throw Failure.noServer("nothing is listening on \(path)") }
                throw Failure.failed("cannot connect to \(path): \(String(cString: strerror(code)))")
            }
            descriptor = fd
        case let .tcp(host, port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_flags = AI_NUMERICSERV
            var list: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, String(port), &hints, &list)
            guard status == 0, let first = list else {
                throw Failure.failed("cannot resolve \(host): \(String(cString: gai_strerror(status)))")
            }
            defer { freeaddrinfo(list) }
            let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw Failure.failed("socket: \(String(cString: strerror(errno)))") }
            SocketIO.setTimeouts(fd, receive: timeout, send: timeout)
            guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
                let code = errno
                Glibc.close(fd)
                if code == ECONNREFUSED { throw Failure.noServer("nothing is listening on \(address)") }
                throw Failure.failed("cannot connect to \(address): \(String(cString: strerror(code)))")
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            descriptor = fd
        }
    }

    package func write(_ bytes: [UInt8]) throws {
        if let code = SocketIO.sendAll(descriptor, bytes) {
            throw SocketIO.isTimeout(code)
                ? Failure.timedOut("the server did not take the request in time") : Failure.failed("sending: \(SocketIO.describe(code))")
        }
    }

    /// Tells the server the request is complete (spamc does this after the body).
    package func finishWriting() { shutdown(descriptor, Int32(SHUT_WR)) }

    private func receive(into chunk: inout [UInt8]) throws -> Int {
        try chunk.withUnsafeMutableBytes { raw -> Int in
            switch SocketIO.receive(descriptor, into: raw) {
            case let .success(n): return n
            case let .failure(error):
                throw error.isTimeout ? Failure.timedOut("the server did not answer in time") : Failure.failed("receiving: \(error.description)")
            }
        }
    }

    /// Everything until the server closes the connection, at most `limit` bytes.
    package func readToEnd(limit: Int = 64 << 20) throws -> [UInt8] {
        var result = buffer
        buffer = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while result.count <= limit {
            let count = try receive(into: &chunk)
            if count == 0 { return result }
            result += chunk[0..<count]
        }
        throw Failure.failed("the answer is larger than \(limit) bytes")
    }

    /// One line (without its line break), nil at the end of the stream.
    package func readLine(limit: Int = 16 << 20) throws -> [UInt8]? {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(buffer[..<newline])
                buffer.removeFirst(newline + 1)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return line
            }
            guard buffer.count <= limit else { throw Failure.failed("a line longer than \(limit) bytes") }
            let count = try receive(into: &chunk)
            if count == 0 {
                guard buffer.isEmpty else { throw Failure.failed("the server closed the connection mid-line") }
                return nil
            }
            buffer += chunk[0..<count]
        }
    }

    package func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(descriptor)
    }

    deinit { close() }
}

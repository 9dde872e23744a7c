import Foundation
import SpamtuneConfiguration
import SpamtuneSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How many connections a listener holds and for how long.
struct ConnectionLimits: Sendable, Equatable {
    /// Connections open at once on this socket.
    var maxConnections: Int
    /// Connections one peer (a uid on a Unix socket, an address on TCP) may hold at once;
    /// nil for none (every Postfix smtpd is user postfix, so the milter has none).
    var perPeer: Int?
    /// A new connection that sends nothing for this long is closed.
    var firstByte: Double
    /// A connection idle for this long, after its first byte, is closed.
    var idle: Double

    init(maxConnections: Int, perPeer: Int? = nil, firstByte: Double, idle: Double) {
        self.maxConnections = maxConnections
        self.perPeer = perPeer
        self.firstByte = min(firstByte, idle)
        self.idle = idle
    }
}

/// A listening socket (Unix or TCP) that serves each connection on a thread of its own.
///
/// Every protocol here is request-response with small state, and a thread per
/// connection keeps each protocol a plain, readable state machine over blocking reads.
/// The connections are bounded per socket and per peer; when a bound is reached, the
/// oldest connection that has not sent a byte yet makes room (an idle flood gives way to
/// a client with something to say), else the new connection is closed at once. A
/// connection must send its first byte soon and then keep within the idle timeout, so
/// an idle or stuck peer frees its thread.
///
/// A Unix socket path is only ever taken over from a dead daemon: a socket that answers
/// is left alone (the start fails), and at exit a listener removes the socket file only
/// when it is still the one it created.
// @unchecked Sendable: `acceptThread` is set once in `start`; the rest is immutable, atomic or the locked `table`.
final class SocketListener: @unchecked Sendable {
    let address: ListenAddress
    let limits: ConnectionLimits
    private let descriptor: Int32
    /// Passed by systemd (SystemdSockets), which owns the socket and its file.
    private let adopted: Bool
    private let log: Logger
    private let statistics: ListenerStatistics?
    private let active = Atomic<Int>(0)
    private let closing = Atomic<Bool>(false)
    private var acceptThread: Thread?
    private let table = ConnectionTable()
    /// The socket file this listener created (device, inode), to remove only that one.
    private let createdFile: (dev: UInt64, ino: UInt64)?

    /// Binds and listens; `mode` and `group` set a Unix socket file's permissions. With
    /// `adopting`, a socket systemd passed is served instead, as systemd made it.
    /// `statistics` counts the connections for the metrics.
    init(
        address: ListenAddress, adopting inherited: Int32? = nil, mode: UInt16? = nil, group: String? = nil,
        limits: ConnectionLimits, log: Logger, statistics: ListenerStatistics? = nil
    ) throws {
        self.address = address
        self.limits = limits
        self.log = log
        self.statistics = statistics
        adopted = inherited != nil
        if let inherited {
            (descriptor, createdFile) = (inherited, nil)
        } else {
            (descriptor, createdFile) = try Self.bind(address, mode: mode, group: group)
        }
    }

    /// Starts accepting; `handler` runs on the connection's own thread and the
    /// connection is closed when it returns.
    func start(_ handler: @escaping @Sendable (SocketConnection) -> Void) {
        let thread = Thread { [self] in acceptLoop(handler) }
        thread.name = "spamtune-accept-\(address)"
        acceptThread = thread
        thread.start()
    }

    var activeConnections: Int { active.load(ordering: .relaxed) }

    /// Stops accepting. With `closeConnections`, open connections are shut down too;
    /// otherwise they finish their current exchange (graceful drain).
    func stop(closeConnections: Bool = false) {
        guard !closing.exchange(true, ordering: .acquiringAndReleasing) else { return }
        // systemd's socket is left as it is: shut down, it would refuse the connections
        // systemd keeps queueing for the next start. The accept loop notices `closing`
        // and closes this process's descriptor.
        if !adopted {
            shutdown(descriptor, Int32(SHUT_RDWR))
            close(descriptor)
            if case let .unix(path) = address, let createdFile {
                // Another daemon may have replaced a socket file this one had lost (deleted
                // by hand, say): only the file this listener created is removed.
                var info = stat()
                if lstat(path, &info) == 0, UInt64(info.st_dev) == createdFile.dev, UInt64(info.st_ino) == createdFile.ino {
                    unlink(path)
                }
            }
        }
        if closeConnections { table.shutDownAll() }
    }

    /// Waits up to `seconds` for the open connections to end.
    func waitForConnections(seconds: Double) {
        let end = Date(timeIntervalSinceNow: seconds)
        while activeConnections > 0 && Date() < end { usleep(10_000) }
    }

    private func acceptLoop(_ handler: @escaping @Sendable (SocketConnection) -> Void) {
        defer { if adopted { close(descriptor) } }
        while !closing.load(ordering: .acquiring) {
            if adopted && !waitForConnection() { continue }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(descriptor, $0, &length) }
            }
            if client >= 0 { _ = fcntl(client, F_SETFD, FD_CLOEXEC) }
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if closing.load(ordering: .acquiring) { return }
                if errno == EMFILE || errno == ENFILE {
                    log.warning("\(address): out of file descriptors; pausing accepts", throttle: "\(address) emfile")
                    usleep(100_000)
                    continue
                }
                log.error("\(address): accept failed: \(String(cString: strerror(errno)))")
                usleep(100_000)
                continue
            }
            let connection = SocketConnection(descriptor: client, peer: Self.peerAddress(storage), limits: limits)
            switch table.admit(connection, limits: limits) {
            case let .refused(kind, reason):
                statistics?.refused(kind)
                log.warning("\(address): refusing a connection from \(connection.identity): \(reason)", throttle: "\(address) refused")
                connection.close()
                continue
            case let .admitted(evicted):
                if let evicted {
                    statistics?.closed(.evictedSilent)
                    log.warning(
                        "\(address): closed a connection from \(evicted.identity) that had sent nothing, to make room for \(connection.identity)",
                        throttle: "\(address) evicted")
                }
            }
            active.wrappingAdd(1, ordering: .relaxed)
            statistics?.opened()
            let thread = Thread { [self] in
                handler(connection)
                if connection.timedOut { statistics?.closed(connection.hasSpoken ? .idleTimeout : .firstByteTimeout) }
                statistics?.ended()
                // Forget the connection before closing it: once closed, its descriptor
                // number can be reused, and stop() must never shut down a stranger's.
                table.remove(connection)
                connection.close()
                active.wrappingSubtract(1, ordering: .relaxed)
            }
            thread.stackSize = 512 << 10
            thread.start()
        }
    }

    /// Whether a connection is waiting, after at most a quarter of a second: an adopted
    /// socket is never shut down, so `stop()` cannot wake a blocked accept.
    private func waitForConnection() -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 250) == 1
    }

    private static func bind(_ address: ListenAddress, mode: UInt16?, group: String?) throws -> (Int32, (dev: UInt64, ino: UInt64)?) {
        switch address {
        case let .unix(path):
            // The group first: a start that fails must leave no socket file behind.
            var groupID: gid_t?
            if let group {
                guard let entry = getgrnam(group) else {
                    throw SocketError(address, "group '\(group)' does not exist (set the socket group in the configuration, or none)", 0, kind: .configuration)
                }
                groupID = entry.pointee.gr_gid
            }
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw SocketError(address, "socket", errno) }
            guard var addr = UnixSocketAddress.make(path) else {
                close(fd)
                throw SocketError(address, "the path is longer than a Unix socket path may be", 0, kind: .configuration)
            }
            // Replace a socket left by a daemon that is gone, but never one that answers
            // (another spamtuned serving it), nor another kind of file.
            var info = stat()
            if lstat(path, &info) == 0 {
                guard (info.st_mode & S_IFMT) == S_IFSOCK else {
                    close(fd)
                    throw SocketError(address, "exists and is not a socket; refusing to replace it", 0, kind: .configuration)
                }
                if let owner = UnixSocketAddress.liveListener(path) {
                    close(fd)
                    let who = owner.pid.map { "another process (pid \($0))" } ?? "another process"
                    throw SocketError(
                        address, "\(who) is serving this socket; stop it first, or configure another path", 0, kind: .inUse(pid: owner.pid))
                }
                unlink(path)
            }
            let result = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard result == 0 else {
                let code = errno
                close(fd)
                throw SocketError(address, "bind", code)
            }
            var created = stat()
            lstat(path, &created)
            if let mode { chmod(path, mode_t(mode)) }
            if let groupID, chown(path, uid_t.max, groupID) != 0 {
                let code = errno
                close(fd)
                unlink(path)
                throw SocketError(address, "cannot give the socket group \(group ?? "")", code)
            }
            guard listen(fd, 128) == 0 else {
                let code = errno
                close(fd)
                unlink(path)
                throw SocketError(address, "listen", code)
            }
            return (fd, (UInt64(created.st_dev), UInt64(created.st_ino)))
        case let .tcp(host, port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
            var list: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, String(port), &hints, &list)
            guard status == 0, let first = list else {
                throw SocketError(address, "cannot resolve \(host): \(String(cString: gai_strerror(status)))", 0, kind: .configuration)
            }
            defer { freeaddrinfo(list) }
            let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw SocketError(address, "socket", errno) }
            var yes: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
            guard Glibc.bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
                let code = errno
                close(fd)
                throw SocketError(address, "bind", code, kind: code == EADDRINUSE ? .inUse(pid: nil) : .system)
            }
            guard listen(fd, 128) == 0 else {
                let code = errno
                close(fd)
                throw SocketError(address, "listen", code)
            }
            return (fd, nil)
        }
    }

    /// The bound TCP port (useful when listening on port 0 in tests).
    var boundPort: UInt16? { Self.localAddress(descriptor).flatMap(Self.port) }

    /// The address a socket is bound to (getsockname).
    static func localAddress(_ descriptor: Int32) -> sockaddr_storage? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return ok == 0 ? storage : nil
    }

    /// The port of an IPv4 or IPv6 address; nil for any other family.
    static func port(_ storage: sockaddr_storage) -> UInt16? {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) } }
        case AF_INET6:
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) } }
        default: return nil
        }
    }

    static func peerAddress(_ storage: sockaddr_storage) -> [UInt8]? {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { withUnsafeBytes(of: $0.pointee.sin_addr) { Array($0) } }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) } }
            }
        default:
            return nil  // a Unix socket: permissions decide who may connect
        }
    }
}

/// One accepted connection: blocking reads and writes with timeouts, and a read
/// buffer for line- and length-framed protocols.
// @unchecked Sendable: the read buffer belongs to the serving thread; other threads only call `shutdown()` or read its atomics.
final class SocketConnection: @unchecked Sendable {
    /// The peer's IP address on TCP; nil on a Unix socket.
    let peer: [UInt8]?
    /// Who the peer is: its uid (Unix socket) or address (TCP).
    let identity: PeerIdentity
    let acceptedAt = DispatchTime.now()
    private let descriptor: Int32
    private let idleTimeout: Double
    private var buffer: [UInt8] = []
    private var bufferStart = 0
    private let closed = Atomic<Bool>(false)
    private let spoke = Atomic<Bool>(false)
    private let sawTimeout = Atomic<Bool>(false)

    init(descriptor: Int32, peer: [UInt8]?, limits: ConnectionLimits) {
        self.descriptor = descriptor
        self.peer = peer
        idleTimeout = limits.idle
        if let peer {
            identity = PeerIdentity(.address(peer))
        } else if let credentials = Self.credentials(descriptor) {
            identity = PeerIdentity(.localUser(uid: credentials.uid, gid: credentials.gid, pid: credentials.pid))
        } else {
            identity = PeerIdentity(.unknown)
        }
        SocketIO.setTimeouts(descriptor, receive: limits.firstByte, send: limits.idle)
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_NOSIGPIPE_COMPAT, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// The peer has sent at least one byte.
    var hasSpoken: Bool { spoke.load(ordering: .relaxed) }

    /// A read waited past its timeout (the peer was silent).
    var timedOut: Bool { sawTimeout.load(ordering: .relaxed) }

    var peerDescription: String { peer.map { IPAddress.format($0) } ?? "local socket" }

    /// Bytes from the peer: at most `limit`, at least one; empty at end of stream.
    func readSome(limit: Int = 65536) throws -> ArraySlice<UInt8> {
        if bufferStart < buffer.count {
            let end = min(buffer.count, bufferStart + limit)
            defer {
                bufferStart = end
                if bufferStart == buffer.count {
                    buffer.removeAll(keepingCapacity: true)
                    bufferStart = 0
                }
            }
            return buffer[bufferStart..<end]
        }
        var chunk = [UInt8](repeating: 0, count: min(limit, 65536))
        let count = try chunk.withUnsafeMutableBytes { try receive(into: $0) }
        return chunk[0..<count]
    }

    /// Exactly `count` bytes, or an error (end of stream, timeout).
    func readExactly(_ count: Int) throws -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(count)
        while result.count < count {
            let piece = try readSome(limit: count - result.count)
            guard !piece.isEmpty else { throw ConnectionError.endOfStream }
            result += piece
        }
        return result
    }

    /// One line ending in LF (the LF and a CR before it removed), at most `limit` bytes;
    /// nil at a clean end of stream.
    func readLine(limit: Int) throws -> [UInt8]? {
        while true {
            if let newline = buffer[bufferStart...].firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(buffer[bufferStart..<newline])
                bufferStart = newline + 1
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return line
            }
            guard buffer.count - bufferStart <= limit else { throw ConnectionError.lineTooLong(limit) }
            var chunk = [UInt8](repeating: 0, count: 16384)
            let count = try chunk.withUnsafeMutableBytes { try receive(into: $0) }
            if count == 0 {
                if bufferStart == buffer.count { return nil }
                throw ConnectionError.endOfStream
            }
            if bufferStart > 0 && bufferStart == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                bufferStart = 0
            }
            buffer += chunk[0..<count]
        }
    }

    /// One recv: the byte count (0 at end of stream).
    private func receive(into raw: UnsafeMutableRawBufferPointer) throws -> Int {
        switch SocketIO.receive(descriptor, into: raw) {
        case let .success(n):
            if n > 0 && !spoke.exchange(true, ordering: .relaxed) {
                // It has something to say: from now on, the ordinary idle timeout.
                SocketIO.setTimeouts(descriptor, receive: idleTimeout, send: idleTimeout)
            }
            return n
        case let .failure(error):
            guard error.isTimeout else { throw ConnectionError.failed(error.description) }
            sawTimeout.store(true, ordering: .relaxed)
            throw ConnectionError.timedOut
        }
    }

    func write(_ bytes: [UInt8]) throws {
        if let code = SocketIO.sendAll(descriptor, bytes) {
            throw SocketIO.isTimeout(code) ? ConnectionError.timedOut : ConnectionError.failed(SocketIO.describe(code))
        }
    }

    func write(_ text: String) throws { try write(Array(text.utf8)) }

    /// Ends both directions (wakes a thread blocked in read).
    func shutdown() { Glibc.shutdown(descriptor, Int32(SHUT_RDWR)) }

    /// Ends the sending direction: the peer reads the end of the answer, and may still send.
    func finishWriting() { Glibc.shutdown(descriptor, Int32(SHUT_WR)) }

    /// The credentials of the process at the other end of a Unix socket.
    var peerCredentials: (pid: Int32, uid: UInt32, gid: UInt32)? { Self.credentials(descriptor) }

    static func credentials(_ descriptor: Int32) -> (pid: Int32, uid: UInt32, gid: UInt32)? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }, which Glibc's module map hides.
        var credentials = (pid: Int32(0), uid: UInt32(0), gid: UInt32(0))
        var length = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else { return nil }
        return (credentials.pid, credentials.uid, credentials.gid)
    }

    func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        Glibc.close(descriptor)
    }

    deinit { close() }
}

/// Linux has no SO_NOSIGPIPE; writes use MSG_NOSIGNAL instead. This harmless option
/// number keeps the code path the same.
private let SO_NOSIGPIPE_COMPAT: Int32 = SO_KEEPALIVE

enum ConnectionError: Error, CustomStringConvertible, Equatable {
    case endOfStream
    case timedOut
    case lineTooLong(Int)
    case failed(String)

    var description: String {
        switch self {
        case .endOfStream: "the peer closed the connection mid-message"
        case .timedOut: "the peer was idle for too long"
        case let .lineTooLong(limit): "a line longer than \(limit) bytes"
        case let .failed(reason): reason
        }
    }
}

public struct SocketError: Error, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The configuration names something that cannot work (a missing group, a path
        /// that is a file): spamtuned exits with EX_CONFIG.
        case configuration
        /// Another process serves the address: spamtuned exits with EX_CONFIG too, as a
        /// restart would not help.
        case inUse(pid: Int32?)
        case system
    }

    let address: ListenAddress
    let message: String
    public let kind: Kind

    init(_ address: ListenAddress, _ what: String, _ code: Int32, kind: Kind = .system) {
        self.address = address
        self.kind = kind
        message = code == 0 ? what : "\(what): \(String(cString: strerror(code)))"
    }

    public var description: String { "cannot listen on \(address): \(message)" }
}

/// The open connections of one listener, by peer: who is admitted, who makes room.
// @unchecked Sendable: both tables are read and written under `lock`.
final class ConnectionTable: @unchecked Sendable {
    enum Admission {
        /// In; `evicted` is a silent connection closed to make room.
        case admitted(evicted: SocketConnection?)
        case refused(ConnectionRefusal, String)
    }

    private let lock = NSLock()
    private var open: [ObjectIdentifier: SocketConnection] = [:]
    private var perPeer: [String: Int] = [:]

    func admit(_ connection: SocketConnection, limits: ConnectionLimits) -> Admission {
        lock.lock()
        defer { lock.unlock() }
        var evicted: SocketConnection?
        let key = connection.identity.key
        if let cap = limits.perPeer, perPeer[key, default: 0] >= cap {
            guard let victim = oldestSilent(where: { $0.identity.key == key }) else {
                return .refused(.maxConnectionsPerClient, "it already holds \(cap) connections (max_connections_per_client)")
            }
            evicted = victim
        } else if open.count >= limits.maxConnections {
            guard let victim = oldestSilent(where: { _ in true }) else {
                return .refused(.maxConnections, "\(limits.maxConnections) connections already open, all of them busy (max_connections)")
            }
            evicted = victim
        }
        if let evicted {
            forget(evicted)
            evicted.shutdown()
        }
        open[ObjectIdentifier(connection)] = connection
        perPeer[key, default: 0] += 1
        return .admitted(evicted: evicted)
    }

    func remove(_ connection: SocketConnection) {
        lock.lock()
        forget(connection)
        lock.unlock()
    }

    func shutDownAll() {
        lock.lock()
        for connection in open.values { connection.shutdown() }
        lock.unlock()
    }

    private func forget(_ connection: SocketConnection) {
        guard open.removeValue(forKey: ObjectIdentifier(connection)) != nil else { return }
        let key = connection.identity.key
        perPeer[key, default: 1] -= 1
        if perPeer[key] == 0 { perPeer[key] = nil }
    }

    private func oldestSilent(where matches: (SocketConnection) -> Bool) -> SocketConnection? {
        open.values.filter { !$0.hasSpoken && matches($0) }.min { $0.acceptedAt < $1.acceptedAt }
    }
}

/// Unix socket addresses, and whether a daemon answers on one.
enum UnixSocketAddress {
    static func make(_ path: String) -> sockaddr_un? {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
            raw[bytes.count] = 0
        }
        return addr
    }

    struct Listener {
        /// From SO_PEERCRED, which names the process that listens; nil when it is too
        /// busy to take the connection (its backlog is full).
        let pid: Int32?
    }

    /// The process listening on `path`; nil when nothing does (a stale file left by a
    /// daemon that died).
    static func liveListener(_ path: String) -> Listener? {
        guard var addr = make(path) else { return nil }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let result = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if result == 0 { return Listener(pid: SocketConnection.credentials(fd)?.pid) }
        // A full backlog answers EAGAIN: someone listens. Refused or gone: nobody does.
        return errno == EAGAIN ? Listener(pid: nil) : nil
    }
}

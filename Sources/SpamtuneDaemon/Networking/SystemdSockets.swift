import Foundation
import SpamtuneConfiguration
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Listening sockets handed over by systemd's socket activation (the spamtuned-*.socket
/// units): sd_listen_fds(3) without libsystemd. systemd creates each socket file with
/// the owner, group and mode its unit names, so the daemon never changes a file's
/// owner (which the service's seccomp filter forbids). Each socket is matched by its
/// `FileDescriptorName=` to the configured address it stands for; a configured socket
/// systemd did not pass is bound by the daemon itself, as when it is started by hand.
public final class SystemdSockets: Sendable {
    /// The names a socket unit may give its socket, and the configuration key each
    /// stands for.
    static let roles: [(name: String, key: String, address: @Sendable (DaemonConfiguration) -> ListenAddress?)] = [
        ("milter", "milter_listen", { $0.milterListen }),
        ("milter-tcp", "milter_tcp_listen", { $0.milterTCPListen }),
        ("spamd", "spamd_listen", { $0.spamdListen }),
        ("spamd-tcp", "spamd_tcp_listen", { $0.spamdTCPListen }),
        ("control", "control_socket", { .unix(path: $0.controlSocket) }),
    ]

    /// sd_listen_fds(3): passed descriptors start here.
    private static let firstDescriptor: Int32 = 3

    private let unclaimed: Mutex<[(address: ListenAddress, descriptor: Int32)]>
    /// What was passed, for the log: "milter (unix:/run/spamtune/milter.sock)".
    let summary: [String]

    /// No sockets from systemd: every configured socket is bound by the daemon.
    public init() {
        unclaimed = Mutex([])
        summary = []
    }

    /// The sockets systemd passed to this process (none when LISTEN_PID names another
    /// process, as when a shell started by systemd runs spamtuned by hand). The
    /// LISTEN_* variables are removed so that no child (a retrain) takes them for its own.
    public static func fromEnvironment(configuration: DaemonConfiguration) throws -> SystemdSockets {
        let environment = ProcessInfo.processInfo.environment
        defer { for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { unsetenv(name) } }
        guard let pid = environment["LISTEN_PID"], Int32(pid) == getpid(), let count = environment["LISTEN_FDS"] else {
            return SystemdSockets()
        }
        return try SystemdSockets(count: count, names: environment["LISTEN_FDNAMES"], configuration: configuration)
    }

    init(count text: String, names namesText: String?, configuration: DaemonConfiguration) throws {
        guard let count = Int32(text), count >= 0 else { throw SystemdSocketError("LISTEN_FDS=\(text) is not a count of sockets") }
        let names = namesText.map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) } ?? []
        let known = Self.roles.map(\.name).joined(separator: ", ")
        var adopted: [(address: ListenAddress, descriptor: Int32)] = []
        var summary: [String] = []
        var seen = Set<String>()
        for index in 0..<count {
            let descriptor = Self.firstDescriptor + index
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
            let name = names.count == Int(count) ? names[Int(index)] : "unknown"
            guard let role = Self.roles.first(where: { $0.name == name }) else {
                throw SystemdSocketError(
                    "systemd passed a socket named '\(name)' (descriptor \(descriptor)), which spamtuned does not know: "
                        + "give each ListenStream= in the spamtuned-*.socket units a FileDescriptorName= of \(known)")
            }
            guard seen.insert(name).inserted else {
                throw SystemdSocketError("systemd passed two sockets named '\(name)': give each socket unit a name of its own")
            }
            guard Self.isListeningStream(descriptor) else {
                throw SystemdSocketError(
                    "systemd's socket '\(name)' (descriptor \(descriptor)) is not a listening stream socket: use ListenStream= and Accept=no")
            }
            guard let configured = role.address(configuration) else {
                throw SystemdSocketError(
                    "systemd passed the socket '\(name)' but \(role.key) = off: set \(role.key), or stop systemd passing it (spamtuned.service's Sockets=)")
            }
            guard let bound = Self.boundAddress(descriptor), Self.matches(bound, configured) else {
                let actual = Self.boundAddress(descriptor).map { "\($0)" } ?? "an address spamtuned cannot read"
                throw SystemdSocketError(
                    "systemd's socket '\(name)' is \(actual) but \(role.key) is \(configured): make the socket unit's ListenStream= and the configuration agree")
            }
            adopted.append((configured, descriptor))
            summary.append("\(name) (\(configured))")
        }
        unclaimed = Mutex(adopted)
        self.summary = summary
    }

    /// The descriptor systemd passed for `address`, once; nil when the daemon binds it itself.
    func take(_ address: ListenAddress) -> Int32? {
        unclaimed.withLock { unclaimed in
            guard let index = unclaimed.firstIndex(where: { $0.address == address }) else { return nil }
            return unclaimed.remove(at: index).descriptor
        }
    }

    private static func isListeningStream(_ descriptor: Int32) -> Bool {
        var type: Int32 = 0, listening: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_TYPE, &type, &length) == 0 else { return false }
        length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0 else { return false }
        return type == Int32(SOCK_STREAM.rawValue) && listening == 1
    }

    private static func boundAddress(_ descriptor: Int32) -> ListenAddress? {
        guard var storage = SocketListener.localAddress(descriptor) else { return nil }
        switch Int32(storage.ss_family) {
        case AF_UNIX:
            let path = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { address in
                    withUnsafeBytes(of: address.pointee.sun_path) { raw in
                        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                    }
                }
            }
            return .unix(path: path)
        case AF_INET, AF_INET6:
            guard let host = SocketListener.peerAddress(storage), let port = SocketListener.port(storage) else { return nil }
            return .tcp(host: IPAddress.format(host), port: port)
        default:
            return nil
        }
    }

    /// A Unix socket matches by path; a TCP one by port (a host name and the address it
    /// resolves to, or `0.0.0.0` and `::`, are too many spellings of one listener to compare).
    private static func matches(_ bound: ListenAddress, _ configured: ListenAddress) -> Bool {
        switch (bound, configured) {
        case let (.unix(boundPath), .unix(configuredPath)): boundPath == configuredPath
        case let (.tcp(_, boundPort), .tcp(_, configuredPort)): boundPort == configuredPort
        default: false
        }
    }
}

struct SystemdSocketError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

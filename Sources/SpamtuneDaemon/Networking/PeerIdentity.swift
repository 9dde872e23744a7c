import Foundation
import SpamtuneConfiguration

#if canImport(Glibc)
import Glibc
#endif

/// Who is at the other end of a connection: a local process (its uid, gid and pid, from
/// SO_PEERCRED on a Unix socket) or a network address (TCP). Limits, quotas, the
/// learning policy and log lines all name a peer this one way.
struct PeerIdentity: Sendable, Hashable, CustomStringConvertible {
    enum Origin: Sendable, Hashable {
        case localUser(uid: UInt32, gid: UInt32, pid: Int32)
        case address([UInt8])
        /// A Unix socket whose credentials could not be read (does not happen on Linux).
        case unknown
    }

    let origin: Origin

    init(_ origin: Origin) { self.origin = origin }

    /// The same peer for limits and quotas: every process of one user is one peer.
    var key: String {
        switch origin {
        case let .localUser(uid, _, _): "uid:\(uid)"
        case let .address(bytes): "ip:\(IPAddress.format(bytes))"
        case .unknown: "unknown"
        }
    }

    /// For log lines: `uid 1001 (alice), pid 4242` or `192.0.2.7`.
    var description: String {
        switch origin {
        case let .localUser(uid, _, pid):
            let name = Self.userName(uid).map { " (\($0))" } ?? ""
            return "uid \(uid)\(name), pid \(pid)"
        case let .address(bytes): return IPAddress.format(bytes)
        case .unknown: return "an unidentified local peer"
        }
    }

    /// The reporter a feedback entry records: `user-alice`, `uid-1001` (no such name),
    /// `ip-192.0.2.7`; a name that is safe in a Maildir file name.
    var reporter: String {
        switch origin {
        case let .localUser(uid, _, _): Self.reporter(uid: uid)
        case let .address(bytes): "ip-\(IPAddress.format(bytes).replacingOccurrences(of: ":", with: "-"))"
        case .unknown: "unknown"
        }
    }

    var uid: UInt32? {
        if case let .localUser(uid, _, _) = origin { return uid }
        return nil
    }

    /// The reporter name of a local user (the owner of a Maildir, say).
    static func reporter(uid: UInt32) -> String { userName(uid).map { "user-\($0)" } ?? "uid-\(uid)" }

    static func userName(_ uid: UInt32) -> String? {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return nil }
        return String(cString: name)
    }
}

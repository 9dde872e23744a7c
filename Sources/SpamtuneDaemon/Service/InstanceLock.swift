import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One spamtuned per state directory: an exclusive flock on `<state_directory>/spamtuned.pid`,
/// held for the life of the process and released by the kernel however it ends (so a
/// daemon killed with -9 leaves no lock behind). The file holds the holder's pid, for
/// the message that refuses a second instance. Sockets are guarded on their own (a live
/// socket is never taken over, see SocketListener), which covers two daemons with
/// different state directories but the same socket paths.
public final class InstanceLock: Sendable {
    let path: String
    private let descriptor: Int32

    public struct Held: Error, CustomStringConvertible {
        let path: String
        let pid: Int32?
        public var description: String {
            let who = pid.map { "spamtuned (pid \($0))" } ?? "another spamtuned"
            return "\(who) is already running with this state directory (it holds the lock \(path)); stop it first"
        }
    }

    /// Takes the lock, creating the state directory when missing.
    public init(stateDirectory: String) throws {
        path = (stateDirectory as NSString).appendingPathComponent("spamtuned.pid")
        do {
            try FileManager.default.createDirectory(
                atPath: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        } catch {
            throw InstanceLockError("cannot create the state directory \(stateDirectory): \(error.localizedDescription)")
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw InstanceLockError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            let holder = Self.readPID(fd)
            close(fd)
            if code == EWOULDBLOCK { throw Held(path: path, pid: holder) }
            throw InstanceLockError("cannot lock \(path): \(String(cString: strerror(code)))")
        }
        descriptor = fd
        let text = "\(getpid())\n"
        ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    private static func readPID(_ fd: Int32) -> Int32? {
        var bytes = [UInt8](repeating: 0, count: 32)
        let count = pread(fd, &bytes, bytes.count, 0)
        guard count > 0 else { return nil }
        return Int32(String(decoding: bytes[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    deinit { close(descriptor) }
}

struct InstanceLockError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

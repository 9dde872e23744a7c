import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An inotify(7) instance: directory watches and the events they report.
final class MaildirInotify {
    struct Event {
        let watch: Int32
        let mask: UInt32
        /// Pairs an IN_MOVED_FROM with its IN_MOVED_TO.
        let cookie: UInt32
        let name: String

        func has(_ flag: UInt32) -> Bool { mask & flag != 0 }
    }

    static let movedTo = UInt32(IN_MOVED_TO)
    static let movedFrom = UInt32(IN_MOVED_FROM)
    static let closeWrite = UInt32(IN_CLOSE_WRITE)
    static let create = UInt32(IN_CREATE)
    static let isDirectory = UInt32(IN_ISDIR)
    static let overflow = UInt32(IN_Q_OVERFLOW)
    /// The watch is gone (its directory was deleted or moved away).
    static let ignored = UInt32(IN_IGNORED)
    static let selfGone = UInt32(IN_DELETE_SELF) | UInt32(IN_MOVE_SELF)
    static let onlyDirectory = UInt32(IN_ONLYDIR)

    private let descriptor: Int32
    private var buffer = [UInt8](repeating: 0, count: 64 << 10)

    init() throws {
        descriptor = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard descriptor >= 0 else {
            let detail = errno == EMFILE
                ? "too many inotify instances (raise fs.inotify.max_user_instances)" : String(cString: strerror(errno))
            throw MaildirError("inotify", "start watching", detail: detail)
        }
    }

    deinit { close(descriptor) }

    func watch(_ directory: String, mask: UInt32) throws -> Int32 {
        let watch = inotify_add_watch(descriptor, directory, mask | Self.onlyDirectory)
        guard watch >= 0 else {
            let detail = errno == ENOSPC
                ? "too many inotify watches (raise fs.inotify.max_user_watches)" : String(cString: strerror(errno))
            throw MaildirError(directory, "watch it", detail: detail)
        }
        return watch
    }

    func removeWatch(_ watch: Int32) {
        inotify_rm_watch(descriptor, watch)
    }

    /// The events that arrive within `timeout` seconds (none when it passes quietly).
    func events(timeout: Double) -> [Event] {
        var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&request, 1, Int32(timeout * 1000))
        guard ready > 0 else { return [] }
        var events: [Event] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { break }  // EAGAIN: everything read
            buffer.withUnsafeBytes { raw in
                var offset = 0
                let headerSize = MemoryLayout<inotify_event>.size
                while offset + headerSize <= count {
                    let watch = raw.loadUnaligned(fromByteOffset: offset, as: Int32.self)
                    let mask = raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                    let cookie = raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
                    let length = Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                    let nameBytes = raw[(offset + headerSize)..<min(count, offset + headerSize + length)]
                    let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
                    events.append(Event(watch: watch, mask: mask, cookie: cookie, name: name))
                    offset += headerSize + length
                }
            }
        }
        return events
    }
}

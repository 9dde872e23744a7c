#if canImport(Glibc)
import Glibc
#endif

/// The socket calls the daemon's connections, the control client and the test clients
/// all make, written once: a whole send across short writes and EINTR, a receive that
/// retries EINTR, and send/receive timeouts. Each caller turns the errno into its own
/// error (EAGAIN or EWOULDBLOCK: a timeout passed).
package enum SocketIO {
    /// Sends every byte (never raising SIGPIPE); nil when all went, else the errno that stopped it.
    package static func sendAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Int32? {
        bytes.withUnsafeBytes { raw -> Int32? in
            var offset = 0
            while offset < raw.count {
                let sent = send(descriptor, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if sent < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += sent
            }
            return nil
        }
    }

    /// One recv into `buffer`: the byte count (0 at the end of the stream), or the errno.
    package static func receive(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Result<Int, SocketErrno> {
        while true {
            let received = recv(descriptor, buffer.baseAddress, buffer.count, 0)
            if received >= 0 { return .success(received) }
            if errno == EINTR { continue }
            return .failure(SocketErrno(code: errno))
        }
    }

    package static func setTimeouts(_ descriptor: Int32, receive: Double, send: Double) {
        for (option, seconds) in [(SO_RCVTIMEO, receive), (SO_SNDTIMEO, send)] {
            var value = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
            setsockopt(descriptor, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
        }
    }

    package static func isTimeout(_ code: Int32) -> Bool { code == EAGAIN || code == EWOULDBLOCK }

    package static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }
}

package struct SocketErrno: Error {
    package let code: Int32
    package var isTimeout: Bool { SocketIO.isTimeout(code) }
    package var description: String { SocketIO.describe(code) }
}

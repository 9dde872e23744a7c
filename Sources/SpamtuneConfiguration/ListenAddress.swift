/// Where a server listens, in the milter convention that Postfix and Sendmail use:
/// `unix:/path/to.sock` (or a bare absolute path), `inet:PORT@HOST`, or `HOST:PORT`.
public enum ListenAddress: Equatable, Sendable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: UInt16)

    public init(parsing text: String) throws {
        if text.hasPrefix("unix:") || text.hasPrefix("local:") {
            let path = String(text.drop(while: { $0 != ":" }).dropFirst())
            guard path.hasPrefix("/") else { throw ValueError("a Unix socket needs an absolute path, not '\(path)'") }
            self = .unix(path: path)
        } else if text.hasPrefix("/") {
            self = .unix(path: text)
        } else if text.hasPrefix("inet:") {
            // inet:PORT@HOST
            let rest = text.dropFirst(5)
            let parts = rest.split(separator: "@", maxSplits: 1)
            guard let port = UInt16(parts.first ?? ""), port > 0 else { throw ValueError("'\(text)' needs a port: inet:PORT@HOST") }
            self = .tcp(host: parts.count == 2 ? String(parts[1]) : "127.0.0.1", port: port)
        } else if let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]), port > 0 {
            var host = String(text[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            self = .tcp(host: host.isEmpty ? "127.0.0.1" : host, port: port)
        } else {
            throw ValueError("'\(text)' is not an address: use unix:/path, inet:PORT@HOST or HOST:PORT")
        }
    }

    public var description: String {
        switch self {
        case let .unix(path): "unix:\(path)"
        case let .tcp(host, port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}

/// A client network for an allow list, like spamd's -A: `127.0.0.1`, `10.0.0.0/8`,
/// `::1`, `fd00::/8`.
public struct ClientNetwork: Equatable, Sendable, CustomStringConvertible {
    public let address: [UInt8]
    public let prefixLength: Int

    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let address = IPAddress.parse(parts[0]) else { throw ValueError("'\(text)' is not an IP address or network") }
        let maximum = address.count * 8
        let length = parts.count == 2 ? Int(parts[1]) : maximum
        guard let length, (0...maximum).contains(length) else { throw ValueError("'\(text)' has an invalid prefix length") }
        self.address = address
        prefixLength = length
    }

    public func contains(_ candidate: [UInt8]) -> Bool {
        var candidate = candidate
        var own = address
        // An IPv4 client reached over an IPv6 socket (::ffff:a.b.c.d) matches IPv4 networks.
        if candidate.count == 16, own.count == 4, candidate[0..<12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] {
            candidate = Array(candidate[12...])
        }
        if own.count == 16, candidate.count == 4 { own = Array(own) }
        guard candidate.count == own.count else { return false }
        var remaining = prefixLength
        for (a, b) in zip(own, candidate) where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xff << (8 - bits))
            if a & mask != b & mask { return false }
            remaining -= bits
        }
        return true
    }

    public var description: String { "\(IPAddress.format(address))/\(prefixLength)" }
}

package enum IPAddress {
    package static func parse(_ text: String) -> [UInt8]? {
        if text.contains(":") { return parseIPv6(text) }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    private static func parseIPv6(_ text: String) -> [UInt8]? {
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            for group in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard !group.isEmpty, group.count <= 4, let value = UInt16(group, radix: 16) else { return nil }
                result.append(value)
            }
            return result
        }
        guard let head = groups(halves[0]) else { return nil }
        var words = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            words += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard words.count == 8 else { return nil }
        return words.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }

    package static func format(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: bytes.count, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            .joined(separator: ":")
    }
}

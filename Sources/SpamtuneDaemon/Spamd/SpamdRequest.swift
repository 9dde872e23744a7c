import Foundation
import SpamtuneClassifier
import SpamtuneSupport

// The SPAMC/SPAMD protocol as SpamAssassin's spamd speaks it (spamd/PROTOCOL, and
// spamd.raw for what the document leaves out): one request per connection,
//
//     CHECK SPAMC/1.5\r\n
//     Content-length: 1234\r\n
//     User: alice\r\n
//     \r\n
//     <1234 bytes of message>
//
// and one answer, after which the server closes the connection.

/// The sysexits(3) codes spamd answers with.
enum SpamdStatus: Int, Sendable, CustomStringConvertible {
    case ok = 0
    case dataError = 65
    case unavailable = 69
    case software = 70
    case ioError = 74
    case temporaryFailure = 75
    case protocolError = 76
    case noPermission = 77
    case timeout = 79

    var description: String {
        switch self {
        case .ok: "EX_OK"
        case .dataError: "EX_DATAERR"
        case .unavailable: "EX_UNAVAILABLE"
        case .software: "EX_SOFTWARE"
        case .ioError: "EX_IOERR"
        case .temporaryFailure: "EX_TEMPFAIL"
        case .protocolError: "EX_PROTOCOL"
        case .noPermission: "EX_NOPERM"
        case .timeout: "EX_TIMEOUT"
        }
    }
}

package enum SpamdVerb: String, Sendable, CaseIterable {
    case check = "CHECK"
    case symbols = "SYMBOLS"
    case report = "REPORT"
    case reportIfSpam = "REPORT_IFSPAM"
    case process = "PROCESS"
    case headers = "HEADERS"
    case tell = "TELL"
    case ping = "PING"
    /// The client changed its mind (spamc sends it for a message too large to check).
    case skip = "SKIP"

    /// Verbs that answer with the message itself, so they need all of it.
    var needsWholeMessage: Bool { self == .process || self == .headers || self == .tell }
    package var hasBody: Bool { self != .ping && self != .skip }
}

/// `SPAMC/1.5` as (1, 5). The answer's layout depends on it: before 1.3 there was one
/// header line only, and Exim still asks with 1.2.
struct SpamdProtocolVersion: Sendable, Comparable, CustomStringConvertible {
    let major: Int
    let minor: Int

    init(_ major: Int, _ minor: Int) {
        self.major = major
        self.minor = minor
    }

    init?(parsing text: Substring) {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.count <= 4 && $0.allSatisfy(\.isASCIIDigit) }),
            let major = Int(parts[0]), let minor = Int(parts[1])
        else { return nil }
        self.init(major, minor)
    }

    static func < (a: Self, b: Self) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
    var description: String { "\(major).\(minor)" }
}

/// The learning databases a TELL names in `Set:` and `Remove:`.
enum TellDatabase: String, Sendable {
    /// The feedback store spamtune-train learns from.
    case local
    /// Reporting to shared blocklists (Razor, Pyzor in SpamAssassin): spamtune has none.
    case remote
}

/// One parsed request.
struct SpamdRequest: Sendable {
    var verb: SpamdVerb
    var version: SpamdProtocolVersion
    var user: String?
    var isCompressed = false
    var messageClass: Label?
    var setDatabases: Set<TellDatabase> = []
    var removeDatabases: Set<TellDatabase> = []
    /// The message (decompressed), or its first `SpamdLimits.scoredBytes` for the
    /// verbs that only score it.
    var body: [UInt8] = []
    /// The size of the whole message, of which `body` may be the first part.
    var messageBytes = 0

    var isTruncated: Bool { body.count < messageBytes }
}

/// A request that cannot be served: the answer is this status and message, and the
/// connection closes.
struct SpamdRequestError: Error, Equatable, CustomStringConvertible {
    let status: SpamdStatus
    let message: String

    init(_ status: SpamdStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    var description: String { "\(status): \(message)" }
}

/// What a request may cost, so that no client can make the server hold unbounded memory
/// or a thread forever.
struct SpamdLimits: Sendable {
    var requestLineBytes = 256
    var headerLineBytes = 8192
    /// spamd's own cap.
    var headerLines = 255
    /// CHECK, SYMBOLS and REPORT score at most this much of a message (the daemon's
    /// `max_message_size`); the rest is read and discarded, so any size gets an answer.
    var scoredBytes = 1 << 20
    /// PROCESS, HEADERS and TELL answer with or store the whole message, so they hold it:
    /// larger messages are refused with EX_DATAERR (spamc then passes them through).
    var wholeMessageBytes = 32 << 20
    /// The whole request must arrive within this many seconds.
    var requestSeconds = 300.0

    init() {}
}

/// Where a request is read from: a socket connection, or bytes in a test.
protocol SpamdInput: AnyObject {
    func readLine(limit: Int) throws -> [UInt8]?
    func readSome(limit: Int) throws -> ArraySlice<UInt8>
}

extension SocketConnection: SpamdInput {}

/// Bytes as an input (tests, fuzzing).
final class SpamdByteInput: SpamdInput {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func readLine(limit: Int) throws -> [UInt8]? {
        guard position < bytes.count else { return nil }
        guard let newline = bytes[position...].firstIndex(of: UInt8(ascii: "\n")) else {
            if bytes.count - position > limit { throw ConnectionError.lineTooLong(limit) }
            throw ConnectionError.endOfStream
        }
        guard newline - position <= limit + 1 else { throw ConnectionError.lineTooLong(limit) }
        var line = Array(bytes[position..<newline])
        position = newline + 1
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        return line
    }

    func readSome(limit: Int) throws -> ArraySlice<UInt8> {
        let end = min(bytes.count, position + limit)
        defer { position = end }
        return bytes[position..<end]
    }
}

/// Reads one request. Every failure is a `SpamdRequestError` that names what was wrong.
struct SpamdRequestReader {
    let limits: SpamdLimits

    init(limits: SpamdLimits) { self.limits = limits }

    /// The next request, or nil when the client closed the connection without sending one.
    func read(from input: SpamdInput) throws(SpamdRequestError) -> SpamdRequest? {
        let deadline = Date(timeIntervalSinceNow: limits.requestSeconds)
        guard let line = try readLine(input, limit: limits.requestLineBytes, what: "the request line", deadline: deadline) else {
            return nil
        }
        var request = try parseRequestLine(line)
        // Protocol 1.0 had no headers; PING and SKIP gained their empty header block in 1.5.
        let hasHeaders = request.verb.hasBody ? request.version > SpamdProtocolVersion(1, 0) : request.version >= SpamdProtocolVersion(1, 5)
        var contentLength: Int?
        if hasHeaders {
            contentLength = try readHeaders(input, into: &request, deadline: deadline)
        }
        guard request.verb.hasBody else { return request }
        if request.verb == .tell {
            try checkTell(request)
        }
        if request.isCompressed {
            guard let contentLength else {
                throw SpamdRequestError(.protocolError, "a compressed body needs a Content-length header")
            }
            try readCompressedBody(input, length: contentLength, into: &request, deadline: deadline)
        } else {
            try readBody(input, length: contentLength, into: &request, deadline: deadline)
        }
        return request
    }

    func parseRequestLine(_ line: [UInt8]) throws(SpamdRequestError) -> SpamdRequest {
        let text = String(decoding: line, as: UTF8.self)
        let words = text.split(separator: " ", omittingEmptySubsequences: true)
        guard words.count == 2, let verb = SpamdVerb(rawValue: String(words[0])) else {
            throw SpamdRequestError(.protocolError, "'\(Self.printable(text))' is not a request line like 'CHECK SPAMC/1.5'")
        }
        guard words[1].hasPrefix("SPAMC/"), let version = SpamdProtocolVersion(parsing: words[1].dropFirst(6)) else {
            throw SpamdRequestError(.protocolError, "'\(Self.printable(String(words[1])))' is not a protocol version like SPAMC/1.5")
        }
        guard version.major == 1 else {
            throw SpamdRequestError(.protocolError, "protocol SPAMC/\(version) is not spoken here (SPAMC/1.x is)")
        }
        return SpamdRequest(verb: verb, version: version)
    }

    /// Reads header lines up to the empty line; returns the Content-length if given.
    private func readHeaders(_ input: SpamdInput, into request: inout SpamdRequest, deadline: Date) throws(SpamdRequestError) -> Int? {
        var contentLength: Int?
        for _ in 0...limits.headerLines {
            guard let line = try readLine(input, limit: limits.headerLineBytes, what: "a header line", deadline: deadline) else {
                throw SpamdRequestError(.protocolError, "the connection ended inside the headers")
            }
            if line.isEmpty { return contentLength }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else {
                throw SpamdRequestError(.protocolError, "header line '\(Self.printable(String(decoding: line, as: UTF8.self)))' is not 'Name: value'")
            }
            let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            switch name {
            case "content-length":
                guard !value.isEmpty, value.count <= 15, value.allSatisfy(\.isASCIIDigit), let length = Int(value) else {
                    throw SpamdRequestError(.protocolError, "Content-length '\(Self.printable(value))' is not a number of bytes")
                }
                contentLength = length
            case "user":
                guard value.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }), value.utf8.count <= 256 else {
                    throw SpamdRequestError(.protocolError, "the User header holds control characters or is too long")
                }
                request.user = value
            case "compress":
                guard value.lowercased() == "zlib" else {
                    throw SpamdRequestError(.protocolError, "compression '\(Self.printable(value))' is not supported (zlib is)")
                }
                request.isCompressed = true
            case "message-class":
                guard let label = Label(name: value.lowercased()) else {
                    throw SpamdRequestError(.protocolError, "Message-class '\(Self.printable(value))' is neither spam nor ham")
                }
                request.messageClass = label
            case "set":
                request.setDatabases = Self.databases(value)
            case "remove":
                request.removeDatabases = Self.databases(value)
            default:
                break  // the protocol says unknown headers are ignored
            }
        }
        throw SpamdRequestError(.protocolError, "more than \(limits.headerLines) header lines")
    }

    private static func databases(_ value: String) -> Set<TellDatabase> {
        var result: Set<TellDatabase> = []
        let lowered = value.lowercased()
        if lowered.contains("local") { result.insert(.local) }
        if lowered.contains("remote") { result.insert(.remote) }
        return result
    }

    private func checkTell(_ request: SpamdRequest) throws(SpamdRequestError) {
        if request.setDatabases.contains(.local) && request.removeDatabases.contains(.local) {
            throw SpamdRequestError(.protocolError, "a TELL cannot both set and remove local in one request")
        }
        if !request.setDatabases.isEmpty && request.messageClass == nil {
            throw SpamdRequestError(.protocolError, "a TELL with Set needs Message-class: spam or ham")
        }
        if request.setDatabases.isEmpty && request.removeDatabases.isEmpty {
            throw SpamdRequestError(.protocolError, "a TELL needs a Set or Remove header")
        }
    }

    /// Reads `length` bytes (or to the end of the stream without a length), keeping what
    /// the verb needs and discarding the rest.
    private func readBody(_ input: SpamdInput, length: Int?, into request: inout SpamdRequest, deadline: Date) throws(SpamdRequestError) {
        let keep = request.verb.needsWholeMessage ? limits.wholeMessageBytes : limits.scoredBytes
        let expected = length ?? Int.max
        var body: [UInt8] = []
        body.reserveCapacity(min(expected, keep, 1 << 20))
        var received = 0
        while received < expected {
            let piece = try readSome(input, limit: min(65536, expected - received), deadline: deadline)
            if piece.isEmpty {
                guard length == nil else {
                    throw SpamdRequestError(.protocolError, "Content-length mismatch: expected \(expected) bytes, got \(received)")
                }
                break
            }
            if body.count < keep { body += piece.prefix(keep - body.count) }
            received += piece.count
        }
        if request.verb.needsWholeMessage && received > keep {
            throw SpamdRequestError(
                .dataError, "the message has \(received) bytes; \(request.verb.rawValue) takes at most \(keep) (spamd_max_body_size)")
        }
        request.body = body
        request.messageBytes = received
    }

    /// zlib framing (RFC 1950) around a DEFLATE stream, as `spamc -z` sends.
    private func readCompressedBody(_ input: SpamdInput, length: Int, into request: inout SpamdRequest, deadline: Date) throws(SpamdRequestError) {
        guard length <= limits.wholeMessageBytes else {
            throw SpamdRequestError(.dataError, "the compressed message has \(length) bytes; at most \(limits.wholeMessageBytes) are accepted")
        }
        var compressed: [UInt8] = []
        compressed.reserveCapacity(length)
        while compressed.count < length {
            let piece = try readSome(input, limit: min(65536, length - compressed.count), deadline: deadline)
            guard !piece.isEmpty else {
                throw SpamdRequestError(.protocolError, "Content-length mismatch: expected \(length) bytes, got \(compressed.count)")
            }
            compressed += piece
        }
        let message: [UInt8]
        do {
            message = try Zlib.decompress(compressed, maximumOutputSize: limits.wholeMessageBytes)
        } catch {
            throw SpamdRequestError(.dataError, "the compressed message cannot be read: \(error)")
        }
        let keep = request.verb.needsWholeMessage ? limits.wholeMessageBytes : limits.scoredBytes
        request.body = message.count > keep ? Array(message.prefix(keep)) : message
        request.messageBytes = message.count
    }

    private func readLine(_ input: SpamdInput, limit: Int, what: String, deadline: Date) throws(SpamdRequestError) -> [UInt8]? {
        try checkDeadline(deadline)
        do {
            return try input.readLine(limit: limit)
        } catch {
            throw Self.connectionFailure(error, while: "reading \(what)", limit: limit)
        }
    }

    private func readSome(_ input: SpamdInput, limit: Int, deadline: Date) throws(SpamdRequestError) -> ArraySlice<UInt8> {
        try checkDeadline(deadline)
        do {
            return try input.readSome(limit: limit)
        } catch {
            throw Self.connectionFailure(error, while: "reading the message", limit: limit)
        }
    }

    private func checkDeadline(_ deadline: Date) throws(SpamdRequestError) {
        guard Date() < deadline else {
            throw SpamdRequestError(.timeout, "the request took longer than \(Int(limits.requestSeconds)) seconds to arrive")
        }
    }

    private static func connectionFailure(_ error: Error, while doing: String, limit: Int) -> SpamdRequestError {
        switch error as? ConnectionError {
        case .lineTooLong: SpamdRequestError(.protocolError, "a line longer than \(limit) bytes while \(doing)")
        case .timedOut: SpamdRequestError(.timeout, "the client sent nothing for too long while \(doing)")
        case .endOfStream: SpamdRequestError(.protocolError, "the connection ended while \(doing)")
        default: SpamdRequestError(.ioError, "\(error) while \(doing)")
        }
    }

    /// Client text in an error message and the log: printable, bounded.
    static func printable(_ text: String) -> String {
        let kept = text.unicodeScalars.prefix(80).map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) }
        return String(kept) + (text.unicodeScalars.count > 80 ? "..." : "")
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

/// RFC 1950 zlib streams: a two-byte header, DEFLATE data, and the Adler-32 of the output.
enum Zlib {
    enum Failure: Error, CustomStringConvertible {
        case header(String)
        case deflate(InflateError)
        case checksum

        var description: String {
            switch self {
            case let .header(reason): "not a zlib stream (\(reason))"
            case let .deflate(error): "damaged DEFLATE data: \(error)"
            case .checksum: "the Adler-32 checksum does not match the data"
            }
        }
    }

    static func decompress(_ stream: [UInt8], maximumOutputSize: Int) throws(Failure) -> [UInt8] {
        guard stream.count >= 6 else { throw .header("\(stream.count) bytes is too short") }
        let method = stream[0], flags = stream[1]
        guard method & 0x0F == 8, method >> 4 <= 7 else { throw .header("compression method \(method & 0x0F) is not DEFLATE") }
        guard (UInt16(method) << 8 | UInt16(flags)) % 31 == 0 else { throw .header("the header check bits are wrong") }
        guard flags & 0x20 == 0 else { throw .header("a preset dictionary is not supported") }
        let output: [UInt8]
        do throws(InflateError) {
            output = try Inflate.decompress(Array(stream[2..<(stream.count - 4)]), maximumOutputSize: maximumOutputSize)
        } catch {
            throw .deflate(error)
        }
        let trailer = stream.suffix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard adler32(output) == trailer else { throw .checksum }
        return output
    }

    static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        // 5552 is the most bytes before b can overflow 32 bits (zlib's NMAX).
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + 5552)
            for byte in bytes[index..<end] {
                a += UInt32(byte)
                b += a
            }
            a %= 65521
            b %= 65521
            index = end
        }
        return b << 16 | a
    }

    /// A zlib stream of stored (uncompressed) blocks: what tests and the load client send.
    static func storedStream(_ bytes: [UInt8]) -> [UInt8] {
        var stream: [UInt8] = [0x78, 0x01]
        var index = 0
        repeat {
            let end = min(bytes.count, index + 65535)
            let length = UInt16(end - index)
            stream.append(end == bytes.count ? 1 : 0)
            stream += [UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)]
            stream += bytes[index..<end]
            index = end
        } while index < bytes.count
        let checksum = adler32(bytes)
        stream += [UInt8(checksum >> 24), UInt8(checksum >> 16 & 0xFF), UInt8(checksum >> 8 & 0xFF), UInt8(checksum & 0xFF)]
        return stream
    }
}

/// A command from the MTA with its data decoded. Text fields stay bytes: mail headers
/// and SMTP arguments need not be UTF-8, and the message is rebuilt byte for byte.
package enum MilterEvent: Equatable, Sendable {
    case optionNegotiation(version: UInt32, actions: MilterActions, options: MilterProtocolOptions)
    /// Macro values sent ahead of the command `stage` (a command byte), as name-value pairs.
    case macros(stage: UInt8, [(name: [UInt8], value: [UInt8])])
    case connect(hostname: [UInt8], family: AddressFamily, port: UInt16?, address: [UInt8]?)
    case helo([UInt8])
    case mail(arguments: [[UInt8]])
    case recipient(arguments: [[UInt8]])
    case data
    case header(name: [UInt8], value: [UInt8])
    case endOfHeaders
    case body([UInt8])
    /// The last body bytes may come with it (Sendmail does that; Postfix sends them apart).
    case endOfBody(finalChunk: [UInt8])
    case abort
    case quit
    case quitNewConnection
    case unknown([UInt8])

    package enum AddressFamily: UInt8, Sendable {
        case unknown = 0x55  // U
        case unix = 0x4C  // L
        case inet = 0x34  // 4
        case inet6 = 0x36  // 6
    }

    package var command: MilterCommand {
        switch self {
        case .optionNegotiation: .optionNegotiation
        case .macros: .macros
        case .connect: .connect
        case .helo: .helo
        case .mail: .mail
        case .recipient: .recipient
        case .data: .data
        case .header: .header
        case .endOfHeaders: .endOfHeaders
        case .body: .body
        case .endOfBody: .endOfBody
        case .abort: .abort
        case .quit: .quit
        case .quitNewConnection: .quitNewConnection
        case .unknown: .unknown
        }
    }

    package static func == (a: MilterEvent, b: MilterEvent) -> Bool {
        switch (a, b) {
        case let (.macros(s1, p1), .macros(s2, p2)):
            s1 == s2 && p1.count == p2.count && zip(p1, p2).allSatisfy { $0.name == $1.name && $0.value == $1.value }
        case let (.optionNegotiation(v1, a1, o1), .optionNegotiation(v2, a2, o2)): v1 == v2 && a1 == a2 && o1 == o2
        case let (.connect(h1, f1, p1, d1), .connect(h2, f2, p2, d2)): h1 == h2 && f1 == f2 && p1 == p2 && d1 == d2
        case let (.helo(x), .helo(y)), let (.body(x), .body(y)), let (.unknown(x), .unknown(y)): x == y
        case let (.endOfBody(x), .endOfBody(y)): x == y
        case let (.mail(x), .mail(y)), let (.recipient(x), .recipient(y)): x == y
        case let (.header(n1, v1), .header(n2, v2)): n1 == n2 && v1 == v2
        case (.data, .data), (.endOfHeaders, .endOfHeaders), (.abort, .abort), (.quit, .quit),
            (.quitNewConnection, .quitNewConnection):
            true
        default: false
        }
    }

    /// Decodes a packet from the MTA; anything that does not follow the protocol is an error.
    package init(packet: MilterPacket) throws {
        guard let command = packet.command else { throw MilterProtocolError.unknownCommand(packet.code) }
        var reader = FieldReader(command: command, bytes: packet.data)
        switch command {
        case .optionNegotiation:
            let version = try reader.uint32("the protocol version")
            let actions = try reader.uint32("the actions")
            let options = try reader.uint32("the protocol options")
            // Newer MTAs may append more; what follows the three words is not ours to read.
            self = .optionNegotiation(
                version: version, actions: MilterActions(rawValue: actions), options: MilterProtocolOptions(rawValue: options))
            return
        case .macros:
            let stage = try reader.byte("the command the macros are for")
            var pairs: [(name: [UInt8], value: [UInt8])] = []
            while !reader.isAtEnd {
                let name = try reader.string("a macro name")
                let value = try reader.string("the value of macro \(String(decoding: name.prefix(40), as: UTF8.self))")
                pairs.append((name, value))
            }
            self = .macros(stage: stage, pairs)
            return
        case .connect:
            let hostname = try reader.string("the client host name")
            let familyByte = try reader.byte("the address family")
            guard let family = AddressFamily(rawValue: familyByte) else {
                throw MilterProtocolError.malformed(command, "unknown address family 0x\(String(familyByte, radix: 16))")
            }
            if family == .unknown {
                self = .connect(hostname: hostname, family: family, port: nil, address: nil)
            } else {
                let port = try reader.uint16("the client port")
                let address = try reader.string("the client address")
                self = .connect(hostname: hostname, family: family, port: port, address: address)
            }
        case .helo: self = .helo(try reader.string("the HELO name"))
        case .mail, .recipient:
            var arguments: [[UInt8]] = [try reader.string("the address")]
            while !reader.isAtEnd { arguments.append(try reader.string("an ESMTP argument")) }
            self = command == .mail ? .mail(arguments: arguments) : .recipient(arguments: arguments)
        case .header:
            let name = try reader.string("the header name")
            guard !name.isEmpty else { throw MilterProtocolError.malformed(command, "an empty header name") }
            self = .header(name: name, value: try reader.string("the header value"))
        case .unknown: self = .unknown(try reader.string("the command"))
        case .body:
            self = .body(packet.data)
            return
        case .endOfBody:
            self = .endOfBody(finalChunk: packet.data)
            return
        case .data: self = .data
        case .endOfHeaders: self = .endOfHeaders
        case .abort: self = .abort
        case .quit: self = .quit
        case .quitNewConnection: self = .quitNewConnection
        }
        guard reader.isAtEnd else {
            throw MilterProtocolError.malformed(command, "\(reader.remaining) bytes after the last field")
        }
    }
}

/// Reads the fields of one packet's data, naming the field that is missing.
private struct FieldReader {
    let command: MilterCommand
    let bytes: [UInt8]
    var offset = 0

    var isAtEnd: Bool { offset == bytes.count }
    var remaining: Int { bytes.count - offset }

    mutating func byte(_ what: String) throws -> UInt8 {
        guard offset < bytes.count else { throw MilterProtocolError.malformed(command, "\(what) is missing") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func uint16(_ what: String) throws -> UInt16 {
        guard remaining >= 2 else { throw MilterProtocolError.malformed(command, "\(what) is missing") }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    mutating func uint32(_ what: String) throws -> UInt32 {
        guard remaining >= 4 else { throw MilterProtocolError.malformed(command, "\(what) is missing") }
        defer { offset += 4 }
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }

    /// A NUL-terminated string, without its NUL.
    mutating func string(_ what: String) throws -> [UInt8] {
        guard offset < bytes.count else { throw MilterProtocolError.malformed(command, "\(what) is missing") }
        guard let end = bytes[offset...].firstIndex(of: 0) else {
            throw MilterProtocolError.malformed(command, "\(what) does not end in a NUL byte")
        }
        defer { offset = end + 1 }
        return Array(bytes[offset..<end])
    }
}

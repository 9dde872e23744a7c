/// The Sendmail mail filter ("milter") protocol, version 6, as libmilter, Sendmail and
/// Postfix speak it.
///
/// Every packet in either direction is a 4-byte big-endian length, then that many
/// bytes: a one-byte command (MTA to filter) or reply code (filter to MTA) and its
/// data. Strings in the data end in a NUL byte. The MTA opens with an option
/// negotiation that says which modifications it allows the filter (actions) and which
/// events and replies it can leave out (protocol options); the filter answers with the
/// subset it wants, and both sides then follow that subset.
package enum MilterProtocol {
    /// The protocol version spamtuned speaks (the newest one).
    package static let version: UInt32 = 6
    /// The oldest version it accepts; version 1 had no option negotiation worth the name.
    package static let oldestVersion: UInt32 = 2
    /// The largest packet accepted from an MTA. Body chunks are at most 65,535 bytes;
    /// a header can be longer (Postfix allows 100 KiB by default), so this leaves
    /// room for that while keeping what one connection can make the daemon hold small.
    package static let maximumPacketBytes = 256 * 1024 + 64
}

/// What the MTA sends.
package enum MilterCommand: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case abort = 0x41  // A: the message is abandoned; the session goes on
    case body = 0x42  // B: a chunk of the message body
    case connect = 0x43  // C: the SMTP client's host name, family, port and address
    case macros = 0x44  // D: macro values for the command that follows
    case endOfBody = 0x45  // E: the message is complete; the filter decides
    case helo = 0x48  // H
    case quitNewConnection = 0x4B  // K: the session ends; a new one follows on this socket
    case header = 0x4C  // L: one header field, name and value
    case mail = 0x4D  // M: MAIL FROM and its ESMTP arguments
    case endOfHeaders = 0x4E  // N
    case optionNegotiation = 0x4F  // O
    case quit = 0x51  // Q: the session ends, and the connection with it
    case recipient = 0x52  // R: RCPT TO and its ESMTP arguments
    case data = 0x54  // T: the DATA command
    case unknown = 0x55  // U: an SMTP command the MTA did not recognise

    package var description: String {
        switch self {
        case .abort: "abort"
        case .body: "body"
        case .connect: "connect"
        case .macros: "macros"
        case .endOfBody: "end of body"
        case .helo: "helo"
        case .quitNewConnection: "quit (new connection)"
        case .header: "header"
        case .mail: "mail"
        case .endOfHeaders: "end of headers"
        case .optionNegotiation: "option negotiation"
        case .quit: "quit"
        case .recipient: "rcpt"
        case .data: "data"
        case .unknown: "unknown command"
        }
    }
}

/// What the filter answers.
package enum MilterReplyCode: UInt8, Sendable, CaseIterable {
    case addRecipient = 0x2B  // +
    case deleteRecipient = 0x2D  // -
    case accept = 0x61  // a: accept the message (or, at connect, the whole session) unchanged
    case replaceBody = 0x62  // b
    case `continue` = 0x63  // c: go on; at end of body: accept with the modifications sent
    case discard = 0x64  // d
    case changeSender = 0x65  // e
    case addHeader = 0x68  // h: name, value
    case insertHeader = 0x69  // i: index, name, value
    case changeHeader = 0x6D  // m: index (1 = the first of that name), name, value; empty value deletes
    case optionNegotiation = 0x4F  // O: version, actions, protocol options
    case progress = 0x70  // p: still working; the MTA keeps waiting
    case quarantine = 0x71  // q: reason; Postfix puts the message on hold
    case reject = 0x72  // r
    case skip = 0x73  // s: send no more events of this kind (body chunks) for this message
    case temporaryFailure = 0x74  // t
    case replyCode = 0x79  // y: a full SMTP reply, "550 5.7.1 text"
}

/// Modifications the filter may make at the end of the body (SMFIF_*).
package struct MilterActions: OptionSet, Sendable, Hashable, CustomStringConvertible {
    package let rawValue: UInt32
    package init(rawValue: UInt32) { self.rawValue = rawValue }

    package static let addHeaders = MilterActions(rawValue: 0x01)
    package static let changeBody = MilterActions(rawValue: 0x02)
    package static let addRecipients = MilterActions(rawValue: 0x04)
    package static let deleteRecipients = MilterActions(rawValue: 0x08)
    package static let changeHeaders = MilterActions(rawValue: 0x10)
    package static let quarantine = MilterActions(rawValue: 0x20)
    package static let changeSender = MilterActions(rawValue: 0x40)
    package static let addRecipientsWithParameters = MilterActions(rawValue: 0x80)
    package static let setMacroList = MilterActions(rawValue: 0x100)

    static let names: [(MilterActions, String)] = [
        (.addHeaders, "ADDHDRS"), (.changeBody, "CHGBODY"), (.addRecipients, "ADDRCPT"), (.deleteRecipients, "DELRCPT"),
        (.changeHeaders, "CHGHDRS"), (.quarantine, "QUARANTINE"), (.changeSender, "CHGFROM"),
        (.addRecipientsWithParameters, "ADDRCPT_PAR"), (.setMacroList, "SETSYMLIST"),
    ]

    package var description: String { flagNames(rawValue, Self.names.map { ($0.0.rawValue, $0.1) }) }
}

/// Events the MTA may leave out and replies the filter may leave out (SMFIP_*).
package struct MilterProtocolOptions: OptionSet, Sendable, Hashable, CustomStringConvertible {
    package let rawValue: UInt32
    package init(rawValue: UInt32) { self.rawValue = rawValue }

    package static let noConnect = MilterProtocolOptions(rawValue: 0x1)
    package static let noHelo = MilterProtocolOptions(rawValue: 0x2)
    package static let noMail = MilterProtocolOptions(rawValue: 0x4)
    package static let noRecipient = MilterProtocolOptions(rawValue: 0x8)
    package static let noBody = MilterProtocolOptions(rawValue: 0x10)
    package static let noHeaders = MilterProtocolOptions(rawValue: 0x20)
    package static let noEndOfHeaders = MilterProtocolOptions(rawValue: 0x40)
    package static let noHeaderReply = MilterProtocolOptions(rawValue: 0x80)
    package static let noUnknown = MilterProtocolOptions(rawValue: 0x100)
    package static let noData = MilterProtocolOptions(rawValue: 0x200)
    /// The MTA understands the skip reply.
    package static let skip = MilterProtocolOptions(rawValue: 0x400)
    package static let rejectedRecipients = MilterProtocolOptions(rawValue: 0x800)
    package static let noConnectReply = MilterProtocolOptions(rawValue: 0x1000)
    package static let noHeloReply = MilterProtocolOptions(rawValue: 0x2000)
    package static let noMailReply = MilterProtocolOptions(rawValue: 0x4000)
    package static let noRecipientReply = MilterProtocolOptions(rawValue: 0x8000)
    package static let noDataReply = MilterProtocolOptions(rawValue: 0x10000)
    package static let noUnknownReply = MilterProtocolOptions(rawValue: 0x20000)
    package static let noEndOfHeadersReply = MilterProtocolOptions(rawValue: 0x40000)
    package static let noBodyReply = MilterProtocolOptions(rawValue: 0x80000)
    /// Header values keep the space after the colon.
    package static let headerLeadingSpace = MilterProtocolOptions(rawValue: 0x100000)

    /// Every "don't send this event" option.
    package static let allEventSkips: MilterProtocolOptions = [
        .noConnect, .noHelo, .noMail, .noRecipient, .noBody, .noHeaders, .noEndOfHeaders, .noUnknown, .noData,
    ]
    /// Every "the filter won't reply to this event" option.
    package static let allNoReplies: MilterProtocolOptions = [
        .noConnectReply, .noHeloReply, .noMailReply, .noRecipientReply, .noDataReply, .noUnknownReply,
        .noHeaderReply, .noEndOfHeadersReply, .noBodyReply,
    ]

    static let names: [(MilterProtocolOptions, String)] = [
        (.noConnect, "NOCONNECT"), (.noHelo, "NOHELO"), (.noMail, "NOMAIL"), (.noRecipient, "NORCPT"), (.noBody, "NOBODY"),
        (.noHeaders, "NOHDRS"), (.noEndOfHeaders, "NOEOH"), (.noHeaderReply, "NR_HDR"), (.noUnknown, "NOUNKNOWN"),
        (.noData, "NODATA"), (.skip, "SKIP"), (.rejectedRecipients, "RCPT_REJ"), (.noConnectReply, "NR_CONN"),
        (.noHeloReply, "NR_HELO"), (.noMailReply, "NR_MAIL"), (.noRecipientReply, "NR_RCPT"), (.noDataReply, "NR_DATA"),
        (.noUnknownReply, "NR_UNKN"), (.noEndOfHeadersReply, "NR_EOH"), (.noBodyReply, "NR_BODY"),
        (.headerLeadingSpace, "HDR_LEADSPC"),
    ]

    package var description: String { flagNames(rawValue, Self.names.map { ($0.0.rawValue, $0.1) }) }
}

private func flagNames(_ value: UInt32, _ names: [(UInt32, String)]) -> String {
    var parts = names.filter { value & $0.0 != 0 }.map(\.1)
    let known = names.reduce(UInt32(0)) { $0 | $1.0 }
    if value & ~known != 0 { parts.append("0x" + String(value & ~known, radix: 16)) }
    return parts.isEmpty ? "none" : parts.joined(separator: "|")
}

/// One packet: a command or reply code and its data.
package struct MilterPacket: Equatable, Sendable {
    package var code: UInt8
    package var data: [UInt8]

    package init(code: UInt8, data: [UInt8] = []) {
        self.code = code
        self.data = data
    }

    package init(_ reply: MilterReplyCode, _ data: [UInt8] = []) { self.init(code: reply.rawValue, data: data) }
    package init(_ command: MilterCommand, _ data: [UInt8] = []) { self.init(code: command.rawValue, data: data) }

    /// Length, code, data: the bytes on the wire.
    package var encoded: [UInt8] {
        var bytes = MilterPacket.bigEndian(UInt32(data.count + 1))
        bytes.reserveCapacity(5 + data.count)
        bytes.append(code)
        bytes += data
        return bytes
    }

    package var replyCode: MilterReplyCode? { MilterReplyCode(rawValue: code) }
    package var command: MilterCommand? { MilterCommand(rawValue: code) }

    /// A string field: its UTF-8 bytes and a NUL.
    package static func string(_ text: String) -> [UInt8] { Array(text.utf8) + [0] }

    package static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
    }

    /// The next packet on `connection`, or nil when the peer closed the connection
    /// between packets.
    static func read(from connection: SocketConnection, limit: Int = MilterProtocol.maximumPacketBytes) throws -> MilterPacket? {
        var header: [UInt8] = []
        while header.count < 4 {
            let piece = try connection.readSome(limit: 4 - header.count)
            if piece.isEmpty {
                if header.isEmpty { return nil }
                throw MilterProtocolError.truncated("the connection ended inside a packet length")
            }
            header += piece
        }
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        guard length >= 1 else { throw MilterProtocolError.emptyPacket }
        guard length <= limit else { throw MilterProtocolError.packetTooLong(length, limit: limit) }
        let bytes: [UInt8]
        do {
            bytes = try connection.readExactly(length)
        } catch ConnectionError.endOfStream {
            throw MilterProtocolError.truncated("the connection ended inside a \(length)-byte packet")
        }
        return MilterPacket(code: bytes[0], data: Array(bytes[1...]))
    }
}

/// A peer that does not follow the protocol. The connection it came on is closed; the
/// other connections go on.
package enum MilterProtocolError: Error, Equatable, CustomStringConvertible {
    case emptyPacket
    case packetTooLong(Int, limit: Int)
    case truncated(String)
    case unknownCommand(UInt8)
    case malformed(MilterCommand, String)
    case unexpected(MilterCommand, String)
    case unsupportedVersion(UInt32)

    package var description: String {
        switch self {
        case .emptyPacket: "a packet without a command byte"
        case let .packetTooLong(length, limit): "a packet of \(length) bytes (at most \(limit) are accepted)"
        case let .truncated(what): what
        case let .unknownCommand(code):
            code >= 0x20 && code < 0x7f
                ? "unknown command '\(Character(Unicode.Scalar(code)))' (0x\(String(code, radix: 16)))"
                : "unknown command 0x\(String(code, radix: 16))"
        case let .malformed(command, what): "malformed \(command) packet: \(what)"
        case let .unexpected(command, what): "\(command) \(what)"
        case let .unsupportedVersion(version): "the MTA speaks milter protocol version \(version); version \(MilterProtocol.oldestVersion) to \(MilterProtocol.version) are supported"
        }
    }
}

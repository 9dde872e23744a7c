import Foundation
import SpamtuneDaemon
import SpamtuneSupport

#if canImport(Glibc)
import Glibc
#endif

/// The MTA side of the milter protocol, done the way Postfix does it: negotiate, then
/// for each message send the macros and events the filter did not turn off, wait for
/// the replies it did not turn off, and collect its end-of-body decision. Used to check
/// a running spamtuned, to measure it under load, and by the tests.
package final class MilterClient {
    package struct Negotiated: Equatable, Sendable {
        package var version: UInt32
        package var actions: MilterActions
        package var options: MilterProtocolOptions
        /// Macro lists the filter asked for, by stage (SMFIM_*: 5 is the end of the message).
        package var macroRequests: [MacroRequest] = []
    }

    package struct MacroRequest: Equatable, Sendable {
        package var stage: UInt32
        package var names: String
    }

    /// The filter's decision on one message.
    package struct Result: Sendable {
        /// Every reply to the message's events, in order.
        package var replies: [MilterPacket] = []
        package var addedHeaders: [(name: String, value: String)] = []
        /// Header changes: index (1 = first of that name), name, new value ("" deletes).
        package var changedHeaders: [(index: UInt32, name: String, value: String)] = []
        package var quarantineReason: String?
        /// A full SMTP reply (`550 5.7.1 ...`), when the filter sent one.
        package var smtpReply: String?
        /// The reply that ended the exchange: continue, accept, reject, tempfail, reply code...
        package var final: MilterReplyCode?
        /// Body chunks not sent because the filter asked to skip the rest.
        package var skippedChunks = 0

        package func header(_ name: String) -> String? {
            addedHeaders.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    private(set) package var negotiated: Negotiated?
    /// Set only once connected: an initializer that throws after every property is set
    /// still runs deinit, which would close the descriptor a second time, and by then the
    /// number may belong to another thread's file.
    private let descriptor: Int32
    private var buffer: [UInt8] = []

    /// Connects to a milter on a Unix socket.
    package init(unixSocket path: String, timeout: Double = 30) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw MilterClientError.connect(path, String(cString: strerror(errno))) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw MilterClientError.connect(path, "the path is too long for a Unix socket")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw MilterClientError.connect(path, reason)
        }
        descriptor = fd
        setTimeout(timeout)
    }

    /// Connects to a milter on TCP (IPv4 address or host name).
    package init(host: String, port: UInt16, timeout: Double = 30) throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw MilterClientError.connect("\(host):\(port)", String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw MilterClientError.connect("\(host):\(port)", String(cString: strerror(errno))) }
        guard Glibc.connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw MilterClientError.connect("\(host):\(port)", reason)
        }
        descriptor = fd
        setTimeout(timeout)
    }

    deinit { close(descriptor) }

    private func setTimeout(_ seconds: Double) { SocketIO.setTimeouts(descriptor, receive: seconds, send: seconds) }

    // MARK: Packets

    /// Sends bytes as they are (a whole packet stream, or garbage on purpose).
    package func sendRaw(_ bytes: [UInt8]) throws {
        if let code = SocketIO.sendAll(descriptor, bytes) { throw MilterClientError.io("send: \(SocketIO.describe(code))") }
    }

    package func send(_ packet: MilterPacket) throws { try sendRaw(packet.encoded) }
    package func send(_ command: MilterCommand, _ data: [UInt8] = []) throws { try send(MilterPacket(command, data)) }

    /// The next packet from the filter.
    package func readPacket() throws -> MilterPacket {
        let header = try readExactly(4)
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        guard length >= 1, length <= MilterProtocol.maximumPacketBytes else { throw MilterClientError.protocolError("reply length \(length)") }
        let bytes = try readExactly(length)
        return MilterPacket(code: bytes[0], data: Array(bytes[1...]))
    }

    /// Tells the filter nothing more will be sent (it sees the end of the stream); its
    /// replies can still be read.
    package func finishSending() { shutdown(descriptor, Int32(SHUT_WR)) }

    /// True when the filter has closed the connection (waits up to `timeout` seconds).
    package func isClosedByPeer(timeout: Double) -> Bool {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout * 1000)) == 1 else { return false }
        var byte: UInt8 = 0
        let received = recv(descriptor, &byte, 1, Int32(MSG_PEEK))
        // A peer that closes with our bytes still unread resets the connection.
        return received == 0 || (received < 0 && errno == ECONNRESET)
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while buffer.count < count {
            let received: Int
            switch chunk.withUnsafeMutableBytes({ SocketIO.receive(descriptor, into: $0) }) {
            case let .success(count): received = count
            case let .failure(error): throw error.isTimeout ? MilterClientError.timedOut : MilterClientError.io("recv: \(error.description)")
            }
            if received == 0 { throw MilterClientError.closed }
            buffer += chunk[0..<received]
        }
        let result = Array(buffer[0..<count])
        buffer.removeFirst(count)
        return result
    }

    // MARK: The conversation

    /// What Postfix offers with `milter_protocol = 6`.
    package static let postfixActions: MilterActions = [
        .addHeaders, .addRecipients, .deleteRecipients, .changeHeaders, .changeBody, .quarantine, .changeSender,
        .addRecipientsWithParameters, .setMacroList,
    ]
    package static let postfixOptions: MilterProtocolOptions = MilterProtocolOptions.allEventSkips
        .union(MilterProtocolOptions.allNoReplies).union([.skip, .rejectedRecipients, .headerLeadingSpace])

    @discardableResult
    package func negotiate(
        version: UInt32 = MilterProtocol.version, actions: MilterActions = MilterClient.postfixActions,
        options: MilterProtocolOptions = MilterClient.postfixOptions
    ) throws -> Negotiated {
        try send(
            .optionNegotiation,
            MilterPacket.bigEndian(version) + MilterPacket.bigEndian(actions.rawValue) + MilterPacket.bigEndian(options.rawValue))
        let reply = try readPacket()
        guard reply.replyCode == .optionNegotiation, reply.data.count >= 12 else {
            throw MilterClientError.protocolError("expected an option negotiation reply, got code 0x\(String(reply.code, radix: 16))")
        }
        func word(_ offset: Int) -> UInt32 {
            reply.data[offset..<offset + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        }
        var answer = Negotiated(version: word(0), actions: MilterActions(rawValue: word(4)), options: MilterProtocolOptions(rawValue: word(8)))
        var offset = 12
        while offset + 4 < reply.data.count {
            let stage = word(offset)
            guard let end = reply.data[(offset + 4)...].firstIndex(of: 0) else {
                throw MilterClientError.protocolError("a macro list without its NUL byte")
            }
            answer.macroRequests.append(MacroRequest(stage: stage, names: String(decoding: reply.data[(offset + 4)..<end], as: UTF8.self)))
            offset = end + 1
        }
        negotiated = answer
        return answer
    }

    /// One SMTP session's connect and HELO, as Postfix reports them.
    package func connect(hostname: String = "client.example.test", address: String = "127.0.0.1", port: UInt16 = 40000, helo: String = "client.example.test") throws -> Result? {
        var result = Result()
        if try event(.connect, MilterPacket.string(hostname) + [MilterEvent.AddressFamily.inet.rawValue] + [UInt8(port >> 8), UInt8(port & 0xff)] + MilterPacket.string(address), skip: .noConnect, noReply: .noConnectReply, macros: [("j", "mx.example.test"), ("{daemon_name}", "smtpd"), ("{client_addr}", address), ("{client_name}", hostname)], into: &result) { return result }
        if try event(.helo, MilterPacket.string(helo), skip: .noHelo, noReply: .noHeloReply, macros: [], into: &result) { return result }
        return nil
    }

    /// Sends one message (envelope, header fields, body in chunks, end of body) and
    /// returns the filter's decision. The header values are sent as Postfix sends them:
    /// without the space after the colon, folded lines joined by LF; the addresses'
    /// macros without their angle brackets. `authenticatedAs`: the SASL login.
    package func check(
        headers: [(name: String, value: String)], body: [UInt8], queueID: String = "4ABCDEF123",
        from: String = "<sender@example.test>", to: [String] = ["<user@example.test>"], authenticatedAs: String? = nil,
        chunkSize: Int = 65535
    ) throws -> Result {
        var result = Result()
        func unbracketed(_ address: String) -> String { address.trimmingCharacters(in: CharacterSet(charactersIn: "<>")) }
        var mailMacros = [("i", queueID), ("{mail_addr}", unbracketed(from))]
        if let authenticatedAs { mailMacros.append(("{auth_authen}", authenticatedAs)) }
        if try event(.mail, MilterPacket.string(from) + MilterPacket.string("SIZE=\(body.count)"), skip: .noMail, noReply: .noMailReply, macros: mailMacros, into: &result) { return result }
        for recipient in to {
            if try event(.recipient, MilterPacket.string(recipient), skip: .noRecipient, noReply: .noRecipientReply, macros: [("i", queueID), ("{rcpt_addr}", unbracketed(recipient))], into: &result) { return result }
        }
        if try event(.data, [], skip: .noData, noReply: .noDataReply, macros: [("i", queueID)], into: &result) { return result }
        for header in headers {
            if try event(.header, MilterPacket.string(header.name) + MilterPacket.string(header.value), skip: .noHeaders, noReply: .noHeaderReply, macros: [("i", queueID)], into: &result) { return result }
        }
        if try event(.endOfHeaders, [], skip: .noEndOfHeaders, noReply: .noEndOfHeadersReply, macros: [("i", queueID)], into: &result) { return result }
        var offset = 0
        while offset < body.count {
            let end = min(body.count, offset + max(1, chunkSize))
            if result.skippedChunks > 0 {
                result.skippedChunks += 1
            } else if try event(.body, Array(body[offset..<end]), skip: .noBody, noReply: .noBodyReply, macros: [("i", queueID)], into: &result) {
                return result
            }
            offset = end
        }
        try send(.macros, [MilterCommand.endOfBody.rawValue] + MilterPacket.string("i") + MilterPacket.string(queueID))
        try send(.endOfBody)
        try collectReplies(into: &result)
        return result
    }

    /// The same, for a raw RFC 5322 message.
    package func check(
        message: [UInt8], queueID: String = "4ABCDEF123", from: String = "<sender@example.test>", to: [String] = ["<user@example.test>"],
        authenticatedAs: String? = nil, chunkSize: Int = 65535
    ) throws -> Result {
        let (headers, body) = Self.split(message)
        return try check(headers: headers, body: body, queueID: queueID, from: from, to: to, authenticatedAs: authenticatedAs, chunkSize: chunkSize)
    }

    package func abort() throws { try send(.abort) }
    package func quit() throws { try send(.quit) }
    package func quitNewConnection() throws { try send(.quitNewConnection) }

    /// Sends the macros and the event unless the filter turned it off; waits for the
    /// reply unless the filter turned that off. True when the reply ends the message.
    private func event(
        _ command: MilterCommand, _ data: [UInt8], skip: MilterProtocolOptions, noReply: MilterProtocolOptions,
        macros: [(String, String)], into result: inout Result
    ) throws -> Bool {
        guard let negotiated else { throw MilterClientError.protocolError("negotiate first") }
        if !macros.isEmpty {
            try send(.macros, [command.rawValue] + macros.flatMap { MilterPacket.string($0.0) + MilterPacket.string($0.1) })
        }
        if negotiated.options.contains(skip) { return false }
        try send(command, data)
        if negotiated.options.contains(noReply) { return false }
        while true {
            let reply = try readPacket()
            result.replies.append(reply)
            switch reply.replyCode {
            case .progress: continue
            case .continue: return false
            case .skip:
                if command == .body { result.skippedChunks = 1 }
                return false
            default:
                try record(reply, into: &result)
                return true
            }
        }
    }

    /// The end-of-body replies: modifications, then one final decision.
    private func collectReplies(into result: inout Result) throws {
        while true {
            let reply = try readPacket()
            result.replies.append(reply)
            if try record(reply, into: &result) { return }
        }
    }

    /// Notes one reply; true when it is a final decision.
    @discardableResult
    private func record(_ reply: MilterPacket, into result: inout Result) throws -> Bool {
        var fields = reply.data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        switch reply.replyCode {
        case .addHeader:
            guard fields.count >= 2 else { throw MilterClientError.protocolError("short add-header reply") }
            result.addedHeaders.append((fields[0], fields[1]))
            return false
        case .changeHeader:
            guard reply.data.count >= 6 else { throw MilterClientError.protocolError("short change-header reply") }
            let index = reply.data[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            fields = reply.data[4...].split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            guard fields.count >= 2 else { throw MilterClientError.protocolError("short change-header reply") }
            result.changedHeaders.append((index, fields[0], fields[1]))
            return false
        case .quarantine:
            result.quarantineReason = fields.first ?? ""
            return false
        case .progress:
            return false
        case .replyCode:
            result.smtpReply = fields.first ?? ""
            result.final = .replyCode
            return true
        case let code?:
            result.final = code
            return true
        case nil:
            throw MilterClientError.protocolError("unknown reply code 0x\(String(reply.code, radix: 16))")
        }
    }

    /// Header fields (name, value without the space after the colon, folded lines joined
    /// by LF) and body (CR LF line ends) of a raw message, as an MTA hands them over.
    package static func split(_ message: [UInt8]) -> (headers: [(name: String, value: String)], body: [UInt8]) {
        var lines: [[UInt8]] = []
        var index = 0
        var bodyStart = message.count
        while index < message.count {
            var end = message[index...].firstIndex(of: UInt8(ascii: "\n")) ?? message.count
            let next = min(end + 1, message.count)
            if end > index && message[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            if end == index {
                bodyStart = next
                break
            }
            lines.append(Array(message[index..<end]))
            index = next
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            if let first = line.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t"), !headers.isEmpty {
                headers[headers.count - 1].value += "\n" + String(decoding: line, as: UTF8.self)
            } else if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
                var value = line[(colon + 1)...]
                if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
                headers.append((String(decoding: line[..<colon], as: UTF8.self), String(decoding: value, as: UTF8.self)))
            }
        }
        // Body lines end in CR LF on the wire.
        var body: [UInt8] = []
        body.reserveCapacity(message.count - bodyStart + 64)
        var previous: UInt8 = 0
        for byte in message[bodyStart...] {
            if byte == UInt8(ascii: "\n") && previous != UInt8(ascii: "\r") { body.append(UInt8(ascii: "\r")) }
            body.append(byte)
            previous = byte
        }
        return (headers, body)
    }
}

package enum MilterClientError: Error, CustomStringConvertible {
    case connect(String, String)
    case io(String)
    case closed
    case timedOut
    case protocolError(String)

    package var description: String {
        switch self {
        case let .connect(address, reason): "cannot connect to the milter at \(address): \(reason)"
        case let .io(reason): "milter connection: \(reason)"
        case .closed: "the milter closed the connection"
        case .timedOut: "the milter did not answer in time"
        case let .protocolError(what): "milter protocol: \(what)"
        }
    }
}

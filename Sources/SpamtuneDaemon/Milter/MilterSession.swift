import Synchronization

/// One MTA connection's milter conversation: option negotiation, then any number of
/// SMTP sessions (each ended by quit-new-connection) with any number of messages
/// (each ended by end of body or abort). Commands go in, replies come out; the socket
/// is the server's business.
// @unchecked Sendable: only its connection's thread drives it; other threads read `isInMessage`, an atomic.
final class MilterSession: @unchecked Sendable {
    /// What spamtuned asks of the MTA, before intersecting with what the MTA offers.
    static let wantedActions: MilterActions = [.addHeaders, .changeHeaders, .quarantine, .setMacroList]
    /// The macros spamtuned reads, by stage (SMFIM_*), for the policy and the log line:
    /// the client at connect, the SASL login and the sender at MAIL, each recipient at
    /// RCPT, the queue ID at the end of the message (where every MTA knows it). Postfix
    /// sends only these once asked; an MTA that cannot be asked sends its defaults, and
    /// the connect, MAIL and RCPT events carry the client and the addresses anyway.
    static let macroRequests: [(stage: UInt32, names: String)] = [
        (0, "{client_addr} {client_name}"), (2, "{auth_authen} {mail_addr}"), (3, "{rcpt_addr}"), (5, "i"),
    ]
    /// Scoring needs the envelope (connect, MAIL, RCPT: their macros come with them), the
    /// header and the body; and it has nothing to say before the end of the body, so
    /// every reply that can be left out is.
    static let wantedOptions: MilterProtocolOptions =
        MilterProtocolOptions([.noHelo, .noUnknown, .noData, .noEndOfHeaders])
        .union(MilterProtocolOptions.allNoReplies)
    /// A macro value longer than this is cut (addresses are at most 320 bytes).
    static let macroValueLimit = 512

    struct Negotiated: Equatable {
        var version: UInt32
        var actions: MilterActions
        var options: MilterProtocolOptions
    }

    /// The replies to one command, in order, and whether the connection ends with it.
    struct Response {
        var replies: [MilterPacket] = []
        var endsConnection = false
    }

    let milterPolicy: MilterPolicy
    let policy: Policy
    let log: Logger
    let peer: String
    private let maxMessageBytes: Int
    private(set) var negotiated: Negotiated?
    private var message: MilterMessage
    private var queueID: [UInt8]?
    /// Macro values received and not yet taken by their event.
    private var macros: [String: String] = [:]
    /// The SMTP client of this session (from connect).
    private var clientAddress: String?
    private var clientName: String?
    /// The envelope of the message under way (from MAIL and RCPT).
    private var sender: String?
    private var authenticatedUser: String?
    private var recipients: [String] = []
    private var skipSent = false
    private let inMessage = Atomic<Bool>(false)
    private(set) var messagesScored = 0

    init(milterPolicy: MilterPolicy, maxMessageBytes: Int, policy: Policy, log: Logger, peer: String) {
        self.milterPolicy = milterPolicy
        self.maxMessageBytes = maxMessageBytes
        self.policy = policy
        self.log = log
        self.peer = peer
        message = MilterMessage(limit: maxMessageBytes, watching: milterPolicy.headerNames)
    }

    /// True between the first command of a message and its end of body or abort; read
    /// from other threads when the daemon stops (idle connections are closed at once).
    var isInMessage: Bool { inMessage.load(ordering: .acquiring) }

    /// What to answer the MTA's offer: its version if not newer than ours, and the
    /// actions and options we want that it offers.
    static func negotiate(version: UInt32, actions: MilterActions, options: MilterProtocolOptions) throws -> Negotiated {
        guard version >= MilterProtocol.oldestVersion else { throw MilterProtocolError.unsupportedVersion(version) }
        var wanted = wantedOptions
        // Skipping the rest of a long body only matters when body chunks are answered.
        if !options.contains(.noBodyReply) { wanted.insert(.skip) }
        return Negotiated(
            version: min(version, MilterProtocol.version), actions: wantedActions.intersection(actions),
            options: wanted.intersection(options))
    }

    func handle(_ packet: MilterPacket) throws -> Response {
        try handle(MilterEvent(packet: packet))
    }

    func handle(_ event: MilterEvent) throws -> Response {
        if case let .optionNegotiation(version, actions, options) = event {
            resetMessage()
            resetSession()
            let answer = try Self.negotiate(version: version, actions: actions, options: options)
            negotiated = answer
            log.debug("milter \(peer): MTA version \(version) actions \(actions) options \(options); using version \(answer.version) actions \(answer.actions) options \(answer.options)")
            var data = MilterPacket.bigEndian(answer.version) + MilterPacket.bigEndian(answer.actions.rawValue)
                + MilterPacket.bigEndian(answer.options.rawValue)
            if answer.actions.contains(.setMacroList) {
                for request in Self.macroRequests {
                    data += MilterPacket.bigEndian(request.stage) + MilterPacket.string(request.names)
                }
            }
            return Response(replies: [MilterPacket(MilterReplyCode.optionNegotiation, data)])
        }
        guard let negotiated else { throw MilterProtocolError.unexpected(event.command, "before option negotiation") }
        let options = negotiated.options

        func reply(unless noReply: MilterProtocolOptions) -> Response {
            options.contains(noReply) ? Response() : Response(replies: [MilterPacket(.continue)])
        }

        switch event {
        case .optionNegotiation:
            preconditionFailure("handled above")
        case let .macros(_, pairs):
            for (name, value) in pairs {
                if name == Array("i".utf8) || name == Array("{i}".utf8) {
                    if !value.isEmpty { queueID = Array(value.prefix(64)) }
                } else if name.count <= 64, macros.count < 64 || macros[String(decoding: name, as: UTF8.self)] != nil {
                    macros[String(decoding: name, as: UTF8.self)] = String(decoding: value.prefix(Self.macroValueLimit), as: UTF8.self)
                }
            }
            return Response()
        case let .connect(hostname, _, _, address):
            // A new SMTP session: its macros came just before it; nothing older holds.
            let macroAddress = take("{client_addr}"), macroName = take("{client_name}")
            resetSession()
            clientAddress = macroAddress ?? address.map { String(decoding: $0.prefix(Self.macroValueLimit), as: UTF8.self) }
            clientName = macroName ?? String(decoding: hostname.prefix(Self.macroValueLimit), as: UTF8.self)
            if clientAddress?.isEmpty == true { clientAddress = nil }
            if clientName?.isEmpty == true { clientName = nil }
            return reply(unless: .noConnectReply)
        case .helo: return reply(unless: .noHeloReply)
        case .unknown: return reply(unless: .noUnknownReply)
        case let .mail(arguments):
            // A new envelope: whatever was under way without an end is gone.
            let keptID = queueID
            resetMessage()
            queueID = keptID
            sender = take("{mail_addr}").map(Self.unbracketed) ?? arguments.first.flatMap(Self.address)
            authenticatedUser = take("{auth_authen}").flatMap { $0.isEmpty ? nil : $0 }
            inMessage.store(true, ordering: .releasing)
            return reply(unless: .noMailReply)
        case let .recipient(arguments):
            if let recipient = take("{rcpt_addr}").map(Self.unbracketed) ?? arguments.first.flatMap(Self.address), recipients.count < 1000 {
                recipients.append(recipient)
            }
            inMessage.store(true, ordering: .releasing)
            return reply(unless: .noRecipientReply)
        case .data:
            inMessage.store(true, ordering: .releasing)
            return reply(unless: .noDataReply)
        case let .header(name, value):
            inMessage.store(true, ordering: .releasing)
            message.addHeader(name: name, value: value)
            return reply(unless: .noHeaderReply)
        case .endOfHeaders:
            inMessage.store(true, ordering: .releasing)
            message.endHeaders()
            return reply(unless: .noEndOfHeadersReply)
        case let .body(chunk):
            inMessage.store(true, ordering: .releasing)
            message.addBody(chunk)
            if options.contains(.noBodyReply) { return Response() }
            if message.isFull && options.contains(.skip) && !skipSent {
                skipSent = true
                return Response(replies: [MilterPacket(.skip)])
            }
            return Response(replies: [MilterPacket(.continue)])
        case let .endOfBody(finalChunk):
            if !finalChunk.isEmpty { message.addBody(finalChunk) }
            message.endHeaders()
            let replies = finish(negotiated)
            resetMessage()
            return Response(replies: replies)
        case .abort:
            resetMessage()
            return Response()
        case .quitNewConnection:
            resetMessage()
            resetSession()
            self.negotiated = nil
            return Response()
        case .quit:
            resetMessage()
            return Response(endsConnection: true)
        }
    }

    /// The policy's or the model's verdict on the message, turned into the end-of-body
    /// replies; the message's log line says what was done.
    private func finish(_ negotiated: Negotiated) -> [MilterPacket] {
        var envelope = MessageEnvelope(channel: .milter, identifier: queueID.map { String(decoding: $0, as: UTF8.self) } ?? "")
        envelope.clientAddress = clientAddress
        envelope.clientName = clientName
        envelope.authenticatedUser = authenticatedUser
        envelope.sender = sender
        envelope.recipients = recipients
        let identifier = envelope.identifier
        let incoming = IncomingMessage(message.bytes, receivedBytes: message.receivedBytes, maxMessageBytes: maxMessageBytes, envelope: envelope)
        let verdict = policy.verdict(on: incoming)
        messagesScored += 1
        let decision = milterPolicy.decide(verdict)
        var replies: [MilterPacket] = []
        var action = MessageAction.accept
        switch decision.action {
        case let .reject(reply), let .temporaryFailure(reply):
            log.debug("milter id=\(identifier): \(reply)")
            if case .reject = decision.action { action = .reject } else { action = .tempfail }
            log.message(envelope, verdict: verdict, action: action, bytes: incoming.scoredBytes)
            return [MilterPacket(.replyCode, MilterPacket.string(reply))]
        case .accept, .quarantine:
            break
        }
        if negotiated.actions.contains(.changeHeaders) {
            var removed = Set<String>()
            for name in milterPolicy.headerNames where removed.insert(name.lowercased()).inserted {
                let count = message.occurrences(of: name)
                guard count > 0 else { continue }
                log.debug("milter id=\(identifier): removing \(count) \(name) header(s) the message arrived with")
                // From the last copy to the first, so that no deletion renumbers the next.
                for index in stride(from: count, through: 1, by: -1) {
                    replies.append(MilterPacket(.changeHeader, MilterPacket.bigEndian(UInt32(index)) + MilterPacket.string(name) + [0]))
                }
            }
        }
        if negotiated.actions.contains(.addHeaders) {
            for header in decision.headers {
                replies.append(MilterPacket(.addHeader, MilterPacket.string(header.name) + MilterPacket.string(header.value)))
            }
            if !decision.headers.isEmpty { action = .headers }
        } else if !decision.headers.isEmpty {
            log.warning("milter id=\(identifier): the MTA does not let filters add headers; delivering without the verdict headers")
        }
        if case let .quarantine(reason) = decision.action {
            if negotiated.actions.contains(.quarantine) {
                log.debug("milter id=\(identifier): quarantined: \(reason)")
                replies.append(MilterPacket(.quarantine, MilterPacket.string(reason)))
                action = .hold
            } else {
                log.warning("milter id=\(identifier): the MTA does not let filters quarantine; delivering with headers")
            }
        }
        replies.append(MilterPacket(.continue))
        log.message(envelope, verdict: verdict, action: action, bytes: incoming.scoredBytes)
        return replies
    }

    /// A macro's value, once: it belongs to the event it came with.
    private func take(_ name: String) -> String? {
        macros.removeValue(forKey: name)
    }

    /// The address of a MAIL FROM or RCPT TO argument (`<alice@example.org>`; `<>`: "").
    private static func address(_ argument: [UInt8]) -> String? {
        MessageEnvelope.address(in: String(decoding: argument.prefix(Self.macroValueLimit), as: UTF8.self))
    }

    /// `{mail_addr}` comes without brackets from Postfix, with them from some MTAs.
    private static func unbracketed(_ value: String) -> String {
        value.hasPrefix("<") ? MessageEnvelope.address(in: value) ?? "" : value
    }

    private func resetSession() {
        clientAddress = nil
        clientName = nil
        macros = [:]
    }

    private func resetMessage() {
        message = MilterMessage(limit: maxMessageBytes, watching: milterPolicy.headerNames)
        queueID = nil
        sender = nil
        authenticatedUser = nil
        recipients = []
        skipSent = false
        inMessage.store(false, ordering: .releasing)
    }
}

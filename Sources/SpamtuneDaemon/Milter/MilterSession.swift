import Synchronization

/// One MTA connection's milter conversation: option negotiation, then any number of
/// SMTP sessions (each ended by quit-new-connection) with any number of messages
/// (each ended by end of body or abort). Commands go in, replies come out; the socket
/// is the server's business.
final class MilterSession: @unchecked Sendable {
    /// What spamtuned asks of the MTA, before intersecting with what the MTA offers.
    static let wantedActions: MilterActions = [.addHeaders, .changeHeaders, .quarantine, .setMacroList]
    /// The one macro spamtuned reads, the queue ID, asked for at the end of the message
    /// (SMFIM_EOM), where every MTA knows it; no other macros are wanted anywhere.
    static let macroRequest: (stage: UInt32, names: String) = (5, "i")
    /// Scoring needs the header and the body and nothing else; and it has nothing to
    /// say before the end of the body, so every reply that can be left out is.
    static let wantedOptions: MilterProtocolOptions =
        MilterProtocolOptions([.noConnect, .noHelo, .noMail, .noRecipient, .noUnknown, .noData, .noEndOfHeaders])
        .union(MilterProtocolOptions.allNoReplies)

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

    let policy: MilterPolicy
    let service: ScoringService
    let log: Logger
    let peer: String
    private let maxMessageBytes: Int
    private(set) var negotiated: Negotiated?
    private var message: MilterMessage
    private var queueID: [UInt8]?
    private var skipSent = false
    private let inMessage = Atomic<Bool>(false)
    private(set) var messagesScored = 0

    init(policy: MilterPolicy, maxMessageBytes: Int, service: ScoringService, log: Logger, peer: String) {
        self.policy = policy
        self.maxMessageBytes = maxMessageBytes
        self.service = service
        self.log = log
        self.peer = peer
        message = MilterMessage(limit: maxMessageBytes, watching: policy.headerNames)
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
            let answer = try Self.negotiate(version: version, actions: actions, options: options)
            negotiated = answer
            log.debug("milter \(peer): MTA version \(version) actions \(actions) options \(options); using version \(answer.version) actions \(answer.actions) options \(answer.options)")
            var data = MilterPacket.bigEndian(answer.version) + MilterPacket.bigEndian(answer.actions.rawValue)
                + MilterPacket.bigEndian(answer.options.rawValue)
            if answer.actions.contains(.setMacroList) {
                data += MilterPacket.bigEndian(Self.macroRequest.stage) + MilterPacket.string(Self.macroRequest.names)
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
            for (name, value) in pairs where name == Array("i".utf8) || name == Array("{i}".utf8) {
                if !value.isEmpty { queueID = Array(value.prefix(64)) }
            }
            return Response()
        case .connect: return reply(unless: .noConnectReply)
        case .helo: return reply(unless: .noHeloReply)
        case .unknown: return reply(unless: .noUnknownReply)
        case .mail:
            // A new envelope: whatever was under way without an end is gone.
            let keptID = queueID
            resetMessage()
            queueID = keptID
            inMessage.store(true, ordering: .releasing)
            return reply(unless: .noMailReply)
        case .recipient:
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
            self.negotiated = nil
            return Response()
        case .quit:
            resetMessage()
            return Response(endsConnection: true)
        }
    }

    /// Scores the message and turns the verdict into the end-of-body replies.
    private func finish(_ negotiated: Negotiated) -> [MilterPacket] {
        let identifier = queueID.map { String(decoding: $0, as: UTF8.self) } ?? ""
        let verdict = service.score(message.bytes, channel: .milter, identifier: identifier)
        messagesScored += 1
        let decision = policy.decide(verdict)
        var replies: [MilterPacket] = []
        switch decision.action {
        case let .reject(reply), let .temporaryFailure(reply):
            log.debug("milter id=\(identifier): \(reply)")
            return [MilterPacket(.replyCode, MilterPacket.string(reply))]
        case .accept, .quarantine:
            break
        }
        if negotiated.actions.contains(.changeHeaders) {
            var removed = Set<String>()
            for name in policy.headerNames where removed.insert(name.lowercased()).inserted {
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
        } else if !decision.headers.isEmpty {
            log.warning("milter id=\(identifier): the MTA does not let filters add headers; delivering without the verdict headers")
        }
        if case let .quarantine(reason) = decision.action {
            if negotiated.actions.contains(.quarantine) {
                log.debug("milter id=\(identifier): quarantined: \(reason)")
                replies.append(MilterPacket(.quarantine, MilterPacket.string(reason)))
            } else {
                log.warning("milter id=\(identifier): the MTA does not let filters quarantine; delivering with headers")
            }
        }
        replies.append(MilterPacket(.continue))
        return replies
    }

    private func resetMessage() {
        message = MilterMessage(limit: maxMessageBytes, watching: policy.headerNames)
        queueID = nil
        skipSent = false
        inMessage.store(false, ordering: .releasing)
    }
}

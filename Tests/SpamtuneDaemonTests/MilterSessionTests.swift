import Foundation
import SpamtuneConfiguration
@testable import SpamtuneTestClients
import SpamtuneTestSupport
import Testing

@testable import SpamtuneDaemon

/// The milter server in this process, spoken to over its Unix socket by a client that
/// behaves like Postfix (or, with other offers, like older MTAs): the real daemon, the
/// real scoring service, the tiny real checkpoint.
@Suite struct MilterSessionTests {
    func text(_ string: String) -> [UInt8] { Array(string.utf8) + [0] }

    @Test func hamGetsTheVerdictHeadersAndTheQueueIDIsLogged() throws {
        let fixture = try MilterFixture(threshold: 0.99)
        defer { fixture.stop() }
        let client = try fixture.postfixClient()
        #expect(client.negotiated?.version == 6)
        // The client, the login, the envelope, and the queue ID at the end of the message.
        #expect(
            client.negotiated?.macroRequests == [
                MilterClient.MacroRequest(stage: 0, names: "{client_addr} {client_name}"),
                MilterClient.MacroRequest(stage: 2, names: "{auth_authen} {mail_addr}"),
                MilterClient.MacroRequest(stage: 3, names: "{rcpt_addr}"), MilterClient.MacroRequest(stage: 5, names: "i"),
            ])
        let result = try client.check(message: milterTestMessage(subject: "minutes", body: milterHamBody), queueID: "4HAM0001")
        #expect(result.final == .continue)
        #expect(result.header("X-Spam-Flag") == "NO")
        let score = try #require(result.header("X-Spam-Score"))
        #expect(Double(score) != nil)
        let status = try #require(result.header("X-Spam-Status"))
        #expect(status.hasPrefix("No, score=\(score) required=9.9 tests=SPAMTUNE model="))
        #expect(result.changedHeaders.isEmpty && result.quarantineReason == nil && result.smtpReply == nil)
        // With Postfix's offer nothing but the end of body is answered.
        #expect(result.replies.count == 4)
        let line = try #require(fixture.logLines.first { $0.hasPrefix("milter id=4HAM0001 ") })
        #expect(line.contains("verdict=ham"))
    }

    @Test func spamGetsFlaggedWhenOnlyHeadersApply() throws {
        let fixture = try MilterFixture(threshold: 0.01)
        defer { fixture.stop() }
        let client = try fixture.postfixClient()
        let result = try client.check(message: milterTestMessage(subject: "WIN", body: milterSpamBody), queueID: "4SPAM001")
        #expect(result.final == .continue)
        #expect(result.header("X-Spam-Flag") == "YES")
        let status = try #require(result.header("X-Spam-Status"))
        #expect(status.hasPrefix("Yes, score=") && status.contains(" required=0.1 tests=SPAMTUNE model="))
        #expect(fixture.logLines.contains { $0.hasPrefix("milter id=4SPAM001 verdict=spam") })
    }

    @Test func spamAtTheRejectThresholdIsRefusedWith550() throws {
        let fixture = try MilterFixture(threshold: 0.01) { $0.rejectThreshold = 0 }
        defer { fixture.stop() }
        let client = try fixture.postfixClient()
        let result = try client.check(message: milterTestMessage(subject: "WIN", body: milterSpamBody))
        #expect(result.final == .replyCode)
        let reply = try #require(result.smtpReply)
        #expect(reply.hasPrefix("550 5.7.1 Message rejected as spam (score "))
        #expect(reply.hasSuffix(", required 0.1)"))
        #expect(result.addedHeaders.isEmpty)
    }

    @Test func hamIsNeverRejectedWhateverTheRejectThreshold() throws {
        let fixture = try MilterFixture(threshold: 0.99) {
            $0.rejectThreshold = 0
            $0.quarantineThreshold = 0
        }
        defer { fixture.stop() }
        let result = try fixture.postfixClient().check(message: milterTestMessage(subject: "minutes", body: milterHamBody))
        #expect(result.final == .continue && result.smtpReply == nil && result.quarantineReason == nil)
        #expect(result.header("X-Spam-Flag") == "NO")
    }

    @Test func spamAtTheQuarantineThresholdIsHeldWithItsHeaders() throws {
        let fixture = try MilterFixture(threshold: 0.01) { $0.quarantineThreshold = 0 }
        defer { fixture.stop() }
        let result = try fixture.postfixClient().check(message: milterTestMessage(subject: "WIN", body: milterSpamBody))
        #expect(result.final == .continue)
        let reason = try #require(result.quarantineReason)
        #expect(reason.hasPrefix("spamtune: spam score ") && reason.hasSuffix(", required 0.1"))
        #expect(result.header("X-Spam-Flag") == "YES")
        // The quarantine request comes after the headers, before the final decision.
        #expect(result.replies.map(\.replyCode) == [.addHeader, .addHeader, .addHeader, .quarantine, .continue])
    }

    @Test func forgedVerdictHeadersAreRemovedBeforeTheRealOnesAreAdded() throws {
        let fixture = try MilterFixture(threshold: 0.01)
        defer { fixture.stop() }
        let message = milterTestMessage(
            subject: "WIN", body: milterSpamBody,
            extraHeaders: [("X-Spam-Flag", "NO"), ("x-spam-status", "No, score=-100"), ("X-SPAM-FLAG", "NO")])
        let result = try fixture.postfixClient().check(message: message)
        #expect(result.changedHeaders.map(\.index) == [2, 1, 1])
        #expect(result.changedHeaders.map(\.name) == ["X-Spam-Flag", "X-Spam-Flag", "X-Spam-Status"])
        #expect(result.changedHeaders.allSatisfy { $0.value.isEmpty })
        #expect(result.replies.map(\.replyCode) == [.changeHeader, .changeHeader, .changeHeader, .addHeader, .addHeader, .addHeader, .continue])
        #expect(result.header("X-Spam-Flag") == "YES")
    }

    @Test func headerNamesComeFromTheConfiguration() throws {
        let fixture = try MilterFixture(threshold: 0.01) {
            $0.flagHeader = "X-Junk"
            $0.scoreHeader = "X-Junk-Score"
            $0.statusHeader = "X-Junk-Report"
            $0.scoreScale = 100
        }
        defer { fixture.stop() }
        let result = try fixture.postfixClient().check(message: milterTestMessage(subject: "WIN", body: milterSpamBody, extraHeaders: [("X-Junk", "NO")]))
        #expect(result.addedHeaders.map(\.name) == ["X-Junk", "X-Junk-Score", "X-Junk-Report"])
        #expect(result.header("X-Junk-Report")?.contains("required=1.0 ") == true)
        #expect(result.changedHeaders.map(\.name) == ["X-Junk"])
    }

    @Test func everyCommandIsAnsweredWhenTheMTAOffersNoShortcuts() throws {
        let fixture = try MilterFixture(threshold: 0.99)
        defer { fixture.stop() }
        let client = try fixture.client()
        let negotiated = try client.negotiate(version: 2, actions: [.addHeaders], options: [])
        #expect(negotiated == MilterClient.Negotiated(version: 2, actions: [.addHeaders], options: []))
        #expect(negotiated.macroRequests.isEmpty)
        #expect(try client.connect() == nil)
        try client.send(.unknown, text("XYZZY"))
        #expect(try client.readPacket() == MilterPacket(MilterReplyCode.continue))
        let (headers, body) = MilterClient.split(milterTestMessage(subject: "minutes", body: milterHamBody))
        let result = try client.check(headers: headers, body: body, to: ["<a@example.test>", "<b@example.test>"], chunkSize: 100)
        let chunks = (body.count + 99) / 100
        // mail, 2 × rcpt, data, each header, end of headers and each chunk get "continue".
        let continues = 1 + 2 + 1 + headers.count + 1 + chunks
        #expect(result.replies.prefix(continues).allSatisfy { $0.replyCode == .continue })
        #expect(result.replies.dropFirst(continues).map(\.replyCode) == [.addHeader, .addHeader, .addHeader, .continue])
        // Without CHGHDRS offered, nothing is asked to be removed.
        #expect(result.changedHeaders.isEmpty)
    }

    @Test func aMTAThatAllowsNoModificationsStillGetsRejections() throws {
        let fixture = try MilterFixture(threshold: 0.01) {
            $0.quarantineThreshold = 0.001
        }
        defer { fixture.stop() }
        let client = try fixture.client()
        try client.negotiate(version: 6, actions: [], options: MilterClient.postfixOptions)
        let result = try client.check(message: milterTestMessage(subject: "WIN", body: milterSpamBody, extraHeaders: [("X-Spam-Flag", "NO")]))
        #expect(result.replies.map(\.replyCode) == [.continue])
        #expect(fixture.logLines.contains { $0.contains("does not let filters add headers") })
        #expect(fixture.logLines.contains { $0.contains("does not let filters quarantine") })
    }

    @Test func aBodyInManyChunksIsScoredAsTheWholeMessage() throws {
        let fixture = try MilterFixture(threshold: 0.5) { $0.cacheEntries = 0 }
        defer { fixture.stop() }
        let message = milterTestMessage(subject: "Quarterly report", body: String(repeating: milterHamBody + "\n", count: 20))
        let direct = fixture.daemon.service.score(message, channel: .control)
        let client = try fixture.postfixClient()
        for chunk in [1, 7, 1000, 65535] {
            let id = "4CHUNK\(chunk)"
            let result = try client.check(message: message, queueID: id, chunkSize: chunk)
            #expect(result.final == .continue)
            let line = try #require(fixture.logLines.first { $0.hasPrefix("milter id=\(id) ") })
            // The same text reaches the model: same token count, same score.
            #expect(line.contains(" tokens=\(direct.tokens) bytes=\(message.count) "))
            #expect(line.contains(String(format: " score=%.2f/", direct.score(scale: 10))))
        }
    }

    @Test func aMessageAboveTheSizeLimitIsScoredOnItsFirstPart() throws {
        let limit = 4096
        let fixture = try MilterFixture(threshold: 0.5) {
            $0.maxMessageBytes = limit
            $0.cacheEntries = 0
        }
        defer { fixture.stop() }
        var generator = SeededGenerator(seed: 6)
        let words = ["report", "figures", "meeting", "budget", "lunch", "travel", "invoice", "draft"]
        let body = (0..<60_000).map { _ in words.randomElement(using: &generator)! }.joined(separator: " ")
        let message = milterTestMessage(subject: "big", body: body)
        #expect(message.count > 300_000)
        let firstPart = Array(message.prefix(limit))
        let direct = fixture.daemon.service.score(firstPart, channel: .control)

        // Postfix: no replies to body chunks; the rest of the body is read and dropped.
        let postfix = try fixture.postfixClient()
        let result = try postfix.check(message: message, queueID: "4BIG0001")
        #expect(result.final == .continue && result.skippedChunks == 0)
        let line = try #require(fixture.logLines.first { $0.hasPrefix("milter id=4BIG0001 ") })
        #expect(line.contains(" tokens=\(direct.tokens) bytes=\(limit) "))

        // An MTA that answers body chunks but understands "skip" stops sending once the
        // first part is in.
        let skipping = try fixture.client()
        let negotiated = try skipping.negotiate(version: 6, actions: [.addHeaders], options: [.skip, .noHeaderReply])
        #expect(negotiated.options == [.skip, .noHeaderReply])
        let skipped = try skipping.check(message: message, queueID: "4BIG0002", chunkSize: 1000)
        #expect(skipped.final == .continue)
        #expect(skipped.skippedChunks > 200)
        #expect(skipped.replies.filter { $0.replyCode == .skip }.count == 1)
        let skippedLine = try #require(fixture.logLines.first { $0.hasPrefix("milter id=4BIG0002 ") })
        #expect(skippedLine.contains(" tokens=\(direct.tokens) bytes=\(limit) "))
    }

    @Test func abortDropsAMessageAndTheSessionGoesOnWithTheNext() throws {
        let fixture = try MilterFixture(threshold: 0.99)
        defer { fixture.stop() }
        let client = try fixture.postfixClient()
        try client.send(.macros, [UInt8(ascii: "M")] + text("i") + text("4ABORTED"))
        try client.send(.header, text("Subject") + text("half a message"))
        try client.send(.body, Array("and half a body".utf8))
        try client.abort()
        for id in ["4NEXT0001", "4NEXT0002", "4NEXT0003"] {
            let result = try client.check(message: milterTestMessage(subject: id, body: milterHamBody), queueID: id)
            #expect(result.header("X-Spam-Flag") == "NO")
        }
        let lines = fixture.logLines.filter { $0.hasPrefix("milter id=") }
        #expect(lines.count == 3)
        #expect(lines.map { $0.split(separator: " ")[1] } == ["id=4NEXT0001", "id=4NEXT0002", "id=4NEXT0003"])
    }

    @Test func quitNewConnectionStartsOverAndQuitCloses() throws {
        let fixture = try MilterFixture(threshold: 0.99)
        defer { fixture.stop() }
        let client = try fixture.postfixClient()
        #expect(try client.check(message: milterTestMessage(subject: "one", body: milterHamBody), queueID: "4SESSION1").final == .continue)
        try client.quitNewConnection()
        // The next SMTP session negotiates anew, here with fewer shortcuts.
        let negotiated = try client.negotiate(version: 6, actions: [.addHeaders], options: [.noConnect, .noHelo])
        #expect(negotiated.options == [.noHelo])
        let result = try client.check(message: milterTestMessage(subject: "two", body: milterHamBody), queueID: "4SESSION2")
        #expect(result.header("X-Spam-Flag") == "NO")
        try client.quit()
        #expect(client.isClosedByPeer(timeout: 5))
        #expect(fixture.waitUntil(5) { fixture.server.openConnections == 0 })
    }

    @Test func anUnscoredMessageIsAcceptedOrTempfailedAsConfigured() throws {
        let accepting = try MilterFixture(threshold: 0.01)
        defer { accepting.stop() }
        accepting.daemon.service.drainAndStop()  // every message now fails to be scored
        let result = try accepting.postfixClient().check(message: milterTestMessage(subject: "WIN", body: milterSpamBody, extraHeaders: [("X-Spam-Flag", "NO")]))
        #expect(result.final == .continue)
        #expect(result.addedHeaders.map(\.name) == ["X-Spam-Status"])
        #expect(result.header("X-Spam-Status")?.hasPrefix("Unknown, reason=\"shutting down\" model=") == true)
        // The forged flag goes even when there is no verdict to replace it.
        #expect(result.changedHeaders.map(\.name) == ["X-Spam-Flag"])

        let tempfailing = try MilterFixture(threshold: 0.01) { $0.failureAction = .tempfail }
        defer { tempfailing.stop() }
        tempfailing.daemon.service.drainAndStop()
        let refused = try tempfailing.postfixClient().check(message: milterTestMessage(subject: "WIN", body: milterSpamBody))
        #expect(refused.final == .replyCode)
        #expect(refused.smtpReply == "451 4.7.1 Message not checked for spam (shutting down); try again later")
    }

    @Test func aPeerThatBreaksTheProtocolIsClosedAlone() throws {
        let fixture = try MilterFixture(threshold: 0.99)
        defer { fixture.stop() }
        let good = try fixture.postfixClient()
        try good.send(.header, text("Subject") + text("still here"))

        let unknownCommand = try fixture.postfixClient()
        try unknownCommand.sendRaw([0, 0, 0, 1, UInt8(ascii: "z")])
        #expect(unknownCommand.isClosedByPeer(timeout: 5))

        let tooLong = try fixture.postfixClient()
        try tooLong.sendRaw([0, 0x10, 0, 0, UInt8(ascii: "B")])
        #expect(tooLong.isClosedByPeer(timeout: 5))

        let beforeNegotiation = try fixture.client()
        try beforeNegotiation.send(.header, text("Subject") + text("too early"))
        #expect(beforeNegotiation.isClosedByPeer(timeout: 5))

        let badVersion = try fixture.client()
        try badVersion.send(.optionNegotiation, [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0])
        #expect(badVersion.isClosedByPeer(timeout: 5))

        let result = try good.check(message: milterTestMessage(subject: "still here", body: milterHamBody))
        #expect(result.header("X-Spam-Flag") == "NO")
        let warnings = fixture.logLines.filter { $0.hasPrefix("warning: milter: closing") }
        #expect(warnings.contains { $0.hasSuffix("unknown command 'z' (0x7a)") })
        #expect(warnings.contains { $0.hasSuffix("a packet of 1048576 bytes (at most \(MilterProtocol.maximumPacketBytes) are accepted)") })
        #expect(warnings.contains { $0.hasSuffix("header before option negotiation") })
        #expect(warnings.contains { $0.contains("milter protocol version 1") })
    }

    @Test func manySessionsAtOnce() throws {
        let fixture = try MilterFixture(threshold: 0.5)
        defer { fixture.stop() }
        let sessions = 16, messagesEach = 3
        let results = MilterResultLog()
        DispatchQueue.concurrentPerform(iterations: sessions) { session in
            do {
                let client = try fixture.postfixClient()
                for index in 0..<messagesEach {
                    let body = "\(milterHamBody)\nsession \(session) message \(index)"
                    let result = try client.check(message: milterTestMessage(subject: "s\(session)", body: body), queueID: "4C\(session)M\(index)")
                    results.add(result.header("X-Spam-Status") != nil && result.final == .continue)
                }
                try client.quit()
            } catch {
                results.add(false)
            }
        }
        #expect(results.values.count == sessions * messagesEach)
        #expect(results.values.allSatisfy { $0 })
        #expect(fixture.logLines.filter { $0.hasPrefix("milter id=4C") }.count == sessions * messagesEach)
        #expect(fixture.waitUntil(5) { fixture.server.openConnections == 0 })
    }

    @Test func loadLikePostfixMeasuresThroughputAndLatency() throws {
        let fixture = try MilterFixture(threshold: 0.5) { $0.cacheEntries = 0 }
        defer { fixture.stop() }
        let messages = (0..<40).map { milterTestMessage(subject: "load \($0)", body: "\(milterHamBody)\nnumber \($0)") }
        let load = try runMilterLoad(socket: "unix:" + fixture.socketPath, messages: messages, concurrency: 4)
        #expect(load.perSecond > 0 && load.p50 > 0 && load.p99 >= load.p50)
        #expect(fixture.logLines.filter { $0.hasPrefix("milter id=LOAD") }.count == messages.count)
        #expect(throws: MilterClientError.self) {
            try runMilterLoad(socket: fixture.directory.appendingPathComponent("nothing.sock").path, messages: messages, concurrency: 2)
        }
    }

    @Test func anIdleOrStuckPeerIsTimedOut() throws {
        let fixture = try MilterFixture(threshold: 0.99) { $0.connectionTimeout = 0.3 }
        defer { fixture.stop() }
        let stuck = try fixture.postfixClient()
        try stuck.sendRaw([0, 0, 0])  // half a packet length, then nothing
        let idle = try fixture.postfixClient()
        let started = Date()
        #expect(stuck.isClosedByPeer(timeout: 5))
        #expect(idle.isClosedByPeer(timeout: 5))
        #expect(Date().timeIntervalSince(started) < 3)
        // A peer that keeps talking is not cut off.
        let busy = try fixture.postfixClient()
        #expect(try busy.check(message: milterTestMessage(subject: "a", body: milterHamBody)).final == .continue)
    }

    @Test func tcpListenerWithItsAllowList() throws {
        let open = try MilterFixture(threshold: 0.99, tcp: true)
        defer { open.stop() }
        let port = try #require(open.server.tcpPort)
        let client = try MilterClient(host: "127.0.0.1", port: port)
        try client.negotiate()
        #expect(try client.check(message: milterTestMessage(subject: "tcp", body: milterHamBody)).header("X-Spam-Flag") == "NO")

        let closed = try MilterFixture(threshold: 0.99, tcp: true) {
            $0.milterAllowedNetworks = [try! ClientNetwork(parsing: "10.0.0.0/8")]
        }
        defer { closed.stop() }
        let refused = try MilterClient(host: "127.0.0.1", port: try #require(closed.server.tcpPort))
        #expect(refused.isClosedByPeer(timeout: 5))
        #expect(closed.logLines.contains { $0.contains("refusing a connection from 127.0.0.1") })
        // The Unix socket is not subject to the list.
        #expect(try closed.postfixClient().check(message: milterTestMessage(subject: "unix", body: milterHamBody)).final == .continue)
    }

    @Test func aGracefulStopFinishesTheMessageUnderWayAndClosesIdleConnections() throws {
        let fixture = try MilterFixture(threshold: 0.99)
        defer { fixture.stop() }
        let idle = try fixture.postfixClient()
        let busy = try fixture.postfixClient()
        try busy.send(.macros, [UInt8(ascii: "M")] + text("i") + text("4DRAIN001"))
        try busy.send(.header, text("Subject") + text("under way"))
        usleep(100_000)  // let the server read it
        let stopped = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            fixture.server.stop(graceful: true)
            stopped.signal()
        }
        #expect(idle.isClosedByPeer(timeout: 5))
        #expect(stopped.wait(timeout: .now() + 0.3) == .timedOut)  // still draining the busy one
        try busy.send(.body, Array("the rest\r\n".utf8))
        try busy.send(.macros, [UInt8(ascii: "E")] + text("i") + text("4DRAIN001"))
        try busy.send(.endOfBody)
        var replies: [MilterPacket] = []
        while replies.last?.replyCode != .continue { replies.append(try busy.readPacket()) }
        #expect(replies.map(\.replyCode) == [.addHeader, .addHeader, .addHeader, .continue])
        #expect(busy.isClosedByPeer(timeout: 5))
        #expect(stopped.wait(timeout: .now() + 5) == .success)
        #expect(throws: MilterClientError.self) { try fixture.client() }
    }

    @Test func configurationKeysAndTheWayInFactory() throws {
        let directory = try makeMilterTestDirectory("milter-config")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("spamtune.conf").path
        try "milter_listen = off\nmilter_tcp_listen = inet:11332@127.0.0.1\nmilter_allowed_networks = 127.0.0.1/32, 10.0.0.0/8\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let configuration = try DaemonConfiguration.load(path)
        #expect(configuration.milterListen == nil)
        #expect(configuration.milterTCPListen == .tcp(host: "127.0.0.1", port: 11332))
        #expect(configuration.milterAllowedNetworks.map(\.description) == ["127.0.0.1/32", "10.0.0.0/8"])

        try "# milter\n\nmilter_allowed_networks = 10.0.0.0/33\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect {
            try DaemonConfiguration.load(path)
        } throws: { error in
            (error as? ConfigurationError)?.line == 3 && "\(error)".contains("invalid prefix length")
        }

        // Both addresses off: no milter.
        let fixture = try MilterFixture(threshold: 0.99)
        defer { fixture.stop() }
        var off = fixture.daemon.configuration
        off.milterListen = nil
        off.milterTCPListen = nil
        let context = DaemonContext(
            configuration: off, verdictHeaders: fixture.daemon.verdictHeaders, service: fixture.daemon.service, policy: fixture.daemon.policy,
            log: fixture.daemon.log, systemdSockets: SystemdSockets()
        ) { fixture.daemon.reload() }
        #expect(try MilterServer.make(context) == nil)
    }
}

final class MilterResultLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Bool] = []
    func add(_ value: Bool) { lock.withLock { stored.append(value) } }
    var values: [Bool] { lock.withLock { stored } }
}

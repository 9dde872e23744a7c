import Foundation
import SpamtuneConfiguration
import SpamtuneControl
import SpamtuneTestClients
import SpamtuneTestSupport
import Testing

@testable import SpamtuneDaemon

#if canImport(Glibc)
import Glibc
#endif

/// The rules before the model (skip_authenticated, trusted_networks, allow_senders,
/// deny_senders) through each way in: the real milter server fed as Postfix feeds it,
/// the spamd socket with the real spamc, a Maildir with real inotify. The tiny model's
/// checkpoint threshold makes its own verdict known: 0.01, everything is spam; 0.99,
/// everything is ham; so whatever differs from it was the policy.
@Suite struct PolicyTests {
    // MARK: Configuration

    @Test func listEntriesParseAndBadOnesNameTheLine() throws {
        let text = """
            skip_authenticated = yes
            trusted_networks = 192.0.2.0/24, 2001:db8::/32
            allow_senders = Friend@Allowed.Example, @partner.example
            allow_senders = @.corp.example
            deny_senders = @spam.example, 203.0.113.0/24, file:/etc/spamtune/deny-senders
            """
        let configuration = try DaemonConfiguration(file: ConfigurationFile(path: "t", text: text))
        #expect(configuration.skipAuthenticated)
        #expect(configuration.trustedNetworks.map(\.description) == ["192.0.2.0/24", "2001:db8:0:0:0:0:0:0/32"])
        #expect(configuration.allowSenders == [.address("friend@allowed.example"), .domain("partner.example"), .subdomains("corp.example")])
        #expect(configuration.denySenders == [.domain("spam.example"), .network(try ClientNetwork(parsing: "203.0.113.0/24")), .file("/etc/spamtune/deny-senders")])
        #expect(DaemonConfiguration().allowSenders.isEmpty && !DaemonConfiguration().skipAuthenticated)

        func error(_ text: String) -> String {
            do {
                _ = try DaemonConfiguration(file: ConfigurationFile(path: "t.conf", text: text))
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(error("\nallow_senders = 10.0.0.0/8").hasPrefix("t.conf, line 2: allow_senders: '10.0.0.0/8' is a network"))
        #expect(error("deny_senders = spammer").contains("is not an address (alice@example.org), a domain"))
        #expect(error("deny_senders = @bad..example").contains("does not name a domain"))
        #expect(error("allow_senders = file:relative").contains("needs an absolute path"))
        #expect(error("skip_authenticated = perhaps").contains("'perhaps' is not yes or no"))
    }

    @Test func aListFileThatCannotBeReadStopsTheStartAndABadLineIsNamed() throws {
        let directory = try makeMilterTestDirectory("policy-files")
        defer { try? FileManager.default.removeItem(at: directory) }
        try TinyCheckpoint.write(to: directory.appendingPathComponent("models"), threshold: 0.5)
        var configuration = DaemonConfiguration()
        configuration.checkpoint = directory.appendingPathComponent("models/current").path
        configuration.threads = 1
        configuration.stateDirectory = directory.appendingPathComponent("state").path
        let list = directory.appendingPathComponent("deny").path
        configuration.denySenders = [.file(list)]
        let missing = #expect(throws: ConfigurationError.self) { _ = try Daemon(configuration: configuration, log: Logger(level: .error)) }
        #expect(missing.map { "\($0)" }?.hasPrefix("\(list): deny_senders names this file, which cannot be read") == true, "\(String(describing: missing))")
        try "# spammers\n@spam.example\n\nnot an entry\n".write(toFile: list, atomically: true, encoding: .utf8)
        let bad = #expect(throws: ConfigurationError.self) { _ = try Daemon(configuration: configuration, log: Logger(level: .error)) }
        #expect(
            bad?.description
                == "\(list), line 4: deny_senders: 'not an entry' is not an address (alice@example.org), a domain (@example.org, @.example.org), a network or file:/path")
    }

    // MARK: The milter

    /// A fixture whose model calls everything spam, with every rule configured.
    private func ruledFixture(_ configure: (inout DaemonConfiguration) -> Void = { _ in }) throws -> MilterFixture {
        try MilterFixture(threshold: 0.01) { configuration in
            configuration.skipAuthenticated = true
            configuration.trustedNetworks = [try! ClientNetwork(parsing: "192.0.2.0/24")]
            configuration.allowSenders = [.address("friend@allowed.example"), .domain("partner.example"), .subdomains("corp.example")]
            configuration.denySenders = [.domain("spam.example"), .address("bad@partner.example"), .network(try! ClientNetwork(parsing: "203.0.113.0/24"))]
            configure(&configuration)
        }
    }

    /// One SMTP session and message as Postfix hands it over.
    private func send(
        _ fixture: MilterFixture, client: String = "198.51.100.1", from: String, authenticatedAs: String? = nil, queueID: String
    ) throws -> MilterClient.Result {
        let milter = try fixture.postfixClient()
        defer { try? milter.quit() }
        #expect(try milter.connect(hostname: "client.example.net", address: client) == nil)
        return try milter.check(
            message: milterTestMessage(subject: "Quarterly figures", body: milterHamBody), queueID: queueID, from: "<\(from)>",
            to: ["<alice@example.org>", "<bob@example.org>"], authenticatedAs: authenticatedAs)
    }

    @Test func eachRuleDecidesBeforeTheModelAndTheHeaderSaysWhich() throws {
        let fixture = try ruledFixture()
        defer { fixture.stop() }
        let cases: [(id: String, client: String, from: String, auth: String?, status: String)] = [
            ("4AUTH", "198.51.100.1", "someone@else.example", "alice", "No, score=0.0 required=0.1 reason=authenticated"),
            ("4TRUST", "192.0.2.9", "someone@else.example", nil, "No, score=0.0 required=0.1 reason=trusted-network"),
            ("4ADDR", "198.51.100.1", "FRIEND@allowed.example", nil, "No, score=0.0 required=0.1 reason=allow-list"),
            ("4DOMAIN", "198.51.100.1", "anyone@partner.example", nil, "No, score=0.0 required=0.1 reason=allow-list"),
            ("4SUBDOM", "198.51.100.1", "anyone@mail.corp.example", nil, "No, score=0.0 required=0.1 reason=allow-list"),
            // The deny list wins over every other rule.
            ("4DENYADDR", "198.51.100.1", "bad@partner.example", nil, "Yes, score=10.0 required=0.1 reason=deny-list"),
            ("4DENYDOM", "192.0.2.9", "offers@spam.example", "alice", "Yes, score=10.0 required=0.1 reason=deny-list"),
            ("4DENYNET", "203.0.113.5", "friend@allowed.example", "alice", "Yes, score=10.0 required=0.1 reason=deny-list"),
        ]
        for item in cases {
            let result = try send(fixture, client: item.client, from: item.from, authenticatedAs: item.auth, queueID: item.id)
            #expect(result.final == .continue)
            #expect(result.header("X-Spam-Status") == item.status, "\(item.id)")
            #expect(result.header("X-Spam-Flag") == (item.status.hasPrefix("Yes") ? "YES" : "NO"), "\(item.id)")
        }
        // Nothing matches: the model reads it (spam, at this threshold). @.corp.example
        // is its subdomains only; a network is not a sender.
        for (id, from) in [("4MODEL1", "anyone@corp.example"), ("4MODEL2", "someone@else.example")] {
            let result = try send(fixture, from: from, queueID: id)
            let status = try #require(result.header("X-Spam-Status"))
            #expect(status.hasPrefix("Yes, score=") && status.contains(" tests=SPAMTUNE model="), "\(status)")
        }

        // The log line: way in, queue ID, verdict, action, score, time, client, sender,
        // recipients, login, and the rule with the entry that matched.
        let lines = fixture.logLines
        let authenticated = try #require(lines.first { $0.hasPrefix("milter id=4AUTH ") })
        #expect(authenticated.hasPrefix("milter id=4AUTH verdict=ham action=headers score=0.00/0.10 tokens=0 bytes="), "\(authenticated)")
        #expect(authenticated.contains(" policy=authenticated client=198.51.100.1[client.example.net] from=someone@else.example rcpt=alice@example.org,bob@example.org auth=alice model="), "\(authenticated)")
        let denied = try #require(lines.first { $0.hasPrefix("milter id=4DENYNET ") })
        #expect(denied.contains("verdict=spam action=headers score=10.00/0.10 ") && denied.contains(" policy=deny-list:203.0.113.0/24 client=203.0.113.5"), "\(denied)")
        let domain = try #require(lines.first { $0.hasPrefix("milter id=4SUBDOM ") })
        #expect(domain.contains(" policy=allow-list:@.corp.example "), "\(domain)")
        let scored = try #require(lines.first { $0.hasPrefix("milter id=4MODEL2 ") })
        #expect(scored.contains("verdict=spam action=headers ") && !scored.contains("policy=") && !scored.contains(" auth="), "\(scored)")
        // Decided by a rule, counted by rule.
        let counts = fixture.daemon.service.statistics.snapshot().counts
        #expect(counts["policy.deny-list"] == 3 && counts["policy.allow-list"] == 3 && counts["policy.authenticated"] == 1)
    }

    @Test func skipAuthenticatedNoScoresTheLogin() throws {
        let fixture = try ruledFixture { $0.skipAuthenticated = false }
        defer { fixture.stop() }
        let result = try send(fixture, from: "someone@else.example", authenticatedAs: "alice", queueID: "4NOSKIP")
        #expect(try #require(result.header("X-Spam-Status")).contains(" tests=SPAMTUNE "))
        #expect(fixture.logLines.contains { $0.hasPrefix("milter id=4NOSKIP verdict=spam ") && $0.contains(" auth=alice ") })
    }

    @Test func aDeniedSenderGetsTheConfiguredActions() throws {
        let rejecting = try ruledFixture { $0.rejectThreshold = 0.5 }
        defer { rejecting.stop() }
        let refused = try send(rejecting, from: "offers@spam.example", queueID: "4REJECT")
        #expect(refused.smtpReply == "550 5.7.1 Message rejected as spam (the sender is on the deny list)")
        #expect(rejecting.logLines.contains { $0.hasPrefix("milter id=4REJECT verdict=spam action=reject ") })
        // An allowed sender is not rejected, though the model would.
        let allowed = try send(rejecting, from: "friend@allowed.example", queueID: "4ALLOWED")
        #expect(allowed.final == .continue && allowed.header("X-Spam-Status")?.hasSuffix("reason=allow-list") == true)

        let holding = try ruledFixture { $0.quarantineThreshold = 0.5 }
        defer { holding.stop() }
        let held = try send(holding, from: "offers@spam.example", queueID: "4HOLD")
        #expect(held.quarantineReason == "spamtune: the sender is on the deny list")
        #expect(holding.logLines.contains { $0.hasPrefix("milter id=4HOLD verdict=spam action=hold ") })
    }

    @Test func listFilesAreReadAgainOnReload() throws {
        let listDirectory = try makeMilterTestDirectory("policy-lists")
        defer { try? FileManager.default.removeItem(at: listDirectory) }
        let allowFile = listDirectory.appendingPathComponent("allow").path
        try "# partners\nfriend@allowed.example\n".write(toFile: allowFile, atomically: true, encoding: .utf8)
        let fixture = try MilterFixture(threshold: 0.01) { $0.allowSenders = [.file(allowFile)] }
        defer { fixture.stop() }
        #expect(try send(fixture, from: "friend@allowed.example", queueID: "4FILE1").header("X-Spam-Status")?.hasSuffix("reason=allow-list") == true)
        #expect(try send(fixture, from: "new@partner.example", queueID: "4FILE2").header("X-Spam-Flag") == "YES")

        try "@partner.example\n".write(toFile: allowFile, atomically: true, encoding: .utf8)
        _ = fixture.daemon.reload()
        #expect(try send(fixture, from: "new@partner.example", queueID: "4FILE3").header("X-Spam-Status")?.hasSuffix("reason=allow-list") == true)
        #expect(try send(fixture, from: "friend@allowed.example", queueID: "4FILE4").header("X-Spam-Flag") == "YES")

        // A file that went bad keeps the lists it had, and says so.
        try "not an entry\n".write(toFile: allowFile, atomically: true, encoding: .utf8)
        _ = fixture.daemon.reload()
        #expect(try send(fixture, from: "new@partner.example", queueID: "4FILE5").header("X-Spam-Status")?.hasSuffix("reason=allow-list") == true)
        #expect(fixture.logLines.contains { $0.hasPrefix("error: policy: sender lists not reloaded, the old ones stay: \(allowFile), line 1: allow_senders:") })
    }

    // MARK: spamd and Maildirs: the sender from the message

    @Test func spamdTakesTheSenderFromReturnPathOrFrom() throws {
        try Spamc.ensureInstalled()
        let bed = try SpamdTestBed(threshold: 0.01)
        defer { bed.tearDown() }
        var configuration = bed.configuration()
        configuration.allowSenders = [.domain("example.test")]
        configuration.denySenders = [.address("mallory@example.test")]
        configuration.skipAuthenticated = true
        configuration.trustedNetworks = [try ClientNetwork(parsing: "0.0.0.0/0")]
        let log = LogCollector()
        let daemon = try bed.daemon(configuration, log: log)
        let server = try SpamdServer(context: daemon.context)
        let control = try ControlServer(context: daemon.context)
        defer {
            server.stop(graceful: false)
            control.stop(graceful: false)
            daemon.service.drainAndStop()
        }
        // From: alice@example.test: allowed (trusted_networks and logins mean nothing here).
        let allowed = try Spamc.run(["-U", bed.spamdSocket, "-c", "-u", "alice"], input: SpamdTestBed.message("Lunch"))
        #expect(allowed.status == 0 && allowed.standardOutput == "0.0/0.1\n", "\(allowed.standardOutput)")
        // Return-Path comes first: the envelope sender, as the delivery agent recorded it.
        let bounced = Array("Return-Path: <mallory@example.test>\r\n".utf8) + SpamdTestBed.message("Lunch again")
        let denied = try Spamc.run(["-U", bed.spamdSocket, "-u", "alice"], input: bounced)
        #expect(denied.status == 0)
        #expect(denied.standardOutput.contains("X-Spam-Status: Yes, score=10.0 required=0.1 reason=deny-list"), "\(denied.standardOutput)")
        let report = try Spamc.run(["-U", bed.spamdSocket, "-R"], input: bounced)
        #expect(report.standardOutput.contains("SPAMTUNE_DENY_LIST"), "\(report.standardOutput)")

        let lines = log.lines.filter { $0.hasPrefix("spamd id=<") }
        #expect(lines.count == 3)
        #expect(lines[0].contains(" verdict=ham action=answer score=0.00/0.10 ") && lines[0].contains(" policy=allow-list:@example.test client=- from=alice@example.test rcpt=- user=alice peer=uid:\(getuid()) "), "\(lines[0])")
        #expect(lines[1].contains(" verdict=spam action=headers ") && lines[1].contains(" policy=deny-list:mallory@example.test client=- from=mallory@example.test "), "\(lines[1])")

        // spamtune status counts them by rule, beside the verdicts.
        let status = try #require(try ControlClient(socketPath: bed.controlSocket, timeout: 30).send(.status).status)
        #expect(status.policyDecisions == ["allow-list": 1, "deny-list": 2])
        #expect(status.verdicts["spamd"] == ["ham": 1, "spam": 2])
        let text = try runProcess(ProjectPaths.builtProduct("spamtune"), ["status", "--socket", bed.controlSocket])
        #expect(text.standardOutput.contains("decided by policy rules: allow-list 1, deny-list 2\n"), "\(text.standardOutput)")
    }

    @Test func aMaildirMessageFromADeniedSenderGoesToJunk() throws {
        let bed = try MaildirTestBed(threshold: 0.99) { $0.denySenders = [.domain("example.test")] }
        defer { bed.tearDown() }
        try bed.start()
        let name = try bed.deliver(testMessage(id: "denied-1"))
        #expect(eventually { bed.names(".Junk/new") == [name] })
        let scanned = try bed.contents(".Junk/new/" + name)
        #expect(fieldValues(scanned, "X-Spam-Status") == ["Yes, score=10.0 required=9.9 reason=deny-list"])
        #expect(eventually { bed.logLines.all.contains { $0.hasPrefix("maildir id=\(name) verdict=spam action=junk ") && $0.contains(" from=alice@example.test rcpt=\(bed.maildir) ") } })
    }

    // MARK: The log line

    @Test func linesCarryTheTimeWhenAskedAndSendersAreReadFromHeaders() throws {
        let lines = MilterLogLines()
        let log = Logger(level: .info, timestamps: true) { lines.append($0) }
        log.info("hello")
        let line = try #require(lines.values.first)
        let stamp = try #require(line.split(separator: " ").first)
        #expect(stamp.count == 29 && stamp.dropFirst(10).hasPrefix("T") && stamp.dropFirst(19).hasPrefix("."), "\(line)")
        #expect(line.hasSuffix(" hello"))

        #expect(MessageEnvelope.address(in: "\"Alice, A.\" <Alice@Example.ORG>") == "Alice@Example.ORG")
        #expect(MessageEnvelope.address(in: "<>") == "")
        #expect(MessageEnvelope.address(in: "bob@example.org (Bob)") == "bob@example.org")
        #expect(MessageEnvelope.address(in: "<@relay.example:carol@example.org>") == "carol@example.org")
        #expect(MessageEnvelope.address(in: "undisclosed-recipients:;") == nil)
        var envelope = MessageEnvelope(channel: .milter, identifier: "x")
        envelope.clientAddress = "IPv6:2001:db8::7"
        #expect(envelope.clientAddressBytes == IPAddress.parse("2001:db8::7"))
    }
}

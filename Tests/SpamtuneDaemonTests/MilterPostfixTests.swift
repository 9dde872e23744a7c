import Foundation
import SpamtuneDaemon
import SpamtuneTestClients
import SpamtuneTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// spamtuned as Postfix sees it: the built daemon, configured from a file, behind a real
/// private Postfix on loopback (`Tests/harness`, which installs Postfix and swaks
/// when missing), fed by swaks and by local submission.
@Suite(.serialized, .enabled(if: getuid() == 0, "a private Postfix needs root")) struct MilterPostfixTests {
    @Test func hamSpamForgedFlagAndRejectionThroughPostfix() throws {
        let setup = try MilterPostfixSetup()
        defer { setup.tearDown() }
        try setup.startDaemon(["spam_threshold = 0.99", "log_level = debug", "max_message_size = 8k"])
        try setup.postfix.start()

        // Ham: delivered with the verdict headers.
        let ham = try setup.message(subject: "Minutes of Tuesday", body: "Hi Anna, the minutes are attached. Ben")
        let hamSent = try setup.postfix.send(ham.bytes)
        #expect(hamSent.status == 0, "\(hamSent.transcript)")
        let hamDelivered = try #require(setup.postfix.waitForDelivery(of: ham.id), "\(setup.diagnostics())")
        #expect(hamDelivered.contains("\nX-Spam-Flag: NO\r\n") || hamDelivered.contains("\nX-Spam-Flag: NO\n"))
        #expect(hamDelivered.contains("\nX-Spam-Score: "))
        #expect(hamDelivered.contains("\nX-Spam-Status: No, score="))
        // The log line names Postfix's queue ID (from the macro asked for at negotiation).
        let idStart = try #require(hamDelivered.range(of: "with ESMTP id ")).upperBound
        let queueID = hamDelivered[idStart...].prefix { $0.isHexDigit }
        #expect(queueID.count >= 6)
        #expect(setup.daemonLog().contains("milter id=\(queueID) verdict=ham "), "\(setup.diagnostics())")
        // What Postfix offered and what spamtuned took of it.
        let negotiation = try #require(setup.daemonLog().split(separator: "\n").first { $0.contains("milter local socket: MTA version") })
        #expect(negotiation.contains("using version 6 actions ADDHDRS|CHGHDRS|QUARANTINE|SETSYMLIST options NOHELO|NOEOH|NR_HDR|NOUNKNOWN|NODATA|NR_CONN|NR_HELO|NR_MAIL|NR_RCPT|NR_DATA|NR_UNKN|NR_EOH|NR_BODY"), "\(negotiation)")

        // A message above max_message_size: scored on its first 8 KiB, delivered whole.
        let big = try setup.message(subject: "Long report", body: String(repeating: "The figures for the quarter are in the table below.\r\n", count: 6000))
        #expect(big.bytes.count > 300_000)
        let bigSent = try setup.postfix.send(big.bytes)
        #expect(bigSent.status == 0, "\(bigSent.transcript.suffix(2000))")
        let bigDelivered = try #require(setup.postfix.waitForDelivery(of: big.id), "\(setup.diagnostics())")
        #expect(bigDelivered.contains("\nX-Spam-Status: No, score=") && bigDelivered.count > 300_000)
        #expect(setup.daemonLog().contains(" bytes=8192 "))

        // Spam with headers only, and a forged "X-Spam-Flag: NO" from the sender.
        try setup.restartDaemon(["spam_threshold = 0.01"])
        let spam = try setup.message(subject: "WIN a FREE prize", body: "Click now to claim your FREE prize!!!", extraHeaders: ["X-Spam-Flag: NO"])
        let spamSent = try setup.postfix.send(spam.bytes)
        #expect(spamSent.status == 0, "\(spamSent.transcript)")
        let spamDelivered = try #require(setup.postfix.waitForDelivery(of: spam.id), "\(setup.diagnostics())")
        let flags = spamDelivered.split(whereSeparator: \.isNewline).filter { $0.lowercased().hasPrefix("x-spam-flag:") }
        #expect(flags.map { $0.trimmingCharacters(in: .whitespaces) } == ["X-Spam-Flag: YES"])
        #expect(spamDelivered.contains("\nX-Spam-Status: Yes, score="))

        // Spam at the reject threshold: refused in the SMTP dialogue.
        try setup.restartDaemon(["spam_threshold = 0.01", "reject_threshold = 0.01"])
        let rejected = try setup.message(subject: "WIN again", body: "Claim your FREE prize now!!!")
        let rejectedSent = try setup.postfix.send(rejected.bytes)
        #expect(rejectedSent.status != 0)
        #expect(rejectedSent.transcript.contains("550 5.7.1 Message rejected as spam"), "\(rejectedSent.transcript)")
        #expect(setup.postfix.delivered(rejected.id) == nil)
        let log = setup.daemonLog()
        #expect(log.contains("milter id=") && log.contains("verdict=spam"))

        // Spam at the quarantine threshold: accepted into Postfix's hold queue, with its
        // headers; released, it is delivered.
        try setup.restartDaemon(["spam_threshold = 0.01", "quarantine_threshold = 0.01"])
        let held = try setup.message(subject: "WIN once more", body: "A FREE prize is waiting!!!")
        let heldSent = try setup.postfix.send(held.bytes)
        #expect(heldSent.status == 0, "\(heldSent.transcript)")
        #expect(setup.postfix.waitForLog("milter-hold: END-OF-MESSAGE", seconds: 10), "\(setup.diagnostics())")
        #expect(setup.postfix.delivered(held.id) == nil)
        setup.postfix.releaseHeld()
        let released = try #require(setup.postfix.waitForDelivery(of: held.id, flushing: true), "\(setup.diagnostics())")
        #expect(released.contains("\nX-Spam-Flag: YES"))
    }

    @Test func whileSpamtunedIsDownPostfixAnswers4xxAndNoMailIsLost() throws {
        let setup = try MilterPostfixSetup()
        defer { setup.tearDown() }
        try setup.startDaemon(["spam_threshold = 0.99"])
        try setup.postfix.start()
        setup.stopDaemon()

        // By SMTP: a temporary refusal, so the sending MTA keeps the message and retries.
        let smtp = try setup.message(subject: "Retry me", body: "Sent while the filter was down.")
        let refused = try setup.postfix.send(smtp.bytes)
        #expect(refused.status != 0)
        #expect(refused.transcript.contains("451 4.7.1"), "\(refused.transcript)")
        // Submitted locally: Postfix keeps it in its queue.
        let local = try setup.message(subject: "Queued locally", body: "Submitted with sendmail while the filter was down.")
        let submitted = try setup.postfix.submitLocally(local.bytes)
        #expect(submitted.status == 0, "\(submitted.standardError)")
        usleep(1_500_000)
        #expect(setup.postfix.delivered(smtp.id) == nil)
        #expect(setup.postfix.delivered(local.id) == nil)

        try setup.startDaemon(["spam_threshold = 0.99"])
        let retried = try setup.postfix.send(smtp.bytes)
        #expect(retried.status == 0, "\(retried.transcript)")
        let smtpDelivered = try #require(setup.postfix.waitForDelivery(of: smtp.id), "\(setup.diagnostics())")
        #expect(smtpDelivered.contains("\nX-Spam-Status: No, score="))
        setup.postfix.flush()
        let localDelivered = try #require(setup.postfix.waitForDelivery(of: local.id, seconds: 90, flushing: true), "\(setup.diagnostics())")
        #expect(localDelivered.contains("\nX-Spam-Status: No, score="))

        // Back up, it takes many SMTP sessions at once.
        let burst = try (0..<8).map { try setup.message(subject: "Burst \($0)", body: "Message \($0) of a burst.") }
        let statuses = MilterResultLog()
        DispatchQueue.concurrentPerform(iterations: burst.count) { index in
            statuses.add((try? setup.postfix.send(burst[index].bytes).status) == 0)
        }
        #expect(statuses.values.count == burst.count && statuses.values.allSatisfy { $0 })
        for message in burst {
            let delivered = setup.postfix.waitForDelivery(of: message.id)
            #expect(delivered?.contains("\nX-Spam-Status: No, score=") == true, "\(setup.diagnostics())")
        }
    }

    /// A second spamtuned on the same sockets, then 600 idle connections to the spamd
    /// socket: neither stops the mail, nor a normal spamc.
    @Test func aSecondDaemonAndAnIdleFloodLeaveMailFlowing() throws {
        try Spamc.ensureInstalled()
        let setup = try MilterPostfixSetup()
        defer { setup.tearDown() }
        let spamdSocket = setup.directory.appendingPathComponent("spamd.sock").path
        // A per-client bound above the flood, so that it fills the socket itself.
        try setup.startDaemon(["spam_threshold = 0.99", "spamd_listen = unix:\(spamdSocket)", "max_connections_per_client = 1000"])
        try setup.postfix.start()
        let first = try #require(setup.daemonPID)

        let second = try runProcess(ProjectPaths.builtProduct("spamtuned"), ["--config", try #require(setup.configuration).path])
        #expect(second.status == 78)
        #expect(second.standardError.contains("(pid \(first))"), "\(second.standardError)")
        let afterSecond = try setup.message(subject: "After the second daemon", body: "Still filtered.")
        #expect(try setup.postfix.send(afterSecond.bytes).status == 0)
        #expect(setup.postfix.waitForDelivery(of: afterSecond.id)?.contains("\nX-Spam-Status: No, score=") == true, "\(setup.diagnostics())")

        // 600 connections that send nothing, held open.
        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        for _ in 0..<600 { idle.append(try connectUnixSocket(spamdSocket)) }
        let started = Date()
        let check = try Spamc.run(["-U", spamdSocket, "-c"], input: SpamdTestBed.message("During the flood"))
        let seconds = Date().timeIntervalSince(started)
        #expect(check.status == 0 && check.standardOutput.hasSuffix("/9.9\n"), "\(check.standardOutput) \(check.standardError)")
        #expect(seconds < 5, "spamc took \(seconds) s")
        let during = try setup.message(subject: "During the flood", body: "Mail passes the milter meanwhile.")
        #expect(try setup.postfix.send(during.bytes).status == 0)
        #expect(setup.postfix.waitForDelivery(of: during.id)?.contains("\nX-Spam-Status: No, score=") == true, "\(setup.diagnostics())")
        #expect(setup.daemonLog().contains("that had sent nothing, to make room for uid 0 (root)"), "\(setup.daemonLog().suffix(3000))")
        print("idle flood: spamc answered in \(String(format: "%.2f", seconds)) s with 600 idle connections held")
    }
}

/// The policy through Postfix: SMTP AUTH, the client's network and the envelope sender
/// reach spamtuned as the milter macros it asks for.
@Suite(.serialized, .enabled(if: getuid() == 0, "a private Postfix needs root")) struct PolicyPostfixTests {
    @Test func anAuthenticatedSubmissionIsSkippedOnlyWhenConfigured() throws {
        let setup = try MilterPostfixSetup()
        defer { setup.tearDown() }
        // The model calls everything spam here: a ham verdict is the policy's.
        try setup.startDaemon(["spam_threshold = 0.01", "skip_authenticated = yes"])
        try setup.postfix.start()
        try setup.postfix.enableSASL(user: "alice", domain: "example.test", password: "s3cret-policy")

        let submitted = try setup.message(subject: "Agenda", body: "The agenda for Thursday is attached.")
        let sent = try setup.postfix.sendAuthenticated(submitted.bytes, login: "alice@example.test", password: "s3cret-policy")
        #expect(sent.status == 0 && sent.transcript.contains("235 2.7.0 Authentication successful"), "\(sent.transcript)")
        let delivered = try #require(setup.postfix.waitForDelivery(of: submitted.id), "\(setup.diagnostics())")
        #expect(delivered.contains("\nX-Spam-Status: No, score=0.0 required=0.1 reason=authenticated"), "\(delivered)")
        #expect(delivered.contains("\nX-Spam-Flag: NO"))
        // The log line, with the time (spamtuned's standard error is a file, not the journal).
        let queueID = try #require(Self.queueID(delivered))
        let line = try #require(setup.daemonLog().split(separator: "\n").first { $0.contains(" milter id=\(queueID) ") }, "\(setup.diagnostics())")
        #expect(line.first?.isNumber == true && line.split(separator: " ")[1] == "milter", "\(line)")
        #expect(line.contains(" verdict=ham action=headers score=0.00/0.10 "), "\(line)")
        #expect(
            line.contains(" policy=authenticated client=127.0.0.1[localhost] from=user@example.test rcpt=user@example.test auth=alice@example.test model="),
            "\(line)")

        // Without AUTH, from the same client: the model's verdict.
        let anonymous = try setup.message(subject: "Agenda again", body: "The agenda for Thursday is attached.")
        #expect(try setup.postfix.send(anonymous.bytes).status == 0)
        let scored = try #require(setup.postfix.waitForDelivery(of: anonymous.id), "\(setup.diagnostics())")
        #expect(scored.contains("\nX-Spam-Status: Yes, score=") && scored.contains(" tests=SPAMTUNE model="), "\(scored)")

        // skip_authenticated = no: the login is logged, the model decides.
        try setup.restartDaemon(["spam_threshold = 0.01", "skip_authenticated = no"])
        let notSkipped = try setup.message(subject: "Agenda, third", body: "The agenda for Thursday is attached.")
        let resent = try setup.postfix.sendAuthenticated(notSkipped.bytes, login: "alice@example.test", password: "s3cret-policy")
        #expect(resent.status == 0, "\(resent.transcript)")
        let scoredLogin = try #require(setup.postfix.waitForDelivery(of: notSkipped.id), "\(setup.diagnostics())")
        #expect(scoredLogin.contains("\nX-Spam-Status: Yes, score=") && scoredLogin.contains(" tests=SPAMTUNE model="), "\(scoredLogin)")
        let loginID = try #require(Self.queueID(scoredLogin))
        #expect(setup.daemonLog().contains(" milter id=\(loginID) verdict=spam action=headers "), "\(setup.diagnostics())")
        #expect(setup.daemonLog().split(separator: "\n").contains { $0.contains(" milter id=\(loginID) ") && $0.contains(" auth=alice@example.test ") && !$0.contains("policy=") })
    }

    @Test func allowAndDenyByAddressDomainAndNetwork() throws {
        let setup = try MilterPostfixSetup()
        defer { setup.tearDown() }
        let denyFile = setup.directory.appendingPathComponent("deny-senders")
        try "# refused outright\n@deny.example.test\n".write(to: denyFile, atomically: true, encoding: .utf8)
        try setup.startDaemon([
            "spam_threshold = 0.01", "reject_threshold = 0.01", "allow_senders = partner@allow.example.test, @friends.example.test",
            "deny_senders = file:\(denyFile.path)",
        ])
        try setup.postfix.start()

        // Allowed by address and by domain: delivered, though the model would reject.
        for (index, sender) in ["partner@allow.example.test", "anyone@friends.example.test"].enumerated() {
            let message = try setup.message(subject: "Allowed \(index)", body: "Figures attached.")
            #expect(try setup.postfix.send(message.bytes, envelopeFrom: sender).status == 0)
            let delivered = try #require(setup.postfix.waitForDelivery(of: message.id), "\(setup.diagnostics())")
            #expect(delivered.contains("\nX-Spam-Status: No, score=0.0 required=0.1 reason=allow-list"), "\(delivered)")
        }
        // Not on the list: the model's verdict, rejected.
        let other = try setup.message(subject: "Other", body: "Figures attached.")
        let otherSent = try setup.postfix.send(other.bytes, envelopeFrom: "someone@elsewhere.example.test")
        #expect(otherSent.transcript.contains("550 5.7.1 Message rejected as spam (score "), "\(otherSent.transcript)")

        // Denied by domain (from the list file) wins over an allowed address's domain.
        try setup.restartDaemon([
            "spam_threshold = 0.99", "reject_threshold = 0.99", "allow_senders = @deny.example.test",
            "deny_senders = file:\(denyFile.path)",
        ])
        let denied = try setup.message(subject: "Denied", body: "Figures attached.")
        let deniedSent = try setup.postfix.send(denied.bytes, envelopeFrom: "boss@deny.example.test")
        #expect(deniedSent.status != 0)
        #expect(deniedSent.transcript.contains("550 5.7.1 Message rejected as spam (the sender is on the deny list)"), "\(deniedSent.transcript)")
        #expect(setup.daemonLog().contains(" verdict=spam action=reject score=10.00/9.90 "), "\(setup.diagnostics())")
        #expect(setup.daemonLog().contains(" policy=deny-list:@deny.example.test client=127.0.0.1[localhost] from=boss@deny.example.test rcpt=user@example.test "), "\(setup.diagnostics())")

        // By network: Postfix's client is 127.0.0.1. Trusted, it is not scored...
        try setup.restartDaemon(["spam_threshold = 0.01", "trusted_networks = 127.0.0.0/8"])
        let trusted = try setup.message(subject: "Trusted", body: "Figures attached.")
        #expect(try setup.postfix.send(trusted.bytes).status == 0)
        let trustedDelivered = try #require(setup.postfix.waitForDelivery(of: trusted.id), "\(setup.diagnostics())")
        #expect(trustedDelivered.contains("\nX-Spam-Status: No, score=0.0 required=0.1 reason=trusted-network"), "\(trustedDelivered)")
        // ... and denied, it is spam whatever the model says.
        try setup.restartDaemon(["spam_threshold = 0.99", "deny_senders = 127.0.0.0/8"])
        let fromDeniedNetwork = try setup.message(subject: "Denied network", body: "Figures attached.")
        #expect(try setup.postfix.send(fromDeniedNetwork.bytes).status == 0)
        let deniedDelivered = try #require(setup.postfix.waitForDelivery(of: fromDeniedNetwork.id), "\(setup.diagnostics())")
        #expect(deniedDelivered.contains("\nX-Spam-Status: Yes, score=10.0 required=9.9 reason=deny-list"), "\(deniedDelivered)")
        #expect(deniedDelivered.contains("\nX-Spam-Flag: YES"))
    }

    /// Postfix's queue ID, from the Received field it adds.
    static func queueID(_ delivered: String) -> Substring? {
        guard let start = delivered.range(of: "with ESMTP id ")?.upperBound ?? delivered.range(of: "with ESMTPA id ")?.upperBound else { return nil }
        let id = delivered[start...].prefix { $0.isHexDigit }
        return id.count >= 6 ? id : nil
    }
}

/// One test's world: a directory under /tmp, a checkpoint, spamtuned and Postfix.
final class MilterPostfixSetup {
    let directory: URL
    let postfix: MilterPostfixLoopback
    let socketPath: String
    private var daemon: Process?
    private var daemonLogs: [URL] = []
    /// The configuration file of the last start.
    private(set) var configuration: URL?
    var daemonPID: Int32? { daemon?.processIdentifier }

    init() throws {
        directory = try makeMilterTestDirectory("milter-postfix")
        try TinyCheckpoint.write(to: directory.appendingPathComponent("models"), threshold: 0.5)
        socketPath = directory.appendingPathComponent("milter.sock").path
        postfix = MilterPostfixLoopback(directory: directory.appendingPathComponent("harness"), milterSocket: socketPath, smtpPort: try LoopbackHTTPServer.closedPort())
    }

    /// Starts spamtuned with a configuration file of these lines after the common ones
    /// (replacing those with the same keys), and waits until its milter socket accepts
    /// connections.
    func startDaemon(_ lines: [String]) throws {
        let config = directory.appendingPathComponent("spamtune-\(daemonLogs.count).conf")
        func key(_ line: String) -> Substring { line.prefix { $0 != " " && $0 != "=" } }
        let replaced = Set(lines.map(key))
        let text = ([
            "milter_listen = unix:\(socketPath)", "milter_socket_mode = 0666", "milter_socket_group = none",
            "spamd_listen = off", "control_socket = \(directory.path)/control.sock",
            "checkpoint = \(directory.path)/models/current", "state_directory = \(directory.path)/state", "threads = 1",
        ].filter { !replaced.contains(key($0)) } + lines).joined(separator: "\n") + "\n"
        try text.write(to: config, atomically: true, encoding: .utf8)
        configuration = config
        let logURL = directory.appendingPathComponent("spamtuned-\(daemonLogs.count).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        daemonLogs.append(logURL)
        let process = Process()
        process.executableURL = ProjectPaths.builtProduct("spamtuned")
        process.arguments = ["--config", config.path]
        process.standardError = try FileHandle(forWritingTo: logURL)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        daemon = process
        let end = Date(timeIntervalSinceNow: 30)
        while Date() < end {
            if (try? MilterClient(unixSocket: socketPath, timeout: 1)) != nil { return }
            guard process.isRunning else { break }
            usleep(50_000)
        }
        throw MilterPostfixError("spamtuned did not start listening: \(daemonLog())")
    }

    func stopDaemon() {
        guard let process = daemon, process.isRunning else { return }
        process.terminate()
        let end = Date(timeIntervalSinceNow: 20)
        while process.isRunning && Date() < end { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        daemon = nil
    }

    func restartDaemon(_ lines: [String]) throws {
        stopDaemon()
        try startDaemon(lines)
    }

    func daemonLog() -> String {
        daemonLogs.compactMap { try? String(contentsOf: $0, encoding: .utf8) }.joined(separator: "\n---\n")
    }

    func diagnostics() -> String {
        "spamtuned:\n\(daemonLog().suffix(3000))\npostfix:\n\(postfix.logTail())"
    }

    /// A message with a unique Message-ID (to find it in the Maildir).
    func message(subject: String, body: String, extraHeaders: [String] = []) throws -> (id: String, bytes: [UInt8]) {
        let id = "\(UUID().uuidString.lowercased())@example.test"
        var text = "From: sender@example.test\r\nTo: user@example.test\r\nSubject: \(subject)\r\nMessage-ID: <\(id)>\r\n"
        text += "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        for header in extraHeaders { text += header + "\r\n" }
        text += "\r\n\(body)\r\n"
        return (id, Array(text.utf8))
    }

    func tearDown() {
        stopDaemon()
        postfix.stop()
        if ProcessInfo.processInfo.environment["SPAMTUNE_KEEP_TEST_FILES"] == nil {
            try? FileManager.default.removeItem(at: directory)
        }
    }
}

struct MilterPostfixError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The private Postfix of `Tests/harness/postfix-loopback.sh`.
final class MilterPostfixLoopback {
    let directory: URL
    let milterSocket: String
    let smtpPort: UInt16
    let defaultAction: String
    private var started = false

    init(directory: URL, milterSocket: String, smtpPort: UInt16, defaultAction: String = "tempfail") {
        self.directory = directory
        self.milterSocket = milterSocket
        self.smtpPort = smtpPort
        self.defaultAction = defaultAction
    }

    var environment: [String: String] {
        [
            "SPAMTUNE_HARNESS_DIR": directory.path, "SMTP_PORT": String(smtpPort), "MILTER_SOCKET": milterSocket,
            "MILTER_DEFAULT_ACTION": defaultAction,
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ]
    }

    var configDirectory: String { directory.appendingPathComponent("postfix/etc").path }

    func harness(_ script: String) -> URL { ProjectPaths.harness(script) }

    /// Starts Postfix (installing it first if missing). Tried again after a pause when it
    /// fails: on a fresh machine another test may be holding the package manager's lock.
    func start() throws {
        var failures: [String] = []
        for attempt in 1...3 {
            let result = try runProcess(URL(fileURLWithPath: "/bin/bash"), [harness("postfix-loopback.sh").path, "start"], environment: environment)
            if result.status == 0 {
                started = true
                return
            }
            failures.append("attempt \(attempt) (\(result.status)): \(result.standardError.suffix(2000))")
            sleep(10)
        }
        throw MilterPostfixError("postfix-loopback.sh start failed:\n" + failures.joined(separator: "\n"))
    }

    func stop() {
        guard started else { return }
        _ = try? runProcess(URL(fileURLWithPath: "/bin/bash"), [harness("postfix-loopback.sh").path, "stop"], environment: environment)
        started = false
    }

    /// Sends by SMTP with swaks; status 0 when accepted.
    func send(_ message: [UInt8], envelopeFrom: String? = nil) throws -> (status: Int32, transcript: String) {
        let file = directory.deletingLastPathComponent().appendingPathComponent("outgoing-\(UUID().uuidString).eml")
        try Data(message).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        var environment = environment
        if let envelopeFrom { environment["ENVELOPE_FROM"] = envelopeFrom }
        let result = try runProcess(URL(fileURLWithPath: "/bin/bash"), [harness("send-mail.sh").path, file.path], environment: environment)
        return (result.status, result.standardOutput + result.standardError)
    }

    /// Turns on SMTP AUTH in the running Postfix (after `start`, which rewrites main.cf):
    /// Cyrus SASL with PLAIN and LOGIN, checked against a sasldb of this one user
    /// (`saslpasswd2`, from Debian's sasl2-bin, installed when missing).
    func enableSASL(user: String, domain: String, password: String) throws {
        let installer = "source '\(harness("common.sh").path)' && ensure_pkgs saslpasswd2:sasl2-bin"
        let installed = try runProcess(URL(fileURLWithPath: "/bin/bash"), ["-c", installer], environment: environment)
        guard installed.status == 0 else { throw MilterPostfixError("cannot install sasl2-bin: \(installed.standardError)") }
        // Inside Postfix's configuration directory: with a cyrus_sasl_config_path beside
        // it, Debian 12's smtpd did not read smtpd.conf (it offered every mechanism and
        // looked in /etc/sasldb2); why was not found.
        let saslDirectory = URL(fileURLWithPath: configDirectory).appendingPathComponent("sasl")
        try FileManager.default.createDirectory(at: saslDirectory, withIntermediateDirectories: true)
        let database = saslDirectory.appendingPathComponent("sasldb2").path
        // Postfix's smtpd reads <cyrus_sasl_config_path>/<smtpd_sasl_path>.conf.
        try "pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\nsasldb_path: \(database)\n"
            .write(to: saslDirectory.appendingPathComponent("smtpd.conf"), atomically: true, encoding: .utf8)
        let stored = try runProcess(
            URL(fileURLWithPath: "/usr/sbin/saslpasswd2"), ["-p", "-c", "-f", database, "-u", domain, user], input: Data(password.utf8))
        guard stored.status == 0 else { throw MilterPostfixError("saslpasswd2: \(stored.standardError)") }
        // smtpd runs as user postfix.
        guard let postfix = getpwnam("postfix"), chown(database, postfix.pointee.pw_uid, 0) == 0 else {
            throw MilterPostfixError("cannot give \(database) to user postfix")
        }
        let settings = [
            "smtpd_sasl_auth_enable = yes", "smtpd_sasl_type = cyrus", "smtpd_sasl_path = smtpd",
            "cyrus_sasl_config_path = \(saslDirectory.path)", "smtpd_sasl_security_options = noanonymous",
        ]
        let configured = try runProcess(URL(fileURLWithPath: "/usr/sbin/postconf"), ["-c", configDirectory, "-e"] + settings, environment: environment)
        guard configured.status == 0 else { throw MilterPostfixError("postconf: \(configured.standardError)") }
        let reloaded = try runProcess(URL(fileURLWithPath: "/usr/sbin/postfix"), ["-c", configDirectory, "reload"], environment: environment)
        guard reloaded.status == 0 else { throw MilterPostfixError("postfix reload: \(reloaded.standardError)") }
    }

    /// Sends by SMTP with swaks after AUTH PLAIN as `login`; status 0 when accepted.
    func sendAuthenticated(_ message: [UInt8], login: String, password: String) throws -> (status: Int32, transcript: String) {
        let file = directory.deletingLastPathComponent().appendingPathComponent("outgoing-\(UUID().uuidString).eml")
        try Data(message).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try runProcess(
            URL(fileURLWithPath: "/usr/bin/swaks"),
            [
                "--server", "127.0.0.1", "--port", String(smtpPort), "--helo", "client.example.test", "--from", "user@example.test",
                "--to", "user@example.test", "--auth", "PLAIN", "--auth-user", login, "--auth-password", password, "--timeout", "120",
                "--data", "@" + file.path,
            ], environment: environment)
        return (result.status, result.standardOutput + result.standardError)
    }

    /// Submits through sendmail(1): pickup and cleanup, with non_smtpd_milters.
    func submitLocally(_ message: [UInt8]) throws -> ProcessResult {
        var environment = environment
        environment["MAIL_CONFIG"] = configDirectory
        return try runProcess(
            URL(fileURLWithPath: "/usr/sbin/sendmail"), ["-f", "sender@example.test", "user@example.test"], input: Data(message),
            environment: environment)
    }

    /// Asks Postfix to retry what it holds (maildrop and deferred queue).
    func flush() {
        _ = try? runProcess(URL(fileURLWithPath: "/usr/sbin/postqueue"), ["-c", configDirectory, "-f"], environment: environment)
    }

    /// Releases every message from the hold queue (postsuper -H ALL).
    func releaseHeld() {
        _ = try? runProcess(URL(fileURLWithPath: "/usr/sbin/postsuper"), ["-c", configDirectory, "-H", "ALL"], environment: environment)
        flush()
    }

    func waitForLog(_ text: String, seconds: Double) -> Bool {
        let end = Date(timeIntervalSinceNow: seconds)
        while Date() < end {
            if logTail().contains(text) { return true }
            usleep(100_000)
        }
        return logTail().contains(text)
    }

    /// The delivered message with this Message-ID, if any.
    func delivered(_ messageID: String, user: String = "user") -> String? {
        let folder = directory.appendingPathComponent("maildir/\(user)/new")
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return nil }
        for name in names {
            if let text = try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8), text.contains("<\(messageID)>") {
                return text
            }
        }
        return nil
    }

    func waitForDelivery(of messageID: String, seconds: Double = 30, flushing: Bool = false) -> String? {
        let end = Date(timeIntervalSinceNow: seconds)
        var lastFlush = Date()
        while Date() < end {
            if let text = delivered(messageID) { return text }
            if flushing && Date().timeIntervalSince(lastFlush) > 5 {
                flush()
                lastFlush = Date()
            }
            usleep(100_000)
        }
        return delivered(messageID)
    }

    func logTail() -> String {
        let log = (try? String(contentsOf: directory.appendingPathComponent("postfix/postfix.log"), encoding: .utf8)) ?? "(no log)"
        return String(log.suffix(4000))
    }
}

/// A connected Unix stream socket (it sends nothing).
func connectUnixSocket(_ path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
    }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard result == 0 else {
        let reason = String(cString: strerror(errno))
        close(fd)
        throw MilterPostfixError("connect \(path): \(reason)")
    }
    return fd
}

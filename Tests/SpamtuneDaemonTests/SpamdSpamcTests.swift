import Foundation
import SpamtuneTestClients
import SpamtuneTestSupport
import Testing

@testable import SpamtuneDaemon

#if canImport(Glibc)
import Glibc
#endif

/// The stock Debian spamc against the real spamtuned executable. A checkpoint with a
/// threshold of 0.01 makes every message spam, 0.99 every message ham.
@Suite("spamc against spamtuned", .serialized)
struct SpamdSpamcTests {
    init() throws {
        try Spamc.ensureInstalled()
    }

    @Test func checkExitsOneForSpamAndZeroForHam() throws {
        let spamBed = try SpamdTestBed(threshold: 0.01)
        defer { spamBed.tearDown() }
        let hamBed = try SpamdTestBed(threshold: 0.99)
        defer { hamBed.tearDown() }
        try spamBed.startExecutable(configuration: try spamBed.writeConfiguration())
        try hamBed.startExecutable(configuration: try hamBed.writeConfiguration())
        let message = SpamdTestBed.message("Your invoice")

        let spam = try Spamc.run(["-U", spamBed.spamdSocket, "-c"], input: message)
        #expect(spam.status == 1, "\(spam.standardError)\n\(spamBed.daemonLog)")
        #expect(spam.standardOutput.range(of: #"^\d+\.\d/0\.1\n$"#, options: .regularExpression) != nil, "\(spam.standardOutput)")

        let ham = try Spamc.run(["-U", hamBed.spamdSocket, "-c"], input: message)
        #expect(ham.status == 0, "\(ham.standardError)")
        #expect(ham.standardOutput.range(of: #"^\d\.\d/9\.9\n$"#, options: .regularExpression) != nil, "\(ham.standardOutput)")

        // The daemon logs one line per message, with the Message-ID.
        #expect(spamBed.daemonLog.contains("spamd id=<") && spamBed.daemonLog.contains("verdict=spam"))
    }

    @Test func everySpamcModeWorks() throws {
        let bed = try SpamdTestBed(threshold: 0.01)
        defer { bed.tearDown() }
        try bed.startExecutable(configuration: try bed.writeConfiguration())
        let message = SpamdTestBed.message("Cheap watches", body: "Buy now!\r\nLimited offer.\r\n")
        let originalText = String(decoding: message, as: UTF8.self)

        // Default: PROCESS, the message back with the verdict fields on top.
        let processed = try Spamc.run(["-U", bed.spamdSocket], input: message)
        #expect(processed.status == 0, "\(processed.standardError)")
        #expect(processed.standardOutput.hasPrefix("X-Spam-Flag: YES\r\nX-Spam-Score: "))
        #expect(processed.standardOutput.contains("X-Spam-Status: Yes, score="))
        #expect(processed.standardOutput.contains("required=0.1 tests=SPAMTUNE_SPAM,SPAMTUNE_P"))
        #expect(processed.standardOutput.hasSuffix("\r\n" + originalText))

        // -E: the exit status says spam in PROCESS mode too.
        #expect(try Spamc.run(["-U", bed.spamdSocket, "-E"], input: message).status == 1)

        // --headers: spamc puts the original body back after the rewritten header.
        let headers = try Spamc.run(["-U", bed.spamdSocket, "--headers"], input: message)
        // (The second request for the same text is answered from the cache and says so.)
        #expect(headers.standardOutput.replacingOccurrences(of: ",SPAMTUNE_CACHED", with: "") == processed.standardOutput)

        let report = try Spamc.run(["-U", bed.spamdSocket, "-R"], input: message)
        #expect(report.status == 0)
        let reportLines = report.standardOutput.components(separatedBy: "\n")
        #expect(reportLines[0].range(of: #"^\d+\.\d/0\.1$"#, options: .regularExpression) != nil)
        #expect(report.standardOutput.contains("Content analysis details:   ("))
        #expect(report.standardOutput.contains(" pts rule name              description"))

        let ifSpam = try Spamc.run(["-U", bed.spamdSocket, "-r"], input: message)
        #expect(ifSpam.standardOutput.contains("classified this message as spam"))

        let symbols = try Spamc.run(["-U", bed.spamdSocket, "-y"], input: message)
        #expect(symbols.standardOutput.range(of: #"^SPAMTUNE_SPAM,SPAMTUNE_P\d0(,SPAMTUNE_CACHED)?$"#, options: .regularExpression) != nil, "\(symbols.standardOutput)")

        let ping = try Spamc.run(["-U", bed.spamdSocket, "-K"], input: [])
        #expect(ping.status == 0)
        #expect(ping.standardOutput == "SPAMD/1.5 0\n")
        // (Debian builds spamc without zlib, so -z is tested with SpamdClient in SpamdServerTests.)
    }

    @Test func learnStoresIntoTheFeedbackStore() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        try bed.startExecutable(configuration: try bed.writeConfiguration())
        let message = SpamdTestBed.message("Learn me")

        let learned = try Spamc.run(["-U", bed.spamdSocket, "-L", "spam"], input: message)
        #expect(learned.status == 0, "\(learned.standardError)")
        #expect(learned.standardOutput == "Message successfully un/learned\n")
        #expect(bed.feedbackFiles("spam").count == 1)
        #expect(try Data(contentsOf: bed.feedbackFiles("spam")[0]) == Data(message))

        let again = try Spamc.run(["-U", bed.spamdSocket, "-L", "spam"], input: message)
        #expect(again.standardOutput == "Message was already un/learned\n")

        let relabelled = try Spamc.run(["-U", bed.spamdSocket, "-L", "ham"], input: message)
        #expect(relabelled.standardOutput == "Message successfully un/learned\n")
        #expect(bed.feedbackFiles("spam").isEmpty)
        #expect(bed.feedbackFiles("ham").count == 1)

        let forgotten = try Spamc.run(["-U", bed.spamdSocket, "-L", "forget"], input: message)
        #expect(forgotten.standardOutput == "Message successfully un/learned\n")
        #expect(bed.feedbackFiles("ham").isEmpty)
    }

    @Test func tcpWithAnAllowList() throws {
        let open = try SpamdTestBed(threshold: 0.01)
        defer { open.tearDown() }
        let openPort = try freeTCPPort()
        try open.startExecutable(
            configuration: try open.writeConfiguration(["spamd_tcp_listen = 127.0.0.1:\(openPort)", "spamd_allowed_networks = 127.0.0.1/32"]))
        let message = SpamdTestBed.message("Over TCP")
        let allowed = try Spamc.run(["-d", "127.0.0.1", "-p", "\(openPort)", "-c"], input: message)
        #expect(allowed.status == 1, "\(allowed.standardError)")
        #expect(allowed.standardOutput.hasSuffix("/0.1\n"))

        let closed = try SpamdTestBed(threshold: 0.01)
        defer { closed.tearDown() }
        let closedPort = try freeTCPPort()
        try closed.startExecutable(
            configuration: try closed.writeConfiguration(["spamd_tcp_listen = 127.0.0.1:\(closedPort)", "spamd_allowed_networks = 10.0.0.0/8, 192.168.0.0/16"]))
        // spamc's safe fallback: no verdict, the message is not called spam.
        let refused = try Spamc.run(["-d", "127.0.0.1", "-p", "\(closedPort)", "-c"], input: message)
        #expect(refused.standardOutput == "0/0\n")
        #expect(refused.status == 0)
        #expect(closed.daemonLog.contains("refused a connection from 127.0.0.1: not in spamd_allowed_networks"))
        // The Unix socket of that daemon still serves.
        #expect(try Spamc.run(["-U", closed.spamdSocket, "-c"], input: message).status == 1)
    }

    /// The same spamc commands against SpamAssassin's spamd (the harness's reference) and
    /// spamtuned: the lines clients parse are there in both, in the same places.
    @Test func answersLikeTheReferenceSpamd() throws {
        let harness = URL(fileURLWithPath: "/tmp/st-ref-\(UUID().uuidString.prefix(8).lowercased())")
        let script = ProjectPaths.harness("spamd-loopback.sh")
        // Every path the harness derives, set here: a caller's environment may carry others.
        let environment = ["SPAMTUNE_HARNESS_DIR": harness.path, "SPAMD_SOCKET": harness.appendingPathComponent("spamd.sock").path]
        defer {
            _ = try? runDaemonizingScript(script, ["stop"], environment: environment)
            try? FileManager.default.removeItem(at: harness)
        }
        let started = try runDaemonizingScript(script, ["start"], environment: environment)
        try #require(started.status == 0, "reference spamd did not start: \(started.output)")
        let reference = harness.appendingPathComponent("spamd.sock").path

        let bed = try SpamdTestBed(threshold: 0.01)
        defer { bed.tearDown() }
        try bed.startExecutable(configuration: try bed.writeConfiguration())
        // GTUBE makes the reference call it spam too.
        let message = SpamdTestBed.message("Test", body: "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n")

        for socket in [reference, bed.spamdSocket] {
            let check = try Spamc.run(["-U", socket, "-c"], input: message)
            #expect(check.status == 1, "\(socket)")
            #expect(check.standardOutput.range(of: #"^\d+\.\d/\d+\.\d\n$"#, options: .regularExpression) != nil, "\(socket): \(check.standardOutput)")

            let processed = try Spamc.run(["-U", socket], input: message).standardOutput
            for field in ["X-Spam-Flag: YES", "X-Spam-Status: Yes, score="] {
                #expect(processed.contains(field), "\(socket) lacks \(field)")
            }
            #expect(processed.range(of: #"required=\d+\.\d tests="#, options: .regularExpression) != nil, "\(socket)")

            let report = try Spamc.run(["-U", socket, "-R"], input: message).standardOutput
            #expect(report.contains("Content analysis details:   ("), "\(socket)")
            #expect(report.contains(" pts rule name              description\n---- ---------------------- ----"), "\(socket)")

            let ping = try Spamc.run(["-U", socket, "-K"], input: [])
            #expect(ping.standardOutput.hasPrefix("SPAMD/1."), "\(socket)")

            // Raw CHECK (spamc -c's request) and Exim's REPORT SPAMC/1.2, byte layout.
            let client = SpamdClient(address: .unix(path: socket), timeout: 60)
            let check15 = String(decoding: try client.exchange(SpamdClient.request(.check, message: message)), as: UTF8.self)
            #expect(check15.range(of: #"^SPAMD/1\.\d 0 EX_OK\r\nSpam: True ; \d+\.\d / \d+\.\d\r\n\r\n$"#, options: .regularExpression) != nil, "\(socket): \(check15.debugDescription)")
            let eximRequest = Array("REPORT SPAMC/1.2\r\nUser: mail\r\nContent-length: \(message.count)\r\n\r\n".utf8) + message
            let exim = String(decoding: try client.exchange(eximRequest), as: UTF8.self)
            #expect(exim.range(of: #"^SPAMD/1\.\d 0 EX_OK\r\nSpam: True ; \d+\.\d / \d+\.\d\r\n\r\n"#, options: .regularExpression) != nil, "\(socket): \(exim.prefix(120).debugDescription)")
        }
    }
}

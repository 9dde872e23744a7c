import Foundation
import SpamtuneConfiguration
import SpamtuneControl
import SpamtuneMail
import SpamtuneTestClients
import SpamtuneTestSupport
import Testing

@testable import SpamtuneDaemon

#if canImport(Glibc)
import Glibc
#endif

@Suite("spamd server in process", .serialized)
struct SpamdServerTests {
    @Test func answersEveryVerbOverTheUnixSocket() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        let daemon = try bed.daemon()
        defer { daemon.service.drainAndStop() }
        let server = try SpamdServer(context: daemon.context)
        defer { server.stop(graceful: false) }
        let client = SpamdClient(address: .unix(path: bed.spamdSocket), timeout: 30)
        let message = SpamdTestBed.message("Quarterly report")

        let expected = daemon.service.score(message, channel: .control)
        let check = try client.check(message)
        #expect(check.isSpam == expected.isSpam)
        #expect(check.threshold == 5.0)
        #expect(abs(check.score - expected.score(scale: 10)) <= 0.1)

        let pong = String(decoding: try client.exchange(SpamdClient.request(.ping, message: [])), as: UTF8.self)
        #expect(pong == "SPAMD/1.5 0 PONG\r\n")

        let symbols = String(decoding: try client.exchange(SpamdClient.request(.symbols, message: message)), as: UTF8.self)
        let band = Int(expected.spamProbability * 10) * 10
        #expect(symbols.hasSuffix("\r\n\r\n\(expected.isSpam ? "SPAMTUNE_SPAM" : "SPAMTUNE_HAM"),SPAMTUNE_P\(band < 10 ? "0" : "")\(band),SPAMTUNE_CACHED"))

        let processed = try client.exchange(SpamdClient.request(.process, message: message))
        let text = String(decoding: processed, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        #expect(parts[0].hasPrefix("SPAMD/1.5 0 EX_OK\r\nContent-length: "))
        let returned = Array(processed.suffix(from: parts[0].utf8.count + 4))
        #expect(returned.count == Int(parts[0].components(separatedBy: "Content-length: ")[1].components(separatedBy: "\r\n")[0]))
        let returnedText = String(decoding: returned, as: UTF8.self)
        #expect(returnedText.hasPrefix("X-Spam-Flag: \(expected.isSpam ? "YES" : "NO")\r\nX-Spam-Score: "))
        #expect(returnedText.hasSuffix(String(decoding: message, as: UTF8.self).components(separatedBy: "\r\n\r\n")[1]))

        let headers = String(decoding: try client.exchange(SpamdClient.request(.headers, message: message)), as: UTF8.self)
        #expect(headers.hasSuffix("Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n"))
        #expect(!headers.contains("Hello, this is a test message."))
    }

    /// The Message-ID for the log, the sender for the policy, the model's text and the
    /// rewrite all come from one parse, also when only the first part is scored.
    @Test func eachRequestParsesItsMessageOnce() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        var configuration = bed.configuration()
        configuration.maxMessageBytes = 2048
        configuration.cacheEntries = 0
        let log = LogCollector()
        let daemon = try bed.daemon(configuration, log: log)
        defer { daemon.service.drainAndStop() }
        let server = try SpamdServer(context: daemon.context)
        defer { server.stop(graceful: false) }
        let small = SpamdTestBed.message("Quarterly report")
        let large = SpamdTestBed.message("Annual report", body: String(repeating: "The figures are in the table below.\r\n", count: 200))
        #expect(large.count > 2 * configuration.maxMessageBytes)
        let peer = PeerIdentity(.localUser(uid: 1000, gid: 1000, pid: 1))
        for message in [small, large] {
            for verb in [SpamdVerb.check, .symbols, .report, .process, .headers] {
                let request = try #require(
                    try SpamdRequestReader(limits: SpamdLimits()).read(from: SpamdByteInput(SpamdClient.request(verb, message: message))))
                let counter = MailMessage.ParseCounter()
                let answer = MailMessage.$parseCounter.withValue(counter) { server.respond(to: request, from: peer) }
                #expect(counter.value == 1, "\(verb) of \(message.count) bytes parsed \(counter.value) times")
                let text = String(decoding: answer, as: UTF8.self)
                #expect(text.hasPrefix("SPAMD/1.5 0 EX_OK\r\n"))
                if verb == .process {
                    // Scored on its first part, answered with all of it.
                    #expect(text.hasSuffix(String(decoding: message.suffix(500), as: UTF8.self)))
                }
                if verb == .symbols {
                    #expect(text.contains("SPAMTUNE_TRUNCATED") == (message.count > configuration.maxMessageBytes))
                }
            }
        }
        let logged = log.lines.filter { $0.hasPrefix("spamd id=") }
        #expect(logged.count == 10)
        #expect(logged.allSatisfy { $0.contains(" id=<") && $0.contains(" from=alice@example.test ") })
        #expect(logged.suffix(5).allSatisfy { $0.contains(" bytes=\(configuration.maxMessageBytes) ") })
    }

    /// The names and scale the milter uses (MilterSessionTests) are spamd's too.
    @Test func headerNamesAndScaleComeFromTheConfiguration() throws {
        let bed = try SpamdTestBed(threshold: 0.99)
        defer { bed.tearDown() }
        var configuration = bed.configuration()
        configuration.flagHeader = "X-Junk"
        configuration.scoreHeader = "X-Junk-Score"
        configuration.statusHeader = "X-Junk-Report"
        configuration.scoreScale = 100
        let daemon = try bed.daemon(configuration)
        defer { daemon.service.drainAndStop() }
        let server = try SpamdServer(context: daemon.context)
        defer { server.stop(graceful: false) }
        let client = SpamdClient(address: .unix(path: bed.spamdSocket), timeout: 30)
        let message = Array("X-Junk: YES\r\n".utf8) + SpamdTestBed.message("Quarterly report")
        #expect(try client.check(message).threshold == 99.0)
        let processed = String(decoding: try client.exchange(SpamdClient.request(.process, message: message)), as: UTF8.self)
        let returned = processed.components(separatedBy: "\r\n\r\n")[1]
        #expect(returned.hasPrefix("X-Junk: NO\r\nX-Junk-Score: "))
        #expect(returned.contains("\r\nX-Junk-Report: No, score=") && returned.contains(" required=99.0 "))
        #expect(!returned.contains("X-Junk: YES") && !returned.contains("X-Spam-"))
    }

    /// spamc -z sends the body zlib-compressed (Debian's spamc is built without zlib, so
    /// Python's zlib makes a real stream here, with Huffman blocks).
    @Test func zlibCompressedRequestsAreInflated() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        let daemon = try bed.daemon()
        defer { daemon.service.drainAndStop() }
        let server = try SpamdServer(context: daemon.context)
        defer { server.stop(graceful: false) }
        let message = SpamdTestBed.message("Compressed", body: String(repeating: "All work and no play. ", count: 200) + "\r\n")
        let compressedFile = bed.root.appendingPathComponent("message.z")
        let python = try runProcess(
            URL(fileURLWithPath: "/usr/bin/python3"),
            ["-c", "import sys, zlib; open(sys.argv[1], 'wb').write(zlib.compress(sys.stdin.buffer.read(), 9))", compressedFile.path],
            input: Data(message))
        try #require(python.status == 0, "\(python.standardError)")
        let compressed = try Array(Data(contentsOf: compressedFile))
        #expect(compressed.count < message.count / 4)

        let client = SpamdClient(address: .unix(path: bed.spamdSocket), timeout: 30)
        let plain = try client.check(message)
        let request = Array("CHECK SPAMC/1.5\r\nCompress: zlib\r\nContent-length: \(compressed.count)\r\n\r\n".utf8) + compressed
        #expect(try SpamdClient.parseCheckAnswer(try client.exchange(request)) == plain)

        // PROCESS answers uncompressed, with the whole inflated message.
        let process = Array("PROCESS SPAMC/1.5\r\nCompress: zlib\r\nContent-length: \(compressed.count)\r\n\r\n".utf8) + compressed
        let answer = String(decoding: try client.exchange(process), as: UTF8.self)
        #expect(answer.hasSuffix(String(decoding: message, as: UTF8.self)))

        var damaged = compressed
        damaged[damaged.count / 2] ^= 0x55
        let refused = String(decoding: try client.exchange(
            Array("CHECK SPAMC/1.5\r\nCompress: zlib\r\nContent-length: \(damaged.count)\r\n\r\n".utf8) + damaged), as: UTF8.self)
        #expect(refused.hasPrefix("SPAMD/1.5 65 EX_DATAERR the compressed message cannot be read"))
    }

    @Test func tellLearnsAndForgetsThroughTheFeedbackStore() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        let daemon = try bed.daemon()
        defer { daemon.service.drainAndStop() }
        let server = try SpamdServer(context: daemon.context)
        defer { server.stop(graceful: false) }
        let client = SpamdClient(address: .unix(path: bed.spamdSocket), timeout: 30)
        let message = SpamdTestBed.message("Win a prize")

        func tell(_ headers: [String]) throws -> String {
            String(decoding: try client.exchange(SpamdClient.request(.tell, message: message, headers: headers)), as: UTF8.self)
        }
        #expect(try tell(["Message-class: spam", "Set: local"]) == "SPAMD/1.5 0 EX_OK\r\nDidSet: local\r\n\r\n")
        #expect(bed.feedbackFiles("spam").count == 1)
        #expect(try Array(Data(contentsOf: bed.feedbackFiles("spam")[0])) == message)
        // Learned already: nothing set, as spamd answers.
        #expect(try tell(["Message-class: spam", "Set: local"]) == "SPAMD/1.5 0 EX_OK\r\n\r\n")
        // Relabelled: it moves to ham.
        #expect(try tell(["Message-class: ham", "Set: local"]) == "SPAMD/1.5 0 EX_OK\r\nDidSet: local\r\n\r\n")
        #expect(bed.feedbackFiles("spam").isEmpty && bed.feedbackFiles("ham").count == 1)
        #expect(try tell(["Remove: local"]) == "SPAMD/1.5 0 EX_OK\r\nDidRemove: local\r\n\r\n")
        #expect(bed.feedbackFiles("ham").isEmpty)

        // The Message-ID for the log and the verdict fields the store strips come from one parse.
        let root = PeerIdentity(.localUser(uid: 0, gid: 0, pid: 1))
        for headers in [["Message-class: spam", "Set: local"], ["Remove: local"]] {
            let request = try #require(
                try SpamdRequestReader(limits: SpamdLimits()).read(from: SpamdByteInput(SpamdClient.request(.tell, message: message, headers: headers))))
            let counter = MailMessage.ParseCounter()
            let answer = MailMessage.$parseCounter.withValue(counter) { server.respond(to: request, from: root) }
            #expect(String(decoding: answer, as: UTF8.self).hasPrefix("SPAMD/1.5 0 EX_OK\r\n"))
            #expect(counter.value == 1, "TELL \(headers) parsed the message \(counter.value) times")
        }
    }

    @Test func tcpServesAllowedNetworksOnlyAndLogsRefusals() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        let log = LogCollector()
        var configuration = bed.configuration()
        configuration.spamdListen = nil
        let port = try freeTCPPort()
        configuration.spamdTCPListen = .tcp(host: "127.0.0.1", port: port)
        configuration.spamdAllowedNetworks = [try ClientNetwork(parsing: "127.0.0.0/8")]
        let daemon = try bed.daemon(configuration, log: log)
        defer { daemon.service.drainAndStop() }
        let allowed = try SpamdServer(context: daemon.context)
        #expect(allowed.name.contains("127.0.0.1:\(port) allowing 127.0.0.0/8"))
        let client = SpamdClient(address: .tcp(host: "127.0.0.1", port: port), timeout: 30)
        _ = try client.check(SpamdTestBed.message("over TCP"))
        allowed.stop(graceful: false)

        configuration.spamdAllowedNetworks = [try ClientNetwork(parsing: "10.0.0.0/8"), try ClientNetwork(parsing: "::1")]
        let second = try bed.daemon(configuration, log: log)
        defer { second.service.drainAndStop() }
        let refusing = try SpamdServer(context: second.context)
        defer { refusing.stop(graceful: false) }
        // Closed without a word: an empty answer, or a reset when the request was still unread.
        let answer = try? client.exchange(SpamdClient.request(.check, message: SpamdTestBed.message("refused")))
        #expect(answer?.isEmpty ?? true)
        #expect(log.lines.contains { $0.contains("refused a connection from 127.0.0.1: not in spamd_allowed_networks") })
    }

    @Test func garbageOnManyConnectionsNeverStopsTheServer() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        var configuration = bed.configuration()
        configuration.connectionTimeout = 2
        configuration.logLevel = .error
        let daemon = try bed.daemon(configuration)
        defer { daemon.service.drainAndStop() }
        let server = try SpamdServer(context: daemon.context)
        defer { server.stop(graceful: false) }
        let address = ListenAddress.unix(path: bed.spamdSocket)
        let seconds = Double(ProcessInfo.processInfo.environment["SPAMTUNE_FUZZ_SECONDS"] ?? "") ?? 3
        let end = Date(timeIntervalSinceNow: seconds)

        // A well-behaved client keeps asking while the fuzzers run; every answer must come.
        let validMessage = SpamdTestBed.message("steady client")
        let validResults = ResultBox()
        let validThread = Thread {
            let client = SpamdClient(address: address, timeout: 20)
            while Date() < end {
                do {
                    _ = try client.check(validMessage)
                    validResults.success()
                } catch {
                    validResults.failure("\(error)")
                }
            }
            validResults.finish()
        }
        validThread.start()

        let seeds = [
            SpamdClient.request(.check, message: validMessage),
            SpamdClient.request(.process, message: validMessage),
            SpamdClient.request(.tell, message: validMessage, headers: ["Message-class: spam", "Set: local"]),
            SpamdClient.request(.ping, message: []),
            SpamdClient.request(.check, message: validMessage, headers: ["Compress: zlib"]),
        ]
        let fuzzers = 3
        let rounds = ResultBox()
        DispatchQueue.concurrentPerform(iterations: fuzzers) { worker in
            var generator = SeededGenerator(seed: UInt64(worker + 1))
            while Date() < end {
                var bytes: [UInt8]
                if generator.next() % 4 == 0 {
                    bytes = (0..<Int(generator.next() % 600)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                } else {
                    bytes = seeds[Int(generator.next() % UInt64(seeds.count))]
                    for _ in 0..<(1 + Int(generator.next() % 6)) {
                        let position = bytes.isEmpty ? 0 : Int(generator.next() % UInt64(bytes.count))
                        switch generator.next() % 4 {
                        case 0 where !bytes.isEmpty: bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                        case 1: bytes.insert(contentsOf: Array("\r\nContent-length: 99999\r\n".utf8), at: position)
                        case 2 where !bytes.isEmpty: bytes.removeSubrange(position..<min(bytes.count, position + 8))
                        default: bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: position)
                        }
                    }
                }
                do {
                    let socket = try ClientSocket(connectingTo: address, timeout: 10)
                    try? socket.write(bytes)
                    // Mostly half-close as spamc does; sometimes leave the server waiting.
                    if generator.next() % 8 != 0 { socket.finishWriting() }
                    _ = try? socket.readToEnd()
                    socket.close()
                    rounds.success()
                } catch {
                    rounds.failure("connect: \(error)")
                }
            }
        }
        validResults.waitUntilFinished()
        #expect(rounds.successes > 20)
        #expect(rounds.failures.isEmpty)
        #expect(validResults.successes > 0)
        #expect(validResults.failures.isEmpty, "\(validResults.failures.prefix(3))")
        // And afterwards the server still answers.
        #expect(try SpamdClient(address: address, timeout: 20).check(validMessage).threshold == 5.0)
    }
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSCondition()
    private var successCount = 0
    private var failureMessages: [String] = []
    private var finished = false

    func success() {
        lock.lock()
        successCount += 1
        lock.unlock()
    }

    func failure(_ message: String) {
        lock.lock()
        failureMessages.append(message)
        lock.unlock()
    }

    func finish() {
        lock.lock()
        finished = true
        lock.broadcast()
        lock.unlock()
    }

    func waitUntilFinished() {
        lock.lock()
        while !finished { lock.wait() }
        lock.unlock()
    }

    var successes: Int {
        lock.lock()
        defer { lock.unlock() }
        return successCount
    }

    var failures: [String] {
        lock.lock()
        defer { lock.unlock() }
        return failureMessages
    }
}

import Foundation
import SpamtuneClassifier
import SpamtuneMail
import SpamtuneTestSupport
import Testing

@testable import SpamtuneDaemon

@Suite("spamd protocol: requests and answers")
struct SpamdProtocolTests {
    let reader: SpamdRequestReader = {
        var limits = SpamdLimits()
        limits.scoredBytes = 100
        limits.wholeMessageBytes = 1000
        return SpamdRequestReader(limits: limits)
    }()

    func read(_ text: String) throws(SpamdRequestError) -> SpamdRequest? {
        try reader.read(from: SpamdByteInput(Array(text.utf8)))
    }

    func readError(_ bytes: [UInt8]) -> SpamdRequestError? {
        do {
            _ = try reader.read(from: SpamdByteInput(bytes))
            return nil
        } catch {
            return error
        }
    }

    @Test func readsTheRequestsSpamcSends() throws {
        let check = try #require(try read("CHECK SPAMC/1.5\r\nUser: alice\r\nContent-length: 5\r\n\r\nHello"))
        #expect(check.verb == .check)
        #expect(check.version == SpamdProtocolVersion(1, 5))
        #expect(check.user == "alice")
        #expect(check.body == Array("Hello".utf8))

        let ping = try #require(try read("PING SPAMC/1.5\r\n\r\n"))
        #expect(ping.verb == .ping)

        let tell = try #require(try read("TELL SPAMC/1.5\r\nMessage-class: spam\r\nSet: local\r\nContent-length: 2\r\n\r\nhi"))
        #expect(tell.messageClass == .spam)
        #expect(tell.setDatabases == [.local])

        let forget = try #require(try read("TELL SPAMC/1.5\r\nRemove: local\r\nContent-length: 2\r\n\r\nhi"))
        #expect(forget.removeDatabases == [.local])
        #expect(forget.messageClass == nil)

        // Exim: REPORT SPAMC/1.2 with a User and a bare LF is tolerated too.
        let exim = try #require(try read("REPORT SPAMC/1.2\nUser: mail\nContent-length: 3\n\nabc"))
        #expect(exim.verb == .report && exim.body == Array("abc".utf8))

        // Header names in any case; unknown headers are ignored.
        let lenient = try #require(try read("SYMBOLS SPAMC/1.5\r\nX-Whatever: 1\r\ncontent-LENGTH: 1\r\n\r\nx"))
        #expect(lenient.body == [UInt8(ascii: "x")])
    }

    @Test func anEmptyConnectionIsNoRequest() throws {
        #expect(try read("") == nil)
    }

    @Test func withoutContentLengthTheBodyRunsToTheEnd() throws {
        let request = try #require(try read("PROCESS SPAMC/1.5\r\n\r\nall of this"))
        #expect(request.body == Array("all of this".utf8))
    }

    @Test func protocolErrorsNameWhatIsWrong() {
        let cases: [(String, String)] = [
            ("GET / HTTP/1.0\r\n\r\n", "is not a request line"),
            ("CHECK SPAMC/x\r\n\r\n", "is not a protocol version"),
            ("CHECK SPAMC/2.0\r\n\r\n", "is not spoken here"),
            ("CHECK SPAMC/1.5\r\nno colon here\r\n\r\n", "is not 'Name: value'"),
            ("CHECK SPAMC/1.5\r\nContent-length: -4\r\n\r\n", "is not a number of bytes"),
            ("CHECK SPAMC/1.5\r\nContent-length: 10\r\n\r\nshort", "Content-length mismatch"),
            ("CHECK SPAMC/1.5\r\nCompress: gzip\r\n\r\n", "is not supported"),
            ("CHECK SPAMC/1.5\r\nCompress: zlib\r\n\r\nxx", "needs a Content-length"),
            ("TELL SPAMC/1.5\r\nMessage-class: eggs\r\n\r\n", "neither spam nor ham"),
            ("TELL SPAMC/1.5\r\nSet: local\r\nContent-length: 1\r\n\r\nx", "needs Message-class"),
            ("TELL SPAMC/1.5\r\nMessage-class: spam\r\nSet: local\r\nRemove: local\r\n\r\n", "cannot both set and remove"),
            ("TELL SPAMC/1.5\r\nContent-length: 1\r\n\r\nx", "needs a Set or Remove"),
            ("CHECK SPAMC/1.5\r\nUser: a\u{1}b\r\n\r\n", "control characters"),
            ("CHECK SPAMC/1.5\r\nUser: x\r\n", "ended"),
        ]
        for (request, expected) in cases {
            let error = readError(Array(request.utf8))
            #expect(error?.status == .protocolError, "\(request.debugDescription)")
            #expect(error?.message.contains(expected) == true, "\(request.debugDescription): \(String(describing: error))")
        }
    }

    @Test func boundsEveryPart() {
        let longLine = "CHECK SPAMC/1.5" + String(repeating: " ", count: 300) + "\r\n\r\n"
        #expect(readError(Array(longLine.utf8))?.message.contains("longer than 256 bytes") == true)
        let longHeader = "CHECK SPAMC/1.5\r\nX: " + String(repeating: "a", count: 9000) + "\r\n\r\n"
        #expect(readError(Array(longHeader.utf8))?.message.contains("longer than 8192 bytes") == true)
        let manyHeaders = "CHECK SPAMC/1.5\r\n" + String(repeating: "X: y\r\n", count: 300) + "\r\n"
        #expect(readError(Array(manyHeaders.utf8))?.message.contains("more than 255 header lines") == true)
    }

    @Test func checkingVerbsKeepTheFirstPartOfALargeMessage() throws {
        let body = String(repeating: "a", count: 250)
        let request = try #require(try read("CHECK SPAMC/1.5\r\nContent-length: 250\r\n\r\n" + body))
        #expect(request.body.count == 100)
        #expect(request.messageBytes == 250)
        #expect(request.isTruncated)
    }

    @Test func verbsThatNeedTheWholeMessageRefuseOneTooLarge() {
        let body = String(repeating: "a", count: 1500)
        let error = readError(Array("PROCESS SPAMC/1.5\r\nContent-length: 1500\r\n\r\n\(body)".utf8))
        #expect(error?.status == .dataError)
        #expect(error?.message.contains("at most 1000") == true)
    }

    @Test func zlibBodiesAreInflatedAndChecked() throws {
        let message = Array("Subject: zipped\r\n\r\nsome text\r\n".utf8)
        let stream = Zlib.storedStream(message)
        let request = try #require(
            try reader.read(from: SpamdByteInput(Array("PROCESS SPAMC/1.5\r\nCompress: zlib\r\nContent-length: \(stream.count)\r\n\r\n".utf8) + stream)))
        #expect(request.body == message)
        #expect(request.isCompressed)

        var damaged = stream
        damaged[damaged.count - 1] ^= 0xFF
        let error = readError(Array("CHECK SPAMC/1.5\r\nCompress: zlib\r\nContent-length: \(damaged.count)\r\n\r\n".utf8) + damaged)
        #expect(error?.status == .dataError)
        #expect(error?.message.contains("Adler-32") == true)
    }

    @Test func adler32MatchesZlib() {
        // zlib.adler32(b"Wikipedia") == 0x11E60398
        #expect(Zlib.adler32(Array("Wikipedia".utf8)) == 0x11E6_0398)
        #expect(Zlib.adler32([]) == 1)
        let big = [UInt8](repeating: 0xFF, count: 100_000)
        #expect(Zlib.adler32(big) == naiveAdler32(big))
    }

    func naiveAdler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt64 = 1, b: UInt64 = 0
        for byte in bytes {
            a = (a + UInt64(byte)) % 65521
            b = (b + a) % 65521
        }
        return UInt32(b << 16 | a)
    }

    // MARK: Answers

    func verdict(_ probability: Double, threshold: Double = 0.5, outcome: Verdict.Outcome = .scored) -> Verdict {
        Verdict(
            outcome: outcome, decision: Decision(spamProbability: probability, threshold: threshold), tokens: 42,
            modelVersion: "v1", milliseconds: 3)
    }

    @Test func scoresAreTenthsOnTheConfiguredScale() {
        #expect(SpamdVerdictText(verdict: verdict(0.79), headers: VerdictHeaders()).score == "7.9")
        #expect(SpamdVerdictText(verdict: verdict(0.79), headers: VerdictHeaders()).requiredScore == "5.0")
        #expect(SpamdVerdictText(verdict: verdict(0.031), headers: VerdictHeaders()).score == "0.3")
        #expect(SpamdVerdictText(verdict: verdict(0.5), headers: VerdictHeaders()).score == "5.0")
        #expect(SpamdVerdictText(verdict: verdict(0.79), headers: VerdictHeaders(scale: 100)).score == "79.0")
    }

    @Test func hamNeverPrintsAScoreThatReachesTheThreshold() {
        // 0.4999 rounds to 5.0: Exim would compare 5.0 >= 5.0 and call it spam.
        let text = SpamdVerdictText(verdict: verdict(0.4999), headers: VerdictHeaders())
        #expect(!text.verdict.isSpam)
        #expect(text.score == "4.9")
    }

    @Test func symbolsNameTheVerdictAndItsBand() {
        #expect(SpamdVerdictText(verdict: verdict(0.79), headers: VerdictHeaders()).symbols == ["SPAMTUNE_SPAM", "SPAMTUNE_P70"])
        #expect(SpamdVerdictText(verdict: verdict(0.05), headers: VerdictHeaders()).symbols == ["SPAMTUNE_HAM", "SPAMTUNE_P00"])
        #expect(SpamdVerdictText(verdict: verdict(1.0, outcome: .cached), headers: VerdictHeaders(), truncated: true).symbols
            == ["SPAMTUNE_SPAM", "SPAMTUNE_P90", "SPAMTUNE_CACHED", "SPAMTUNE_TRUNCATED"])
        #expect(SpamdVerdictText(verdict: verdict(0, outcome: .failedOpen(reason: "late")), headers: VerdictHeaders()).symbols == ["SPAMTUNE_UNSCORED"])
    }

    func answer(_ verb: SpamdVerb, _ version: SpamdProtocolVersion, probability: Double = 0.79, message: [UInt8]? = nil) -> String {
        let request = SpamdRequest(verb: verb, version: version)
        return String(decoding: SpamdResponse.verdict(SpamdVerdictText(verdict: verdict(probability), headers: VerdictHeaders()), request: request, message: message), as: UTF8.self)
    }

    @Test func answersAreLaidOutAsSpamdLaysThemOut() {
        let v15 = SpamdProtocolVersion(1, 5)
        #expect(answer(.check, v15) == "SPAMD/1.5 0 EX_OK\r\nSpam: True ; 7.9 / 5.0\r\n\r\n")
        #expect(answer(.check, v15, probability: 0.2) == "SPAMD/1.5 0 EX_OK\r\nSpam: False ; 2.0 / 5.0\r\n\r\n")
        #expect(answer(.symbols, v15) == "SPAMD/1.5 0 EX_OK\r\nContent-length: 26\r\nSpam: True ; 7.9 / 5.0\r\n\r\nSPAMTUNE_SPAM,SPAMTUNE_P70")
        #expect(answer(.reportIfSpam, v15, probability: 0.1) == "SPAMD/1.5 0 EX_OK\r\nContent-length: 0\r\nSpam: No ; 1.0 / 5.0\r\n\r\n")
        #expect(answer(.process, v15, message: Array("M".utf8)) == "SPAMD/1.5 0 EX_OK\r\nContent-length: 1\r\nSpam: True ; 7.9 / 5.0\r\n\r\nM")
        // Before 1.3 the Spam line follows the status line directly and SYMBOLS ends in CRLF.
        #expect(answer(.symbols, SpamdProtocolVersion(1, 2)) == "SPAMD/1.5 0 EX_OK\r\nSpam: True ; 7.9 / 5.0\r\n\r\nSPAMTUNE_SPAM,SPAMTUNE_P70\r\n")
        #expect(answer(.process, SpamdProtocolVersion(1, 2), message: Array("M".utf8)) == "SPAMD/1.5 0 EX_OK\r\nContent-length: 1\r\n\r\nM")
        #expect(String(decoding: SpamdResponse.pong(), as: UTF8.self) == "SPAMD/1.5 0 PONG\r\n")
        #expect(String(decoding: SpamdResponse.tell(didSet: [.local], didRemove: []), as: UTF8.self) == "SPAMD/1.5 0 EX_OK\r\nDidSet: local\r\n\r\n")
        #expect(String(decoding: SpamdResponse.error(SpamdRequestError(.protocolError, "bad")), as: UTF8.self) == "SPAMD/1.5 76 EX_PROTOCOL bad\r\n")
    }

    /// Exim's spam.c reads a REPORT SPAMC/1.2 answer with
    /// `sscanf("SPAMD/%7s 0 EX_OK\r\nSpam: %*s ; %lf / %lf\r\n\r\n%n")`.
    @Test func eximReadsTheReportAnswer() throws {
        let text = answer(.report, SpamdProtocolVersion(1, 2))
        let prefix = "SPAMD/1.5 0 EX_OK\r\nSpam: True ; "
        #expect(text.hasPrefix(prefix))
        let rest = text.dropFirst(prefix.count)
        let numbers = String(rest).components(separatedBy: "\r\n")[0].components(separatedBy: " / ")
        #expect(numbers.compactMap(Double.init) == [7.9, 5.0])
        #expect(rest.contains("\r\n\r\nspamtune model v1 classified this message as spam."))
        #expect(text.contains("Content analysis details:   (7.9 points, 5.0 required)"))
    }

    @Test func processAddsTheVerdictFieldsAndHeadersStopsAtTheBlankLine() throws {
        let message = Array("X-Spam-Flag: forged\nSubject: hi\n\nbody line\n".utf8)
        let fields = SpamdVerdictText(verdict: verdict(0.79), headers: VerdictHeaders()).headerFields
        let whole = String(decoding: try SpamdResponse.rewrittenMessage(MailMessage(bytes: message), fields: fields, headersOnly: false), as: UTF8.self)
        #expect(whole == "X-Spam-Flag: YES\nX-Spam-Score: 7.9\nX-Spam-Status: Yes, score=7.9 required=5.0 tests=SPAMTUNE_SPAM,SPAMTUNE_P70 model=v1\nSubject: hi\n\nbody line\n")
        let headers = String(decoding: try SpamdResponse.rewrittenMessage(MailMessage(bytes: message), fields: fields, headersOnly: true), as: UTF8.self)
        #expect(headers == "X-Spam-Flag: YES\nX-Spam-Score: 7.9\nX-Spam-Status: Yes, score=7.9 required=5.0 tests=SPAMTUNE_SPAM,SPAMTUNE_P70 model=v1\nSubject: hi\n\n")
    }

    @Test func mutatedRequestsNeverCrashTheReader() {
        var generator = SeededGenerator(seed: 6)
        let seeds = [
            "CHECK SPAMC/1.5\r\nContent-length: 5\r\n\r\nHello",
            "TELL SPAMC/1.5\r\nMessage-class: spam\r\nSet: local\r\nContent-length: 2\r\n\r\nhi",
            "PING SPAMC/1.5\r\n\r\n",
        ].map { Array($0.utf8) }
        let seconds = Double(ProcessInfo.processInfo.environment["SPAMTUNE_FUZZ_SECONDS"] ?? "") ?? 1
        let end = Date(timeIntervalSinceNow: seconds)
        var rounds = 0
        while Date() < end {
            var bytes = seeds[Int(generator.next() % UInt64(seeds.count))]
            for _ in 0..<(1 + Int(generator.next() % 8)) {
                let position = bytes.isEmpty ? 0 : Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 4 {
                case 0 where !bytes.isEmpty: bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                case 1: bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: position)
                case 2 where !bytes.isEmpty: bytes.remove(at: position)
                default: bytes += (0..<Int(generator.next() % 64)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                }
            }
            _ = readError(bytes)  // any answer is fine; it must not crash or hang
            rounds += 1
        }
        #expect(rounds > 100)
    }
}

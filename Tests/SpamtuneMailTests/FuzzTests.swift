import Foundation
import SpamtuneMail
import SpamtuneTestSupport
import Testing

/// Random and mutated messages for a bounded time: no crash, no hang (each message
/// within a time bound), output within the limits, the body kept byte for byte by a
/// header rewrite. SPAMTUNE_FUZZ_SECONDS sets the time (default 10),
/// SPAMTUNE_FUZZ_SEED the seed (default: from the clock, printed so a failure can be
/// replayed); SPAMTUNE_FUZZ_DUMP a file to write the slowest message to.
@Suite(.serialized) struct FuzzTests {
    static let seconds = Double(ProcessInfo.processInfo.environment["SPAMTUNE_FUZZ_SECONDS"] ?? "") ?? 10
    static let seed = UInt64(ProcessInfo.processInfo.environment["SPAMTUNE_FUZZ_SEED"] ?? "")
        ?? UInt64(Date().timeIntervalSince1970 * 1000)
    /// Per message, in a debug build on a shared machine; real messages take microseconds.
    static let secondsPerMessageAllowed = 5.0

    static let seeds: [[UInt8]] = {
        let directory = ProjectPaths.fixture("mail")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".eml") }.sorted().compactMap {
            (try? Data(contentsOf: directory.appendingPathComponent($0))).map { [UInt8]($0) }
        }
    }()

    /// Pieces of mail syntax that mutations splice in, so that random input reaches
    /// deep into the parsers instead of stopping at the first header.
    static let tokens: [[UInt8]] = [
        "\n", "\r\n", "\n\n", " ", "\t", ":", ";", "=", "\"", "<", ">", "--", "--b", "--b--", "\n--b\n", "=?", "?=",
        "=?utf-8?b?", "=?iso-2022-jp?q?", "?q?", "?B?", "Content-Type: multipart/mixed; boundary=b\n",
        "Content-Type: multipart/alternative; boundary=\"b\"\n", "Content-Type: message/rfc822\n\n",
        "Content-Type: text/html; charset=", "Content-Transfer-Encoding: base64\n", "Content-Transfer-Encoding: quoted-printable\n",
        "Content-Disposition: attachment; filename*0*=utf-8''%E2%82; filename*1=x\n", "charset=shift_jis", "charset=euc-jp",
        "charset=gbk", "charset=utf-16", "From ", ">From ", "Subject: ", "From: \"a\" <b@c>\n", "<a href=\"http://", "</a>",
        "<script>", "<!--", "-->", "<pre>", "&#x", "&#", "&amp", ";", "\u{1B}$B", "\u{1B}(B", "\u{1B}$(D", "=\n", "=C3=A9",
        "\u{0}", "\u{FF}", "\u{80}", "\u{8F}",
    ].map { Array($0.utf8) }

    @Test func randomAndMutatedMessages() throws {
        var random = SplitMix64(seed: FuzzTests.seed)
        print("FuzzTests seed \(FuzzTests.seed) (SPAMTUNE_FUZZ_SEED), \(FuzzTests.seconds) s (SPAMTUNE_FUZZ_SECONDS)")
        #expect(!FuzzTests.seeds.isEmpty)
        let deadline = Date().addingTimeInterval(FuzzTests.seconds)
        var count = 0, slowest = 0.0, totalBytes = 0
        var slowestInput: [UInt8] = []
        while Date() < deadline {
            let input = FuzzTests.makeInput(&random)
            // Sometimes tight limits, so that every limit is reached now and then.
            let limits = random.next() % 4 == 0
                ? MailParsingLimits(maxHeaderFields: Int(random.next() % 20), maxHeaderBytes: Int(random.next() % 2000),
                                    maxMIMEDepth: Int(random.next() % 5), maxParts: Int(random.next() % 10) + 1,
                                    maxDecodedBytes: Int(random.next() % 5000), maxTextCharacters: Int(random.next() % 500),
                                    maxHeaderTextCharacters: Int(random.next() % 100), maxAttachmentNames: Int(random.next() % 4))
                : MailParsingLimits.default
            let start = Date()
            try FuzzTests.check(input, limits: limits)
            let elapsed = Date().timeIntervalSince(start)
            if elapsed > slowest { slowest = elapsed; slowestInput = input }
            #expect(elapsed < FuzzTests.secondsPerMessageAllowed, "seed \(FuzzTests.seed), message \(count) took \(elapsed) s")
            count += 1
            totalBytes += input.count
        }
        print("FuzzTests: \(count) messages, \(totalBytes) bytes, slowest \(String(format: "%.3f", slowest)) s (\(slowestInput.count) bytes)")
        if let path = ProcessInfo.processInfo.environment["SPAMTUNE_FUZZ_DUMP"] {
            try Data(slowestInput).write(to: URL(fileURLWithPath: path))
        }
        #expect(count > 0)
    }

    static func check(_ input: [UInt8], limits: MailParsingLimits) throws {
        let message = MailMessage(bytes: input, limits: limits)
        let content = message.content()
        #expect(message.fields.count <= limits.maxHeaderFields)
        #expect(message.bodyOffset <= input.count && message.headerRange.upperBound <= message.bodyOffset)
        #expect(content.bodyText.unicodeScalars.count <= limits.maxTextCharacters)
        #expect(content.subject.unicodeScalars.count <= limits.maxHeaderTextCharacters)
        #expect(content.sender.displayName.unicodeScalars.count <= limits.maxHeaderTextCharacters)
        #expect(content.attachmentNames.count <= limits.maxAttachmentNames)
        for layout in TextLayout.allCases {
            let text = layout.classificationText(for: content)
            #expect(text.unicodeScalars.count <= HostileInputTests.maxClassificationCharacters(limits))
            // Normalised text is stable: normalising it again changes nothing.
            #expect(TextNormalizer.normalize(content.bodyText).text == content.bodyText)
        }
        let (root, _) = message.mimeStructure()
        #expect(root.allParts.count <= limits.maxParts)
        #expect(root.allParts.allSatisfy { $0.depth <= limits.maxMIMEDepth && $0.bodyRange.upperBound <= input.count })
        let rewritten = try message.replacingHeaderFields(with: [("X-Spam-Flag", "YES"), ("X-Spam-Score", "1.0\nsecond line")])
        #expect(HostileInputTests.sameBytes(rewritten.suffix(input.count - message.bodyOffset), message.body))
        let reparsed = MailMessage(bytes: rewritten, limits: .default)
        #expect(reparsed.fields(named: "X-Spam-Flag").map(\.rawValue) == ["YES"])
    }

    static func makeInput(_ random: inout SplitMix64) -> [UInt8] {
        switch random.next() % 10 {
        case 0:
            // Random bytes.
            return (0..<Int(random.next() % 4096)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        case 1:
            // Random tokens: syntax without a message around it.
            return (0..<Int(random.next() % 300)).flatMap { _ in tokens[Int(random.next() % UInt64(tokens.count))] }
        default:
            var bytes = seeds[Int(random.next() % UInt64(seeds.count))]
            for _ in 0..<Int(random.next() % 8) + 1 { mutate(&bytes, &random) }
            return bytes
        }
    }

    static func mutate(_ bytes: inout [UInt8], _ random: inout SplitMix64) {
        func position() -> Int { bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count + 1)) }
        switch random.next() % 7 {
        case 0:
            for _ in 0..<Int(random.next() % 16) + 1 where !bytes.isEmpty {
                bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
            }
        case 1:
            bytes.insert(contentsOf: tokens[Int(random.next() % UInt64(tokens.count))], at: position())
        case 2:
            let start = position(), end = min(bytes.count, start + Int(random.next() % 200))
            bytes.removeSubrange(start..<end)
        case 3:
            let start = position(), end = min(bytes.count, start + Int(random.next() % 400))
            let piece = Array(bytes[start..<end])
            let copies = Int(random.next() % 50) + 1
            bytes.insert(contentsOf: Array(repeating: piece, count: copies).joined(), at: position())
        case 4:
            bytes.removeLast(min(bytes.count, Int(random.next() % 300)))
        case 5:
            // Splice in part of another seed.
            let other = seeds[Int(random.next() % UInt64(seeds.count))]
            let start = other.isEmpty ? 0 : Int(random.next() % UInt64(other.count))
            bytes.insert(contentsOf: other[start..<min(other.count, start + Int(random.next() % 2000))], at: position())
        default:
            bytes = bytes.map { $0 == ASCII.lineFeed && random.next() % 3 == 0 ? ASCII.carriageReturn : $0 }
        }
    }

    /// Every charset decoder and the HTML converter on random bytes.
    @Test func decodersOnRandomBytes() {
        var random = SplitMix64(seed: FuzzTests.seed ^ 0x9E37_79B9)
        let charsets = MailCharset.knownNameKeys
        let deadline = Date().addingTimeInterval(min(5, FuzzTests.seconds / 2))
        var count = 0
        while Date() < deadline {
            let length = Int(random.next() % 2048)
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if random.next() % 2 == 0 { bytes = bytes.map { $0 & 0x7F } }
            let charset = charsets[Int(random.next() % UInt64(charsets.count))]
            let text = MailCharset.decode(bytes, charsetName: charset)
            // Never more characters than bytes (plus one replacement for a trailing
            // fragment), and HTML conversion never grows text much.
            #expect(text.unicodeScalars.count <= bytes.count + 1, "\(charset)")
            let input = String(decoding: bytes, as: UTF8.self)
            let html = HTMLText.text(fromHTML: input)
            #expect(html.utf8.count <= 2 * input.utf8.count + 16)
            _ = EncodedWords.decode(String(decoding: bytes, as: UTF8.self))
            count += 1
        }
        print("FuzzTests: \(count) random decodes")
    }
}

/// A small, fast, seedable generator (Steele et al., "Fast splittable pseudorandom
/// number generators"), so that a fuzz failure can be replayed from its seed.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}

enum ASCII {
    static let lineFeed: UInt8 = 0x0A
    static let carriageReturn: UInt8 = 0x0D
}

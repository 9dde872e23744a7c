import Foundation
import SpamtuneMail
import Testing

/// The hostile messages of issue 5. Each must parse without a crash, within a time
/// bound, keep output within the limits, and still give the text that fits.
/// Serialized: some build 50 MB inputs, and the time bounds assume a quiet machine
/// (generous, since tests run as debug builds on a shared 2-core machine).
@Suite(.serialized) struct HostileInputTests {
    /// Parses `bytes` fully (tree, content, both layouts, a header rewrite) and checks
    /// the bounds that hold for every message.
    @discardableResult
    static func parseEverything(_ bytes: [UInt8], limits: MailParsingLimits = .default,
                                secondsAllowed: Double) throws -> (MailContent, seconds: Double) {
        let start = Date()
        let message = MailMessage(bytes: bytes, limits: limits)
        let content = message.content()
        let texts = TextLayout.allCases.map { message.classificationText(layout: $0) }
        let rewritten = try message.replacingHeaderFields(with: [("X-Spam-Flag", "YES")])
        let seconds = Date().timeIntervalSince(start)
        #expect(seconds < secondsAllowed, "took \(seconds) s")
        #expect(message.fields.count <= limits.maxHeaderFields)
        #expect(content.bodyText.unicodeScalars.count <= limits.maxTextCharacters)
        #expect(content.subject.unicodeScalars.count <= limits.maxHeaderTextCharacters)
        #expect(content.attachmentNames.count <= limits.maxAttachmentNames)
        for text in texts { #expect(text.unicodeScalars.count <= maxClassificationCharacters(limits)) }
        #expect(sameBytes(rewritten.suffix(bytes.count - message.bodyOffset), message.body), "the body changed")
        return (content, seconds)
    }

    /// memcmp, because a debug build compares 50 MB element by element in seconds.
    static func sameBytes(_ first: ArraySlice<UInt8>, _ second: ArraySlice<UInt8>) -> Bool {
        first.count == second.count && first.withUnsafeBytes { a in
            second.withUnsafeBytes { b in a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 }
        }
    }

    /// The longest text a layout can give: body, subject, name, domain and the
    /// attachment list, each within its limit, v3's signals (Reply-To domain, list,
    /// mailer and type, each one line within the limit, and the link hosts), plus labels
    /// and separators.
    static func maxClassificationCharacters(_ limits: MailParsingLimits) -> Int {
        limits.maxTextCharacters + 3 * limits.maxHeaderTextCharacters
            + limits.maxAttachmentNames * (limits.maxHeaderTextCharacters + 2)
            + 4 * limits.maxHeaderTextCharacters + MailSignals.maximumLinkHosts * (limits.maxHeaderTextCharacters + 2) + 128
    }

    @Test func tenThousandNestedMultiparts() throws {
        var text = "Subject: deep\nContent-Type: multipart/mixed; boundary=b0\n\n"
        for depth in 1...10_000 { text += "--b\(depth - 1)\nContent-Type: multipart/mixed; boundary=b\(depth)\n\n" }
        text += "--b10000\nContent-Type: text/plain\n\nbottom\n"
        let (content, _) = try HostileInputTests.parseEverything(Array(text.utf8), secondsAllowed: 10)
        #expect(content.limitHits.contains(.mimeDepth))
        #expect(content.subject == "deep")
    }

    @Test func tenThousandNestedMessagesAndSameBoundaries() throws {
        let messages = String(repeating: "Content-Type: message/rfc822\n\n", count: 10_000) + "Subject: x\n\nbottom"
        let (nested, _) = try HostileInputTests.parseEverything(Array(messages.utf8), secondsAllowed: 10)
        #expect(nested.limitHits.contains(.mimeDepth))

        let same = "Content-Type: multipart/mixed; boundary=b\n\n"
            + String(repeating: "--b\nContent-Type: multipart/mixed; boundary=b\n\n", count: 10_000) + "text"
        let (sameBoundary, _) = try HostileInputTests.parseEverything(Array(same.utf8), secondsAllowed: 10)
        #expect(sameBoundary.limitHits.contains(.parts))
    }

    @Test func aMillionHeaderFields() throws {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(12_000_000)
        bytes += Array("Subject: many fields\n".utf8)
        let line = Array("X-Field: value\n".utf8)
        for _ in 0..<1_000_000 { bytes += line }
        bytes += Array("\nthe body is still found\n".utf8)
        let (content, _) = try HostileInputTests.parseEverything(bytes, secondsAllowed: 20)
        #expect(content.limitHits.contains(.headerFields))
        #expect(content.subject == "many fields")
        #expect(content.bodyText == "the body is still found")
    }

    @Test func aFiftyMegabyteLineInTheBody() throws {
        let header = Array("Subject: long line\nContent-Type: text/plain\n\n".utf8)
        let bytes = header + [UInt8](repeating: UInt8(ascii: "a"), count: 50 * 1024 * 1024)
        let (content, _) = try HostileInputTests.parseEverything(bytes, secondsAllowed: 20)
        #expect(content.limitHits.isSuperset(of: [.decodedBytes, .textCharacters]))
        #expect(content.bodyText.unicodeScalars.count == MailParsingLimits.default.maxTextCharacters)
    }

    @Test func aFiftyMegabyteHeaderLineAndHTMLLine() throws {
        var bytes = Array("Subject: ".utf8) + [UInt8](repeating: UInt8(ascii: "s"), count: 50 * 1024 * 1024)
        bytes += Array("\nContent-Type: text/html\n\n".utf8)
        let (header, _) = try HostileInputTests.parseEverything(bytes + Array("<p>short body</p>".utf8), secondsAllowed: 20)
        #expect(header.limitHits.isSuperset(of: [.headerBytes, .headerTextCharacters]))
        // The Content-Type field lies beyond maxHeaderBytes: the body is read as plain text.
        #expect(header.bodyText == "<p>short body</p>")

        let html = Array("Content-Type: text/html\n\n".utf8)
            + Array(String(repeating: "<b>x</b>&amp;<a href=http://h.example/>", count: 1_000_000).utf8)
        let (body, _) = try HostileInputTests.parseEverything(html, secondsAllowed: 20)
        #expect(String(body.bodyText.prefix(34)) == "x&x& (h.example) x& (h.example) x&")
    }

    @Test func truncatedBase64AndAnUnclosedBoundary() throws {
        let encoded = Data(String(repeating: "spam ", count: 200_000).utf8).base64EncodedString()
        let truncated = "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n" + encoded.dropLast(3)
        let (text, _) = try HostileInputTests.parseEverything(Array(truncated.utf8), secondsAllowed: 10)
        #expect(String(text.bodyText.prefix(9)) == "spam spam")

        var unclosed = "Content-Type: multipart/mixed; boundary=\"never\"\n\n"
        for index in 0..<100_000 { unclosed += "--never\nContent-Type: text/plain\n\npart \(index)\n" }
        let (parts, _) = try HostileInputTests.parseEverything(Array(unclosed.utf8), secondsAllowed: 10)
        #expect(parts.limitHits.contains(.parts))
        #expect(String(parts.bodyText.prefix(14)) == "part 0\n\npart 1")
    }

    @Test func pathologicalHeaderValues() throws {
        // Many "=?" with no end, a value of quotes and brackets, and RFC 2231 sections.
        // Together within the 256 KiB header budget, so that Content-Type is read.
        let encodedWords = "Subject: " + String(repeating: "=?a?q?x", count: 15_000) + "\n"
        let from = "From: " + String(repeating: "\"<(", count: 10_000) + "\n"
        var sections = "Content-Type: application/x; "
        for index in (0..<3_000).reversed() { sections += "name*\(index)*=utf-8''%41; " }
        let message = encodedWords + from + sections + "\n\nbody"
        let (content, _) = try HostileInputTests.parseEverything(Array(message.utf8), secondsAllowed: 10)
        #expect(String(content.subject.prefix(14)) == "=?a?q?x=?a?q?x")
        #expect(content.attachmentNames.count == 1)
    }

    @Test func adjacentEncodedWordsAreLinear() throws {
        let words = "Subject: " + String(repeating: "=?utf-8?q?a?= ", count: 18_000) + "\n\nbody"
        let (content, _) = try HostileInputTests.parseEverything(Array(words.utf8), secondsAllowed: 10)
        #expect(content.subject == String(repeating: "a", count: MailParsingLimits.default.maxHeaderTextCharacters))
    }

    @Test func hostileCharsetBytes() throws {
        // Bytes that are malformed in each multi-byte charset, and a long unmappable run.
        for charset in ["gbk", "big5", "shift_jis", "euc-kr", "euc-jp", "iso-2022-jp", "utf-16", "utf-7", "hz-gb-2312"] {
            var bytes = Array("Content-Type: text/plain; charset=\(charset)\n\n".utf8)
            for index in 0..<400_000 { bytes.append(UInt8(truncatingIfNeeded: index &* 7919 &+ 0x81)) }
            bytes += [UInt8](repeating: 0x81, count: 100_000)
            bytes += Array(repeating: [0x81, 0xAD], count: 50_000).joined()
            try HostileInputTests.parseEverything(bytes, secondsAllowed: 10)
        }
    }
}

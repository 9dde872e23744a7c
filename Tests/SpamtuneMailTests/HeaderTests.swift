import Foundation
import SpamtuneMail
import Testing

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite struct HeaderTests {
    @Test func fieldsKeepOrderDuplicatesAndTheirBytes() throws {
        let text = "Received: a\nreceived: b\nSubject: Hello\n  world\nX-Empty:\n\nbody\n"
        let message = MailMessage(bytes: bytes(text))
        #expect(message.fields.map(\.name) == ["Received", "received", "Subject", "X-Empty"])
        #expect(message.fields(named: "RECEIVED").map(\.rawValue) == ["a", "b"])
        #expect(message.fields(named: "subject").first?.rawValue == "Hello  world")
        #expect(message.fields(named: "X-Empty").first?.rawValue == "")
        #expect(message.fields(named: "Missing").isEmpty)
        let subject = try #require(message.fields(named: "Subject").first)
        #expect(Array(message.bytes[subject.byteRange]) == bytes("Subject: Hello\n  world\n"))
        #expect(message.headerRange == 0..<text.utf8.count - 6)
        #expect(message.headerByteCount == text.utf8.count - 6)
        #expect(Array(message.body) == bytes("body\n"))
        #expect(message.lineEnding == .lf)
        #expect(message.mboxFromLine == nil)
    }

    @Test func crlfAndMboxFromLine() {
        let fromLine = "From someone@example.org Mon Jan  1 00:00:00 2024\r\n"
        let text = fromLine + "Subject: CRLF\r\n\tfolded\r\nFrom: a@b.example\r\n\r\nBody\r\n"
        let message = MailMessage(bytes: bytes(text))
        #expect(message.mboxFromLine == 0..<fromLine.utf8.count)
        #expect(message.lineEnding == .crlf)
        #expect(message.fields.map(\.name) == ["Subject", "From"])
        #expect(message.firstValue(named: "subject") == "CRLF\tfolded")
        #expect(message.subject == "CRLF folded")
        #expect(message.headerRange == fromLine.utf8.count..<(text.utf8.count - 8))
        #expect(Array(message.body) == bytes("Body\r\n"))
    }

    @Test func decodedValueAndRawValue() {
        let message = MailMessage(bytes: bytes("Subject: =?utf-8?q?caf=C3=A9?= =?utf-8?b?w6k=?= done\n\n"))
        let field = message.fields[0]
        #expect(field.rawValue == "=?utf-8?q?caf=C3=A9?= =?utf-8?b?w6k=?= done")
        #expect(field.decodedValue == "caféé done")
    }

    @Test func eightBitHeadersReadAsUTF8OrWindows1252() {
        let utf8 = MailMessage(bytes: bytes("Subject: Grüße\n\n"))
        #expect(utf8.subject == "Grüße")
        let latin1 = MailMessage(bytes: [UInt8]("Subject: Gr".utf8) + [0xFC, 0xDF, 0x65, 0x0A, 0x0A])
        #expect(latin1.subject == "Grüße")
    }

    @Test func messageWithoutHeaderOrBody() {
        let empty = MailMessage(bytes: [])
        #expect(empty.fields.isEmpty && empty.headerByteCount == 0 && empty.bodyOffset == 0)
        let headerOnly = MailMessage(bytes: bytes("Subject: only a header"))
        #expect(headerOnly.fields.count == 1 && headerOnly.body.isEmpty)
        let bodyOnly = MailMessage(bytes: bytes("\nno header at all\n"))
        #expect(bodyOnly.fields.isEmpty && bodyOnly.bodyOffset == 1)
    }

    @Test func headerLimitsKeepWhatFitsAndFindTheBody() {
        var text = ""
        for index in 0..<100 { text += "X-Field-\(index): value \(index)\n" }
        text += "\nthe body\n"
        let limits = MailParsingLimits(maxHeaderFields: 10)
        let message = MailMessage(bytes: bytes(text), limits: limits)
        #expect(message.fields.count == 10)
        #expect(message.headerLimitHits == [.headerFields])
        #expect(Array(message.body) == bytes("the body\n"))

        let longValue = "Subject: " + String(repeating: "x", count: 5000) + "\n\nbody"
        let cut = MailMessage(bytes: bytes(longValue), limits: MailParsingLimits(maxHeaderBytes: 100))
        #expect(cut.fields.count == 1)
        #expect(cut.fields[0].isTruncated)
        #expect(cut.fields[0].rawValue.count == 91)
        #expect(cut.headerLimitHits.contains(.headerBytes))
        #expect(Array(cut.body) == bytes("body"))
    }

    @Test(arguments: [
        ("Alice Example <alice@Example.ORG>", "Alice Example", "example.org"),
        ("\"Doe, John\" <john@doe.example>", "Doe, John", "doe.example"),
        ("john@doe.example (John Doe)", "John Doe", "doe.example"),
        ("john@doe.example", "", "doe.example"),
        ("<john@doe.example>", "", "doe.example"),
        ("=?utf-8?B?5bGx55Sw?= <yamada@example.jp>", "山田", "example.jp"),
        ("\"=?iso-8859-1?q?Ren=E9?=\" <r@x.example>", "René", "x.example"),
        ("Team: a@one.example, b@two.example;", "", "one.example"),
        ("First <a@one.example>, Second <b@two.example>", "First", "one.example"),
        ("\"support@paypal.com\" <x@evil.example>", "support@paypal.com", "evil.example"),
        ("Just a name", "Just a name", ""),
        ("\"unterminated <a@b.example>", "unterminated <a@b.example>", ""),
        ("", "", ""),
    ])
    func sender(_ value: String, displayName: String, domain: String) {
        let sender = MailSender(fromFieldValue: value)
        #expect(sender.displayName == displayName)
        #expect(sender.domain == domain)
    }
}

/// A large message's first part, read as the model reads it, without parsing the header twice.
@Suite struct MessagePrefixTests {
    func sameReading(_ cut: MailMessage, _ parsed: MailMessage) {
        #expect(cut.bytes == parsed.bytes)
        #expect(cut.fields.map(\.byteRange) == parsed.fields.map(\.byteRange))
        #expect(cut.headerRange == parsed.headerRange && cut.bodyOffset == parsed.bodyOffset)
        #expect(cut.headerLimitHits == parsed.headerLimitHits)
        #expect(cut.classificationText(layout: .latest) == parsed.classificationText(layout: .latest))
    }

    @Test func aPrefixReadsAsTheCutBytesParsedAnew() {
        let text = "From: Alice <alice@example.test>\r\nSubject: Quarterly report\r\nMessage-ID: <1@example.test>\r\n\r\n"
            + String(repeating: "The figures are in the table below.\r\n", count: 100)
        let message = MailMessage(bytes: bytes(text))
        for count in [0, 10, 40, 90, 91, 92, 93, 94, 500, 3000, text.utf8.count, text.utf8.count + 10] {
            let counter = MailMessage.ParseCounter()
            let cut = MailMessage.$parseCounter.withValue(counter) { message.prefix(count) }
            sameReading(cut, MailMessage(bytes: Array(bytes(text).prefix(count))))
            // Parsed again only when the cut falls inside the header.
            #expect(counter.value == (count < message.bodyOffset ? 1 : 0))
        }
    }
}

@Suite struct HeaderRewriteTests {
    @Test func addsFieldsAtTheTopAndRemovesSameNamedOnes() throws {
        let original = "From x@y Mon Jan  1 00:00:00 2024\r\nX-Spam-Flag: NO\r\nSubject: hi\r\nX-Spam-Status: old\r\n  folded old\r\nTo: z@y\r\n\r\nBody line\r\n>From quoted\r\n"
        let message = MailMessage(bytes: bytes(original))
        let rewritten = try message.replacingHeaderFields(with: [("X-Spam-Flag", "YES"), ("X-Spam-Status", "Yes, score=0.97")])
        let expected = "From x@y Mon Jan  1 00:00:00 2024\r\nX-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=0.97\r\nSubject: hi\r\nTo: z@y\r\n\r\nBody line\r\n>From quoted\r\n"
        #expect(String(decoding: rewritten, as: UTF8.self) == expected)
        let reparsed = MailMessage(bytes: rewritten)
        #expect(Array(reparsed.body) == Array(message.body))
        #expect(reparsed.fields(named: "x-spam-flag").map(\.rawValue) == ["YES"])
    }

    @Test func foldsMultiLineValuesAndKeepsLF() throws {
        let message = MailMessage(bytes: bytes("Subject: s\n\nbody"))
        let rewritten = try message.replacingHeaderFields(with: [("X-Spam-Report", "line one\nline two\r\n\nline three")])
        #expect(String(decoding: rewritten, as: UTF8.self) == "X-Spam-Report: line one\n\tline two\n\tline three\nSubject: s\n\nbody")
    }

    @Test func keepsTheBodyOfABrokenHeaderApart() throws {
        let message = MailMessage(bytes: bytes("Subject: s\nnot a header line\nmore body\n"))
        let rewritten = try message.replacingHeaderFields(with: [("X-Spam-Flag", "YES")])
        #expect(String(decoding: rewritten, as: UTF8.self) == "X-Spam-Flag: YES\nSubject: s\n\nnot a header line\nmore body\n")
    }

    @Test func rejectsAnInvalidFieldName() {
        let message = MailMessage(bytes: bytes("Subject: s\n\nbody"))
        #expect(throws: HeaderRewriteError.invalidFieldName("X Spam")) {
            try message.replacingHeaderFields(with: [("X Spam", "YES")])
        }
        #expect(throws: HeaderRewriteError.invalidFieldName("")) {
            try message.replacingHeaderFields(with: [("", "YES")])
        }
    }

    @Test func removesFieldsBeyondTheParsingLimits() throws {
        var text = ""
        for index in 0..<50 { text += "X-Other-\(index): v\n" }
        text += "X-Spam-Flag: NO\n\nbody"
        let message = MailMessage(bytes: bytes(text), limits: MailParsingLimits(maxHeaderFields: 5))
        let rewritten = String(decoding: try message.replacingHeaderFields(with: [("X-Spam-Flag", "YES")]), as: UTF8.self)
        #expect(rewritten.hasPrefix("X-Spam-Flag: YES\nX-Other-0: v\n"))
        #expect(!rewritten.contains("X-Spam-Flag: NO"))
        #expect(rewritten.hasSuffix("X-Other-49: v\n\nbody"))
    }
}

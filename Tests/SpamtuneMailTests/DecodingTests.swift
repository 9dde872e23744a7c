import Foundation
import SpamtuneMail
import Testing

@Suite struct EncodedWordTests {
    @Test(arguments: [
        ("=?UTF-8?B?SGVsbG8=?=", "Hello"),
        ("=?utf-8?q?a_b=20c?=", "a b c"),
        ("=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab"),
        ("=?ISO-8859-1?Q?a?=\r\n =?UTF-8?Q?b?=", "ab"),
        ("x =?utf-8?q?y?= z", "x y z"),
        ("prefix=?utf-8?q?inside?=suffix", "prefixinsidesuffix"),
        ("=?utf-8*en?q?with_language?=", "with language"),
        ("=?utf-8?x?unknown encoding?=", "=?utf-8?x?unknown encoding?="),
        ("=?utf-8?q?never closed", "=?utf-8?q?never closed"),
        ("=?utf-8?q?space inside?=", "=?utf-8?q?space inside?="),
        ("=??q?no charset?=", "=??q?no charset?="),
        ("=?x-unknown?q?caf=C3=A9?=", "café"),
        ("=?utf-8?b?!!!invalid***?=", "\u{FFFD}{\u{0696}'"),
        ("no encoded words = ? here", "no encoded words = ? here"),
    ])
    func decode(_ input: String, _ expected: String) {
        #expect(EncodedWords.decode(input) == expected)
    }
}

@Suite struct TransferEncodingTests {
    func decode(_ encoding: TransferEncoding, _ text: String, limit: Int = .max) -> (String, Bool) {
        let header = "Content-Transfer-Encoding: \(encoding.rawValue)\nContent-Type: text/plain; charset=utf-8\n\n"
        let message = MailMessage(bytes: Array(header.utf8) + Array(text.utf8), limits: MailParsingLimits(maxDecodedBytes: limit))
        #expect(message.mimeStructure().root.transferEncoding == encoding)
        let content = message.content()
        return (content.bodyText, content.limitHits.contains(.decodedBytes))
    }

    @Test func base64IsTolerant() {
        #expect(decode(.base64, "SGVs\r\nbG8g\n d29y bGQ=").0 == "Hello world")
        #expect(decode(.base64, "SGVsbG8=IHdvcmxk").0 == "Hello world")  // padding mid-stream
        #expect(decode(.base64, "SGVsbG8g*** d29ybGQ").0 == "Hello world")  // junk, no padding
        #expect(decode(.base64, "SGVsbG8gd29ybGQ").0 == "Hello world")
        #expect(decode(.base64, "S").0 == "")
        #expect(decode(.base64, "SGVsbG8gd29ybGQ=", limit: 5) == ("Hello", true))
    }

    @Test func quotedPrintableIsTolerant() {
        #expect(decode(.quotedPrintable, "caf=C3=A9 =\r\nsoft=   \nbreak").0 == "café softbreak")
        #expect(decode(.quotedPrintable, "lower =c3=a9 and =ZZ stray and =").0 == "lower é and =ZZ stray and")
        #expect(decode(.quotedPrintable, "0123456789", limit: 4) == ("0123", true))
    }

    @Test func fieldValues() {
        #expect(TransferEncoding(fieldValue: " Base64 ") == .base64)
        #expect(TransferEncoding(fieldValue: "quoted-printable (comment)") == .quotedPrintable)
        #expect(TransferEncoding(fieldValue: "8bit") == .identity)
        #expect(TransferEncoding(fieldValue: "x-uuencode") == .identity)
        #expect(TransferEncoding(fieldValue: nil) == .identity)
    }
}

@Suite struct ParameterTests {
    @Test func contentTypeParameters() throws {
        let type = try #require(ContentType(fieldValue: "Multipart/Mixed; boundary=\"a b\\\"c\" (comment); CHARSET = utf-8 ;x=y"))
        #expect(type.mimeType == "multipart/mixed")
        #expect(type.parameter("boundary") == "a b\"c")
        #expect(type.parameter("charset") == "utf-8")
        #expect(type.parameter("X") == "y")
        #expect(ContentType(fieldValue: "garbage") == nil)
        #expect(ContentType(fieldValue: "text")?.mimeType == "text/plain")
        #expect(ContentType(fieldValue: "text/html;charset=\"iso-8859-1\"")?.parameter("charset") == "iso-8859-1")
    }

    @Test func rfc2231() {
        let continued = ParameterizedValue("attachment; filename*0*=iso-8859-1'de'%E4rger; filename*1=lich.txt; filename=\"fallback.txt\"")
        #expect(continued.value == "attachment")
        #expect(continued.parameter("filename") == "ärgerlich.txt")
        let single = ParameterizedValue("inline; filename*=UTF-8''%E2%82%AC%20rates.pdf")
        #expect(single.parameter("filename") == "€ rates.pdf")
        let encodedWord = ParameterizedValue("attachment; filename=\"=?UTF-8?B?w6ku?=pdf\"")
        #expect(encodedWord.parameter("filename") == "é.pdf")
        // A boundary is never RFC 2047 decoded.
        #expect(ParameterizedValue("multipart/mixed; boundary==?utf-8?q?x?=").parameter("boundary") == "=?utf-8?q?x?=")
    }
}

@Suite struct HTMLTextTests {
    @Test(arguments: [
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        ("a<br>b<br/>c<BR >d", "a\nb\nc\nd"),
        ("<div>a</div><div>b</div>", "a\nb"),
        ("<ol><li>x<li>y</ol>after", "- x\n- y\n\nafter"),
        ("<a href=\"https://Example.COM/path\">click</a>", "click (example.com)"),
        ("<a href=https://x.example/>https://x.example/</a>", "https://x.example/"),
        ("<a href=\"//cdn.example/i\">i</a>", "i (cdn.example)"),
        ("<a href=\"www.example.org/x\">x</a>", "x (www.example.org)"),
        ("<a href=\"http://%65vil.example\">e</a>", "e (evil.example)"),
        ("<a href=\"http://[2001:db8::1]:80/\">v6</a>", "v6 ([2001:db8::1])"),
        ("<a href=\"javascript:alert(1)\">js</a>", "js"),
        ("<a href=\"http://x.example\">link</a>.", "link (x.example)."),
        ("<a href=\"http://a.example\">A</a><a href=\"http://b.example\">B</a>C", "A (a.example) B (b.example) C"),
        ("<img src=a.png alt='Buy now'>", "Buy now"),
        ("<script>alert('<b>')</script>ok<style>b{}</style>", "ok"),
        ("<SCRIPT>never closed", ""),
        ("<title>t</title>body", "body"),
        ("a<!-- c -->b<!---->c<!-->d", "abcd"),
        ("<!DOCTYPE html><?xml x?>text", "text"),
        ("1 < 2 > 0 &lt;&gt;&amp;&quot;&#39;&apos;", "1 < 2 > 0 <>&\"''"),
        ("&#x1F600; &#128512; &#150; &#0; &#xD800; &#99999999999;", "\u{1F600} \u{1F600} \u{2013} \u{FFFD} \u{FFFD} \u{FFFD}"),
        ("&copy &copyright &nbsp;x &NBSP; &Eacute;", "\u{A9} \u{A9}right x \u{C9}"),
        ("&unknown; & &; &#; &#x;", "&unknown; & &; &#; &#x;"),
        ("<pre>a  b\n  c</pre>d", "\n\na  b\n  c\n\nd"),
        ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "\n\na b\nc\n\n"),
        ("<a href='unterminated>text", ""),
        ("<p class=\"x>y\">quoted gt</p>", "\n\nquoted gt\n\n"),
    ])
    func convert(_ html: String, _ expected: String) {
        let text = HTMLText.text(fromHTML: html)
        // Layout is TextNormalizer's job; compare normalised unless breaks are the point.
        if expected.hasPrefix("\n") {
            #expect(text.trimmingCharacters(in: .whitespaces) == expected.trimmingCharacters(in: .whitespaces))
        } else {
            #expect(TextNormalizer.normalize(text).text == expected)
        }
    }
}

@Suite struct TextNormalizerTests {
    @Test func rules() {
        #expect(TextNormalizer.normalize("  a \t b  \r\n\r\n\r\n c \u{0B} d\u{2028}e  ").text == "a b\n\nc\nd\ne")
        #expect(TextNormalizer.normalize("x\u{00A0}\u{3000}\u{2009}y").text == "x y")
        #expect(TextNormalizer.normalize("z\u{200B}e\u{00AD}r\u{FEFF}o\u{202E}\u{0007}").text == "zero")
        #expect(TextNormalizer.normalize("a\r\rb").text == "a\n\nb")
        #expect(TextNormalizer.normalize("line\none", singleLine: true).text == "line one")
        #expect(TextNormalizer.normalize("e\u{301}").text == "\u{E9}")
        #expect(TextNormalizer.normalize("\u{1100}\u{1161}").text == "\u{AC00}")
        #expect(TextNormalizer.normalize("").text == "")
        #expect(TextNormalizer.normalize(" \n\t ").text == "")
    }

    @Test func cutsByScalarsCountingSeparators() {
        let result = TextNormalizer.normalize("abc   def\n\n\nghi", maxCharacters: 9)
        #expect(result.text == "abc def")
        #expect(result.wasCut)
        let exact = TextNormalizer.normalize("abc def", maxCharacters: 7)
        #expect(exact.text == "abc def" && !exact.wasCut)
        #expect(TextNormalizer.normalize("😀😀😀", maxCharacters: 2).text == "😀😀")
        let nothing = TextNormalizer.normalize("abc", maxCharacters: 0)
        #expect(nothing.text == "" && nothing.wasCut)
    }

    @Test func isIdempotent() {
        let samples = ["  a \t b \r\n\r\n\r\n c", "e\u{301}\u{200B}x", "x\n\n\ny", "😀 \u{3000} 😀"]
        for sample in samples {
            let once = TextNormalizer.normalize(sample).text
            #expect(TextNormalizer.normalize(once).text == once)
        }
    }
}

@Suite struct TextLayoutTests {
    let content = MailContent(subject: "  Big   sale ", sender: MailSender(displayName: "Shop\tTeam", domain: "shop.example"),
                              bodyText: "Line one.\n\n\n\nLine two.", attachmentNames: ["a.pdf", " ", "b.zip"])

    @Test func v1() {
        #expect(TextLayout.v1.classificationText(for: content) == "Subject: Big sale\n\nLine one.\n\nLine two.")
        #expect(TextLayout.v1.classificationText(for: MailContent(subject: "only", bodyText: "")) == "Subject: only")
        #expect(TextLayout.v1.classificationText(for: MailContent(bodyText: "only body")) == "only body")
    }

    @Test func v2() {
        #expect(TextLayout.v2.classificationText(for: content)
                == "From: Shop Team (shop.example)\nSubject: Big sale\nAttachments: a.pdf, b.zip\n\nLine one.\n\nLine two.")
        let nameOnly = MailContent(sender: MailSender(displayName: "Name", domain: ""), bodyText: "b")
        #expect(TextLayout.v2.classificationText(for: nameOnly) == "From: Name\n\nb")
        let domainOnly = MailContent(sender: MailSender(displayName: "", domain: "d.example"), bodyText: "")
        #expect(TextLayout.v2.classificationText(for: domainOnly) == "From: (d.example)")
        #expect(TextLayout.v2.classificationText(for: MailContent(bodyText: "")) == "")
    }

    @Test func plainTextIsTheSameInEveryLayout() {
        let sms = "Free entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005.\tText FA to 87121"
        for layout in TextLayout.allCases {
            #expect(layout.classificationText(plainText: sms)
                    == "Free entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005. Text FA to 87121")
        }
        let cut = TextLayout.v2.classificationText(plainText: "abcdef", limits: MailParsingLimits(maxTextCharacters: 3))
        #expect(cut == "abc")
    }

    @Test func rawValuesAreStableForCheckpoints() throws {
        #expect(TextLayout.v1.rawValue == "v1")
        #expect(TextLayout.v2.rawValue == "v2")
        #expect(TextLayout.latest == .v2)
        let encoded = try JSONEncoder().encode(["layout": TextLayout.v2])
        #expect(String(decoding: encoded, as: UTF8.self) == "{\"layout\":\"v2\"}")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(TextLayout.self, from: Data("\"v9\"".utf8)) }
    }

    @Test func v3ReadsTheHeaderSignals() {
        let raw = """
            From: "Deals" <news@shop.example>
            Reply-To: claims@other.example
            Subject: Win big
            List-Id: Shop news <news.shop.example>
            X-Mailer: MassMailer 5.1
            X-Spam-Status: Yes, score=9.9
            MIME-Version: 1.0
            Content-Type: text/html; charset=us-ascii

            <p>Click <a href="http://win.example/x?id=1">here</a> or www.more.example/y and http://win.example/z</p>
            """
        let text = MailMessage(bytes: Array(raw.utf8)).classificationText(layout: .v3)
        #expect(text == """
            From: Deals (shop.example)
            Reply-To: (other.example)
            Subject: Win big
            List: news.shop.example
            Mailer: MassMailer 5.1
            Type: text/html
            Links: win.example, www.more.example

            Click here (win.example) or www.more.example/y and http://win.example/z
            """)
        // Another filter's verdict is never read; the same domain in Reply-To says nothing new.
        #expect(!text.contains("score=9.9"))
        let plain = MailMessage(bytes: Array("From: A <a@b.example>\nReply-To: c@b.example\nSubject: S\n\nBody".utf8))
        #expect(plain.classificationText(layout: .v3) == "From: A (b.example)\nSubject: S\nType: text/plain\n\nBody")
    }

    @Test func linkHostsAreDistinctAndBounded() {
        let text = "(a.example) https://B.example/x ftp://c.example www.d.example http://e.example (not a host) (x.y)"
        #expect(MailSignals.hosts(in: text) == ["a.example", "b.example", "c.example", "www.d.example"])
    }

    @Test func messageAndContentAgree() {
        let message = MailMessage(bytes: Array("From: A <a@b.example>\nSubject: S\n\nBody".utf8))
        #expect(message.classificationText(layout: .v1) == "Subject: S\n\nBody")
        #expect(message.classificationText(layout: .v2) == "From: A (b.example)\nSubject: S\n\nBody")
    }
}

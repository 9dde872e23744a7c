import SpamtuneMail
import Testing

/// The header words the token evidence reads: a message's relays, mailer and sender, not
/// who received it, when, or what another filter said.
@Suite struct HeaderWordsTests {
    private func keys(_ header: String) -> [UInt64] {
        HeaderWords.keys(of: MailMessage(bytes: bytes(header + "\n\nThe body is not read here.\n")))
    }

    @Test func wordsAreTaggedByTheirFieldAndCaseIsIgnored() {
        let received = keys("Received: from mx1.example.net ([192.0.2.7]) by mail.site.example")
        #expect(received.count == 5, "from, mx1.example.net, 192.0.2.7, by, mail.site.example")
        #expect(keys("RECEIVED: FROM MX1.Example.NET ([192.0.2.7]) BY Mail.Site.Example") == received)
        // The same words in another field are other keys.
        #expect(Set(keys("X-Relay: from mx1.example.net ([192.0.2.7]) by mail.site.example")).isDisjoint(with: received))
        // A repeated word counts once; order does not matter.
        #expect(keys("Received: by mail.site.example by mail.site.example from mx1.example.net 192.0.2.7").count == 5)
    }

    @Test func recipientsDatesAndOtherFiltersVerdictsAreNotRead() {
        let unread = """
            To: victim@site.example
            Cc: other@site.example
            Date: Tue, 6 Aug 2002 10:00:00 +0100
            Delivered-To: victim@site.example
            X-Spam-Status: Yes, hits=12.3 required=5.0
            X-Spam-Flag: YES
            X-Barracuda-Spam-Score: 9.1
            Status: RO
            """
        #expect(keys(unread).isEmpty)
        #expect(keys(unread + "\nX-Mailer: Microsoft Outlook Express 6.00").count == 4)
    }

    @Test func wordsAreBoundedPerFieldAndInLength() {
        let many = (0..<100).map { "word\($0)" }.joined(separator: " ")
        #expect(keys("Subject: " + many).count == HeaderWords.maximumWordsPerField)
        let long = String(repeating: "x", count: 41)
        #expect(keys("Subject: a \(long) -- ... ok").count == 1, "one letter, 41 letters and punctuation alone are not words")
    }
}

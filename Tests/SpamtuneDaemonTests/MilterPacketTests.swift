import Foundation
import Testing

@testable import SpamtuneDaemon
import SpamtuneTestClients

/// Decoding what the MTA sends: every command, and the malformed packets that must be
/// refused with a clear error rather than misread.
@Suite struct MilterPacketTests {
    func decode(_ command: MilterCommand, _ data: [UInt8]) throws -> MilterEvent {
        try MilterEvent(packet: MilterPacket(command, data))
    }

    func text(_ string: String) -> [UInt8] { Array(string.utf8) + [0] }

    @Test func encodesLengthCodeAndData() {
        let packet = MilterPacket(MilterReplyCode.addHeader, text("X-Spam-Flag") + text("YES"))
        #expect(packet.encoded == [0, 0, 0, 17, UInt8(ascii: "h")] + text("X-Spam-Flag") + text("YES"))
        #expect(MilterPacket(MilterReplyCode.continue).encoded == [0, 0, 0, 1, UInt8(ascii: "c")])
    }

    @Test func decodesEveryCommand() throws {
        #expect(
            try decode(.optionNegotiation, [0, 0, 0, 6, 0, 0, 1, 0xff, 0, 0x1f, 0xff, 0xff])
                == .optionNegotiation(version: 6, actions: MilterActions(rawValue: 0x1ff), options: MilterProtocolOptions(rawValue: 0x1fffff)))
        #expect(
            try decode(.macros, [UInt8(ascii: "M")] + text("i") + text("4ABC") + text("{mail_addr}") + text("a@b"))
                == .macros(stage: UInt8(ascii: "M"), [(Array("i".utf8), Array("4ABC".utf8)), (Array("{mail_addr}".utf8), Array("a@b".utf8))]))
        #expect(try decode(.macros, [UInt8(ascii: "C")]) == .macros(stage: UInt8(ascii: "C"), []))
        #expect(
            try decode(.connect, text("mail.example.test") + [UInt8(ascii: "4"), 0x9c, 0x40] + text("192.0.2.7"))
                == .connect(hostname: Array("mail.example.test".utf8), family: .inet, port: 40000, address: Array("192.0.2.7".utf8)))
        #expect(
            try decode(.connect, text("[2001:db8::1]") + [UInt8(ascii: "6"), 0, 25] + text("2001:db8::1"))
                == .connect(hostname: Array("[2001:db8::1]".utf8), family: .inet6, port: 25, address: Array("2001:db8::1".utf8)))
        #expect(
            try decode(.connect, text("localhost") + [UInt8(ascii: "L"), 0, 0] + text("/run/x.sock"))
                == .connect(hostname: Array("localhost".utf8), family: .unix, port: 0, address: Array("/run/x.sock".utf8)))
        #expect(try decode(.connect, text("unknown") + [UInt8(ascii: "U")]) == .connect(hostname: Array("unknown".utf8), family: .unknown, port: nil, address: nil))
        #expect(try decode(.helo, text("client.example.test")) == .helo(Array("client.example.test".utf8)))
        #expect(try decode(.mail, text("<a@b>") + text("SIZE=100") + text("BODY=8BITMIME")) == .mail(arguments: [Array("<a@b>".utf8), Array("SIZE=100".utf8), Array("BODY=8BITMIME".utf8)]))
        #expect(try decode(.recipient, text("<c@d>")) == .recipient(arguments: [Array("<c@d>".utf8)]))
        #expect(try decode(.data, []) == .data)
        #expect(try decode(.header, text("Subject") + text("hello\n\tworld")) == .header(name: Array("Subject".utf8), value: Array("hello\n\tworld".utf8)))
        #expect(try decode(.header, text("X-Empty") + text("")) == .header(name: Array("X-Empty".utf8), value: []))
        #expect(try decode(.endOfHeaders, []) == .endOfHeaders)
        #expect(try decode(.body, [1, 0, 2, 0]) == .body([1, 0, 2, 0]))
        #expect(try decode(.endOfBody, []) == .endOfBody(finalChunk: []))
        #expect(try decode(.endOfBody, Array("tail\r\n".utf8)) == .endOfBody(finalChunk: Array("tail\r\n".utf8)))
        #expect(try decode(.abort, []) == .abort)
        #expect(try decode(.quit, []) == .quit)
        #expect(try decode(.quitNewConnection, []) == .quitNewConnection)
        #expect(try decode(.unknown, text("XYZZY plugh")) == .unknown(Array("XYZZY plugh".utf8)))
    }

    @Test func refusesMalformedPackets() {
        let cases: [(MilterPacket, String)] = [
            (MilterPacket(code: 0x7a), "unknown command 'z'"),
            (MilterPacket(code: 0x01), "unknown command 0x1"),
            (MilterPacket(MilterCommand.optionNegotiation, [0, 0, 0, 6, 0, 0]), "the actions is missing"),
            (MilterPacket(.macros, []), "the command the macros are for is missing"),
            (MilterPacket(.macros, [UInt8(ascii: "M")] + text("i")), "the value of macro i is missing"),
            (MilterPacket(.connect, text("host") + [UInt8(ascii: "X")]), "unknown address family 0x58"),
            (MilterPacket(.connect, text("host") + [UInt8(ascii: "4"), 0]), "the client port is missing"),
            (MilterPacket(.connect, text("host") + [UInt8(ascii: "4"), 0, 25] + Array("1.2.3.4".utf8)), "the client address does not end in a NUL byte"),
            (MilterPacket(.helo, Array("no terminator".utf8)), "the HELO name does not end in a NUL byte"),
            (MilterPacket(.helo, text("a") + [7]), "1 bytes after the last field"),
            (MilterPacket(.mail, []), "the address is missing"),
            (MilterPacket(.header, text("") + text("v")), "an empty header name"),
            (MilterPacket(.header, text("Subject")), "the header value is missing"),
            (MilterPacket(.data, [1]), "1 bytes after the last field"),
            (MilterPacket(.quit, [0, 0]), "2 bytes after the last field"),
        ]
        for (packet, message) in cases {
            #expect {
                _ = try MilterEvent(packet: packet)
            } throws: { error in
                "\(error)".contains(message)
            }
        }
    }

    @Test func flagNamesReadLikeTheC() {
        #expect(MilterActions([.addHeaders, .changeHeaders, .quarantine]).description == "ADDHDRS|CHGHDRS|QUARANTINE")
        #expect(MilterProtocolOptions([.noConnect, .noBodyReply]).description == "NOCONNECT|NR_BODY")
        #expect(MilterProtocolOptions(rawValue: 0x8000_0000).description == "0x80000000")
        #expect(MilterActions().description == "none")
    }

    @Test func rebuildsTheMessageWithinTheLimit() {
        var message = MilterMessage(limit: 1000, watching: ["X-Spam-Flag"])
        message.addHeader(name: Array("Subject".utf8), value: Array("one\n\ttwo".utf8))
        message.addHeader(name: Array("x-spam-FLAG".utf8), value: Array("NO".utf8))
        message.endHeaders()
        message.addBody(Array("line 1\r\n".utf8))
        message.addBody(Array("line 2\r\n".utf8))
        #expect(String(decoding: message.bytes, as: UTF8.self) == "Subject: one\r\n\ttwo\r\nx-spam-FLAG: NO\r\n\r\nline 1\r\nline 2\r\n")
        #expect(message.occurrences(of: "X-Spam-Flag") == 1)
        #expect(message.occurrences(of: "X-SPAM-FLAG") == 1)

        var small = MilterMessage(limit: 20, watching: ["X-Spam-Flag"])
        small.addHeader(name: Array("Subject".utf8), value: Array("a rather long subject line".utf8))
        small.addHeader(name: Array("X-Spam-Flag".utf8), value: Array("NO".utf8))
        small.addBody([UInt8](repeating: 65, count: 100_000))
        #expect(small.bytes == Array("Subject: a rather lo".utf8))
        #expect(small.isFull)
        // Forged copies are counted beyond the kept part, so all of them can be removed.
        #expect(small.occurrences(of: "X-Spam-Flag") == 1)
        // The whole message's size as rebuilt: field lines with ": " and CR LF, the blank line, the body.
        #expect(small.receivedBytes == (7 + 2 + 26 + 2) + (11 + 2 + 2 + 2) + 2 + 100_000)
    }

    @Test func negotiatesOnlyWhatTheMTAOffers() throws {
        let postfix = try MilterSession.negotiate(version: 6, actions: MilterClient.postfixActions, options: MilterClient.postfixOptions)
        #expect(postfix.version == 6)
        #expect(postfix.actions == [.addHeaders, .changeHeaders, .quarantine, .setMacroList])
        #expect(
            postfix.options
                == MilterProtocolOptions([.noHelo, .noUnknown, .noData, .noEndOfHeaders])
                .union(MilterProtocolOptions.allNoReplies))
        #expect(!postfix.options.contains(.noHeaders) && !postfix.options.contains(.noBody))
        #expect(!postfix.options.contains(.headerLeadingSpace) && !postfix.options.contains(.skip))

        let old = try MilterSession.negotiate(version: 2, actions: [.addHeaders, .changeBody], options: [.noConnect, .noHelo, .noBody])
        #expect(old == MilterSession.Negotiated(version: 2, actions: [.addHeaders], options: [.noHelo]))

        let skipping = try MilterSession.negotiate(version: 6, actions: [.addHeaders], options: [.skip, .noHeaderReply])
        #expect(skipping.options == [.skip, .noHeaderReply])

        let newer = try MilterSession.negotiate(version: 9, actions: [], options: [])
        #expect(newer.version == 6 && newer.actions.isEmpty && newer.options.isEmpty)

        #expect(throws: MilterProtocolError.unsupportedVersion(1)) {
            try MilterSession.negotiate(version: 1, actions: [.addHeaders], options: [])
        }
    }

    @Test func splitsARawMessageLikeAnMTA() {
        let raw = Array("Subject: a\r\n folded\r\nX-Empty:\r\nTo:  two spaces\r\n\r\nbody\nline\r\n".utf8)
        let (headers, body) = MilterClient.split(raw)
        #expect(headers.map(\.name) == ["Subject", "X-Empty", "To"])
        #expect(headers.map(\.value) == ["a\n folded", "", " two spaces"])
        #expect(body == Array("body\r\nline\r\n".utf8))
    }
}

import Foundation
import SpamtuneConfiguration
import SpamtuneMail

/// What a way in knows about a message besides its text, for the policy and the log
/// line. Each way in knows different things:
///
/// | way in  | client address          | authenticated user | sender                        | recipients |
/// |---------|-------------------------|--------------------|-------------------------------|------------|
/// | milter  | `{client_addr}`         | `{auth_authen}`    | MAIL FROM (`{mail_addr}`)     | RCPT TO (`{rcpt_addr}`) |
/// | spamd   | not known (the peer is the MTA or user running spamc) | not known | Return-Path, else From of the message | not known (`User:` is logged) |
/// | Maildir | not known               | not known          | Return-Path, else From of the message | the Maildir |
struct MessageEnvelope: Sendable, Equatable {
    var channel: Channel
    /// The queue ID (milter), Message-ID (spamd) or file name (Maildir).
    var identifier: String
    /// The SMTP client's address, text as the MTA gives it (`192.0.2.7`, `IPv6:2001:db8::1`).
    var clientAddress: String?
    var clientName: String?
    /// The SASL login the client authenticated as; nil when it did not.
    var authenticatedUser: String?
    /// The sender's address, without angle brackets; "" for the null sender `<>`.
    var sender: String?
    var recipients: [String] = []
    /// spamd's `User:` header (the user spamc checks for).
    var spamdUser: String?
    /// Who is at the other end of the connection, when that is not the SMTP client
    /// (spamd: `uid:1001`, `ip:192.0.2.7`).
    var peer: String?

    init(channel: Channel, identifier: String) {
        self.channel = channel
        self.identifier = identifier
    }

    /// The client address as bytes, for network lists. Postfix writes IPv6 clients as
    /// `IPv6:2001:db8::1`.
    var clientAddressBytes: [UInt8]? {
        guard var text = clientAddress else { return nil }
        if text.lowercased().hasPrefix("ipv6:") { text = String(text.dropFirst(5)) }
        if text.hasPrefix("[") && text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        return IPAddress.parse(text)
    }

    /// The sender a message's own header names: Return-Path (the envelope sender, as
    /// the delivery agent recorded it), else the From address.
    static func headerSender(of message: MailMessage) -> String? {
        for name in ["Return-Path", "From"] {
            if let value = message.firstValue(named: name), let address = address(in: value) { return address }
        }
        return nil
    }

    /// The Message-ID for the log line, as spamd logs it.
    static func messageID(of message: MailMessage) -> String {
        let header = message.firstValue(named: "Message-ID")?.trimmingCharacters(in: .whitespaces) ?? ""
        return header.isEmpty ? "(no-message-id)" : header
    }

    /// The address in an SMTP argument or a header value: `<alice@example.org>`,
    /// `Alice <alice@example.org>`, `alice@example.org (Alice)`; "" for `<>`; nil
    /// when there is none.
    static func address(in text: String) -> String? {
        if let open = text.firstIndex(of: "<") {
            let rest = text[text.index(after: open)...]
            guard let close = rest.firstIndex(of: ">") else { return nil }
            var address = String(rest[..<close]).trimmingCharacters(in: .whitespaces)
            // A source route (<@relay:alice@example.org>) is obsolete but still legal.
            if address.hasPrefix("@"), let colon = address.firstIndex(of: ":") { address = String(address[address.index(after: colon)...]) }
            return address.count <= 320 ? address : nil
        }
        let word = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," || $0 == ";" }).first { $0.contains("@") }
        return word.map(String.init).flatMap { $0.count <= 320 ? $0 : nil }
    }
}

/// What a way in did with a message, for the log line.
enum MessageAction: String, Sendable {
    /// Delivered as it came (the MTA does not let the filter add headers).
    case accept
    /// Delivered with the verdict header fields added (also spamd PROCESS and HEADERS).
    case headers
    /// Refused with a 5xx reply.
    case reject
    /// Refused with a 4xx reply: the sender retries.
    case tempfail
    /// Put in the MTA's quarantine (Postfix's hold queue), with the headers.
    case hold
    /// Moved to the Maildir's Junk folder, with the headers.
    case junk
    /// Answered with the verdict only (spamd CHECK, SYMBOLS, REPORT): the client decides.
    case answer
    /// Left where it is, to try again later (a Maildir message not scored in time).
    case retry
}

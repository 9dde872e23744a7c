import SpamtuneMail

/// One message a way in received, parsed once, with what the way in knows about it: the
/// same value goes to the policy, the model, the log line and the rewrite, and nothing
/// after the way in parses the message again.
///
/// `max_message_size` is decided here for every way in: a larger message is scored on
/// its first `max_message_size` bytes (`scoredPart`; spamd adds SPAMTUNE_TRUNCATED) and
/// delivered whole, with the verdict's header fields. Each way in keeps no more than that
/// of what it reads (the milter's body chunks, the Maildir file, spamd's CHECK, SYMBOLS
/// and REPORT bodies), except spamd's PROCESS and HEADERS, which answer with the whole
/// message and so hold it.
struct IncomingMessage: Sendable {
    var envelope: MessageEnvelope
    /// The message as the way in kept it.
    let message: MailMessage
    /// What the model reads: the first `max_message_size` bytes of `message`, with the
    /// header parsed for `message` (the same value when it is no larger).
    let scoredPart: MailMessage
    /// The size of the whole message as it arrived, of which `message` may be the first part.
    let receivedBytes: Int

    /// `bytes`: what the way in kept of a message of `receivedBytes` bytes.
    init(_ bytes: [UInt8], receivedBytes: Int? = nil, maxMessageBytes: Int, envelope: MessageEnvelope) {
        self.envelope = envelope
        message = MailMessage(bytes: bytes)
        scoredPart = message.prefix(maxMessageBytes)
        self.receivedBytes = max(receivedBytes ?? bytes.count, bytes.count)
    }

    /// Only the first part of the message was scored.
    var isTruncated: Bool { receivedBytes > scoredPart.bytes.count }

    /// The bytes the model's text came from, for the log line.
    var scoredBytes: Int { scoredPart.bytes.count }

    /// The sender the message's own header names (`MessageEnvelope.headerSender`).
    var headerSender: String? { MessageEnvelope.headerSender(of: message) }

    /// The Message-ID (`MessageEnvelope.messageID`).
    var messageID: String { MessageEnvelope.messageID(of: message) }
}

/// How a message's content is laid out as the one text the model reads. A checkpoint
/// records the layout it was trained with (its raw value), and the classifier feeds
/// that same layout when scoring, so a model never sees a layout it did not learn.
/// A layout, once released, never changes: a new arrangement is a new case.
///
/// Common to all layouts: every piece is normalised by `TextNormalizer` (the body
/// keeps single blank lines between paragraphs; subject, names and domain are one
/// line each) and bounded by `MailParsingLimits` (`maxTextCharacters` for the body,
/// `maxHeaderTextCharacters` for each header-derived piece). The body comes last, so
/// that the classifier's cut to its token limit, made at the end, takes body text
/// first. A piece that is empty is left out together with its label; a message
/// with nothing readable gives the empty string. Plain text (an SMS, `MailContent(plainText:)`)
/// has only a body, so in every layout it is the normalised text itself, and SMS and
/// mail can be mixed in one training set.
public enum TextLayout: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Subject and body:
    /// ```
    /// Subject: <subject>
    ///
    /// <body>
    /// ```
    /// i.e. `"Subject: " + subject + "\n\n" + body`; `"Subject: " + subject` when the
    /// body is empty; `body` when the subject is empty.
    case v1

    /// Sender, subject and attachment names, then the body:
    /// ```
    /// From: <display name> (<domain>)
    /// Subject: <subject>
    /// Attachments: <name>, <name>
    ///
    /// <body>
    /// ```
    /// Each line is present only when it has content; the From line is
    /// `From: <display name> (<domain>)`, `From: <display name>` without an address
    /// domain, or `From: (<domain>)` without a display name. The header lines are
    /// joined by "\n", and followed by "\n\n" and the body when there is one.
    case v2

    /// v2's lines, then the header signals (`MailSignals`), then the body:
    /// ```
    /// From: <display name> (<domain>)
    /// Reply-To: (<domain>)
    /// Subject: <subject>
    /// List: <list id>
    /// Mailer: <x-mailer or user-agent>
    /// Type: <top MIME type>
    /// Links: <host>, <host>
    /// Attachments: <name>, <name>
    ///
    /// <body>
    /// ```
    /// with each line present only when it has content, as in v2. Plain text has no
    /// signals, so an SMS reads the same as in v1 and v2.
    case v3

    /// The layout new checkpoints are trained with.
    public static let latest: TextLayout = .v2

    public var description: String { rawValue }

    /// The text the model reads for `content`.
    public func classificationText(for content: MailContent) -> String {
        var headerLines: [String] = []
        switch self {
        case .v1:
            if !content.subject.isEmpty { headerLines.append("Subject: " + content.subject) }
        case .v2, .v3:
            let sender = content.sender
            switch (sender.displayName.isEmpty, sender.domain.isEmpty) {
            case (false, false): headerLines.append("From: \(sender.displayName) (\(sender.domain))")
            case (false, true): headerLines.append("From: \(sender.displayName)")
            case (true, false): headerLines.append("From: (\(sender.domain))")
            case (true, true): break
            }
            let signals = content.signals
            if self == .v3, !signals.replyToDomain.isEmpty { headerLines.append("Reply-To: (\(signals.replyToDomain))") }
            if !content.subject.isEmpty { headerLines.append("Subject: " + content.subject) }
            if self == .v3 {
                if !signals.list.isEmpty { headerLines.append("List: " + signals.list) }
                if !signals.mailer.isEmpty { headerLines.append("Mailer: " + signals.mailer) }
                if !signals.structure.isEmpty { headerLines.append("Type: " + signals.structure) }
                if !signals.linkHosts.isEmpty { headerLines.append("Links: " + signals.linkHosts.joined(separator: ", ")) }
            }
            if !content.attachmentNames.isEmpty {
                headerLines.append("Attachments: " + content.attachmentNames.joined(separator: ", "))
            }
        }
        let header = headerLines.joined(separator: "\n")
        if header.isEmpty { return content.bodyText }
        if content.bodyText.isEmpty { return header }
        return header + "\n\n" + content.bodyText
    }

    /// The text the model reads for a plain text message (an SMS): the same
    /// normalisation and bound as a mail body.
    public func classificationText(plainText: String, limits: MailParsingLimits = .default) -> String {
        classificationText(for: MailContent(plainText: plainText, limits: limits))
    }
}

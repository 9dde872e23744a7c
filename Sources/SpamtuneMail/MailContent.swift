/// What a reader of a message sees, normalised (`TextNormalizer`) and bounded
/// (`MailParsingLimits`): the input of every `TextLayout`.
public struct MailContent: Sendable, Hashable {
    /// The first Subject, RFC 2047 decoded, on one line.
    public let subject: String
    /// From the first From field.
    public let sender: MailSender
    /// The readable text of the body (see `MailMessage.content()`), paragraphs
    /// separated by one blank line.
    public let bodyText: String
    /// File names of attachments and other parts whose content is not text, in order.
    public let attachmentNames: [String]
    /// The limits this message reached; empty for ordinary mail.
    public let limitHits: Set<MailLimit>
    /// Header facts that tell real mail's kinds apart (layout v3 reads them).
    public var signals: MailSignals = .none

    /// Content from texts that are not yet normalised; each goes through
    /// `TextNormalizer` and the limits, as a parsed message's do.
    public init(subject: String = "", sender: MailSender = .none, bodyText: String, attachmentNames: [String] = [],
                limits: MailParsingLimits = .default) {
        var hits: Set<MailLimit> = []
        func headerText(_ text: String) -> String {
            let result = TextNormalizer.normalize(text, maxCharacters: limits.maxHeaderTextCharacters, singleLine: true)
            if result.wasCut { hits.insert(.headerTextCharacters) }
            return result.text
        }
        let body = TextNormalizer.normalize(bodyText, maxCharacters: limits.maxTextCharacters)
        if body.wasCut { hits.insert(.textCharacters) }
        var names = attachmentNames.map(headerText).filter { !$0.isEmpty }
        if names.count > limits.maxAttachmentNames {
            names.removeLast(names.count - limits.maxAttachmentNames)
            hits.insert(.attachmentNames)
        }
        self.init(normalizedSubject: headerText(subject),
                  sender: MailSender(displayName: headerText(sender.displayName), domain: headerText(sender.domain)),
                  bodyText: body.text, attachmentNames: names, limitHits: hits)
    }

    /// A plain text message (an SMS, a training text): body only.
    public init(plainText: String, limits: MailParsingLimits = .default) {
        self.init(bodyText: plainText, limits: limits)
    }

    init(normalizedSubject: String, sender: MailSender, bodyText: String, attachmentNames: [String], limitHits: Set<MailLimit>) {
        self.subject = normalizedSubject
        self.sender = sender
        self.bodyText = bodyText
        self.attachmentNames = attachmentNames
        self.limitHits = limitHits
    }
}

/// Walks a MIME tree and collects its readable text, as `MailMessage.content()`
/// describes, within the limits.
struct ContentExtractor {
    let buffer: Bytes
    let limits: MailParsingLimits
    private(set) var paragraphs: [String] = []
    private(set) var attachmentNames: [String] = []
    private(set) var limitHits: Set<MailLimit> = []
    private var remainingDecodedBytes: Int
    private var remainingCharacters: Int

    init(buffer: Bytes, limits: MailParsingLimits) {
        self.buffer = buffer
        self.limits = limits
        remainingDecodedBytes = limits.maxDecodedBytes
        remainingCharacters = limits.maxTextCharacters
    }

    var bodyText: String { paragraphs.joined(separator: "\n\n") }

    mutating func collect(_ part: MIMEPart) {
        let type = part.contentType
        if type.isMultipart {
            if type.subtype == "alternative" { collectAlternative(part) } else { part.children.forEach { collect($0) } }
        } else if type.isEmbeddedMessage, let message = part.children.first {
            if let subject = message.fields.first(where: { $0.hasName("Subject") }) {
                addParagraph(subject.decodedValue)
            }
            collect(message)
        } else if !part.isMarkedAttachment && type.type == "text" && (type.subtype == "plain" || type.subtype == "html") {
            collectText(part, asHTML: type.subtype == "html")
        } else {
            addAttachmentName(part.fileName)
        }
    }

    private mutating func collectAlternative(_ part: MIMEPart) {
        let plain = part.children.firstIndex {
            $0.contentType.mimeType == "text/plain" && !$0.isMarkedAttachment
        }
        var order = Array(part.children.indices.reversed())
        if let plain {
            order.removeAll { $0 == plain }
            order.insert(plain, at: 0)
        }
        for index in order {
            var trial = self
            trial.collect(part.children[index])
            if trial.paragraphs.count > paragraphs.count {
                self = trial
                return
            }
            // A rejected alternative still spent its decoding, so that many empty
            // alternatives cannot each decode up to the limit.
            remainingDecodedBytes = trial.remainingDecodedBytes
            limitHits.formUnion(trial.limitHits)
        }
    }

    private mutating func collectText(_ part: MIMEPart, asHTML declaredHTML: Bool) {
        guard remainingCharacters > 0 else {
            if !part.bodyRange.isEmpty { limitHits.insert(.textCharacters) }
            return
        }
        guard remainingDecodedBytes > 0 else {
            if !part.bodyRange.isEmpty { limitHits.insert(.decodedBytes) }
            return
        }
        let (bytes, truncated) = part.transferEncoding.decode(buffer, range: part.bodyRange, limit: remainingDecodedBytes)
        remainingDecodedBytes -= bytes.count
        if truncated { limitHits.insert(.decodedBytes) }
        var charset = part.contentType.parameter("charset")
        if declaredHTML && charset == nil { charset = ContentExtractor.metaCharset(in: bytes) }
        let text = MailCharset.decode(bytes, charsetName: charset)
        let isHTML = declaredHTML || (!part.hasContentTypeField && HTMLText.looksLikeHTML(text))
        addParagraph(isHTML ? HTMLText.text(fromHTML: text) : text)
    }

    private mutating func addParagraph(_ text: String) {
        let separator = paragraphs.isEmpty ? 0 : 2
        guard remainingCharacters > separator else {
            limitHits.insert(.textCharacters)
            remainingCharacters = 0
            return
        }
        let result = TextNormalizer.normalize(text, maxCharacters: remainingCharacters - separator)
        if result.wasCut { limitHits.insert(.textCharacters) }
        guard !result.text.isEmpty else { return }
        paragraphs.append(result.text)
        remainingCharacters -= separator + result.characterCount
        if result.wasCut { remainingCharacters = 0 }
    }

    private mutating func addAttachmentName(_ name: String?) {
        guard let name else { return }
        let result = TextNormalizer.normalize(name, maxCharacters: limits.maxHeaderTextCharacters, singleLine: true)
        if result.wasCut { limitHits.insert(.headerTextCharacters) }
        guard !result.text.isEmpty else { return }
        guard attachmentNames.count < limits.maxAttachmentNames else {
            limitHits.insert(.attachmentNames)
            return
        }
        attachmentNames.append(result.text)
    }

    /// The charset an HTML document declares in its first 4 KiB
    /// (`<meta charset="...">` or `<meta http-equiv=... content="...; charset=...">`).
    static func metaCharset(in bytes: [UInt8]) -> String? {
        bytes.withUnsafeBufferPointer { buffer in
            let end = min(buffer.count, 4096)
            guard let found = buffer.firstIndex(ofIgnoringCase: Array("charset=".utf8), from: 0, to: end) else { return nil }
            var index = found + 8
            while index < end, buffer[index] == ASCII.quote || buffer[index] == UInt8(ascii: "'") || ASCII.isWhitespace(buffer[index]) {
                index += 1
            }
            let start = index
            while index < end, index - start < 40,
                  ASCII.isLetter(buffer[index]) || ASCII.isDigit(buffer[index]) || buffer[index] == ASCII.hyphen
                  || buffer[index] == UInt8(ascii: "_") || buffer[index] == UInt8(ascii: ".") || buffer[index] == ASCII.colon {
                index += 1
            }
            return index > start ? String(decoding: buffer[start..<index], as: UTF8.self) : nil
        }
    }
}

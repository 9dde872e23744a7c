import Foundation
import Synchronization

/// A mail message as bytes (RFC 5322), with its header parsed: what the daemon's
/// protocols need, and the way to the text the model reads (`content()`,
/// `classificationText(layout:)`).
///
/// Parsing never fails. A message may start with an mbox `From ` line; lines may end
/// in LF or CR LF; a header line that is neither a field nor a continuation ends
/// the header (what follows is body). Hostile input is bounded by `limits`.
public struct MailMessage: Sendable {
    public let bytes: [UInt8]
    public let limits: MailParsingLimits
    /// The mbox `From ` line at the top, with its line break, if there is one.
    public let mboxFromLine: Range<Int>?
    /// The header fields, from the first to the end of the last one's line break; no
    /// mbox line, no empty line.
    public let headerRange: Range<Int>
    /// Where the body starts: after the empty line that ends the header.
    public let bodyOffset: Int
    /// The line ending of the first header line, used for fields added by
    /// `replacingHeaderFields(with:)`.
    public let lineEnding: LineEnding
    private let header: HeaderBlock

    public enum LineEnding: String, Sendable, Hashable {
        case lf = "\n"
        case crlf = "\r\n"
        var bytes: [UInt8] { self == .lf ? [ASCII.lineFeed] : [ASCII.carriageReturn, ASCII.lineFeed] }
    }

    public init(bytes: [UInt8], limits: MailParsingLimits = .default) {
        self.bytes = bytes
        self.limits = limits
        var fromLine: Range<Int>?
        var lineEnding = LineEnding.lf
        let header = bytes.withUnsafeBufferPointer { buffer -> HeaderBlock in
            var start = 0
            if buffer.hasPrefix(Array("From ".utf8), at: 0, end: buffer.count) {
                start = min(buffer.count, buffer.lineEnd(from: 0, to: buffer.count) + 1)
                fromLine = 0..<start
            }
            let firstLineEnd = buffer.lineEnd(from: start, to: buffer.count)
            if firstLineEnd < buffer.count, firstLineEnd > start, buffer[firstLineEnd - 1] == ASCII.carriageReturn {
                lineEnding = .crlf
            }
            return HeaderParser.parse(buffer, range: start..<buffer.count, limits: limits)
        }
        self.header = header
        self.mboxFromLine = fromLine
        self.lineEnding = lineEnding
        self.headerRange = (fromLine?.upperBound ?? 0)..<header.headerEnd
        self.bodyOffset = header.bodyStart
        Self.parseCounter?.count()
    }

    private init(bytes: [UInt8], sharing parsed: MailMessage) {
        self.bytes = bytes
        limits = parsed.limits
        header = parsed.header
        mboxFromLine = parsed.mboxFromLine
        lineEnding = parsed.lineEnding
        headerRange = parsed.headerRange
        bodyOffset = parsed.bodyOffset
    }

    /// The message's first `count` bytes, as a message: what a reader of only its first
    /// part sees. The header parsed here is kept when it ends within them (the usual
    /// case); a header longer than that is parsed again, cut.
    public func prefix(_ count: Int) -> MailMessage {
        guard count < bytes.count else { return self }
        let kept = Array(bytes.prefix(max(0, count)))
        guard header.bodyStart <= count else { return MailMessage(bytes: kept, limits: limits) }
        return MailMessage(bytes: kept, sharing: self)
    }

    /// Counts the messages parsed (`init(bytes:)`) by code running with it set, so that a
    /// test can check that a daemon parses each message it receives once.
    @TaskLocal package static var parseCounter: ParseCounter?

    package final class ParseCounter: Sendable {
        private let parses = Atomic<Int>(0)
        package init() {}
        package var value: Int { parses.load(ordering: .relaxed) }
        func count() { parses.add(1, ordering: .relaxed) }
    }

    public init(data: Data, limits: MailParsingLimits = .default) {
        self.init(bytes: [UInt8](data), limits: limits)
    }

    /// The header fields in order (at most `limits.maxHeaderFields`).
    public var fields: [HeaderField] { header.fields }
    /// The header limits this message reached (`headerFields`, `headerBytes`).
    public var headerLimitHits: Set<MailLimit> { header.limitHits }
    /// The length of the header fields in bytes (`headerRange.count`).
    public var headerByteCount: Int { headerRange.count }
    public var body: ArraySlice<UInt8> { bytes[bodyOffset...] }

    /// Every field called `name` (compared without case), in order.
    public func fields(named name: String) -> [HeaderField] { header.fields(named: name) }

    /// The decoded value (RFC 2047) of the first field called `name`.
    public func firstValue(named name: String) -> String? {
        fields.first { $0.hasName(name) }?.decodedValue
    }

    /// The first Subject, decoded and normalised to one line (not length-limited).
    public var subject: String {
        TextNormalizer.normalize(firstValue(named: "Subject") ?? "", singleLine: true).text
    }

    /// The display name and domain of the first From.
    public var sender: MailSender {
        fields.first { $0.hasName("From") }.map { MailSender(fromFieldValue: $0.rawValue) } ?? .none
    }

    /// The MIME tree (see `MIMEPart`), within the limits; `limitHits` are those the
    /// tree reached.
    public func mimeStructure() -> (root: MIMEPart, limitHits: Set<MailLimit>) {
        bytes.withUnsafeBufferPointer { buffer in
            var parser = MIMEParser(buffer: buffer, limits: limits)
            let root = parser.parsePart(range: headerRange.lowerBound..<buffer.count, depth: 0,
                                        defaultType: .textPlain, header: header)
            return (root, parser.limitHits)
        }
    }

    /// What a reader sees: subject, sender, readable body text and attachment names.
    ///
    /// The body text is made of, in message order, one paragraph per:
    /// - text/plain or text/html part not marked `Content-Disposition: attachment`
    ///   (a part without Content-Type whose text starts like an HTML document is read
    ///   as HTML);
    /// - in multipart/alternative, only the first text/plain alternative, or, when it
    ///   has no text, the first of the others from the last (richest) down that has;
    /// - an embedded message (message/rfc822): its Subject, then its own text.
    /// Each is decoded from its transfer encoding and charset (an HTML part without a
    /// charset parameter uses its `<meta charset>`), HTML converted by `HTMLText`,
    /// then normalised by `TextNormalizer`; paragraphs are separated by a blank line.
    /// Every other part (attachments, images, other types) contributes only its file
    /// name, to `attachmentNames`, and is never decoded.
    public func content() -> MailContent {
        bytes.withUnsafeBufferPointer { buffer in
            var parser = MIMEParser(buffer: buffer, limits: limits)
            let root = parser.parsePart(range: headerRange.lowerBound..<buffer.count, depth: 0,
                                        defaultType: .textPlain, header: header)
            var extractor = ContentExtractor(buffer: buffer, limits: limits)
            extractor.collect(root)
            var hits = header.limitHits.union(parser.limitHits).union(extractor.limitHits)
            let subject = TextNormalizer.normalize(firstValue(named: "Subject") ?? "",
                                                   maxCharacters: limits.maxHeaderTextCharacters, singleLine: true)
            let sender = self.sender
            let senderName = TextNormalizer.normalize(sender.displayName, maxCharacters: limits.maxHeaderTextCharacters,
                                                      singleLine: true)
            let domain = TextNormalizer.normalize(sender.domain, maxCharacters: limits.maxHeaderTextCharacters, singleLine: true)
            if subject.wasCut || senderName.wasCut || domain.wasCut { hits.insert(.headerTextCharacters) }
            var content = MailContent(normalizedSubject: subject.text,
                                      sender: MailSender(displayName: senderName.text, domain: domain.text),
                                      bodyText: extractor.bodyText, attachmentNames: extractor.attachmentNames, limitHits: hits)
            content.signals = MailSignals(message: self, root: root, bodyText: content.bodyText)
            return content
        }
    }

    /// The text the model reads for this message in `layout`.
    public func classificationText(layout: TextLayout) -> String {
        layout.classificationText(for: content())
    }

    /// The message with `newFields` added at the top of the header (after an mbox
    /// `From ` line) and every existing field of the same names removed; everything
    /// else, including the body, is kept byte for byte. A value with line breaks is
    /// folded: each further line becomes a continuation line starting with a tab.
    /// New lines end as the message's first header line does.
    ///
    /// When the original header ended without an empty line (at a line that was not
    /// a field), an empty line is put before the body, so that the body cannot be
    /// read as header fields.
    public func replacingHeaderFields(with newFields: [(name: String, value: String)]) throws -> [UInt8] {
        for field in newFields where !MailMessage.isValidFieldName(field.name) {
            throw HeaderRewriteError.invalidFieldName(field.name)
        }
        let removedNames = Set(newFields.map { $0.name.lowercased() })
        let newline = lineEnding.bytes
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + newFields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 })
        if let mboxFromLine {
            output += bytes[mboxFromLine]
            if bytes[mboxFromLine].last != ASCII.lineFeed { output += newline }
        }
        for field in newFields {
            output += Array(field.name.utf8)
            output += [ASCII.colon, ASCII.space]
            let lines = field.value.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
                .map { String($0).trimmingBlanks() }
                .filter { !$0.isEmpty }
            for (index, line) in lines.enumerated() {
                if index > 0 { output += newline + [ASCII.tab] }
                // Other control characters could break the header; they are dropped.
                output += line.utf8.filter { $0 >= ASCII.space || $0 == ASCII.tab }
            }
            output += newline
        }
        bytes.withUnsafeBufferPointer { buffer in
            HeaderParser.forEachField(buffer, range: headerRange) { nameRange, fieldRange in
                if let nameRange {
                    let name = String(decoding: buffer[nameRange], as: UTF8.self).lowercased()
                    if removedNames.contains(name) { return }
                }
                output += buffer[fieldRange]
            }
        }
        if bodyOffset == headerRange.upperBound && bodyOffset < bytes.count {
            output += newline
        }
        output += bytes[headerRange.upperBound...]
        return output
    }

    static func isValidFieldName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { $0 > ASCII.space && $0 < 0x7F && $0 != ASCII.colon }
    }
}

public enum HeaderRewriteError: Error, Equatable, CustomStringConvertible {
    case invalidFieldName(String)

    public var description: String {
        switch self {
        case .invalidFieldName(let name):
            "cannot add header field named \"\(name)\": a field name is printable ASCII without blanks or a colon"
        }
    }
}

extension HeaderParser {
    /// Calls `body` for each field of the header in `range` (a field line with its
    /// continuation lines), with the name's range; stray continuation lines before the
    /// first field come with a nil name. Unbounded by the limits: used to rewrite.
    static func forEachField(_ buffer: Bytes, range: Range<Int>, _ body: (Range<Int>?, Range<Int>) -> Void) {
        var fieldStart = range.lowerBound
        var nameRange: Range<Int>?
        var lineStart = range.lowerBound
        while lineStart < range.upperBound {
            let lineFeed = buffer.lineEnd(from: lineStart, to: range.upperBound)
            let contentEnd = buffer.contentEnd(lineStart: lineStart, lineEnd: lineFeed)
            let nextLine = min(range.upperBound, lineFeed + 1)
            if lineStart > fieldStart, !ASCII.isHorizontalSpace(buffer[lineStart]) {
                body(nameRange, fieldStart..<lineStart)
                fieldStart = lineStart
            }
            if lineStart == fieldStart {
                nameRange = fieldNameEnd(buffer, lineStart: lineStart, contentEnd: contentEnd).map { lineStart..<$0.nameEnd }
            }
            lineStart = nextLine
        }
        if fieldStart < range.upperBound { body(nameRange, fieldStart..<range.upperBound) }
    }
}

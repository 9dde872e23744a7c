/// One header field of a message or a MIME part, in the order it appeared.
public struct HeaderField: Sendable, Hashable {
    /// The field name as written (`Subject`, `X-Mailer`).
    public let name: String
    /// The value unfolded (each line break before a continuation line removed, RFC
    /// 5322 §2.2.3) with surrounding blanks trimmed. Bytes outside ASCII are read as
    /// UTF-8 when valid, else as Windows-1252.
    public let rawValue: String
    /// Where the whole field, name to final line break, lies in the message's bytes.
    public let byteRange: Range<Int>
    /// Whether the value was longer than `MailParsingLimits.maxHeaderBytes` and cut.
    public let isTruncated: Bool
    let lowercasedName: String

    public init(name: String, rawValue: String, byteRange: Range<Int>, isTruncated: Bool = false) {
        self.name = name
        self.rawValue = rawValue
        self.byteRange = byteRange
        self.isTruncated = isTruncated
        self.lowercasedName = name.lowercased()
    }

    /// The value with RFC 2047 encoded words decoded.
    public var decodedValue: String { EncodedWords.decode(rawValue) }

    /// Whether this field is called `name`, compared without case.
    public func hasName(_ name: String) -> Bool {
        lowercasedName.utf8.count == name.utf8.count && lowercasedName == name.lowercased()
    }
}

/// A header block as found in a buffer: its fields and where it ends.
struct HeaderBlock {
    var fields: [HeaderField] = []
    /// The end of the last header line (including its line break).
    var headerEnd: Int
    /// Where the body starts: after the empty line that ends the header, or at the
    /// first line that is neither a field nor a continuation (a broken header).
    var bodyStart: Int
    var limitHits: Set<MailLimit> = []

    func fields(named name: String) -> [HeaderField] {
        let lowercased = name.lowercased()
        return fields.filter { $0.lowercasedName == lowercased }
    }

    func firstValue(named name: String) -> String? {
        let lowercased = name.lowercased()
        return fields.first { $0.lowercasedName == lowercased }?.rawValue
    }
}

enum HeaderParser {
    /// The length of the field name on the line at `lineStart` (up to, not including,
    /// the colon, blanks before the colon allowed), or nil when the line is not a
    /// header field: a name is printable ASCII without a colon (RFC 5322 §3.6.8).
    static func fieldNameEnd(_ buffer: Bytes, lineStart: Int, contentEnd: Int) -> (nameEnd: Int, colon: Int)? {
        var index = lineStart
        while index < contentEnd {
            let byte = buffer[index]
            if byte == ASCII.colon { break }
            guard byte > ASCII.space && byte < 0x7F else {
                // Obsolete syntax (RFC 5322 §4.5.2) allows blanks before the colon.
                let nameEnd = index
                while index < contentEnd && ASCII.isHorizontalSpace(buffer[index]) { index += 1 }
                guard nameEnd > lineStart, index < contentEnd, buffer[index] == ASCII.colon else { return nil }
                return (nameEnd, index)
            }
            index += 1
        }
        guard index < contentEnd, index > lineStart else { return nil }
        return (index, index)
    }

    /// Parses the header block that starts at `range.lowerBound`. Scans to the block's
    /// end whatever its size (so the body is found), but keeps at most
    /// `maxHeaderFields` fields from the first `maxHeaderBytes` bytes.
    static func parse(_ buffer: Bytes, range: Range<Int>, limits: MailParsingLimits) -> HeaderBlock {
        var block = HeaderBlock(headerEnd: range.upperBound, bodyStart: range.upperBound)
        let end = range.upperBound
        let byteBudgetEnd = range.lowerBound + min(limits.maxHeaderBytes, end - range.lowerBound)
        var current: (nameStart: Int, nameEnd: Int, valueStart: Int, fieldStart: Int)?
        var lineStart = range.lowerBound

        func finishField(at fieldEnd: Int) {
            guard let field = current else { return }
            current = nil
            guard block.fields.count < limits.maxHeaderFields else {
                block.limitHits.insert(.headerFields)
                return
            }
            guard field.fieldStart < byteBudgetEnd else {
                block.limitHits.insert(.headerBytes)
                return
            }
            let valueEnd = min(fieldEnd, byteBudgetEnd)
            if valueEnd < fieldEnd { block.limitHits.insert(.headerBytes) }
            let name = String(decoding: buffer[field.nameStart..<field.nameEnd], as: UTF8.self)
            let value = unfoldedValue(buffer, range: field.valueStart..<max(field.valueStart, valueEnd))
            block.fields.append(HeaderField(name: name, rawValue: value, byteRange: field.fieldStart..<fieldEnd,
                                            isTruncated: valueEnd < fieldEnd))
        }

        while lineStart < end {
            let lineFeed = buffer.lineEnd(from: lineStart, to: end)
            let contentEnd = buffer.contentEnd(lineStart: lineStart, lineEnd: lineFeed)
            let nextLine = min(end, lineFeed + 1)
            if contentEnd == lineStart {
                finishField(at: lineStart)
                block.headerEnd = lineStart
                block.bodyStart = nextLine
                return block
            }
            let first = buffer[lineStart]
            if ASCII.isHorizontalSpace(first) {
                // A continuation line; one before any field belongs to nothing.
                lineStart = nextLine
                continue
            }
            guard let (nameEnd, colon) = fieldNameEnd(buffer, lineStart: lineStart, contentEnd: contentEnd) else {
                finishField(at: lineStart)
                block.headerEnd = lineStart
                block.bodyStart = lineStart
                return block
            }
            finishField(at: lineStart)
            current = (lineStart, nameEnd, colon + 1, lineStart)
            lineStart = nextLine
        }
        finishField(at: end)
        block.headerEnd = end
        block.bodyStart = end
        return block
    }

    /// The value with line breaks before continuation lines removed and the blanks
    /// around it trimmed.
    static func unfoldedValue(_ buffer: Bytes, range: Range<Int>) -> String {
        var start = range.lowerBound, end = range.upperBound
        while start < end && ASCII.isWhitespace(buffer[start]) { start += 1 }
        while end > start && ASCII.isWhitespace(buffer[end - 1]) { end -= 1 }
        let slice = buffer[start..<end]
        if buffer.firstIndex(of: ASCII.lineFeed, from: start, to: end) == nil
            && buffer.firstIndex(of: ASCII.carriageReturn, from: start, to: end) == nil {
            return decodeUnlabelled(slice)
        }
        return decodeUnlabelled(slice.filter { $0 != ASCII.lineFeed && $0 != ASCII.carriageReturn })
    }
}

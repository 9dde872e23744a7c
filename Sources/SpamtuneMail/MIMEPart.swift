/// One node of a message's MIME tree (RFC 2045, 2046). The message itself is the
/// root; a multipart's children are its parts; a message/rfc822 part has the
/// embedded message as its one child. Ranges index the message's bytes.
public struct MIMEPart: Sendable {
    public let fields: [HeaderField]
    /// The type from Content-Type, or the context's default (text/plain, or
    /// message/rfc822 inside multipart/digest) when the field is missing or unreadable.
    public let contentType: ContentType
    /// Whether the part has a readable Content-Type field (else the default applies).
    public let hasContentTypeField: Bool
    public let transferEncoding: TransferEncoding
    /// Content-Disposition, when present.
    public let disposition: ParameterizedValue?
    public let bodyRange: Range<Int>
    /// 0 for the message, 1 for its parts, and so on.
    public let depth: Int
    public internal(set) var children: [MIMEPart]
    /// For a multipart whose declared boundary never occurs (or is missing): the
    /// boundary found by looking for a delimiter line instead; nil otherwise.
    public internal(set) var inferredBoundary: String?

    /// The attachment's file name: Content-Disposition's `filename`, else
    /// Content-Type's `name`.
    public var fileName: String? {
        let name = disposition?.parameter("filename") ?? contentType.parameter("name")
        return name.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Whether Content-Disposition says `attachment`.
    public var isMarkedAttachment: Bool { disposition?.value == "attachment" }

    public func fields(named name: String) -> [HeaderField] { fields.filter { $0.hasName(name) } }

    /// Every part of the tree, depth first, this one first.
    public var allParts: [MIMEPart] {
        var result: [MIMEPart] = []
        var stack: [MIMEPart] = [self]
        while let part = stack.popLast() {
            result.append(part)
            stack.append(contentsOf: part.children.reversed())
        }
        return result
    }
}

/// Builds the MIME tree within `MailParsingLimits`: deeper parts than
/// `maxMIMEDepth` and parts beyond `maxParts` are left out and noted.
struct MIMEParser {
    let buffer: Bytes
    let limits: MailParsingLimits
    private(set) var partCount = 0
    private(set) var limitHits: Set<MailLimit> = []

    init(buffer: Bytes, limits: MailParsingLimits) {
        self.buffer = buffer
        self.limits = limits
    }

    /// Parses the part whose header starts at `range.lowerBound`; `header` when the
    /// caller has parsed it already (the message's own header).
    mutating func parsePart(range: Range<Int>, depth: Int, defaultType: ContentType, header: HeaderBlock? = nil) -> MIMEPart {
        let block = header ?? HeaderParser.parse(buffer, range: range, limits: limits)
        limitHits.formUnion(block.limitHits)
        partCount += 1
        let parsedType = block.firstValue(named: "Content-Type").flatMap(ContentType.init(fieldValue:))
        let contentType = parsedType ?? defaultType
        let disposition = block.firstValue(named: "Content-Disposition").map(ParameterizedValue.init)
        let bodyRange = min(block.bodyStart, range.upperBound)..<range.upperBound
        var part = MIMEPart(
            fields: block.fields, contentType: contentType, hasContentTypeField: parsedType != nil,
            transferEncoding: TransferEncoding(fieldValue: block.firstValue(named: "Content-Transfer-Encoding")),
            disposition: disposition, bodyRange: bodyRange, depth: depth, children: [], inferredBoundary: nil)

        let descends = contentType.isMultipart || (contentType.isEmbeddedMessage && part.transferEncoding == .identity)
        guard descends else { return part }
        guard depth < limits.maxMIMEDepth else {
            limitHits.insert(.mimeDepth)
            return part
        }
        if contentType.isEmbeddedMessage {
            guard partCount < limits.maxParts else { limitHits.insert(.parts); return part }
            part.children = [parsePart(range: bodyRange, depth: depth + 1, defaultType: .textPlain)]
            return part
        }
        let childDefault: ContentType = contentType.subtype == "digest" ? .messageRFC822 : .textPlain
        var childRanges: [Range<Int>]?
        if let declared = contentType.parameter("boundary"), !declared.isEmpty {
            childRanges = splitMultipart(body: bodyRange, boundary: Array(declared.utf8))
        }
        if childRanges == nil, let inferred = inferBoundary(body: bodyRange) {
            childRanges = splitMultipart(body: bodyRange, boundary: inferred)
            part.inferredBoundary = String(decoding: inferred, as: UTF8.self)
        }
        // No delimiter at all: the body is read as the default type of a part, so a
        // "multipart" that is really plain text is still scored on its text.
        guard let childRanges else {
            guard partCount < limits.maxParts else { limitHits.insert(.parts); return part }
            part.children = [parsePart(range: bodyRange, depth: depth + 1, defaultType: childDefault,
                                       header: HeaderBlock(headerEnd: bodyRange.lowerBound, bodyStart: bodyRange.lowerBound))]
            return part
        }
        for childRange in childRanges {
            guard partCount < limits.maxParts else { limitHits.insert(.parts); break }
            part.children.append(parsePart(range: childRange, depth: depth + 1, defaultType: childDefault))
        }
        return part
    }

    /// The ranges of the parts between delimiter lines `--boundary` (RFC 2046 §5.1.1):
    /// a delimiter starts a line and is followed by blanks only, or by `--` for the
    /// last one. The line break before a delimiter belongs to it. A multipart whose
    /// closing delimiter is missing ends at the end of the body. Nil when no
    /// delimiter occurs.
    func splitMultipart(body: Range<Int>, boundary: [UInt8]) -> [Range<Int>]? {
        let delimiter = [ASCII.hyphen, ASCII.hyphen] + boundary
        var delimiters: [(lineStart: Int, nextLine: Int)] = []
        var closed = false
        // Found as "\n--boundary": one comparison per line, whatever the boundary.
        let afterLineFeed = [ASCII.lineFeed] + delimiter
        var searchFrom = body.lowerBound
        while true {
            let found: Int
            if searchFrom == body.lowerBound, buffer.hasPrefix(delimiter, at: searchFrom, end: body.upperBound) {
                found = searchFrom
            } else if let lineFeed = buffer.firstIndex(of: afterLineFeed, from: max(body.lowerBound, searchFrom - 1), to: body.upperBound) {
                found = lineFeed + 1
            } else {
                break
            }
            let lineFeed = buffer.lineEnd(from: found, to: body.upperBound)
            searchFrom = min(body.upperBound, lineFeed + 1)
            var index = found + delimiter.count
            var isClose = false
            if index + 1 < lineFeed, buffer[index] == ASCII.hyphen, buffer[index + 1] == ASCII.hyphen {
                isClose = true
                index += 2
            }
            while index < lineFeed, ASCII.isWhitespace(buffer[index]) { index += 1 }
            guard index == lineFeed else { continue }
            delimiters.append((found, searchFrom))
            if isClose { closed = true; break }
            // Parts beyond the limit are never used; stop scanning for them.
            if delimiters.count > limits.maxParts { break }
        }
        guard !delimiters.isEmpty else { return nil }
        var ranges: [Range<Int>] = []
        for (position, current) in delimiters.enumerated() {
            let start = current.nextLine
            var end: Int
            if position + 1 < delimiters.count {
                end = delimiters[position + 1].lineStart
                if end > start, buffer[end - 1] == ASCII.lineFeed { end -= 1 }
                if end > start, buffer[end - 1] == ASCII.carriageReturn { end -= 1 }
            } else {
                if closed { break }
                end = body.upperBound
            }
            ranges.append(start..<max(start, end))
        }
        return ranges
    }

    /// A boundary taken from the body when the declared one does not occur: the first
    /// line in the first 64 KiB that looks like a delimiter: `--` and a boundary of
    /// 1 to 70 characters (RFC 2046's limit) with no blanks inside.
    func inferBoundary(body: Range<Int>) -> [UInt8]? {
        let searchEnd = min(body.upperBound, body.lowerBound + 64 * 1024)
        var lineStart = body.lowerBound
        while lineStart < searchEnd {
            let lineFeed = buffer.lineEnd(from: lineStart, to: body.upperBound)
            let contentEnd = buffer.contentEnd(lineStart: lineStart, lineEnd: lineFeed)
            var end = contentEnd
            while end > lineStart && ASCII.isHorizontalSpace(buffer[end - 1]) { end -= 1 }
            if end - lineStart >= 3, buffer[lineStart] == ASCII.hyphen, buffer[lineStart + 1] == ASCII.hyphen {
                var candidateEnd = end
                if candidateEnd - lineStart >= 5, buffer[candidateEnd - 1] == ASCII.hyphen, buffer[candidateEnd - 2] == ASCII.hyphen {
                    candidateEnd -= 2
                }
                let candidate = Array(buffer[(lineStart + 2)..<candidateEnd])
                if candidate.count <= 70, !candidate.contains(where: { ASCII.isWhitespace($0) }) {
                    return candidate
                }
            }
            lineStart = min(body.upperBound, lineFeed + 1)
        }
        return nil
    }
}

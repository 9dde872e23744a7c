/// HTML to the text a reader sees, by a small tolerant tokenizer (real spam HTML is
/// broken; no tree is built, nothing can nest too deep):
///
/// - The content of `script`, `style`, `title` and `template` is dropped, as are
///   comments, `<!...>` declarations and `<?...?>` instructions. Other tags go,
///   their text stays.
/// - Whitespace runs become one space, except inside `pre`.
/// - `br`, `div`, `tr`, `li`, `dt`, `dd`, `option`, `caption`, `center`, `address`
///   and the HTML5 sectioning elements end a line; `p`, `h1`…`h6`, `table`, `ul`,
///   `ol`, `dl`, `blockquote`, `pre`, `hr`, `form` and `fieldset` start a paragraph
///   (a blank line); a list item starts with "- "; table cells are separated by a space.
/// - A link keeps its text and gains the host it points to in parentheses,
///   `<a href="http://www.example.com/x">offer</a>` -> `offer (www.example.com)`, so
///   the model sees where a link really goes; the host is left out when the link text
///   already contains it. Hosts come from http, https and ftp URLs, `//host` and
///   `www.` references; other links (mailto, relative) add nothing.
/// - An image's `alt` text stands where the image was.
/// - Character references are decoded: numeric (`&#233;`, `&#xE9;`, with 128…159
///   read as Windows-1252, as browsers do) and the common named ones (the HTML 4 set:
///   Latin-1, typographic, arrows, Greek letters, math), with or without the `;`.
///
/// The result still goes through `TextNormalizer` before the model reads it.
public enum HTMLText {
    public static func text(fromHTML html: String) -> String {
        var html = html
        return html.withUTF8 { input in
            var converter = HTMLConverter(input: input)
            converter.run()
            return String(decoding: converter.output, as: UTF8.self)
        }
    }

    /// Whether bytes that claim to be plain text are an HTML document: they start,
    /// after blanks, with `<html`, `<!doctype html`, `<head` or `<body`.
    static func looksLikeHTML(_ text: String) -> Bool {
        let start = text.drop(while: { $0.isWhitespace }).prefix(14).lowercased()
        return start.hasPrefix("<html") || start.hasPrefix("<!doctype html") || start.hasPrefix("<head") || start.hasPrefix("<body")
    }
}

/// What the converter does with an element.
private enum TagKind {
    case other, skipped, link, image, listItem, preformatted, lineBreak, paragraph, cell
}

private struct HTMLConverter {
    let input: UnsafeBufferPointer<UInt8>
    var output: [UInt8] = []
    private var preDepth = 0
    private var openLink: (host: [UInt8]?, outputStart: Int)?
    private var followsLinkHost = false

    init(input: UnsafeBufferPointer<UInt8>) {
        self.input = input
        output.reserveCapacity(input.count / 2)
    }

    /// Tag names packed into an integer (lowercase, up to 16 bytes), so that telling
    /// elements apart allocates nothing.
    private struct TagName: Hashable {
        var low: UInt64 = 0
        var high: UInt64 = 0
        var length = 0

        init() {}

        init(_ name: String) {
            for byte in name.utf8 { append(byte) }
        }

        mutating func append(_ byte: UInt8) {
            if length < 8 { low |= UInt64(byte) << (8 * UInt64(length)) }
            else if length < 16 { high |= UInt64(byte) << (8 * UInt64(length - 8)) }
            length += 1
        }
    }

    private static let kinds: [TagName: TagKind] = {
        var kinds: [TagName: TagKind] = [:]
        for name in ["script", "style", "title", "template"] { kinds[TagName(name)] = .skipped }
        for name in ["br", "div", "tr", "dt", "dd", "option", "caption", "center", "address", "section", "article",
                     "header", "footer", "nav", "aside", "main", "figure", "figcaption", "details", "summary"] {
            kinds[TagName(name)] = .lineBreak
        }
        for name in ["p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl", "blockquote", "hr", "form", "fieldset"] {
            kinds[TagName(name)] = .paragraph
        }
        kinds[TagName("td")] = .cell
        kinds[TagName("th")] = .cell
        kinds[TagName("a")] = .link
        kinds[TagName("img")] = .image
        kinds[TagName("li")] = .listItem
        kinds[TagName("pre")] = .preformatted
        return kinds
    }()

    private static let commentOpen = Array("<!--".utf8)
    private static let commentClose = Array("-->".utf8)
    private static let href = Array("href".utf8)
    private static let alt = Array("alt".utf8)

    mutating func run() {
        var index = 0
        let end = input.count
        while index < end {
            let byte = input[index]
            if byte == ASCII.lessThan {
                index = markup(at: index)
            } else if byte == UInt8(ascii: "&") {
                let (scalar, next) = HTMLEntities.decode(input, at: index, end: end)
                if let scalar { appendScalar(scalar) } else { appendVisible(UInt8(ascii: "&")) }
                index = next
            } else if ASCII.isWhitespace(byte) {
                if preDepth > 0 { output.append(byte == ASCII.carriageReturn ? ASCII.lineFeed : byte) } else { appendSpace() }
                index += 1
            } else {
                // A run of plain text goes over in one copy.
                appendVisible(byte)
                var runEnd = index + 1
                while runEnd < end {
                    let next = input[runEnd]
                    if next == ASCII.lessThan || next == UInt8(ascii: "&") || ASCII.isWhitespace(next) { break }
                    runEnd += 1
                }
                if runEnd > index + 1 { output.append(contentsOf: input[(index + 1)..<runEnd]) }
                index = runEnd
            }
        }
        closeLink()
    }

    /// Appends a byte of visible text; after a link's "(host)" a word starts with a
    /// space, so that `<a>A</a>B` reads "A (host) B", not "A (host)B".
    @inline(__always) private mutating func appendVisible(_ byte: UInt8) {
        if followsLinkHost {
            followsLinkHost = false
            if ASCII.isLetter(byte) || ASCII.isDigit(byte) || byte >= 0x80 { output.append(ASCII.space) }
        }
        output.append(byte)
    }

    private mutating func appendScalar(_ scalar: Unicode.Scalar) {
        if scalar.value < 0x80 {
            let byte = UInt8(scalar.value)
            if ASCII.isWhitespace(byte) && preDepth == 0 { appendSpace() } else { appendVisible(byte) }
            return
        }
        var first = true
        for byte in UTF8.encode(scalar)! {
            if first { appendVisible(byte); first = false } else { output.append(byte) }
        }
    }

    private mutating func appendSpace() {
        followsLinkHost = false
        if let last = output.last, last != ASCII.space, last != ASCII.lineFeed { output.append(ASCII.space) }
    }

    /// Ends the current line (`lines` 1) or paragraph (2), unless the output already does.
    private mutating func appendBreak(lines: Int) {
        followsLinkHost = false
        while output.last == ASCII.space { output.removeLast() }
        var present = 0
        while present < lines, present < output.count, output[output.count - 1 - present] == ASCII.lineFeed { present += 1 }
        for _ in present..<lines { output.append(ASCII.lineFeed) }
    }

    /// Appends decoded text (an `alt`), collapsing its whitespace outside `pre`.
    private mutating func appendText(_ bytes: [UInt8]) {
        for byte in bytes {
            if ASCII.isWhitespace(byte) && preDepth == 0 { appendSpace() } else { appendVisible(byte) }
        }
    }

    /// Handles the markup starting at `start` ("<"), returning the index after it.
    private mutating func markup(at start: Int) -> Int {
        let end = input.count
        guard start + 1 < end else { appendVisible(ASCII.lessThan); return end }
        let next = input[start + 1]
        if next == UInt8(ascii: "!") {
            if input.hasPrefix(HTMLConverter.commentOpen, at: start, end: end) {
                // "<!-->" and "<!--->" are empty comments, as browsers read them.
                if start + 4 < end, input[start + 4] == ASCII.greaterThan { return start + 5 }
                if start + 5 < end, input[start + 4] == ASCII.hyphen, input[start + 5] == ASCII.greaterThan { return start + 6 }
                guard let close = input.firstIndex(of: HTMLConverter.commentClose, from: start + 4, to: end) else { return end }
                return close + 3
            }
            return (input.firstIndex(of: ASCII.greaterThan, from: start, to: end) ?? end - 1) + 1
        }
        if next == ASCII.question {
            return (input.firstIndex(of: ASCII.greaterThan, from: start, to: end) ?? end - 1) + 1
        }
        if next == UInt8(ascii: "/"), start + 2 < end, ASCII.isLetter(input[start + 2]) {
            let (name, nameEnd) = tagName(from: start + 2)
            let tagEnd = (input.firstIndex(of: ASCII.greaterThan, from: nameEnd, to: end) ?? end - 1) + 1
            endTag(HTMLConverter.kinds[name] ?? .other)
            return tagEnd
        }
        guard ASCII.isLetter(next) else {
            appendVisible(ASCII.lessThan)
            return start + 1
        }
        let (name, nameEnd) = tagName(from: start + 1)
        let kind = HTMLConverter.kinds[name] ?? .other
        let (attributes, tagEnd) = parseAttributes(from: nameEnd, of: kind)
        return startTag(kind, name: name, start: start + 1, attributes: attributes, tagEnd: tagEnd)
    }

    private func tagName(from start: Int) -> (TagName, Int) {
        var index = start
        var name = TagName()
        while index < input.count {
            let byte = input[index]
            guard ASCII.isLetter(byte) || ASCII.isDigit(byte) || byte == ASCII.hyphen || byte == ASCII.colon else { break }
            name.append(ASCII.lowercased(byte))
            index += 1
        }
        return (name, index)
    }

    private struct Attributes {
        var href: [UInt8]?
        var alt: [UInt8]?
    }

    /// Reads attributes up to the tag's ">", keeping `href` of `a` and `alt` of `img`.
    /// A quoted value may hold ">"; one whose quote never closes runs to the end.
    private func parseAttributes(from start: Int, of kind: TagKind) -> (Attributes, Int) {
        var attributes = Attributes()
        var index = start
        let end = input.count
        while index < end {
            let byte = input[index]
            if byte == ASCII.greaterThan { return (attributes, index + 1) }
            if ASCII.isWhitespace(byte) || byte == UInt8(ascii: "/") { index += 1; continue }
            let nameStart = index
            while index < end, !ASCII.isWhitespace(input[index]), input[index] != ASCII.equals, input[index] != ASCII.greaterThan {
                index += 1
            }
            let nameEnd = index
            while index < end, ASCII.isWhitespace(input[index]) { index += 1 }
            guard index < end, input[index] == ASCII.equals else { continue }
            index += 1
            while index < end, ASCII.isWhitespace(input[index]) { index += 1 }
            guard index < end else { break }
            let valueStart: Int, valueEnd: Int
            let quote = input[index]
            if quote == ASCII.quote || quote == UInt8(ascii: "'") {
                valueStart = index + 1
                valueEnd = input.firstIndex(of: quote, from: valueStart, to: end) ?? end
                index = min(end, valueEnd + 1)
            } else {
                valueStart = index
                while index < end, !ASCII.isWhitespace(input[index]), input[index] != ASCII.greaterThan { index += 1 }
                valueEnd = index
            }
            if kind == .link && nameEnd - nameStart == 4 && input.hasPrefixIgnoringCase(HTMLConverter.href, at: nameStart, end: nameEnd) {
                attributes.href = HTMLEntities.decodeAll(input, range: valueStart..<valueEnd)
            } else if kind == .image && nameEnd - nameStart == 3
                        && input.hasPrefixIgnoringCase(HTMLConverter.alt, at: nameStart, end: nameEnd) {
                attributes.alt = HTMLEntities.decodeAll(input, range: valueStart..<valueEnd)
            }
        }
        return (attributes, end)
    }

    private mutating func startTag(_ kind: TagKind, name: TagName, start: Int, attributes: Attributes, tagEnd: Int) -> Int {
        switch kind {
        case .skipped:
            // Raw text up to the matching end tag; without one, the rest is dropped.
            var closing: [UInt8] = [ASCII.lessThan, UInt8(ascii: "/")]
            closing += input[start..<start + name.length].map(ASCII.lowercased)
            guard let close = input.firstIndex(ofIgnoringCase: closing, from: tagEnd, to: input.count) else { return input.count }
            return (input.firstIndex(of: ASCII.greaterThan, from: close, to: input.count) ?? input.count - 1) + 1
        case .link:
            closeLink()
            openLink = (attributes.href.flatMap(HTMLConverter.host(ofURL:)), output.count)
        case .image:
            if let alt = attributes.alt, !alt.isEmpty {
                appendSpace()
                appendText(alt)
                appendSpace()
            }
        case .listItem:
            appendBreak(lines: 1)
            output.append(UInt8(ascii: "-"))
            output.append(ASCII.space)
        case .preformatted:
            appendBreak(lines: 2)
            preDepth += 1
        case .paragraph:
            appendBreak(lines: 2)
        case .lineBreak:
            appendBreak(lines: 1)
        case .cell:
            appendSpace()
        case .other:
            break
        }
        return tagEnd
    }

    private mutating func endTag(_ kind: TagKind) {
        switch kind {
        case .link:
            closeLink()
        case .preformatted:
            preDepth = max(0, preDepth - 1)
            appendBreak(lines: 2)
        case .paragraph:
            appendBreak(lines: 2)
        case .lineBreak, .listItem:
            appendBreak(lines: 1)
        case .cell:
            appendSpace()
        case .skipped, .image, .other:
            break
        }
    }

    private mutating func closeLink() {
        guard let link = openLink else { return }
        openLink = nil
        guard let host = link.host else { return }
        let textStart = min(link.outputStart, output.count)
        let alreadyThere = output.withUnsafeBufferPointer {
            $0.firstIndex(ofIgnoringCase: host, from: textStart, to: $0.count) != nil
        }
        guard !alreadyThere else { return }
        // "text (host)", keeping a space that followed the link text after the host.
        let hadTrailingSpace = output.last == ASCII.space
        if hadTrailingSpace { output.removeLast() }
        appendSpace()
        output.append(UInt8(ascii: "("))
        output.append(contentsOf: host)
        output.append(UInt8(ascii: ")"))
        if hadTrailingSpace { output.append(ASCII.space) } else { followsLinkHost = true }
    }

    private static let schemes: [[UInt8]] = ["http://", "https://", "ftp://"].map { Array($0.utf8) }
    private static let www = Array("www.".utf8)

    /// The lowercased host of an http(s)/ftp URL, a `//host` reference or a `www.`
    /// address; nil for anything else.
    static func host(ofURL url: [UInt8]) -> [UInt8]? {
        // Browsers ignore tabs and line breaks inside URLs, and blanks around them.
        var bytes = url.compactMap { $0 == ASCII.tab || $0 == ASCII.lineFeed || $0 == ASCII.carriageReturn ? nil : ASCII.lowercased($0) }[...]
        while let first = bytes.first, first <= ASCII.space { bytes.removeFirst() }
        var rest: ArraySlice<UInt8>
        if let scheme = schemes.first(where: { bytes.starts(with: $0) }) {
            rest = bytes.dropFirst(scheme.count)
        } else if bytes.starts(with: [UInt8(ascii: "/"), UInt8(ascii: "/")]) {
            rest = bytes.dropFirst(2)
        } else if bytes.starts(with: www) {
            rest = bytes
        } else {
            return nil
        }
        let authorityEnd = rest.firstIndex(where: {
            $0 == UInt8(ascii: "/") || $0 == ASCII.question || $0 == UInt8(ascii: "#") || $0 == ASCII.backslash || $0 <= ASCII.space
        }) ?? rest.endIndex
        var host = rest[..<authorityEnd]
        if let at = host.lastIndex(of: ASCII.at) { host = host[host.index(after: at)...] }
        if host.first == UInt8(ascii: "[") {
            if let close = host.firstIndex(of: UInt8(ascii: "]")) { host = host[...close] }
        } else if let colon = host.firstIndex(of: ASCII.colon) {
            host = host[..<colon]
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(host.count)
        var index = host.startIndex
        while index < host.endIndex {
            if host[index] == UInt8(ascii: "%"), index + 2 < host.endIndex,
               let high = ASCII.hexValue(host[index + 1]), let low = ASCII.hexValue(host[index + 2]) {
                decoded.append(ASCII.lowercased(high << 4 | low))
                index += 3
            } else {
                decoded.append(host[index])
                index += 1
            }
        }
        while decoded.last == UInt8(ascii: ".") { decoded.removeLast() }
        guard !decoded.isEmpty, decoded.count <= 253, !decoded.contains(where: { $0 <= ASCII.space }) else { return nil }
        return decoded
    }
}

/// A value of the form `token; name=value; name="quoted value"` as in Content-Type and
/// Content-Disposition (RFC 2045 §5.1, RFC 2183), with RFC 2231 continuations and
/// charsets (`filename*0*=utf-8''%E2%82%AC; filename*1=.pdf`) joined and decoded,
/// and RFC 2047 encoded words in file names decoded, which many mailers write
/// though no standard allows it.
public struct ParameterizedValue: Sendable, Hashable {
    /// The leading token, lowercased (`multipart/mixed`, `attachment`).
    public let value: String
    /// Parameters in order of first appearance, names lowercased.
    public let parameters: [Parameter]

    public struct Parameter: Sendable, Hashable {
        public let name: String
        public let value: String
    }

    public func parameter(_ name: String) -> String? {
        let lowercased = name.lowercased()
        return parameters.first { $0.name == lowercased }?.value
    }

    public init(_ text: String) {
        let scalars = Array(text.unicodeScalars)
        var index = 0
        func skipBlanksAndComments() {
            while index < scalars.count {
                let scalar = scalars[index]
                if scalar == " " || scalar == "\t" || scalar == "\r" || scalar == "\n" {
                    index += 1
                } else if scalar == "(" {
                    var depth = 0
                    while index < scalars.count {
                        if scalars[index] == "\\" { index += 2; continue }
                        if scalars[index] == "(" { depth += 1 }
                        if scalars[index] == ")" { depth -= 1; if depth == 0 { index += 1; break } }
                        index += 1
                    }
                } else {
                    return
                }
            }
        }
        skipBlanksAndComments()
        var head = String.UnicodeScalarView()
        while index < scalars.count, scalars[index] != ";" {
            let scalar = scalars[index]
            if scalar == "(" { skipBlanksAndComments(); continue }
            if scalar != " " && scalar != "\t" && scalar != "\r" && scalar != "\n" && scalar != "\"" { head.append(scalar) }
            index += 1
        }
        value = String(head).lowercased()

        var raw: [(name: String, value: String)] = []
        while index < scalars.count {
            // At a ";" (or, for a sender who forgot it, at the next parameter).
            if scalars[index] == ";" { index += 1 }
            skipBlanksAndComments()
            var name = String.UnicodeScalarView()
            while index < scalars.count, scalars[index] != "=", scalars[index] != ";" {
                let scalar = scalars[index]
                if scalar != " " && scalar != "\t" && scalar != "\r" && scalar != "\n" { name.append(scalar) }
                index += 1
            }
            guard index < scalars.count, scalars[index] == "=" else { continue }
            index += 1
            skipBlanksAndComments()
            var parameterValue = String.UnicodeScalarView()
            if index < scalars.count, scalars[index] == "\"" {
                index += 1
                while index < scalars.count, scalars[index] != "\"" {
                    if scalars[index] == "\\", index + 1 < scalars.count { index += 1 }
                    parameterValue.append(scalars[index])
                    index += 1
                }
                index += 1
            } else {
                while index < scalars.count, scalars[index] != ";" {
                    parameterValue.append(scalars[index])
                    index += 1
                }
                while let last = parameterValue.last, last == " " || last == "\t" || last == "\r" || last == "\n" {
                    parameterValue.removeLast()
                }
            }
            // Skip whatever follows a quoted value up to the next ";".
            while index < scalars.count, scalars[index] != ";" { index += 1 }
            if !name.isEmpty { raw.append((String(name).lowercased(), String(parameterValue))) }
        }
        parameters = ParameterizedValue.combine(raw)
    }

    /// Joins RFC 2231 sections (`name*0`, `name*1*`) and decodes extended values
    /// (`charset'language'percent-encoded`); a plain `name=` is used only when no
    /// RFC 2231 form of the same name exists.
    private static func combine(_ raw: [(name: String, value: String)]) -> [Parameter] {
        struct Sections { var plain: String?; var extended: String?; var numbered: [Int: (String, Bool)] = [:] }
        var order: [String] = []
        var byName: [String: Sections] = [:]
        for (name, value) in raw {
            var base = name
            var sectionNumber: Int?
            var isExtended = false
            if base.hasSuffix("*") { isExtended = true; base.removeLast() }
            if let star = base.lastIndex(of: "*"), let number = Int(base[base.index(after: star)...]) {
                sectionNumber = number
                base = String(base[..<star])
            }
            if byName[base] == nil { order.append(base); byName[base] = Sections() }
            if let sectionNumber, sectionNumber < 10_000 {
                if byName[base]!.numbered[sectionNumber] == nil { byName[base]!.numbered[sectionNumber] = (value, isExtended) }
            } else if isExtended {
                if byName[base]!.extended == nil { byName[base]!.extended = value }
            } else if byName[base]!.plain == nil {
                byName[base]!.plain = value
            }
        }
        return order.map { name in
            let sections = byName[name]!
            let value: String
            if !sections.numbered.isEmpty {
                let sorted = sections.numbered.sorted { $0.key < $1.key }
                var charset: String?
                var bytes: [UInt8] = []
                for (position, (_, section)) in sorted.enumerated() {
                    var (text, extended) = section
                    if extended && position == 0 {
                        let (declared, rest) = splitExtendedValue(text)
                        charset = declared
                        text = rest
                    }
                    bytes += extended ? percentDecoded(text) : Array(text.utf8)
                }
                value = MailCharset.decode(bytes, charsetName: charset)
            } else if let extended = sections.extended {
                let (charset, rest) = splitExtendedValue(extended)
                value = MailCharset.decode(percentDecoded(rest), charsetName: charset)
            } else {
                let plain = sections.plain ?? ""
                value = name == "name" || name == "filename" ? EncodedWords.decode(plain) : plain
            }
            return Parameter(name: name, value: value)
        }
    }

    /// `charset'language'text` -> (charset, text); a value without two quotes is text.
    private static func splitExtendedValue(_ text: String) -> (String?, String) {
        let pieces = text.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
        guard pieces.count == 3 else { return (nil, text) }
        return (pieces[0].isEmpty ? nil : String(pieces[0]), String(pieces[2]))
    }

    private static func percentDecoded(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
               let high = ASCII.hexValue(bytes[index + 1]), let low = ASCII.hexValue(bytes[index + 2]) {
                output.append(high << 4 | low)
                index += 3
            } else {
                output.append(bytes[index])
                index += 1
            }
        }
        return output
    }
}

/// A part's media type, from Content-Type or the default of its context.
public struct ContentType: Sendable, Hashable, CustomStringConvertible {
    /// Lowercased top-level type (`text`, `multipart`).
    public let type: String
    /// Lowercased subtype (`plain`, `alternative`).
    public let subtype: String
    public let parameters: [ParameterizedValue.Parameter]

    public init(type: String, subtype: String, parameters: [ParameterizedValue.Parameter] = []) {
        self.type = type
        self.subtype = subtype
        self.parameters = parameters
    }

    /// Parses a Content-Type value; nil when it has no recognisable `type/subtype`
    /// (the caller then uses the context's default, as RFC 2045 §5.2 says).
    public init?(fieldValue: String) {
        let parsed = ParameterizedValue(fieldValue)
        let pieces = parsed.value.split(separator: "/", maxSplits: 1)
        guard pieces.count == 2, !pieces[0].isEmpty, !pieces[1].isEmpty else {
            // "text" alone, as some mailers write, means text/plain.
            if parsed.value == "text" {
                self.init(type: "text", subtype: "plain", parameters: parsed.parameters)
                return
            }
            return nil
        }
        self.init(type: String(pieces[0]), subtype: String(pieces[1]), parameters: parsed.parameters)
    }

    public static let textPlain = ContentType(type: "text", subtype: "plain")
    public static let messageRFC822 = ContentType(type: "message", subtype: "rfc822")

    public var mimeType: String { "\(type)/\(subtype)" }
    public var description: String { mimeType }
    public var isMultipart: Bool { type == "multipart" }
    /// message/rfc822 and message/global: a whole message inside a part.
    public var isEmbeddedMessage: Bool { type == "message" && (subtype == "rfc822" || subtype == "global") }

    public func parameter(_ name: String) -> String? {
        let lowercased = name.lowercased()
        return parameters.first { $0.name == lowercased }?.value
    }
}

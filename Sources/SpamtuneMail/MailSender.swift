import Foundation

/// Who a message says it is from, as the model sees it: the display name and the
/// domain of the first address in From (not the local part, which is noise to the
/// model and personal data to the log).
public struct MailSender: Sendable, Hashable {
    /// The display name, RFC 2047 decoded and unquoted (`PayPal Service`); for
    /// `user@host (Name)` the comment; empty when there is none.
    public let displayName: String
    /// The address's domain, lowercased (`example.com`); empty when there is none.
    public let domain: String

    public init(displayName: String, domain: String) {
        self.displayName = displayName
        self.domain = domain
    }

    public static let none = MailSender(displayName: "", domain: "")

    /// Reads the first mailbox of a From value (RFC 5322 §3.4): `Name <addr>`,
    /// `"Quoted, Name" <addr>`, `addr (Comment)`, a bare `addr`, or a group
    /// `Group: addr, addr;`. Tolerant of the broken forms spam uses (unbalanced
    /// quotes, several `<`, no address at all).
    public init(fromFieldValue value: String) {
        var phrase = ""
        var comment = ""
        var angleAddress: String?
        var bare = ""
        var scalars = value.unicodeScalars[...]
        outer: while let scalar = scalars.popFirst() {
            switch scalar {
            case "\"":
                while let inner = scalars.popFirst(), inner != "\"" {
                    if inner == "\\", let escaped = scalars.popFirst() { phrase.unicodeScalars.append(escaped) }
                    else { phrase.unicodeScalars.append(inner) }
                }
                phrase.unicodeScalars.append(" ")
            case "(":
                var depth = 1
                var text = String.UnicodeScalarView()
                while let inner = scalars.popFirst() {
                    if inner == "\\", let escaped = scalars.popFirst() { text.append(escaped); continue }
                    if inner == "(" { depth += 1 }
                    if inner == ")" { depth -= 1; if depth == 0 { break } }
                    text.append(inner)
                }
                if comment.isEmpty { comment = String(text) }
            case "<":
                var address = String.UnicodeScalarView()
                while let inner = scalars.popFirst(), inner != ">" { address.append(inner) }
                if angleAddress == nil { angleAddress = String(address) }
            case ",":
                // The first mailbox ends here, unless nothing has been seen yet.
                if angleAddress != nil || !bare.isEmpty || !phrase.isEmpty { break outer }
            case ":":
                // "Group name:" - the group's name is not the sender's.
                if angleAddress == nil { phrase = ""; bare = "" }
            case ";":
                break outer
            default:
                phrase.unicodeScalars.append(scalar)
                bare.unicodeScalars.append(scalar)
            }
        }
        let address = angleAddress ?? bare.split(whereSeparator: { $0 == " " || $0 == "\t" }).first { $0.contains("@") }.map(String.init) ?? ""
        // Without angle brackets the phrase is the bare address itself, unless there is none.
        var name = angleAddress != nil || address.isEmpty ? phrase : ""
        if name.trimmingBlanks().isEmpty { name = comment }
        let decodedName = EncodedWords.decode(name.trimmingBlanks())
        displayName = TextNormalizer.normalize(decodedName, singleLine: true).text
        domain = MailSender.domain(ofAddress: address)
    }

    static func domain(ofAddress address: String) -> String {
        guard let at = address.lastIndex(of: "@") else { return "" }
        var domain = address[address.index(after: at)...]
            .trimmingCharacters(in: [" ", "\t", ">", "<", "\"", "'", "[", "]", "."])
            .lowercased()
        if let blank = domain.firstIndex(where: { $0 == " " || $0 == "\t" || $0 == "," || $0 == ";" }) {
            domain = String(domain[..<blank])
        }
        return domain
    }
}

extension String {
    func trimmingBlanks() -> String {
        var scalars = unicodeScalars[...]
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}

/// Facts from a message's header and structure that separate the kinds of real mail
/// better than its words do: who answers it, whether it comes from a mailing list, what
/// wrote it, how its body is built and where its links go. Another filter's verdict
/// (X-Spam-*, X-Barracuda-* and the like) is never read: a model would learn to copy it.
/// Each piece is one short line, normalised and bounded like the subject.
public struct MailSignals: Sendable, Hashable {
    /// The Reply-To domain when it differs from the From domain.
    public let replyToDomain: String
    /// The mailing list: List-Id's `<id>` (or its name when it has none), else
    /// X-Mailing-List, else `bulk`/`list`/`junk` from Precedence.
    public let list: String
    /// X-Mailer, else User-Agent.
    public let mailer: String
    /// The top MIME type (`text/plain`, `text/html`, `multipart/alternative`, ...).
    public let structure: String
    /// Distinct hosts the body's links point to, in order of first appearance.
    public let linkHosts: [String]

    public static let none = MailSignals(replyToDomain: "", list: "", mailer: "", structure: "", linkHosts: [])
    /// Links beyond this many add little and cost tokens.
    public static let maximumLinkHosts = 4

    public init(replyToDomain: String, list: String, mailer: String, structure: String, linkHosts: [String]) {
        self.replyToDomain = replyToDomain
        self.list = list
        self.mailer = mailer
        self.structure = structure
        self.linkHosts = linkHosts
    }

    init(message: MailMessage, root: MIMEPart, bodyText: String) {
        let limit = message.limits.maxHeaderTextCharacters
        func line(_ text: String) -> String { TextNormalizer.normalize(text, maxCharacters: limit, singleLine: true).text }
        let fromDomain = message.sender.domain
        let replyTo = message.fields.first { $0.hasName("Reply-To") }.map { MailSender(fromFieldValue: $0.rawValue).domain } ?? ""
        replyToDomain = replyTo == fromDomain ? "" : line(replyTo)
        list = line(MailSignals.listIdentity(message))
        mailer = line(message.firstValue(named: "X-Mailer") ?? message.firstValue(named: "User-Agent") ?? "")
        structure = line(root.contentType.mimeType)
        linkHosts = MailSignals.hosts(in: bodyText).map(line).filter { !$0.isEmpty }
    }

    private static func listIdentity(_ message: MailMessage) -> String {
        if let id = message.firstValue(named: "List-Id") {
            if let open = id.lastIndex(of: "<"), let close = id[open...].firstIndex(of: ">") {
                return String(id[id.index(after: open)..<close])
            }
            return id
        }
        if let list = message.firstValue(named: "X-Mailing-List") { return list }
        if let precedence = message.firstValue(named: "Precedence")?.lowercased().filter({ $0 != " " }),
           ["bulk", "list", "junk"].contains(precedence) {
            return precedence
        }
        return ""
    }

    /// Hosts of `scheme://host` and `www.host` links in the text, and of the
    /// `(host)` that HTML conversion puts after a link's text.
    package static func hosts(in text: String) -> [String] {
        var hosts: [String] = []
        let scalars = Array(text.unicodeScalars)
        func isHostScalar(_ s: Unicode.Scalar) -> Bool {
            s.isASCII && (s.properties.isAlphabetic || ("0"..."9").contains(s) || s == "." || s == "-")
        }
        func add(_ host: String) {
            let cleaned = host.lowercased().trimmingDots
            guard cleaned.contains("."), !hosts.contains(cleaned), hosts.count < maximumLinkHosts else { return }
            hosts.append(cleaned)
        }
        var i = 0
        while i < scalars.count && hosts.count < maximumLinkHosts {
            if scalars[i] == ":", i + 2 < scalars.count, scalars[i + 1] == "/", scalars[i + 2] == "/" {
                var j = i + 3
                var host = ""
                while j < scalars.count, isHostScalar(scalars[j]) { host.unicodeScalars.append(scalars[j]); j += 1 }
                add(host)
                i = j
                continue
            }
            let atWordStart = i == 0 || !isHostScalar(scalars[i - 1])
            if atWordStart, i + 4 < scalars.count, String(String.UnicodeScalarView(scalars[i..<(i + 4)])).lowercased() == "www." {
                var j = i
                var host = ""
                while j < scalars.count, isHostScalar(scalars[j]) { host.unicodeScalars.append(scalars[j]); j += 1 }
                add(host)
                i = j
                continue
            }
            if scalars[i] == "(" {
                var j = i + 1
                var host = ""
                while j < scalars.count, isHostScalar(scalars[j]) { host.unicodeScalars.append(scalars[j]); j += 1 }
                if j < scalars.count, scalars[j] == ")", host.contains("."), host.unicodeScalars.first?.properties.isAlphabetic == true {
                    add(host)
                }
                i = j
                continue
            }
            i += 1
        }
        return hosts
    }
}

private extension String {
    var trimmingDots: String {
        var text = Substring(self)
        while text.first == "." || text.first == "-" { text.removeFirst() }
        while text.last == "." || text.last == "-" { text.removeLast() }
        return String(text)
    }
}

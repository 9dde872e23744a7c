import Foundation
import SpamtuneMail

/// How a verdict reads in spamd's terms: a score and a required score on the
/// configured scale (`VerdictHeaders.scale`), rule-like symbols, a report, and the
/// header fields PROCESS adds.
struct SpamdVerdictText: Sendable {
    let verdict: Verdict
    let verdictHeaders: VerdictHeaders
    /// Only the first part of the message was scored.
    let truncated: Bool

    init(verdict: Verdict, headers: VerdictHeaders, truncated: Bool = false) {
        self.verdict = verdict
        verdictHeaders = headers
        self.truncated = truncated
    }

    var requiredScore: String { verdictHeaders.requiredScore(verdict) }

    /// The score with one decimal (see VerdictHeaders.score: ham never prints a score
    /// that rounds up to the threshold).
    var score: String { verdictHeaders.score(verdict) }

    /// The rule names SYMBOLS lists: the verdict, the probability band (like
    /// SpamAssassin's BAYES_xx: SPAMTUNE_P70 is 0.70 <= P(spam) < 0.80), and how it was reached.
    var symbols: [String] {
        switch verdict.outcome {
        case .failedOpen, .temporaryFailure:
            return ["SPAMTUNE_UNSCORED"]
        case let .policy(rule, _):
            return [verdict.isSpam ? "SPAMTUNE_SPAM" : "SPAMTUNE_HAM", Self.symbol(of: rule)]
        case .scored, .cached:
            let band = min(9, max(0, Int((verdict.spamProbability * 10).rounded(.down)))) * 10
            var names = [verdict.isSpam ? "SPAMTUNE_SPAM" : "SPAMTUNE_HAM", "SPAMTUNE_P" + (band < 10 ? "0\(band)" : "\(band)")]
            if verdict.outcome == .cached { names.append("SPAMTUNE_CACHED") }
            if truncated { names.append("SPAMTUNE_TRUNCATED") }
            return names
        }
    }

    /// REPORT's body, laid out like SpamAssassin's so that tools reading its
    /// "Content analysis details" lines keep working.
    var report: String {
        let probability = Self.fixed(verdict.spamProbability, digits: 4)
        var description: String
        switch verdict.outcome {
        case let .failedOpen(reason), let .temporaryFailure(reason):
            description = "not scored: \(reason)"
        case let .policy(rule, entry):
            description = "not scored: \(Self.meaning(of: Self.symbol(of: rule)))" + (entry.map { " (\($0))" } ?? "")
        case .scored, .cached:
            description = "P(spam) \(probability) from \(verdict.tokens) tokens"
        }
        if truncated { description += ", first part only" }
        var lines = [
            "spamtune model \(verdict.modelVersion) classified this message as \(verdict.isSpam ? "spam" : "not spam").",
            "",
            "Content analysis details:   (\(score) points, \(requiredScore) required)",
            "",
            " pts rule name              description",
            "---- ---------------------- --------------------------------------------------",
        ]
        let names = symbols
        lines.append(Self.reportLine(points: score, rule: names[0], description: description))
        for name in names.dropFirst() {
            lines.append(Self.reportLine(points: "0.0", rule: name, description: Self.meaning(of: name)))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The header fields PROCESS and HEADERS add (replacing fields of the same names).
    var headerFields: [(name: String, value: String)] { verdictHeaders.fields(for: verdict, tests: symbols) }

    private static func reportLine(points: String, rule: String, description: String) -> String {
        let paddedPoints = String(repeating: " ", count: max(0, 4 - points.count)) + points
        let paddedRule = rule + String(repeating: " ", count: max(1, 23 - rule.count))
        return "\(paddedPoints) \(paddedRule)\(description)"
    }

    /// SPAMTUNE_ALLOW_LIST for allow-list.
    static func symbol(of rule: PolicyRule) -> String {
        "SPAMTUNE_" + rule.rawValue.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    private static func meaning(of symbol: String) -> String {
        switch symbol {
        case "SPAMTUNE_AUTHENTICATED": "the client authenticated (skip_authenticated)"
        case "SPAMTUNE_TRUSTED_NETWORK": "the client is in trusted_networks"
        case "SPAMTUNE_ALLOW_LIST": "the sender is in allow_senders"
        case "SPAMTUNE_DENY_LIST": "the sender is in deny_senders"
        case "SPAMTUNE_CACHED": "an identical text was scored before"
        case "SPAMTUNE_TRUNCATED": "the message is larger than max_message_size"
        default:
            if symbol.hasPrefix("SPAMTUNE_P"), let band = Int(symbol.dropFirst(10)) {
                "P(spam) is between \(Double(band) / 100) and \(Double(band + 10) / 100)"
            } else {
                ""
            }
        }
    }

    static func fixed(_ value: Double, digits: Int) -> String {
        guard value.isFinite else { return "0." + String(repeating: "0", count: digits) }
        var scale = 1
        for _ in 0..<digits { scale *= 10 }
        let scaled = Int((value * Double(scale)).rounded())
        let fraction = String(abs(scaled) % scale)
        return (scaled < 0 ? "-" : "") + "\(abs(scaled) / scale)." + String(repeating: "0", count: digits - fraction.count) + fraction
    }
}

/// The bytes of spamd's answers.
enum SpamdResponse {
    static let version = "SPAMD/1.5"

    /// An error: the status line only; the server then closes the connection.
    static func error(_ error: SpamdRequestError) -> [UInt8] {
        Array("\(version) \(error.status.rawValue) \(error.status) \(error.message)\r\n".utf8)
    }

    static func pong() -> [UInt8] { Array("\(version) 0 PONG\r\n".utf8) }

    /// TELL's answer: which databases were changed.
    static func tell(didSet: [TellDatabase], didRemove: [TellDatabase]) -> [UInt8] {
        var text = "\(version) 0 EX_OK\r\n"
        if !didSet.isEmpty { text += "DidSet: \(didSet.map(\.rawValue).joined(separator: ","))\r\n" }
        if !didRemove.isEmpty { text += "DidRemove: \(didRemove.map(\.rawValue).joined(separator: ","))\r\n" }
        // spamd ends TELL's answer with two empty lines; spamc stops at the first.
        return Array((text + "\r\n").utf8)
    }

    /// The answer to CHECK, SYMBOLS, REPORT, REPORT_IFSPAM, PROCESS or HEADERS. The
    /// layout follows the client's protocol version exactly as spamd does, because
    /// clients parse it with fixed patterns (Exim asks with SPAMC/1.2 and expects the
    /// `Spam:` line right after the status line).
    static func verdict(_ text: SpamdVerdictText, request: SpamdRequest, message: [UInt8]?) -> [UInt8] {
        let verb = request.verb
        let version = request.version
        // REPORT_IFSPAM says Yes/No where the others say True/False (spamd does; spamc
        // then prints no score line for it).
        let truth = text.verdict.isSpam ? (verb == .reportIfSpam ? "Yes" : "True") : (verb == .reportIfSpam ? "No" : "False")
        let spamLine = "Spam: \(truth) ; \(text.score) / \(text.requiredScore)"
        var head = "\(Self.version) 0 EX_OK\r\n"
        var body: [UInt8] = []
        switch verb {
        case .process, .headers:
            body = message ?? []
            if version >= SpamdProtocolVersion(1, 3) {
                head += "Content-length: \(body.count)\r\n\(spamLine)\r\n\r\n"
            } else if version >= SpamdProtocolVersion(1, 2) {
                head += "Content-length: \(body.count)\r\n\r\n"
            }
            return Array(head.utf8) + body
        case .check:
            return Array((head + spamLine + "\r\n\r\n").utf8)
        case .symbols:
            body = Array(text.symbols.joined(separator: ",").utf8)
            if version < SpamdProtocolVersion(1, 3) { body += Array("\r\n".utf8) }
        case .report:
            body = Array(text.report.utf8)
        case .reportIfSpam:
            body = text.verdict.isSpam ? Array(text.report.utf8) : []
        case .tell, .ping, .skip:
            return []
        }
        if version >= SpamdProtocolVersion(1, 3) {
            head += "Content-length: \(body.count)\r\n"
        }
        return Array((head + spamLine + "\r\n\r\n").utf8) + body
    }

    /// The message with the verdict's header fields; for HEADERS only its header block
    /// up to and including the empty line.
    static func rewrittenMessage(_ message: MailMessage, fields: [(name: String, value: String)], headersOnly: Bool) throws -> [UInt8] {
        let rewritten = try message.replacingHeaderFields(with: fields)
        guard headersOnly else { return rewritten }
        // The body is kept byte for byte at the end of the rewritten message.
        return Array(rewritten.prefix(rewritten.count - (message.bytes.count - message.bodyOffset)))
    }
}

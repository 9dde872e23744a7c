import Foundation
import SpamtuneClassifier
import SpamtuneMail

/// The test split's mistakes at the served threshold, worst first, so an admin can read
/// what the model gets wrong: ham called spam (the costly mistake) and spam missed.
public struct MistakeList: Codable, Equatable, Sendable {
    public struct Mistake: Codable, Equatable, Sendable {
        /// Where the message came from when known (a mail file, a mailbox position),
        /// else the opening of its text.
        public var message: String
        public var spamProbability: Double
    }

    public var threshold: Double
    public var hamCalledSpam: [Mistake]
    public var hamCalledSpamTotal: Int
    public var spamMissed: [Mistake]
    public var spamMissedTotal: Int

    /// Enough to see a pattern; the totals say how many more there are.
    public static let listedPerKind = 50

    /// `examples` are the evaluated ones, in the order `evaluation` scored them.
    public init(evaluation: Evaluation, threshold: Double, examples: [TrainingExample], limit: Int = MistakeList.listedPerKind) {
        let (ham, spam) = evaluation.mistakes(at: threshold)
        func listed(_ positions: [Int]) -> [Mistake] {
            positions.prefix(limit).map {
                Mistake(
                    message: examples.indices.contains($0) ? examples[$0].summary : "example \($0 + 1)",
                    spamProbability: evaluation.scored[$0].spamProbability)
            }
        }
        self.threshold = threshold
        hamCalledSpam = listed(ham)
        hamCalledSpamTotal = ham.count
        spamMissed = listed(spam)
        spamMissedTotal = spam.count
    }

    func markdown() -> [String] {
        func section(_ title: String, _ mistakes: [Mistake], total: Int) -> [String] {
            let shown = total > mistakes.count ? "\(total), the \(mistakes.count) worst listed" : "\(total)"
            var lines = ["", "### \(title): \(shown)"]
            if !mistakes.isEmpty { lines.append("") }
            lines += mistakes.map { String(format: "- %.4f ", $0.spamProbability) + Self.markdownEscaped($0.message) }
            return lines
        }
        return ["", String(format: "## Test mistakes at the served threshold (%.4g)", threshold)]
            + section("Ham called spam", hamCalledSpam, total: hamCalledSpamTotal)
            + section("Spam missed", spamMissed, total: spamMissedTotal)
    }

    /// Message text in a list item: one line, and no character that Markdown would read
    /// as formatting or HTML.
    static func markdownEscaped(_ text: String) -> String {
        var result = ""
        for character in text {
            if character.isNewline || character == "\t" {
                result.append(" ")
            } else {
                if "\\`*_[]<>#|".contains(character) { result.append("\\") }
                result.append(character)
            }
        }
        return result
    }
}

extension TrainingExample {
    /// How the mistakes list names this example: its source when known (a mail file or
    /// mailbox position), with its subject; otherwise the opening of its text.
    var summary: String {
        switch content {
        case let .text(text):
            let opening = Self.opening(text)
            return source.map { "\($0): \(opening)" } ?? opening
        case let .mail(bytes):
            let message = MailMessage(bytes: bytes)
            let subject = Self.opening(message.subject)
            if let source { return subject.isEmpty ? source : "\(source): \(subject)" }
            if !subject.isEmpty { return "Subject: \(subject)" }
            return Self.opening(message.content().bodyText)
        }
    }

    /// The first words of a text, whitespace collapsed, at most `limit` characters.
    static func opening(_ text: String, limit: Int = 80) -> String {
        let words = text.split(whereSeparator: { $0.isWhitespace || $0.isNewline })
        var result = ""
        for word in words {
            let next = result.isEmpty ? String(word) : result + " " + word
            if next.count > limit {
                if result.isEmpty { result = String(word.prefix(limit - 1)) }
                return result + "…"
            }
            result = next
        }
        return result
    }
}

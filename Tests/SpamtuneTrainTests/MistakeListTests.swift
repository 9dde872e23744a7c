import Foundation
import SpamtuneClassifier
@testable import SpamtuneTrain
import Testing

/// The report's list of the test split's mistakes at the served threshold.
@Suite struct MistakeListTests {
    func mail(subject: String, body: String) -> [UInt8] {
        Array("From: Someone <a@example.com>\r\nSubject: \(subject)\r\nContent-Type: text/plain\r\n\r\n\(body)\r\n".utf8)
    }

    @Test func mistakesAreNamedByTheirSourceOrTheirOpening() {
        let long = (1...30).map { "word\($0)" }.joined(separator: " ")
        let examples = [
            TrainingExample(content: .text("Ok lar... Joking wif u oni..."), label: .ham),
            TrainingExample(content: .text(long), label: .ham),
            TrainingExample(content: .mail(mail(subject: "Minutes of Tuesday", body: "Attached.")), label: .ham, source: "/home/a/Maildir/cur/123:2,S"),
            TrainingExample(content: .mail(mail(subject: "Cheap pills", body: "Buy now")), label: .spam),
            TrainingExample(content: .mail(mail(subject: "", body: "No subject here, only a body")), label: .spam),
            TrainingExample(content: .text("WINNER!! Claim your prize"), label: .spam),
        ]
        let evaluation = Evaluation(zip([0.97, 0.9, 0.99, 0.2, 0.3, 0.95], examples).map { .init(spamProbability: $0.0, label: $0.1.label) })
        let list = MistakeList(evaluation: evaluation, threshold: 0.5, examples: examples)
        #expect(list.hamCalledSpamTotal == 3)
        #expect(list.hamCalledSpam.map(\.message) == [
            "/home/a/Maildir/cur/123:2,S: Minutes of Tuesday", "Ok lar... Joking wif u oni...",
            (1...12).map { "word\($0)" }.joined(separator: " ") + "…",
        ])
        #expect(list.hamCalledSpam.map(\.spamProbability) == [0.99, 0.97, 0.9])
        #expect(list.spamMissedTotal == 2)
        #expect(list.spamMissed.map(\.message) == ["Subject: Cheap pills", "No subject here, only a body"])
        #expect(list.hamCalledSpam[2].message.count <= 81)
    }

    @Test func aLongListIsCappedAndSaysItsTotal() {
        let examples = (0..<70).map { TrainingExample(content: .text("ham number \($0)"), label: .ham) }
        let evaluation = Evaluation((0..<70).map { .init(spamProbability: 0.6 + Double($0) / 1000, label: .ham) })
        let list = MistakeList(evaluation: evaluation, threshold: 0.5, examples: examples)
        #expect(list.hamCalledSpamTotal == 70)
        #expect(list.hamCalledSpam.count == MistakeList.listedPerKind)
        #expect(list.hamCalledSpam.first?.message == "ham number 69")
        let markdown = list.markdown().joined(separator: "\n")
        #expect(markdown.contains("### Ham called spam: 70, the 50 worst listed"))
        #expect(markdown.contains("### Spam missed: 0"))
        #expect(markdown.contains("- 0.6690 ham number 69"))
    }

    @Test func messageTextCannotBreakTheMarkdown() {
        #expect(MistakeList.markdownEscaped("a|b *c*\nd <b>") == "a\\|b \\*c\\* d \\<b\\>")
    }
}

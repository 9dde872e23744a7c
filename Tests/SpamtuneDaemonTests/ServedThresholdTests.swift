import Foundation
import SpamtuneClassifier
import SpamtuneTestSupport
import Testing

@testable import SpamtuneDaemon
@testable import SpamtuneTrain

/// A message the model leans towards spam (P(spam) about 0.6, so argmax says spam) under
/// a checkpoint that serves threshold 0.8: the classifier, the daemon and training's
/// evaluation all call it ham, because all three decide by the served threshold.
@Suite struct ServedThresholdTests {
    /// The tiny oracle model gives this SMS P(spam) 0.607 (Tests/Fixtures/model/tiny/classify.json).
    let text = "K...k...when will you give treat?"
    let threshold = 0.8

    @Test func argmaxSaysSpamButEveryPathServesHam() throws {
        let root = URL(fileURLWithPath: "/tmp/st-threshold-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let checkpoint = try TinyCheckpoint.write(to: root, threshold: threshold, version: "v-threshold")
        let classifier = try SpamClassifier.load(checkpoint: checkpoint, threads: 1)
        #expect(classifier.threshold == threshold)

        // The classifier: spam by the logits' argmax, ham by the threshold it serves.
        let verdict = try #require(classifier.classify(texts: [text]).first)
        #expect(verdict.logits[1] > verdict.logits[0])
        #expect(verdict.spamProbability > 0.55 && verdict.spamProbability < 0.65, "\(verdict.spamProbability)")
        #expect(!verdict.isSpam)
        #expect(verdict.label == .ham)

        // The daemon's scoring service, and the headers it adds.
        let service = try ScoringService(settings: .init(), log: Logger(level: .error)) {
            ScoringService.LoadedModel(classifier: classifier, version: "v-threshold")
        }
        defer { service.drainAndStop() }
        let served = service.score(text: text, channel: .control)
        #expect(served.wasScored)
        #expect(served.decision == Decision(spamProbability: verdict.spamProbability, threshold: threshold))
        #expect(!served.isSpam && served.label == "ham")
        #expect(VerdictHeaders().fields(for: served).first { $0.name == "X-Spam-Flag" }?.value == "NO")

        // Training's evaluation of the same checkpoint on the same message, labelled spam:
        // a missed spam at the served threshold, caught only at 0.5.
        let evaluation = Promotion.evaluate(classifier, on: [TrainingExample(content: .text(text), label: .spam)])
        #expect(abs(evaluation.scored[0].spamProbability - verdict.spamProbability) < 1e-12)
        #expect(evaluation.metrics(at: classifier.threshold).falseNegatives == 1)
        #expect(evaluation.metrics(at: Decision.defaultThreshold).truePositives == 1)
    }
}

import Foundation
import SpamtuneClassifier
import SpamtuneConfiguration
import SpamtuneModel
import SpamtuneTestSupport
import Testing

@testable import SpamtuneDaemon

/// spamtuned asks `PrecisionChoice` about every threshold it decides at and its token
/// limit, at its start and at every reload: a reject or quarantine threshold where int8
/// would change a verdict of the checkpoint's record makes `auto` serve fp32, when a
/// milter (the only way in that acts on them) listens.
@Suite struct DaemonPrecisionTests {
    static let messages = [
        "WINNER!! As a valued network customer you have been selected to receive a £900 prize reward!",
        "Ok lar... Joking wif u oni...", "K...k...when will you give treat?",
    ]

    func probabilities(_ checkpoint: URL, _ precision: Precision) throws -> [Double] {
        try SpamClassifier.load(checkpoint: checkpoint, threads: 1, precision: .fixed(precision))
            .classify(texts: Self.messages).map(\.spamProbability)
    }

    @Test func everyThresholdAndTheTokenLimitReachTheChoiceAtStartAndReload() throws {
        let directory = try makeMilterTestDirectory("precision")
        defer { try? FileManager.default.removeItem(at: directory) }
        let models = directory.appendingPathComponent("models")
        let probe = try TinyCheckpoint.write(to: models, version: "v-probe", makeCurrent: false)
        let fp32 = try probabilities(probe, .fp32)
        let int8 = try probabilities(probe, .int8)
        // A threshold between a message's FP32 and int8 probabilities, and a served spam
        // threshold below every message, where no verdict can change.
        let pair = zip(fp32, int8).max { abs($0.0 - $0.1) < abs($1.0 - $1.1) }!
        let between = (pair.0 + pair.1) / 2
        let spamThreshold = (fp32 + int8).min()! / 2
        let checkpoint = try TinyCheckpoint.write(to: models, threshold: spamThreshold, version: "v-served")
        let agreement = try TinyCheckpoint.recordPrecisionAgreement(in: checkpoint, messages: Self.messages)
        let ranges = try #require(agreement.results(.int8)?.first?.verdictChangingRanges)
        try #require(ranges.contains { $0.contains(between) } && !ranges.contains { $0.contains(spamThreshold) }, "\(ranges)")

        func served(_ configure: (inout DaemonConfiguration) -> Void) throws -> SpamClassifier {
            var configuration = DaemonConfiguration()
            configuration.checkpoint = models.appendingPathComponent("current").path
            configuration.threads = 1
            configuration.stateDirectory = directory.appendingPathComponent("state").path
            #expect(configuration.precision == "auto")
            configure(&configuration)
            let daemon = try Daemon(configuration: configuration, log: Logger(level: .error))
            defer { daemon.service.drainAndStop() }
            let atStart = daemon.service.currentModel.classifier
            let reloaded = try daemon.reload().get().classifier
            #expect(reloaded.precisionChoice == atStart.precisionChoice && reloaded.model.precision == atStart.model.precision)
            return atStart
        }
        let plain = try served { _ in }
        let instructionSet = plain.model.kernels.instructionSet
        #expect(plain.precisionChoice == PrecisionChoice.choose(.auto, agreement: agreement, spamThreshold: spamThreshold, instructionSet: instructionSet))
        let rejecting = try served { $0.rejectThreshold = between }
        let quarantining = try served { $0.quarantineThreshold = between }
        let shorter = try served { $0.maxTokens = 8 }
        for classifier in [rejecting, quarantining, shorter] {
            #expect(classifier.model.precision == .fp32, "\(classifier.precisionChoice.reason)")
        }
        // Reject and quarantine are milter actions: with no milter listening they decide nothing.
        let noMilter = try served {
            $0.rejectThreshold = between
            $0.quarantineThreshold = between
            $0.milterListen = nil
        }
        #expect(noMilter.precisionChoice == plain.precisionChoice, "\(noMilter.precisionChoice.reason)")
        if instructionSet == .avx512vnni {
            #expect(plain.model.precision == .int8, "\(plain.precisionChoice.reason)")
            #expect(rejecting.precisionChoice.reason.contains("at reject_threshold \(between)"), "\(rejecting.precisionChoice.reason)")
            #expect(quarantining.precisionChoice.reason.contains("at quarantine_threshold \(between)"), "\(quarantining.precisionChoice.reason)")
            #expect(shorter.precisionChoice.reason.contains("max_tokens 8 overrides"), "\(shorter.precisionChoice.reason)")
        }
    }
}

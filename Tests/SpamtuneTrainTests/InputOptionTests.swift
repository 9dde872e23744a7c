import Foundation
import SpamtuneClassifier
import SpamtuneSupport
import SpamtuneTrain
import Testing

/// What a model reads of a message, as spamtune-train's options set it.
@Suite struct InputOptionTests {
    private let specification = TrainingCommandLine.specification

    private func options(_ arguments: [String]) throws -> TrainingOptions {
        try TrainingCommandLine.options(from: specification.parse(["--state-dir", "/nonexistent/spamtune-state"] + arguments))
    }

    @Test func theScratchModelReadsMoreThanThePretrainedOneByDefault() throws {
        let defaults = try options([])
        #expect(defaults.hyperparameters.textLayout == "v2" && defaults.hyperparameters.maxTokens == 64)
        #expect(defaults.hyperparameters.evidence == nil)
        #expect(defaults.scratch.textLayout == "v3" && defaults.scratch.maxTokens == 128 && defaults.scratch.evidenceTokens == 4096)
    }

    @Test func namedValuesApplyToWhicheverModelIsTrained() throws {
        let named = try options(["--text-layout", "v1", "--max-tokens", "32", "--evidence-tokens", "512"])
        #expect(named.hyperparameters.textLayout == "v1" && named.scratch.textLayout == "v1")
        #expect(named.hyperparameters.maxTokens == 32 && named.scratch.maxTokens == 32)
        #expect(named.hyperparameters.evidence == InputSettings.EvidenceSettings(buckets: Recipe.evidenceBuckets, tokens: 512, headerWords: true))
        #expect(named.scratch.evidenceTokens == 512 && named.scratch.headerWords)
        let bodyOnly = try options(["--header-words", "no", "--evidence-tokens", "512"])
        #expect(bodyOnly.hyperparameters.evidence?.headerWords == false && !bodyOnly.scratch.headerWords)
        let off = try options(["--evidence-tokens", "0"])
        #expect(off.hyperparameters.evidence == nil && off.scratch.evidenceTokens == 0)
    }

    @Test func anUnknownLayoutIsRefusedNamingTheKnownOnes() throws {
        do {
            _ = try options(["--text-layout", "v9"])
            Issue.record("--text-layout v9 was accepted")
        } catch {
            #expect("\(error)" == "--text-layout must be raw, v1, v2, v3, not 'v9'")
        }
        #expect(throws: ArgumentError.self) { try options(["--evidence-tokens", "-1"]) }
        #expect(throws: ArgumentError.self) { try options(["--header-words", "maybe"]) }
    }
}

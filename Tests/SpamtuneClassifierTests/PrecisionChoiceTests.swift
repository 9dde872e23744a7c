import Foundation
import SpamtuneClassifier
import SpamtuneKernels
import SpamtuneModel
import SpamtuneTestSupport
import Testing

/// `auto` and the fixed precisions, decided by `PrecisionChoice` from a checkpoint's
/// record of its verdicts in each precision; the records here are measured on the tiny
/// oracle model by the function spamtune-train uses.
@Suite struct PrecisionChoiceTests {
    func temporaryRoot() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("spamtune-precision-\(UUID())")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static let messages = [
        "WINNER!! As a valued network customer you have been selected to receive a £900 prize reward!",
        "Ok lar... Joking wif u oni...", "I'll be home in ten minutes, put the kettle on",
    ]

    /// The tiny checkpoint's P(spam) for each message in `precision`.
    func probabilities(_ checkpoint: URL, _ precision: Precision) throws -> [Double] {
        let classifier = try SpamClassifier.load(checkpoint: checkpoint, threads: 1, precision: .fixed(precision))
        #expect(classifier.model.precision == precision)
        return classifier.classify(texts: Self.messages).map(\.spamProbability)
    }

    func recordAgreement(_ checkpoint: URL) throws -> PrecisionAgreement {
        try TinyCheckpoint.recordPrecisionAgreement(in: checkpoint, messages: Self.messages)
    }

    @Test func autoFallsBackToFP32WhenInt8ChangesAVerdict() throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let probe = try TinyCheckpoint.write(to: root, version: "probe")
        let fp32 = try probabilities(probe, .fp32)
        let int8 = try probabilities(probe, .int8)
        // A threshold exactly between a message's FP32 and int8 probabilities: its label flips.
        let (index, gap) = zip(fp32, int8).enumerated().map { ($0.offset, abs($0.element.0 - $0.element.1)) }.max { $0.1 < $1.1 }!
        #expect(gap > 0, "int8 gave FP32's probabilities exactly: \(fp32) vs \(int8)")
        let threshold = (fp32[index] + int8[index]) / 2
        let flipping = try TinyCheckpoint.write(to: root, threshold: threshold, version: "flipping")
        let agreement = try recordAgreement(flipping)
        let int8Result = try #require(agreement.results(.int8)?.first)
        #expect(int8Result.examples == Self.messages.count && int8Result.differingVerdicts >= 1)
        #expect(abs(int8Result.largestProbabilityDifference - gap) < 1e-12)

        let choice = PrecisionChoice.choose(.auto, agreement: agreement, spamThreshold: threshold, instructionSet: .avx512vnni)
        #expect(choice.precision == .fp32)
        #expect(choice.reason.contains("int8 changes \(int8Result.differingVerdicts) of \(Self.messages.count) verdicts"), "\(choice.reason)")
        // Loaded for serving, on this CPU: whatever it has, the flipping checkpoint serves FP32.
        let served = try SpamClassifier.load(checkpoint: flipping, threads: 1, precision: .auto)
        #expect(served.precisionChoice.precision == .fp32)
        #expect(served.model.precision == .fp32)

        // The same message flips at a reject threshold there, with a spam threshold no message is near.
        let ranges = try #require(int8Result.verdictChangingRanges)
        #expect(ranges.contains { $0.contains(threshold) }, "\(ranges)")
        let clear = (fp32 + int8).max()! + (1 - (fp32 + int8).max()!) / 2
        try #require(!ranges.contains { $0.contains(clear) }, "\(ranges)")
        let rejecting = PrecisionChoice.choose(
            .auto, agreement: agreement, spamThreshold: clear, rejectThreshold: threshold, instructionSet: .avx512vnni)
        #expect(rejecting.precision == .fp32 && rejecting.reason.contains("at reject_threshold \(threshold)"), "\(rejecting.reason)")
        let clearOnly = PrecisionChoice.choose(.auto, agreement: agreement, spamThreshold: clear, instructionSet: .avx512vnni)
        #expect(clearOnly.precision == .int8, "\(clearOnly.reason)")
        let servedRejecting = try SpamClassifier.load(
            checkpoint: flipping, threads: 1, precision: .auto, spamThreshold: clear, rejectThreshold: threshold)
        #expect(servedRejecting.model.precision == .fp32, "\(servedRejecting.precisionChoice.reason)")
    }

    @Test func autoServesInt8WhereItsVerdictsAreFP32sOnAVNNICPU() throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let probe = try TinyCheckpoint.write(to: root, version: "probe")
        let fp32 = try probabilities(probe, .fp32)
        // A threshold no message is near, in either precision.
        let threshold = fp32.max()! + (1 - fp32.max()!) / 2
        let steady = try TinyCheckpoint.write(to: root, threshold: threshold, version: "steady")
        let agreement = try recordAgreement(steady)
        #expect(agreement.results(.int8)?.first?.differingVerdicts == 0)
        #expect(agreement.results(.bf16)?.first?.differingVerdicts == 0)
        #expect(agreement.summary.count == 2 && agreement.summary.allSatisfy { $0.contains("0 of 3 verdicts differ") })

        let onVNNI = PrecisionChoice.choose(.auto, agreement: agreement, spamThreshold: threshold, instructionSet: .avx512vnni)
        #expect(onVNNI.precision == .int8, "\(onVNNI.reason)")
        #expect(onVNNI.reason.contains("all 3 validation messages"))
        for level in [InstructionSet.avx512, .avx2, .baseline] {
            let choice = PrecisionChoice.choose(.auto, agreement: agreement, spamThreshold: threshold, instructionSet: level)
            #expect(choice.precision == .fp32 && choice.reason.contains("no AVX-512 VNNI"), "\(choice.reason)")
        }
        // Another spam threshold clear of every range is covered too.
        let elsewhere = (threshold + 1) / 2
        let overridden = PrecisionChoice.choose(.auto, agreement: agreement, spamThreshold: elsewhere, instructionSet: .avx512vnni)
        #expect(overridden.precision == .int8 && overridden.reason.contains("at spam_threshold \(elsewhere)"), "\(overridden.reason)")
        // Not a token limit other than the one the messages were read at.
        let shorter = PrecisionChoice.choose(
            .auto, agreement: agreement, spamThreshold: threshold, maxTokens: (served: 8, checkpoint: 256), instructionSet: .avx512vnni)
        #expect(shorter.precision == .fp32 && shorter.reason.contains("max_tokens 8 overrides the checkpoint's 256"), "\(shorter.reason)")
        let servedShorter = try SpamClassifier.load(checkpoint: steady, threads: 1, maxTokens: 8, precision: .auto)
        #expect(servedShorter.model.precision == .fp32 && servedShorter.precisionChoice.reason.contains("max_tokens 8"), "\(servedShorter.precisionChoice.reason)")

        // Loaded for serving on this CPU, the choice is the one function's, and the model computes in it.
        let served = try SpamClassifier.load(checkpoint: steady, threads: 1, precision: .auto)
        let expected = PrecisionChoice.choose(.auto, agreement: agreement, spamThreshold: threshold, instructionSet: served.model.kernels.instructionSet)
        #expect(served.precisionChoice == expected)
        #expect(served.model.precision == expected.precision)
    }

    @Test func rangesAreWidenedToTheGridAndMerged() {
        let pairs: [(fp32: Double, int8: Double)] = [
            (0.10003, 0.10017),  // -> [0.1000, 0.1002]
            (0.10025, 0.10019),  // either order; overlaps the first -> [0.1000, 0.1003]
            (0.1003, 0.10041),  // touches it at 0.1003 -> [0.1000, 0.1005]
            (0.3, 0.30001),  // a bound on the grid stays -> [0.3000, 0.3001]
            (0.5, 0.5),  // no threshold separates equal probabilities
            (0.99991, 0.99999), (0.99995, 1.0),  // near 1: one cell -> [0.9999, 1.0000]
            (0.00001, 0.00002),  // near 0 -> [0.0000, 0.0001]
        ]
        let ranges = PrecisionAgreement.verdictChangingRanges(fp32: pairs.map(\.fp32), scored: pairs.map(\.int8))
        let expected = [(0.0, 0.0001), (0.1, 0.1005), (0.3, 0.3001), (0.9999, 1.0)]
        #expect(ranges.count == expected.count, "\(ranges)")
        for (range, bounds) in zip(ranges, expected) {
            #expect(abs(range.low - bounds.0) < 1e-12 && abs(range.high - bounds.1) < 1e-12, "\(ranges)")
        }
        // Widened, never narrowed: every threshold that separates a pair lies in a range.
        for (a, b) in pairs where a != b {
            for t in [max(a, b), min(a, b).nextUp, (a + b) / 2] {
                #expect(ranges.contains { $0.contains(t) }, "\(t) separates \(a) and \(b): \(ranges)")
            }
        }
        #expect(!ranges.contains { $0.contains(0.5) || $0.contains(0.2) })
    }

    /// A record measured from known probability pairs: int8 strays around 0.9 on
    /// validation and around 0.95 on test; the checkpoint serves 0.8.
    func recordFromPairs() -> PrecisionAgreement {
        func split(_ name: String, fp32: [Double], int8: [Double]) -> PrecisionAgreement.SplitAgreement {
            .init(
                split: name, examples: fp32.count, differingVerdicts: 0,
                largestProbabilityDifference: zip(fp32, int8).map { abs($0 - $1) }.max()!,
                verdictChangingRanges: PrecisionAgreement.verdictChangingRanges(fp32: fp32, scored: int8))
        }
        return PrecisionAgreement(
            threshold: 0.8,
            precisions: ["int8": [
                split("validation", fp32: [0.01, 0.90012, 0.99], int8: [0.01, 0.90006, 0.99]),
                split("test", fp32: [0.02, 0.95003], int8: [0.02, 0.95015]),
            ]])
    }

    @Test func rejectQuarantineAndSpamThresholdsAreEachCheckedAgainstTheRanges() {
        let agreement = recordFromPairs()
        func choose(spam: Double = 0.8, reject: Double? = nil, quarantine: Double? = nil) -> PrecisionChoice {
            PrecisionChoice.choose(
                .auto, agreement: agreement, spamThreshold: spam, rejectThreshold: reject, quarantineThreshold: quarantine,
                instructionSet: .avx512vnni)
        }
        let rejecting = choose(reject: 0.9001)
        #expect(rejecting.precision == .fp32, "\(rejecting.reason)")
        #expect(rejecting.reason.contains("validation split at reject_threshold 0.9001") && rejecting.reason.contains("[0.9000, 0.9002]"), "\(rejecting.reason)")
        let quarantining = choose(reject: 0.97, quarantine: 0.9501)
        #expect(quarantining.precision == .fp32 && quarantining.reason.contains("test split at quarantine_threshold 0.9501"), "\(quarantining.reason)")
        let spam = choose(spam: 0.95)
        #expect(spam.precision == .fp32 && spam.reason.contains("at spam_threshold 0.95"), "\(spam.reason)")
        // All clear, and a spam threshold other than the recorded one is covered.
        let clear = choose(spam: 0.7, reject: 0.97, quarantine: 0.92)
        #expect(clear.precision == .int8, "\(clear.reason)")
        #expect(clear.reason.contains("all 5 validation and test messages at spam_threshold 0.7, reject_threshold 0.97, quarantine_threshold 0.92"), "\(clear.reason)")
        let longer = PrecisionChoice.choose(
            .auto, agreement: agreement, spamThreshold: 0.8, maxTokens: (served: 512, checkpoint: 256), instructionSet: .avx512vnni)
        #expect(longer.precision == .fp32 && longer.reason.contains("max_tokens 512 overrides the checkpoint's 256"), "\(longer.reason)")
        // Fixed settings are what they were.
        #expect(PrecisionChoice.choose(.fixed(.int8), agreement: agreement, spamThreshold: 0.8, rejectThreshold: 0.9001, instructionSet: .avx512vnni).precision == .int8)
    }

    @Test func aRecordWithoutRangesDecodesAndCoversItsOwnThresholdOnly() throws {
        // A precisionAgreement as spamtune-train wrote it before it recorded ranges.
        let json = """
            {"threshold": 0.8, "precisions": {"int8": [{"split": "validation", "examples": 149, "differingVerdicts": 0,
            "largestProbabilityDifference": 2.5e-05}, {"split": "test", "examples": 300, "differingVerdicts": 0,
            "largestProbabilityDifference": 3e-05}]}}
            """
        let old = try JSONDecoder().decode(PrecisionAgreement.self, from: Data(json.utf8))
        #expect(old.results(.int8)?.allSatisfy { $0.verdictChangingRanges == nil } == true)
        func choose(spam: Double, reject: Double? = nil, quarantine: Double? = nil) -> PrecisionChoice {
            PrecisionChoice.choose(
                .auto, agreement: old, spamThreshold: spam, rejectThreshold: reject, quarantineThreshold: quarantine,
                instructionSet: .avx512vnni)
        }
        #expect(choose(spam: 0.8).precision == .int8)
        let elsewhere = choose(spam: 0.7)
        #expect(elsewhere.precision == .fp32 && elsewhere.reason.contains("not at the 0.7 served (spam_threshold)"), "\(elsewhere.reason)")
        let rejecting = choose(spam: 0.8, reject: 0.99)
        #expect(rejecting.precision == .fp32 && rejecting.reason.contains("not at reject_threshold 0.99"), "\(rejecting.reason)")
        let quarantining = choose(spam: 0.8, quarantine: 0.9)
        #expect(quarantining.precision == .fp32 && quarantining.reason.contains("not at quarantine_threshold 0.9"), "\(quarantining.reason)")

        // A new record writes its ranges as [low, high] pairs and reads them back.
        let new = recordFromPairs()
        let encoded = try JSONEncoder().encode(new)
        #expect(String(decoding: encoded, as: UTF8.self).contains("\"verdictChangingRanges\":[["))
        #expect(try JSONDecoder().decode(PrecisionAgreement.self, from: encoded) == new)
    }

    @Test func aCheckpointWithoutARecordServesFP32AndFixedSettingsAreObeyed() throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let checkpoint = try TinyCheckpoint.write(to: root, version: "older")
        let auto = try SpamClassifier.load(checkpoint: checkpoint, threads: 1, precision: .auto)
        #expect(auto.precisionChoice.precision == .fp32)
        let noRecord = PrecisionChoice.choose(.auto, agreement: nil, spamThreshold: 0.5, instructionSet: .avx512vnni)
        #expect(noRecord.precision == .fp32 && noRecord.reason.contains("records no check"), "\(noRecord.reason)")
        for precision in Precision.allCases {
            let classifier = try SpamClassifier.load(checkpoint: checkpoint, threads: 1, precision: .fixed(precision))
            #expect(classifier.precisionChoice.precision == precision && classifier.model.precision == precision)
            #expect(classifier.precisionChoice.reason.hasPrefix("\(precision.rawValue) as configured"))
        }
    }

    @Test func settingsParseByNameAndABadOneSaysWhatIsAccepted() throws {
        #expect(PrecisionSetting.names == ["fp32", "bf16", "int8", "auto"])
        #expect(try PrecisionSetting(parsing: "auto") == .auto)
        #expect(try PrecisionSetting(parsing: "int8") == .fixed(.int8))
        for name in PrecisionSetting.names { #expect(try PrecisionSetting(parsing: name).name == name) }
        #expect(PrecisionSetting(name: "INT8") == nil)
        do {
            _ = try PrecisionSetting(parsing: "fp16")
            Issue.record("fp16 was accepted")
        } catch {
            #expect("\(error)" == "'fp16' is not a precision: give fp32, bf16, int8, auto")
        }
    }
}

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

    /// Records in the checkpoint's spamtune.json what spamtune-train would: the messages
    /// as its validation split, scored in each precision at the checkpoint's threshold.
    func recordAgreement(_ checkpoint: URL) throws -> PrecisionAgreement {
        let classifier = try SpamClassifier.load(checkpoint: checkpoint, threads: 1)
        let agreement = PrecisionAgreement.measure(
            parameters: classifier.model.parameters, kernels: classifier.model.kernels,
            splits: [(name: "validation", inputs: Self.messages.map(classifier.input(for:)))], threshold: classifier.threshold)
        var manifest = try CheckpointManifest.read(from: checkpoint)
        manifest.precisionAgreement = agreement
        try manifest.encoded().write(to: checkpoint.appendingPathComponent(CheckpointManifest.fileName))
        return agreement
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

        let choice = PrecisionChoice.choose(.auto, agreement: agreement, servedThreshold: threshold, instructionSet: .avx512vnni)
        #expect(choice.precision == .fp32)
        #expect(choice.reason.contains("int8 changes \(int8Result.differingVerdicts) of \(Self.messages.count) verdicts"), "\(choice.reason)")
        // Loaded for serving, on this CPU: whatever it has, the flipping checkpoint serves FP32.
        let served = try SpamClassifier.load(checkpoint: flipping, threads: 1, precision: .auto)
        #expect(served.precisionChoice.precision == .fp32)
        #expect(served.model.precision == .fp32)
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

        let onVNNI = PrecisionChoice.choose(.auto, agreement: agreement, servedThreshold: threshold, instructionSet: .avx512vnni)
        #expect(onVNNI.precision == .int8, "\(onVNNI.reason)")
        #expect(onVNNI.reason.contains("all 3 validation messages"))
        for level in [InstructionSet.avx512, .avx2, .baseline] {
            let choice = PrecisionChoice.choose(.auto, agreement: agreement, servedThreshold: threshold, instructionSet: level)
            #expect(choice.precision == .fp32 && choice.reason.contains("no AVX-512 VNNI"), "\(choice.reason)")
        }
        // Checked at the checkpoint's threshold only: another served threshold is not covered.
        let overridden = PrecisionChoice.choose(.auto, agreement: agreement, servedThreshold: 0.5, instructionSet: .avx512vnni)
        #expect(overridden.precision == .fp32 && overridden.reason.contains("not at the 0.5 served"), "\(overridden.reason)")

        // Loaded for serving on this CPU, the choice is the one function's, and the model computes in it.
        let served = try SpamClassifier.load(checkpoint: steady, threads: 1, precision: .auto)
        let expected = PrecisionChoice.choose(.auto, agreement: agreement, servedThreshold: threshold, instructionSet: served.model.kernels.instructionSet)
        #expect(served.precisionChoice == expected)
        #expect(served.model.precision == expected.precision)
    }

    @Test func aCheckpointWithoutARecordServesFP32AndFixedSettingsAreObeyed() throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let checkpoint = try TinyCheckpoint.write(to: root, version: "older")
        let auto = try SpamClassifier.load(checkpoint: checkpoint, threads: 1, precision: .auto)
        #expect(auto.precisionChoice.precision == .fp32)
        let noRecord = PrecisionChoice.choose(.auto, agreement: nil, servedThreshold: 0.5, instructionSet: .avx512vnni)
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

import Foundation
import SpamtuneClassifier
import SpamtuneTestSupport
@testable import SpamtuneTrain
import Testing

/// The promotion gate compares the new and the current model each at the threshold it
/// serves, on the same test examples.
@Suite struct PromotionTests {
    func metrics(_ scored: [(Double, Label)], at threshold: Double) -> ThresholdMetrics {
        Evaluation(scored.map { .init(spamProbability: $0.0, label: $0.1) }).metrics(at: threshold)
    }

    let log = TrainingLog { _ in }

    @Test func theNewModelIsJudgedAtItsServedThresholdNotAtHalf() {
        // At 0.5 the new model calls a ham spam; at its served 0.9 it does not, and
        // catches as much spam as the current model does at its own 0.5.
        let new: [(Double, Label)] = [(0.7, .ham), (0.1, .ham), (0.95, .spam), (0.92, .spam)]
        let current: [(Double, Label)] = [(0.2, .ham), (0.1, .ham), (0.8, .spam), (0.7, .spam)]
        let atHalf = Promotion.compare(new: metrics(new, at: 0.5), current: metrics(current, at: 0.5), currentVersion: "v1", log: log)
        #expect(!atHalf.0)
        #expect(atHalf.1.hasPrefix("more ham called spam"))
        let served = Promotion.compare(new: metrics(new, at: 0.9), current: metrics(current, at: 0.5), currentVersion: "v1", log: log)
        #expect(served.0, "\(served.1)")
        #expect(served.1.contains("at thresholds 0.9 vs 0.5"))
    }

    @Test func withEqualFalsePositivesTheLowerF1Loses() {
        let new: [(Double, Label)] = [(0.1, .ham), (0.95, .spam), (0.6, .spam)]
        let current: [(Double, Label)] = [(0.1, .ham), (0.95, .spam), (0.6, .spam)]
        let result = Promotion.compare(new: metrics(new, at: 0.9), current: metrics(current, at: 0.5), currentVersion: "v1", log: log)
        #expect(!result.0)
        #expect(result.1.hasPrefix("a lower F1"))
        #expect(Promotion.compare(new: metrics(new, at: 0.5), current: metrics(current, at: 0.5), currentVersion: "v1", log: log).0)
    }

    /// The current checkpoint is loaded from the store and scored at the threshold in its
    /// manifest: served at 0.99 it calls no ham spam, so a new model that calls one ham
    /// spam stays aside; served at 0.01 it calls every ham spam, and the new one wins.
    @Test func theCurrentCheckpointIsScoredAtItsOwnThreshold() throws {
        let split = ExampleSplit(DatasetSplit(
            train: [], validation: [],
            test: [
                LabelledText(label: .ham, text: "Aight will do, thanks again for comin out"),
                LabelledText(label: .ham, text: "Please don't text me anymore. I have nothing else to say."),
                LabelledText(label: .spam, text: "WINNER!! As a valued network customer you have been selected"),
            ]))
        let new = Evaluation([.init(spamProbability: 0.9, label: .ham), .init(spamProbability: 0.1, label: .ham), .init(spamProbability: 0.95, label: .spam)])
        for (served, promoted) in [(0.99, false), (0.01, true)] {
            let root = URL(fileURLWithPath: "/tmp/st-promotion-\(UUID().uuidString.prefix(8))")
            defer { try? FileManager.default.removeItem(at: root) }
            try TinyCheckpoint.write(to: root, threshold: served, version: "v1")
            let (promote, reason) = Promotion.decide(new: new, threshold: 0.5, split: split, store: CheckpointStore(root: root), log: log)
            #expect(promote == promoted, "\(reason)")
            #expect(reason.contains(String(format: "vs %.4g", served)), "\(reason)")
        }
    }
}

import SpamtuneClassifier
import SpamtuneKernels
import SpamtuneModel
import SpamtuneSupport
@testable import SpamtuneTrain
import SpamtuneWeights
import Testing

/// The training loops on a tiny GPT-2 trained from scratch: next-token pretraining and
/// fine-tuning.
@Suite struct FineTunerTests {
    static let config = try! GPT2Config(layerCount: 1, embeddingSize: 16, headCount: 2, contextLength: 32, vocabularySize: 64)

    func scratchClassifier(seed: UInt64 = 1) throws -> TrainableClassifier {
        try TrainableClassifier(
            config: Self.config, classes: 2, scope: .everything(layers: 1),
            base: RandomInitialization(config: Self.config, classes: 2, seed: seed), kernels: Kernels(threads: 1))
    }

    /// Messages that follow a rule: ham counts up from its first token, spam counts down.
    func examples(_ count: Int) -> [EncodedExample] {
        var random = SplitMix64(seed: 9)
        return (0..<count).map { i in
            let start = Int(random.next() % 40) + 12, length = Int(random.next() % 8) + 4
            let spam = i % 2 == 1
            return EncodedExample(ids: (0..<length).map { spam ? start - $0 : start + $0 }, label: spam ? .spam : .ham)
        }
    }

    @Test func soupFoldsCoverEveryExampleOnceWithHamAndSpamInEach() {
        let labels: [Label] = (0..<103).map { $0 % 3 == 0 ? .spam : .ham }
        let folds = ModelFit.folds(labels: labels, count: 4, seed: 123)
        #expect(folds.count == 4)
        #expect(folds.flatMap { $0 }.sorted() == Array(labels.indices))
        for fold in folds {
            let spam = fold.count { labels[$0] == .spam }
            #expect((8...9).contains(spam) && (17...18).contains(fold.count - spam))
        }
        #expect(folds.map(\.count).max()! - folds.map(\.count).min()! <= 1)
        #expect(ModelFit.folds(labels: labels, count: 4, seed: 123) == folds)
        #expect(ModelFit.folds(labels: labels, count: 4, seed: 124) != folds)
    }

    @Test func pretrainingLearnsTheTextAndLeavesTheHeadAlone() throws {
        let classifier = try scratchClassifier()
        let head = classifier.parameters.values("score.weight")
        var settings = PretrainingSettings()
        settings.epochs = 6
        settings.batchSize = 8
        settings.optimizer = AdamWSettings(learningRate: 1e-2, weightDecay: 0.1)
        let epochs = try LanguageModelPretrainer(classifier: classifier, sequences: examples(64).map(\.ids), settings: settings).run()
        #expect(epochs.count == 6)
        // Counting is easy to predict: the loss falls well below the first epoch's.
        #expect(epochs.last!.loss < epochs.first!.loss * 0.6, "\(epochs.map(\.loss))")
        #expect(classifier.parameters.values("score.weight") == head)
    }

    @Test func fineTuningLearnsTheRule() throws {
        let classifier = try scratchClassifier()
        var settings = FineTuneSettings()
        settings.epochs = 12
        settings.batchSize = 8
        settings.optimizer = AdamWSettings(learningRate: 3e-3, weightDecay: 0.1)
        let tuner = FineTuner(classifier: classifier, train: examples(64), validation: examples(16), settings: settings)
        _ = try tuner.run()
        #expect(tuner.evaluateTraining().metrics(at: 0.5).accuracy >= 0.9)
    }
}

import Foundation
import SpamtuneModel
import SpamtuneSupport

/// Next-token pretraining on message text without labels, before the model is
/// fine-tuned to classify: a scratch model then starts from what ham and spam look like
/// instead of from noise (GPT-2's own recipe, on a few thousand messages instead of
/// WebText), and a pretrained GPT-2's trainable blocks from how this site's mail reads.
public struct PretrainingSettings: Codable, Equatable, Sendable {
    public var epochs = 0
    /// Messages per step.
    public var batchSize = 16
    public var optimizer = AdamWSettings(learningRate: 1e-3, weightDecay: 0.1)
    public var seed: UInt64 = 123

    public init() {}
}

public struct PretrainingEpoch: Codable, Equatable, Sendable {
    public var epoch: Int
    /// Mean next-token cross-entropy over the epoch's steps.
    public var loss: Double
    public var tokens: Int
    public var seconds: Double
}

public final class LanguageModelPretrainer {
    public let classifier: TrainableClassifier
    public let settings: PretrainingSettings
    private let sequences: [[Int]]
    private let vocabulary: PredictedVocabulary
    private var random: SplitMix64

    /// Messages of one token predict nothing and are left out.
    public init(classifier: TrainableClassifier, sequences: [[Int]], settings: PretrainingSettings) {
        self.classifier = classifier
        self.settings = settings
        self.sequences = sequences.filter { $0.count > 1 }
        vocabulary = PredictedVocabulary(covering: self.sequences)
        random = SplitMix64(seed: settings.seed ^ 0x1A4E_5EED)
    }

    public var stepsPerEpoch: Int { (sequences.count + settings.batchSize - 1) / settings.batchSize }

    /// Runs every epoch and leaves the classification head as it was: it has nothing to
    /// learn here, and weight decay alone would shrink it.
    public func run(progress: (TrainingProgress) -> Void = { _ in }) throws -> [PretrainingEpoch] {
        guard settings.epochs > 0, !sequences.isEmpty else { return [] }
        let headNames = ["score.weight", "score.bias"].filter(classifier.parameters.contains)
        let savedHead = headNames.map { classifier.parameters.values($0) }
        let optimizer = AdamW(parameterCount: classifier.parameters.count, settings: settings.optimizer)
        var records: [PretrainingEpoch] = []
        let start = Date()
        let totalSteps = stepsPerEpoch * settings.epochs
        var examplesSeen = 0
        for epoch in 1...settings.epochs {
            let epochStart = Date()
            var order = Array(sequences.indices)
            random.shuffle(&order)
            var lossSum = 0.0, tokens = 0
            for step in 0..<stepsPerEpoch {
                let indices = order[(step * settings.batchSize)..<min(order.count, (step + 1) * settings.batchSize)]
                let batch = TokenBatch(indices.map { sequences[$0] })
                classifier.gradients.zero()
                // A pretrained model's frozen blocks run for every batch: caching their output
                // for every row of thousands of messages would take gigabytes.
                let features = classifier.frozenFeatures(for: batch)
                let loss = try features.withUnsafeBufferPointer {
                    try classifier.languageModelLossAndGradients(for: batch, features: $0.baseAddress, vocabulary: vocabulary)
                }
                optimizer.update(parameters: classifier.parameters.pointer, gradients: classifier.gradients.pointer)
                lossSum += Double(loss)
                tokens += batch.rowCount
                examplesSeen += indices.count
                let elapsed = Date().timeIntervalSince(start)
                let done = (epoch - 1) * stepsPerEpoch + step + 1
                progress(TrainingProgress(
                    epoch: epoch, epochs: settings.epochs, step: step + 1, stepsPerEpoch: stepsPerEpoch, loss: Double(loss),
                    examplesPerSecond: Double(examplesSeen) / max(elapsed, 1e-9),
                    secondsLeft: elapsed / Double(done) * Double(totalSteps - done)))
            }
            records.append(PretrainingEpoch(
                epoch: epoch, loss: lossSum / Double(stepsPerEpoch), tokens: tokens,
                seconds: Date().timeIntervalSince(epochStart)))
        }
        for (name, values) in zip(headNames, savedHead) {
            classifier.parameters.tensor(name).update(from: values, count: values.count)
        }
        return records
    }
}

import Foundation
import SpamtuneClassifier
import SpamtuneModel
import SpamtuneSupport

/// How the training loop runs. The defaults are the book's (chapter 6): 5 epochs of
/// batches of 8 (the last, incomplete batch dropped), AdamW lr 5e-5 with weight decay
/// 0.1, evaluation every 50 steps on 5 batches, training accuracy on 5 batches after
/// each epoch; validation accuracy after each epoch is over the whole split.
public struct FineTuneSettings: Codable, Equatable, Sendable {
    public var epochs = 5
    public var batchSize = 8
    public var optimizer = AdamWSettings.book
    public var seed: UInt64 = 123
    public var evaluationInterval = 50
    public var evaluationBatches = 5
    /// Tensors that learn at a multiple of the learning rate, by name.
    public var learningRateScales: [String: Float] = [:]

    public init() {}
}

public struct LossRecord: Codable, Equatable, Sendable {
    public var step: Int
    public var epoch: Int
    public var examplesSeen: Int
    public var trainLoss: Double
    public var validationLoss: Double
}

public struct EpochRecord: Codable, Equatable, Sendable {
    public var epoch: Int
    public var examplesSeen: Int
    public var trainAccuracy: Double
    public var validationAccuracy: Double
    public var seconds: Double
}

public struct TrainingHistory: Codable, Equatable, Sendable {
    public var losses: [LossRecord] = []
    public var epochs: [EpochRecord] = []
    public var featureSeconds: Double = 0
    public var trainingSeconds: Double = 0
    /// Next-token pretraining before fine-tuning (a scratch model's), when it ran.
    public var pretraining: [PretrainingEpoch]?
    /// How many fine-tunes a soup averaged (nil: no soup); this history is the first's.
    public var soupSize: Int?
}

/// What the loop reports as it goes, for a progress line.
public struct TrainingProgress: Sendable {
    public var epoch: Int
    public var epochs: Int
    public var step: Int
    public var stepsPerEpoch: Int
    public var loss: Double
    public var examplesPerSecond: Double
    public var secondsLeft: Double
}

/// The fine-tuning loop: `TrainableClassifier` + AdamW over cached frozen features.
public final class FineTuner {
    public let classifier: TrainableClassifier
    public let settings: FineTuneSettings
    public let optimizer: AdamW
    private let train: FeatureCache
    private let validation: FeatureCache
    private var random: SplitMix64
    private var gathered: [Float] = []

    /// Computes the frozen features of both splits (the expensive, once-only part).
    public init(classifier: TrainableClassifier, train: [EncodedExample], validation: [EncodedExample], settings: FineTuneSettings) {
        self.classifier = classifier
        self.settings = settings
        optimizer = AdamW(parameterCount: classifier.parameters.count, settings: settings.optimizer)
        optimizer.learningRateScales = settings.learningRateScales.compactMap { name, scale in
            classifier.parameters.entry(name).map { ($0.offset..<($0.offset + $0.count), scale) }
        }
        self.train = FeatureCache(examples: train, classifier: classifier)
        self.validation = FeatureCache(examples: validation, classifier: classifier)
        random = SplitMix64(seed: settings.seed)
    }

    /// Whole batches only: the last, incomplete one is dropped, as the book's loader does.
    public var stepsPerEpoch: Int { train.examples.count / settings.batchSize }

    /// Runs all epochs; `progress` is called after every step.
    public func run(progress: (TrainingProgress) -> Void = { _ in }) throws -> TrainingHistory {
        var history = TrainingHistory()
        let start = Date()
        var examplesSeen = 0
        var step = -1
        let totalSteps = stepsPerEpoch * settings.epochs
        for epoch in 1...max(1, settings.epochs) where settings.epochs > 0 {
            let epochStart = Date()
            let order = shuffled(train.examples.count)
            for batchIndex in 0..<stepsPerEpoch {
                let indices = Array(order[(batchIndex * settings.batchSize)..<min(order.count, (batchIndex + 1) * settings.batchSize)])
                classifier.gradients.zero()
                let loss = try lossAndGradients(train, indices)
                optimizer.update(parameters: classifier.parameters.pointer, gradients: classifier.gradients.pointer)
                examplesSeen += indices.count
                step += 1
                if settings.evaluationInterval > 0 && step % settings.evaluationInterval == 0 {
                    history.losses.append(LossRecord(
                        step: step, epoch: epoch, examplesSeen: examplesSeen,
                        trainLoss: meanLoss(train, batches: settings.evaluationBatches, order: order),
                        validationLoss: meanLoss(validation, batches: settings.evaluationBatches, order: nil)))
                }
                let elapsed = Date().timeIntervalSince(start)
                let done = (epoch - 1) * stepsPerEpoch + batchIndex + 1
                progress(TrainingProgress(
                    epoch: epoch, epochs: settings.epochs, step: batchIndex + 1, stepsPerEpoch: stepsPerEpoch,
                    loss: Double(loss), examplesPerSecond: Double(examplesSeen) / max(elapsed, 1e-9),
                    secondsLeft: elapsed / Double(done) * Double(totalSteps - done)))
            }
            history.epochs.append(EpochRecord(
                epoch: epoch, examplesSeen: examplesSeen,
                trainAccuracy: evaluation(train, batches: settings.evaluationBatches, order: order).metrics(at: Decision.defaultThreshold).accuracy,
                // The whole split, so the last epoch's figure is the one the evaluation reports.
                validationAccuracy: evaluation(validation, batches: nil, order: nil).metrics(at: Decision.defaultThreshold).accuracy,
                seconds: Date().timeIntervalSince(epochStart)))
        }
        history.trainingSeconds = Date().timeIntervalSince(start)
        return history
    }

    /// Spam probabilities for every training or validation example, from the cached features.
    public func evaluateTraining() -> Evaluation { evaluation(train, batches: nil, order: nil) }
    public func evaluateValidation() -> Evaluation { evaluation(validation, batches: nil, order: nil) }

    /// Predictions for every example of `examples` (its features computed on the fly).
    public func evaluate(_ examples: [EncodedExample]) -> Evaluation {
        let cache = FeatureCache(examples: examples, classifier: classifier)
        return evaluation(cache, batches: nil, order: nil)
    }

    public var trainCache: FeatureCache { train }
    public var validationCache: FeatureCache { validation }

    // MARK: -

    private func lossAndGradients(_ cache: FeatureCache, _ indices: [Int]) throws -> Float {
        let sequences = indices.map { cache.examples[$0].ids }
        let evidence = indices.compactMap { cache.examples[$0].evidence }
        let batch = TokenBatch(sequences, evidence: evidence.count == indices.count ? evidence : nil)
        cache.gather(indices, into: &gathered)
        return try gathered.withUnsafeBufferPointer { features in
            try classifier.lossAndGradients(
                for: batch, features: cache.isEmpty ? nil : features.baseAddress,
                labels: indices.map { cache.examples[$0].label.rawValue })
        }
    }

    private func logits(_ cache: FeatureCache, _ indices: [Int]) -> [[Float]] {
        let batch = TokenBatch(indices.map { cache.examples[$0] })
        cache.gather(indices, into: &gathered)
        return gathered.withUnsafeBufferPointer { features in
            classifier.logits(for: batch, features: cache.isEmpty ? nil : features.baseAddress)
        }
    }

    /// The batches an evaluation reads: the first `batches` of the given order (the
    /// book's loaders: train shuffled, validation and test in file order).
    private func evaluationBatches(_ count: Int, batches: Int?, order: [Int]?) -> [[Int]] {
        let order = order ?? Array(0..<count)
        let b = settings.batchSize
        var result: [[Int]] = []
        var start = 0
        while start < order.count, batches.map({ result.count < $0 }) ?? true {
            result.append(Array(order[start..<min(order.count, start + b)]))
            start += b
        }
        return result
    }

    private func meanLoss(_ cache: FeatureCache, batches: Int, order: [Int]?) -> Double {
        let chosen = evaluationBatches(cache.examples.count, batches: batches, order: order)
        guard !chosen.isEmpty else { return .nan }
        var total = 0.0
        for indices in chosen {
            let logits = logits(cache, indices)
            var loss = 0.0
            for (values, index) in zip(logits, indices) {
                loss += crossEntropy(values, label: cache.examples[index].label.rawValue)
            }
            total += loss / Double(indices.count)
        }
        return total / Double(chosen.count)
    }

    private func evaluation(_ cache: FeatureCache, batches: Int?, order: [Int]?) -> Evaluation {
        var evaluation = Evaluation()
        for indices in evaluationBatches(cache.examples.count, batches: batches, order: order) {
            for (values, index) in zip(logits(cache, indices), indices) {
                evaluation.add(label: cache.examples[index].label, logits: values)
            }
        }
        return evaluation
    }

    private func shuffled(_ count: Int) -> [Int] {
        var order = Array(0..<count)
        random.shuffle(&order)
        return order
    }
}

func crossEntropy(_ logits: [Float], label: Int) -> Double {
    let maximum = Double(logits.max() ?? 0)
    let total = logits.reduce(0.0) { $0 + exp(Double($1) - maximum) }
    return -(Double(logits[label]) - maximum - log(total))
}

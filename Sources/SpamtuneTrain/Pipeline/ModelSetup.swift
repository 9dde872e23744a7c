import Foundation
import SpamtuneClassifier
import SpamtuneModel
import SpamtuneTokenizer
import SpamtuneWeights

/// What the fit starts from once the base model is resolved: the model's shape, its
/// first tensors, which layers train, the tokenizer, and the recipe's settings as this
/// model takes them (a scratch model has its own epochs, rate, batch size and input).
struct ModelSetup {
    let config: GPT2Config
    let initialTensors: any TensorSource
    let scope: TrainableScope
    let tokenizerFiles: TokenizerFiles
    let hyperparameters: Hyperparameters
    /// How the checkpoint names its base.
    let baseRecord: CheckpointManifest.BaseModel

    init(base: BaseModel, options: TrainingOptions, log: TrainingLog) throws {
        var h = options.hyperparameters
        switch base {
        case let .pretrained(pretrained):
            config = pretrained.weights.config
            initialTensors = HeadOverBase(base: pretrained.weights, head: NewHead(embeddingSize: config.embeddingSize, seed: UInt64(h.seed)))
            scope = TrainableScope(blocks: min(h.trainableBlocks, config.layerCount))
            tokenizerFiles = pretrained.tokenizer
            baseRecord = .init(
                name: pretrained.name, source: pretrained.source, path: pretrained.weightsFile.path, bytes: pretrained.bytes,
                sha256: pretrained.sha256)
        case let .scratch(scratchConfig):
            config = scratchConfig
            initialTensors = RandomInitialization(config: config, classes: 2, seed: UInt64(h.seed))
            scope = .everything(layers: config.layerCount)
            h.epochs = options.scratch.epochs
            h.learningRate = options.scratch.learningRate
            h.batchSize = options.scratch.batchSize
            if options.recipe == .spamtune {
                h.textLayout = options.scratch.textLayout
                h.maxTokens = options.scratch.maxTokens
                h.evidence = options.scratch.evidenceTokens == 0
                    ? nil
                    : InputSettings.EvidenceSettings(
                        buckets: Recipe.evidenceBuckets, tokens: options.scratch.evidenceTokens, headerWords: options.scratch.headerWords)
            }
            guard let shipped = ShippedResources.tokenizerDirectory else {
                throw TrainingError.data("the GPT-2 tokenizer files shipped with spamtune are missing (see ShippedCollection)")
            }
            tokenizerFiles = try TokenizerFiles(directory: shipped)
            baseRecord = .init(name: "scratch", source: "scratch")
        }
        h.trainableBlocks = scope.blocks
        if h.maxTokens > config.contextLength {
            log("max tokens \(h.maxTokens) is more than the model's context: each message is cut at \(config.contextLength) tokens")
            h.maxTokens = config.contextLength
        }
        hyperparameters = h
    }
}

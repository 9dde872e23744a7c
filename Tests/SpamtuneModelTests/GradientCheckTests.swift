import Foundation
import SpamtuneKernels
import SpamtuneModel
import SpamtuneSupport
import SpamtuneTestSupport
import SpamtuneWeights
import Testing

/// The whole trainable stack's gradients (head, final LayerNorm, the last k blocks, the
/// embeddings) against central finite differences of its own loss.
@Suite struct GradientCheckTests {
    static let config = try! GPT2Config(layerCount: 2, embeddingSize: 32, headCount: 4, contextLength: 16, vocabularySize: 40)
    static let batch = TokenBatch([[3, 17, 5, 9, 21], [8], [30, 2, 2, 11, 39, 0, 7]])
    static let labels = [1, 0, 1]

    @Test(arguments: [
        TrainableScope(blocks: 0), TrainableScope(blocks: 1), TrainableScope(blocks: 2), TrainableScope(blocks: 2, embeddings: true),
    ])
    func gradientsMatchFiniteDifferences(scope: TrainableScope) throws {
        let base = InMemoryTensors.randomGPT2(Self.config, seed: 42)
        for level in InstructionSet.supported {
            let kernels = Kernels(threads: 2, instructionSet: level)
            let trainable = try TrainableClassifier(
                config: Self.config, classes: 2, scope: scope, base: base, kernels: kernels)
            let features = trainable.frozenFeatures(for: Self.batch)
            func loss() throws -> Double {
                trainable.gradients.zero()
                return try Double(features.withUnsafeBufferPointer {
                    try trainable.lossAndGradients(for: Self.batch, features: $0.baseAddress, labels: Self.labels)
                })
            }
            _ = try loss()
            let analytic = Array(UnsafeBufferPointer(start: trainable.gradients.pointer, count: trainable.gradients.count))
            // A few elements of every tensor; for the embeddings, rows the batch uses.
            let checked = try expectFiniteDifferencesMatch(
                trainable, analytic: analytic, wteElements: [3 * 32 + 1, 8 * 32 + 7, 2 * 32 + 31], context: "\(level) \(scope)", loss: loss)
            #expect(checked > 10)
        }
    }

    /// The head's token-evidence weights: their gradients match finite differences, and
    /// the inference model and the trainer give the same logits with them.
    @Test func evidenceGradientsMatchFiniteDifferences() throws {
        let evidence = Self.batch.ids.map { TokenEvidence(tokens: $0, bucketCount: 64) }
        let batch = TokenBatch(Self.batch.ids, evidence: evidence)
        let base = InMemoryTensors.randomGPT2(Self.config, seed: 11)
        let trainable = try TrainableClassifier(
            config: Self.config, classes: 2, scope: TrainableScope(blocks: 1), base: base, kernels: Kernels(threads: 2),
            evidenceBuckets: 64)
        let weights = trainable.parameters.tensor(EvidenceParameters.tensorName)
        #expect((0..<128).allSatisfy { weights[$0] == 0 }, "new evidence weights start at zero")
        var random = SplitMix64(seed: 3)
        for i in 0..<128 { weights[i] = Float(random.next() % 1000) / 500 - 1 }
        let features = trainable.frozenFeatures(for: batch)
        func loss() throws -> Double {
            trainable.gradients.zero()
            return try Double(features.withUnsafeBufferPointer {
                try trainable.lossAndGradients(for: batch, features: $0.baseAddress, labels: Self.labels)
            })
        }
        _ = try loss()
        let analytic = Array(UnsafeBufferPointer(start: trainable.gradients.pointer, count: trainable.gradients.count))
        let entry = try #require(trainable.parameters.entry(EvidenceParameters.tensorName))
        let used = Set(evidence.flatMap(\.buckets).map(Int.init))
        var checked = 0
        for k in 0..<2 {
            for bucket in 0..<64 {
                let index = entry.offset + k * 64 + bucket
                let p = trainable.parameters.pointer + index
                let saved = p.pointee
                p.pointee = saved + 1e-2
                let plus = try loss()
                p.pointee = saved - 1e-2
                let minus = try loss()
                p.pointee = saved
                let numeric = (plus - minus) / 2e-2
                #expect(abs(Double(analytic[index]) - numeric) < 1e-3 + 1e-2 * abs(numeric), "evidence[\(k), \(bucket)]")
                if !used.contains(bucket) { #expect(analytic[index] == 0) }
                checked += 1
            }
        }
        #expect(checked == 128 && used.count > 10)
        // Without evidence in the batch, the evidence weights play no part.
        let withEvidence = trainable.logits(for: batch, features: features.withUnsafeBufferPointer { $0.baseAddress })
        let without = trainable.logits(for: Self.batch, features: features.withUnsafeBufferPointer { $0.baseAddress })
        #expect(withEvidence != without)
        // The inference model bound to the same tensors reads the evidence the same way.
        let inference = try GPT2Model(
            parameters: GPT2Parameters(
                config: Self.config, classes: 2, source: OverlayTensorSource(overlay: trainable.parameters, base: base),
                evidenceBuckets: 64),
            kernels: Kernels(threads: 2))
        for (a, b) in zip(inference.logits(for: batch).joined(), withEvidence.joined()) { #expect(abs(a - b) < 1e-4) }
    }

    @Test func evidenceHashesTokensAndPairsIntoDistinctBuckets() {
        let evidence = TokenEvidence(tokens: [5, 9, 5, 9], bucketCount: 1 << 18)
        // Unigrams 5 and 9, pairs (5,9) and (9,5): four features, each counted once.
        #expect(evidence.buckets.count == 4)
        #expect(evidence.buckets == evidence.buckets.sorted())
        #expect(evidence.buckets.allSatisfy { $0 >= 0 && $0 < 1 << 18 })
        #expect(TokenEvidence(tokens: [9, 5], bucketCount: 1 << 18).buckets.count == 3)
        #expect(abs(evidence.weight - 1 / Float(5).squareRoot()) < 1e-7)
    }

    /// Next-token pretraining: its gradients (through the tied output embedding, the
    /// blocks and the input embeddings) match finite differences, over the full
    /// vocabulary and over a compact one; the classification head gets none.
    @Test(arguments: [false, true])
    func languageModelGradientsMatchFiniteDifferences(compact: Bool) throws {
        let base = InMemoryTensors.randomGPT2(Self.config, seed: 7)
        let scope = TrainableScope.everything(layers: Self.config.layerCount)
        let vocabulary = compact ? PredictedVocabulary(covering: Self.batch.ids) : nil
        for level in InstructionSet.supported {
            let kernels = Kernels(threads: 2, instructionSet: level)
            let trainable = try TrainableClassifier(
                config: Self.config, classes: 2, scope: scope, base: base, kernels: kernels)
            func loss() throws -> Double {
                trainable.gradients.zero()
                return try Double(trainable.languageModelLossAndGradients(for: Self.batch, vocabulary: vocabulary))
            }
            let initial = try loss()
            // A random model's loss is close to ln(vocabulary size).
            #expect(abs(initial - log(Double(vocabulary?.ids.count ?? 40))) < 0.5)
            let analytic = Array(UnsafeBufferPointer(start: trainable.gradients.pointer, count: trainable.gradients.count))
            #expect(trainable.gradients.values("score.weight").allSatisfy { $0 == 0 })
            // wte rows 2, 11 and 39 are read as input and predicted as output.
            try expectFiniteDifferencesMatch(
                trainable, analytic: analytic, wteElements: [2 * 32 + 1, 11 * 32 + 7, 39 * 32 + 31],
                skip: { $0.hasPrefix("score.") }, context: "\(level) compact \(compact)", loss: loss)
        }
    }

    @Test func languageModelLossRefusesATokenOutsideItsVocabulary() throws {
        let base = InMemoryTensors.randomGPT2(Self.config, seed: 7)
        let trainable = try TrainableClassifier(
            config: Self.config, classes: 2, scope: .everything(layers: 2), base: base, kernels: Kernels(threads: 1))
        let vocabulary = PredictedVocabulary(covering: [[3, 17]])
        #expect(throws: ModelError.tokenOutsideVocabulary(5)) {
            try trainable.languageModelLossAndGradients(for: TokenBatch([[3, 17, 5]]), vocabulary: vocabulary)
        }
        let headOnly = try TrainableClassifier(
            config: Self.config, classes: 2, scope: TrainableScope(blocks: 0), base: base, kernels: Kernels(threads: 1))
        #expect(throws: ModelError.languageModelNeedsABlock) {
            try headOnly.languageModelLossAndGradients(for: TokenBatch([[3, 17]]))
        }
    }

    /// A pretrained model adapting its last block to the site's mail: next-token
    /// gradients from the frozen blocks' cached output match finite differences, and
    /// neither the embeddings nor the head get any.
    @Test func languageModelGradientsOfTheLastBlockMatchFiniteDifferences() throws {
        let base = InMemoryTensors.randomGPT2(Self.config, seed: 7)
        let vocabulary = PredictedVocabulary(covering: Self.batch.ids)
        let trainable = try TrainableClassifier(
            config: Self.config, classes: 2, scope: TrainableScope(blocks: 1), base: base, kernels: Kernels(threads: 2))
        #expect(!trainable.parameters.contains("wte.weight"))
        let features = trainable.frozenFeatures(for: Self.batch)
        func loss() throws -> Double {
            trainable.gradients.zero()
            return try features.withUnsafeBufferPointer {
                try Double(trainable.languageModelLossAndGradients(for: Self.batch, features: $0.baseAddress, vocabulary: vocabulary))
            }
        }
        let initial = try loss()
        #expect(abs(initial - log(Double(vocabulary.ids.count))) < 0.5)
        let analytic = Array(UnsafeBufferPointer(start: trainable.gradients.pointer, count: trainable.gradients.count))
        #expect(trainable.gradients.values("score.weight").allSatisfy { $0 == 0 })
        #expect(trainable.gradients.values("h.1.mlp.c_fc.weight").contains { $0 != 0 })
        try expectFiniteDifferencesMatch(
            trainable, analytic: analytic, wteElements: [], skip: { $0.hasPrefix("score.") }, context: "last block", loss: loss)
    }

    /// With a sequence alone or among others, its logits are the same: sequences in a
    /// batch never see each other, padding never exists.
    @Test func batchingDoesNotChangeLogits() throws {
        let base = InMemoryTensors.randomGPT2(Self.config, seed: 7)
        let kernels = Kernels(threads: 2)
        let parameters = try GPT2Parameters(config: Self.config, classes: 2, source: base)
        let model = GPT2Model(parameters: parameters, kernels: kernels)
        let together = model.logits(for: Self.batch)
        for (index, ids) in Self.batch.ids.enumerated() {
            let alone = model.logits(for: TokenBatch([ids]))[0]
            #expect(maximumError(alone, together[index]) < 1e-5)
        }
    }

    /// The trainer's forward pass on cached frozen features gives the model's logits.
    @Test(arguments: [0, 1, 2])
    func cachedFeaturesGiveTheModelsLogits(blocks: Int) throws {
        let base = InMemoryTensors.randomGPT2(Self.config, seed: 9)
        let kernels = Kernels(threads: 1)
        let trainable = try TrainableClassifier(
            config: Self.config, classes: 2, scope: TrainableScope(blocks: blocks), base: base, kernels: kernels)
        let features = trainable.frozenFeatures(for: Self.batch)
        let fromFeatures = features.withUnsafeBufferPointer { trainable.logits(for: Self.batch, features: $0.baseAddress) }
        let direct = trainable.model.logits(for: Self.batch)
        for (a, b) in zip(fromFeatures, direct) { #expect(maximumError(a, b) < 1e-5) }
    }
}

/// Central finite differences of `loss` (h = 1e-2) against the analytic gradients, for
/// a few elements of every trainable tensor not skipped (`wteElements` of the token
/// embedding, rows the batch uses); returns how many were checked.
@discardableResult
func expectFiniteDifferencesMatch(
    _ trainable: TrainableClassifier, analytic: [Float], wteElements: [Int] = [], skip: (String) -> Bool = { _ in false },
    context: String, loss: () throws -> Double
) throws -> Int {
    var checked = 0
    for entry in trainable.parameters.entries where !skip(entry.name) {
        let candidates = entry.name == "wte.weight"
            ? wteElements : Array(stride(from: 0, to: entry.count, by: max(1, entry.count / 5)))
        for i in candidates {
            let p = trainable.parameters.pointer + entry.offset + i
            let saved = p.pointee
            let h: Float = 1e-2
            p.pointee = saved + h
            let plus = try loss()
            p.pointee = saved - h
            let minus = try loss()
            p.pointee = saved
            let numeric = (plus - minus) / Double(2 * h)
            let got = Double(analytic[entry.offset + i])
            #expect(
                abs(got - numeric) < 2e-3 + 2e-2 * abs(numeric),
                "\(entry.name)[\(i)] analytic \(got) numeric \(numeric) \(context)")
            checked += 1
        }
    }
    return checked
}

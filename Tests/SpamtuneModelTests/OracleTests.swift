import Foundation
import SpamtuneKernels
import SpamtuneModel
import SpamtuneTestSupport
import SpamtuneWeights
import Testing

// The model against ../shared/oracle/gpt2_reference.py (NumPy, float64 inside), through
// fixtures it made (Tests/Fixtures/model/*): random GPT-2s of two shapes, a random
// head, logits for messages of 1 to 1024 tokens, the gradients of the trainable part
// (head, ln_f, last k blocks) for a batch of unpadded sequences, and five AdamW steps.
//   tiny: 2 layers, 32 wide, 4 heads of 8, vocabulary 50257, context 1024
//   wide: 3 layers, 128 wide, 2 heads of 64 (the SIMD paths), vocabulary 512

struct OracleLogits: Decodable {
    struct Case: Decodable {
        let ids: [Int]
        let logits: [Double]
    }
    let heads: Int
    let cases: [Case]
}

struct OracleTraining: Decodable {
    struct AdamWRun: Decodable {
        let steps: Int
        let learning_rate: Float
        let weight_decay: Float
        let trainable: Int
        let losses: [Double]
    }
    let batch: [[Int]]
    let labels: [Int]
    let losses: [String: Double]
    let adamw: AdamWRun
}

enum OracleFixture {
    static func load(_ name: String) throws -> GPT2Weights {
        let directory = ProjectPaths.fixture("model/\(name)")
        let base = try GPT2Weights.load(from: directory.appendingPathComponent("model.safetensors").path)
        let head = try SafetensorsFile(path: directory.appendingPathComponent("head.safetensors").path)
        return try base.overlaid(with: head)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: ProjectPaths.fixture(path)))
    }
}

@Suite struct OracleTests {
    @Test(arguments: ["tiny", "wide"])
    func logitsMatchTheOracle(model name: String) throws {
        let weights = try OracleFixture.load(name)
        let expected = try OracleFixture.decode(OracleLogits.self, "model/\(name)/logits.json")
        #expect(weights.config.headCount == expected.heads)
        let parameters = try GPT2Parameters(config: weights.config, classes: 2, source: weights)
        for level in InstructionSet.supported {
            for threads in [1, 2] {
                let model = GPT2Model(parameters: parameters, kernels: Kernels(threads: threads, instructionSet: level))
                // One at a time, and all in one batch of different lengths.
                let batched = model.logits(for: TokenBatch(expected.cases.map(\.ids)))
                for (index, testCase) in expected.cases.enumerated() {
                    let alone = model.logits(for: TokenBatch([testCase.ids]))[0]
                    #expect(maximumError(alone, testCase.logits) < 1e-4, "\(name) \(testCase.ids.count) tokens \(level) \(threads)")
                    #expect(maximumError(batched[index], testCase.logits) < 1e-4, "\(name) batched \(level) \(threads)")
                }
            }
        }
    }

    /// Serving in BF16 or int8 changes only the blocks' linear layers; the logits stay
    /// within `ConvertedPrecisionTolerance` of the oracle's, on every level (the
    /// converted kernels give the same bits on each) and whatever the batching.
    @Test(arguments: ["tiny", "wide"], [Precision.bf16, .int8])
    func convertedLogitsStayNearTheOracle(model name: String, precision: Precision) throws {
        let weights = try OracleFixture.load(name)
        let expected = try OracleFixture.decode(OracleLogits.self, "model/\(name)/logits.json")
        let parameters = try GPT2Parameters(config: weights.config, classes: 2, source: weights).converted(to: precision)
        for level in InstructionSet.supported {
            let model = GPT2Model(parameters: parameters, kernels: Kernels(threads: 2, instructionSet: level))
            #expect(model.precision == precision)
            let batched = model.logits(for: TokenBatch(expected.cases.map(\.ids)))
            for (index, testCase) in expected.cases.enumerated() {
                let alone = model.logits(for: TokenBatch([testCase.ids]))[0]
                let scale = max(1, testCase.logits.map(abs).max()!)
                let error = Double(maximumError(alone, testCase.logits)) / scale
                #expect(error < ConvertedPrecisionTolerance.logits(precision), "\(name) \(precision) \(testCase.ids.count) tokens \(level)")
                #expect(Double(maximumError(batched[index], testCase.logits)) / scale < ConvertedPrecisionTolerance.logits(precision))
            }
        }
    }

    @Test(arguments: ["tiny", "wide"])
    func gradientsMatchTheOracle(model name: String) throws {
        let weights = try OracleFixture.load(name)
        let expected = try OracleFixture.decode(OracleTraining.self, "model/\(name)/training.json")
        let batch = TokenBatch(expected.batch)
        for blocks in [0, 1, 2] {
            let oracle = try SafetensorsFile(path: ProjectPaths.fixture("model/\(name)/grads-k\(blocks).safetensors").path)
            let trainable = try TrainableClassifier(
                config: weights.config, classes: 2, scope: TrainableScope(blocks: blocks), base: weights,
                kernels: Kernels(threads: 2))
            let features = trainable.frozenFeatures(for: batch)
            trainable.gradients.zero()
            let loss = try features.withUnsafeBufferPointer {
                try trainable.lossAndGradients(for: batch, features: $0.baseAddress, labels: expected.labels)
            }
            #expect(abs(Double(loss) - expected.losses["\(blocks)"]!) < 1e-5)
            #expect(Set(oracle.names) == Set(trainable.gradients.entries.map(\.name)))
            for entry in trainable.gradients.entries {
                let reference = try oracle.tensor(named: entry.name).toArray()
                let got = trainable.gradients.values(entry.name)
                // Gradients are small numbers; compare relative to the tensor's scale.
                let scale = max(reference.map { abs($0) }.max() ?? 0, 1e-6)
                let worst = zip(got, reference).map { abs($0 - $1) }.max() ?? 0
                #expect(worst / scale < 2e-4, "\(name) k=\(blocks) \(entry.name): \(worst) vs scale \(scale)")
            }
        }
    }

    /// Five full-batch AdamW steps on the last block: the same losses before each step
    /// and the same parameters after, as torch.optim.AdamW (through the oracle).
    @Test(arguments: ["tiny", "wide"])
    func adamWStepsMatchTheOracle(model name: String) throws {
        let weights = try OracleFixture.load(name)
        let expected = try OracleFixture.decode(OracleTraining.self, "model/\(name)/training.json")
        let run = expected.adamw
        let after = try SafetensorsFile(path: ProjectPaths.fixture("model/\(name)/adamw-5steps.safetensors").path)
        let batch = TokenBatch(expected.batch)
        let trainable = try TrainableClassifier(
            config: weights.config, classes: 2, scope: TrainableScope(blocks: run.trainable), base: weights,
            kernels: Kernels(threads: 2))
        let before = trainable.parameters.entries.map { trainable.parameters.values($0.name) }
        let optimizer = AdamW(
            parameterCount: trainable.parameters.count,
            settings: AdamWSettings(learningRate: run.learning_rate, weightDecay: run.weight_decay))
        let features = trainable.frozenFeatures(for: batch)
        for step in 0..<run.steps {
            trainable.gradients.zero()
            let loss = try features.withUnsafeBufferPointer {
                try trainable.lossAndGradients(for: batch, features: $0.baseAddress, labels: expected.labels)
            }
            #expect(abs(Double(loss) - run.losses[step]) < 1e-4 * max(1, run.losses[step]), "step \(step)")
            optimizer.update(parameters: trainable.parameters.pointer, gradients: trainable.gradients.pointer)
        }
        // Each element moved by up to 5 x lr; the update must match to a small part of that.
        for (entry, original) in zip(trainable.parameters.entries, before) {
            let reference = try after.tensor(named: entry.name).toArray()
            let got = trainable.parameters.values(entry.name)
            var worst: Float = 0
            for i in got.indices {
                let expectedMove = reference[i] - original[i], move = got[i] - original[i]
                worst = max(worst, abs(move - expectedMove))
            }
            #expect(worst < 0.05 * Float(run.steps) * run.learning_rate, "\(name) \(entry.name): \(worst)")
        }
    }
}

/// How far the logits of a model serving in BF16 or int8 may be from the oracle's, as a
/// fraction of the largest |logit| (at least 1). BF16 keeps 8 significant bits of each
/// weight and activation (relative rounding 2⁻⁹); int8 keeps 7 of each, per output
/// column and per row (2⁻⁸ of the largest). Errors of independent roundings add up as a
/// random walk over a dot product's terms and through the blocks, so the bounds are a
/// few times the single-rounding error; the largest error on these fixtures (the wide
/// model's, with its 512-deep contraction) is under half of each bound.
enum ConvertedPrecisionTolerance {
    static func logits(_ precision: Precision) -> Double {
        switch precision {
        case .fp32: 1e-4
        case .bf16: 2e-2
        case .int8: 4e-2
        }
    }
}

import Foundation
import SpamtuneClassifier
import SpamtuneKernels
import SpamtuneModel
import SpamtuneTestSupport
import SpamtuneTrain
import SpamtuneWeights
import Testing

@Suite struct HuggingFaceExportTests {
    /// The exported directory, read the way transformers reads it (prefixed names, a head
    /// without bias), gives the checkpoint's logits.
    @Test func theExportGivesTheSameLogitsWithoutAHeadBias() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("spamtune-export-\(UUID())")
        defer { try? FileManager.default.removeItem(at: root) }
        let checkpoint = try TinyCheckpoint.write(to: root.appendingPathComponent("models"))
        let exported = root.appendingPathComponent("hf")
        try HuggingFaceExport.export(checkpoint: checkpoint, to: exported)
        for file in ["model.safetensors", "config.json", "vocab.json", "merges.txt", "tokenizer_config.json"] {
            #expect(FileManager.default.fileExists(atPath: exported.appendingPathComponent(file).path), "\(file)")
        }
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: exported.appendingPathComponent("config.json"))) as! [String: Any]
        #expect(config["architectures"] as? [String] == ["GPT2ForSequenceClassification"])
        #expect(config["pad_token_id"] as? Int == 50256)

        let file = try SafetensorsFile(path: exported.appendingPathComponent("model.safetensors").path)
        #expect(file.names.contains("transformer.h.0.attn.c_attn.weight"))
        #expect(!file.names.contains("score.bias"))
        let weights = try GPT2Weights.load(from: exported.appendingPathComponent("model.safetensors").path)
        struct ZeroBias: TensorSource {
            let weights: GPT2Weights
            let zeros: UnsafeMutablePointer<Float> = {
                let p = UnsafeMutablePointer<Float>.allocate(capacity: 2)
                p.initialize(repeating: 0, count: 2)
                return p
            }()
            func floats(named name: String, shape: [Int]) throws -> UnsafePointer<Float> {
                name == "score.bias" ? UnsafePointer(zeros) : try weights.floats(named: name, shape: shape)
            }
        }
        let model = GPT2Model(
            parameters: try GPT2Parameters(config: weights.config, classes: 2, source: ZeroBias(weights: weights)),
            kernels: Kernels(threads: 1))
        let original = try SpamClassifier.load(checkpoint: checkpoint, threads: 1)
        let batch = [[15496, 995], [40, 1101, 1654, 345, 1183, 1053, 484, 821], Array(repeating: 24223, count: 40)]
        let exportedLogits = model.logits(for: TokenBatch(batch))
        let originalLogits = original.classify(batch.map { ModelInput(ids: $0) }).map(\.logits)
        for (a, b) in zip(exportedLogits, originalLogits) {
            #expect(maximumError(a, b) < 1e-4, "\(a) vs \(b)")
        }
    }
}

import Foundation
import SpamtuneClassifier
import SpamtuneModel
import SpamtuneWeights

/// A checkpoint over the tiny oracle model, written by the same CheckpointStore the
/// trainer uses: its head file becomes the trained tensors.
public enum TinyCheckpoint {
    @discardableResult
    public static func write(
        to root: URL, threshold: Double = 0.5, version: String? = nil, makeCurrent: Bool = true, keep: Int = 5,
        baseBeside: Bool = false, training: TrainingRecord? = nil
    ) throws -> URL {
        let store = CheckpointStore(root: root, keep: keep)
        let base = ProjectPaths.fixture("model/tiny/model.safetensors")
        // With `baseBeside`, the base model is copied into the store and named relative to
        // the checkpoint, so that the store can be moved (into a container, say) whole.
        var basePath = base.path
        if baseBeside {
            let copy = root.appendingPathComponent("base-tiny.safetensors")
            if !FileManager.default.fileExists(atPath: copy.path) { try FileManager.default.copyItem(at: base, to: copy) }
            basePath = "../base-tiny.safetensors"
        }
        let head = try SafetensorsFile(path: ProjectPaths.fixture("model/tiny/head.safetensors").path)
        let config = try GPT2Config.read(from: ProjectPaths.fixture("model/tiny/config.json").path)
        let size = try FileManager.default.attributesOfItem(atPath: base.path)[.size] as! NSNumber
        var manifest = CheckpointManifest(
            createdAt: "2026-11-23T00:00:00Z", version: version ?? store.newVersionName(),
            base: .init(name: "tiny", source: "local", path: basePath, bytes: size.intValue), config: config,
            tokenizer: .init(), input: InputSettings(textLayout: "v2", maxTokens: 256), threshold: threshold,
            trainable: TrainableScope(blocks: 0))
        manifest.training = training
        return try store.write(
            manifest,
            contents: .init(
                tensors: try head.names.map { try head.tensor(named: $0) },
                copiedFiles: [ProjectPaths.encoderJSON, ProjectPaths.vocabBPE],
                writtenFiles: [("report.md", Data("# test\n".utf8))]),
            makeCurrent: makeCurrent)
    }

    /// Records in the checkpoint's spamtune.json what spamtune-train would: `messages`
    /// as its validation split, scored in each precision at the checkpoint's threshold.
    @discardableResult
    public static func recordPrecisionAgreement(in checkpoint: URL, messages: [String]) throws -> PrecisionAgreement {
        let classifier = try SpamClassifier.load(checkpoint: checkpoint, threads: 1)
        let agreement = PrecisionAgreement.measure(
            parameters: classifier.model.parameters, kernels: classifier.model.kernels,
            splits: [(name: "validation", inputs: messages.map(classifier.input(for:)))], threshold: classifier.threshold)
        var manifest = try CheckpointManifest.read(from: checkpoint)
        manifest.precisionAgreement = agreement
        try manifest.encoded().write(to: checkpoint.appendingPathComponent(CheckpointManifest.fileName))
        return agreement
    }
}

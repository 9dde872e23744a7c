import Foundation
import SpamtuneClassifier
import SpamtuneModel
import SpamtuneWeights

/// `spamtune-train export --hf DIR`: a checkpoint as a directory that Hugging Face
/// transformers loads with `GPT2ForSequenceClassification.from_pretrained(DIR)` and that
/// gives the same logits.
///
/// Transformers' head has no bias, so `score.bias` is folded into the final LayerNorm's
/// bias: with W the [2, C] head, logits = W·(x̂⊙γ + β) + b = W·(x̂⊙γ + β + δ) where
/// W·δ = b; δ = Wᵀ(W·Wᵀ)⁻¹·b is the smallest such shift. Transformers reads the logits
/// at the last token that is not `pad_token_id`, which is the last token of an unpadded
/// input, where spamtune reads them too. A model trained on padded inputs (the book's
/// recipe) is exported with no pad token, so that transformers reads the last position
/// of an input padded as it was in training.
public enum HuggingFaceExport {
    public static func export(checkpoint: URL, to directory: URL) throws {
        let manifest = try CheckpointManifest.read(from: checkpoint)
        guard manifest.input.evidence == nil else {
            throw TrainingError.checkpoint("\(checkpoint.path) has a head that also reads token evidence beside GPT-2; GPT2ForSequenceClassification has no place for it, so it cannot be exported (train with --evidence-tokens 0 for an exportable model)")
        }
        let trained = try SafetensorsFile(path: checkpoint.appendingPathComponent(CheckpointManifest.weightsFileName).path)
        let weights: GPT2Weights
        if manifest.base.isScratch {
            weights = try GPT2Weights.load(from: trained.path, config: manifest.config)
        } else {
            guard let basePath = manifest.base.path else { throw TrainingError.checkpoint("\(checkpoint.path) names no base model") }
            let resolved = basePath.hasPrefix("/") ? basePath : checkpoint.appendingPathComponent(basePath).path
            weights = try GPT2Weights.load(from: resolved, config: manifest.config).overlaid(with: trained)
        }
        let config = manifest.config
        let c = config.embeddingSize
        let head = try weights.tensor(named: GPT2TensorNames.headWeight)
        let bias = try weights.tensor(named: GPT2TensorNames.headBias)
        let classes = head.shape[0]
        let shift = try minimumNormShift(weight: head.toArray(), bias: bias.toArray(), classes: classes, columns: c)

        var tensors: [TensorView] = []
        for parameter in GPT2Parameter.all(in: config) {
            let view = weights.tensor(parameter)
            var values = view.toArray()
            if parameter == .finalNormBias {
                for j in 0..<c { values[j] += shift[j] }
            }
            tensors.append(TensorView(name: "transformer." + parameter.name, shape: view.shape, values: values))
        }
        tensors.append(TensorView(name: "score.weight", shape: [classes, c], values: head.toArray()))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try SafetensorsWriter.writeAtomically(tensors, metadata: ["format": "pt"], to: directory.appendingPathComponent("model.safetensors").path)

        let labels = Dictionary(uniqueKeysWithValues: manifest.labels.enumerated().map { ("\($0.offset)", $0.element) })
        var configJSON: [String: Any] = [
            "model_type": "gpt2", "architectures": ["GPT2ForSequenceClassification"],
            "n_layer": config.layerCount, "n_embd": config.embeddingSize, "n_head": config.headCount,
            "n_positions": config.contextLength, "n_ctx": config.contextLength, "vocab_size": config.vocabularySize,
            "n_inner": NSNull(), "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
            "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "summary_first_dropout": 0.0,
            "scale_attn_weights": true, "use_cache": true, "bos_token_id": 50256, "eos_token_id": 50256,
            "pad_token_id": 50256, "num_labels": classes, "id2label": labels,
            "label2id": Dictionary(uniqueKeysWithValues: manifest.labels.enumerated().map { ($0.element, $0.offset) }),
            "problem_type": "single_label_classification", "torch_dtype": "float32",
        ]
        if case let .fixed(length, tokenID) = manifest.input.padding {
            // Trained the book's way, on inputs padded to `length` and read at the last
            // position: with no pad_token_id transformers reads the last position too, so a
            // message padded as spamtune.json says gives the same logits (one at a time).
            configJSON["pad_token_id"] = NSNull()
            configJSON["spamtune_padding"] = ["length": length, "token_id": tokenID]
        }
        let data = try JSONSerialization.data(withJSONObject: configJSON, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: directory.appendingPathComponent("config.json"), options: .atomic)
        // The tokenizer under Hugging Face's names.
        try copy(checkpoint.appendingPathComponent(manifest.tokenizer.vocabulary), to: directory.appendingPathComponent("vocab.json"))
        try copy(checkpoint.appendingPathComponent(manifest.tokenizer.merges), to: directory.appendingPathComponent("merges.txt"))
        let tokenizerConfig = #"{"model_max_length": \#(config.contextLength), "tokenizer_class": "GPT2Tokenizer", "pad_token": "<|endoftext|>", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}"#
        try Data(tokenizerConfig.utf8).write(to: directory.appendingPathComponent("tokenizer_config.json"), options: .atomic)
    }

    /// δ = Wᵀ(W·Wᵀ)⁻¹·b, in double precision: the smallest vector with W·δ = b.
    static func minimumNormShift(weight: [Float], bias: [Float], classes: Int, columns: Int) throws -> [Float] {
        let w = weight.map(Double.init)
        var gram = [Double](repeating: 0, count: classes * classes)
        for i in 0..<classes {
            for j in 0..<classes {
                var sum = 0.0
                for k in 0..<columns { sum += w[i * columns + k] * w[j * columns + k] }
                gram[i * classes + j] = sum
            }
        }
        // Solve gram · y = b by Gaussian elimination with partial pivoting.
        var a = gram
        var y = bias.map(Double.init)
        for column in 0..<classes {
            let pivot = (column..<classes).max { abs(a[$0 * classes + column]) < abs(a[$1 * classes + column]) }!
            guard abs(a[pivot * classes + column]) > 1e-12 else {
                throw TrainingError.checkpoint("the head's rows are linearly dependent; its bias cannot be folded into the final LayerNorm")
            }
            if pivot != column {
                for k in 0..<classes { a.swapAt(column * classes + k, pivot * classes + k) }
                y.swapAt(column, pivot)
            }
            for row in (column + 1)..<classes {
                let factor = a[row * classes + column] / a[column * classes + column]
                for k in column..<classes { a[row * classes + k] -= factor * a[column * classes + k] }
                y[row] -= factor * y[column]
            }
        }
        for row in stride(from: classes - 1, through: 0, by: -1) {
            var sum = y[row]
            for k in (row + 1)..<classes { sum -= a[row * classes + k] * y[k] }
            y[row] = sum / a[row * classes + row]
        }
        return (0..<columns).map { k in Float((0..<classes).reduce(0.0) { $0 + w[$1 * columns + k] * y[$1] }) }
    }

    private static func copy(_ source: URL, to destination: URL) throws {
        try? FileManager.default.removeItem(at: destination)
        try FileManager.default.copyItem(at: source, to: destination)
    }
}

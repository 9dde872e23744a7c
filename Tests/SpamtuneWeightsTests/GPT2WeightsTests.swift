import Foundation
import SpamtuneTestSupport
import SpamtuneWeights
import Testing

@Suite struct GPT2WeightsTests {
    let fixtureDirectory = ProjectPaths.fixture("weights").path
    let fixture = ProjectPaths.fixture("weights/model.safetensors").path

    @Test func loadsTheOracleModelByDirectoryOrFileWithoutCopying() throws {
        let raw = try SafetensorsFile(path: fixture)
        for path in [fixtureDirectory, fixture] {
            let weights = try GPT2Weights.load(from: path)
            #expect(weights.config == fixtureConfig)
            let file = try #require(weights.stores.first as? SafetensorsFile)
            for parameter in GPT2Parameter.all(in: fixtureConfig) {
                let view = weights.tensor(parameter)
                #expect(view.shape == parameter.shape(in: fixtureConfig))
                #expect(pointer(view, liesIn: file.mappedBytes))
                #expect(try view.toArray() == raw.tensor(named: parameter.name).toArray())
            }
            #expect(weights.extraTensorNames.isEmpty)
        }
        #expect(GPT2Parameter.all(in: fixtureConfig).count == 28)
    }

    @Test func canonicalNamesParseBack() {
        for parameter in GPT2Parameter.all(in: .gpt2Small) { #expect(GPT2Parameter(name: parameter.name) == parameter) }
        for name in ["h.x.ln_1.weight", "h.01.ln_1.weight", "h.0.attn.bias", "lm_head.weight", "h.-1.ln_1.bias"] {
            #expect(GPT2Parameter(name: name) == nil, "\(name)")
        }
    }

    /// Hugging Face's GPT2LMHeadModel layout: `transformer.` prefixes, an LM head, and the
    /// attention-mask buffers (one of them BOOL), with only {"format": "pt"} as metadata.
    @Test func readsHuggingFaceLMHeadFiles() throws {
        let plain = try GPT2Weights.load(from: fixture)
        let prefixed = try GPT2Weights.load(from: ProjectPaths.fixture("weights/hf-prefixed").path)
        #expect(prefixed.config == plain.config)
        for parameter in GPT2Parameter.all(in: fixtureConfig) {
            #expect(prefixed.tensor(parameter).toArray() == plain.tensor(parameter).toArray())
            #expect(prefixed.tensor(parameter).name == parameter.name)
        }
        #expect(prefixed.extraTensorNames.isEmpty)
        #expect(try prefixed.tensor(named: "transformer.h.1.ln_2.bias").toArray() == plain.tensor(.block(1, .norm2Bias)).toArray())
        #expect(try prefixed.tensor(named: "lm_head.weight").shape == [300, 32])
        #expect(try prefixed.tensor(named: "h.0.attn.bias").shape == [1, 1, 64, 64])
        let bool = try #require(throws: WeightsError.self) { try prefixed.tensor(named: "h.1.attn.bias") }
        #expect(bool.kind == .unsupportedDType && bool.description.contains("BOOL"))
        #expect(prefixed.contains("transformer.wte.weight") && prefixed.contains("wte.weight") && !prefixed.contains("score.weight"))
    }

    @Test func halfPrecisionModelsLoadWidened() throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.copyItem(atPath: ProjectPaths.fixture("weights/model-bf16.safetensors").path, toPath: directory.file("model.safetensors"))
        let weights = try GPT2Weights.load(from: directory.path)  // config from __metadata__
        let reference = try GPT2Weights.load(from: fixture)
        #expect(weights.config == fixtureConfig)
        let wte = weights.tensor(.tokenEmbedding).toArray(), expected = reference.tensor(.tokenEmbedding).toArray()
        #expect(zip(wte, expected).allSatisfy { abs($0 - $1) <= abs($1) * 0x1p-8 })
        let f16 = try GPT2Weights.load(from: ProjectPaths.fixture("weights/model-f16.safetensors").path)
        #expect(zip(f16.tensor(.finalNormWeight).toArray(), reference.tensor(.finalNormWeight).toArray()).allSatisfy { abs($0 - $1) <= abs($1) * 0x1p-11 })
    }

    // MARK: - Where the configuration comes from

    @Test func withoutAConfigFileTheShapesAndMetadataDecide() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("model.safetensors")
        try SafetensorsWriter.write(syntheticGPT2(tinyConfig), metadata: ["n_head": "2"], to: path)
        #expect(try GPT2Weights.load(from: path).config == tinyConfig)

        try SafetensorsWriter.write(syntheticGPT2(tinyConfig), to: path)
        let noHeads = try #require(throws: WeightsError.self) { try GPT2Weights.load(from: path) }
        #expect(noHeads.kind == .invalidConfig && noHeads.file == path && noHeads.description.contains("heads"))
        // An explicit configuration, a standard one by name, or a config.json settle it.
        #expect(try GPT2Weights.load(from: path, config: tinyConfig).config == tinyConfig)
        try directory.write("config.json", text: #"{"n_layer": 2, "n_embd": 8, "n_head": 4, "n_positions": 16, "vocab_size": 20}"#)
        #expect(try GPT2Weights.load(from: path).config.headCount == 4)
    }

    @Test func aConfigFileThatContradictsTheMetadataIsAnError() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("model.safetensors")
        try SafetensorsWriter.write(syntheticGPT2(tinyConfig), metadata: ["n_head": "2", "n_layer": "2"], to: path)
        let config = try directory.write("config.json", text: #"{"n_layer": 2, "n_embd": 8, "n_head": 4, "n_positions": 16, "vocab_size": 20}"#)
        let error = try #require(throws: WeightsError.self) { try GPT2Weights.load(from: path) }
        #expect(error.kind == .invalidConfig && error.file == config && error.description.contains("n_head"))
    }

    @Test func metadataThatIsNotANumberIsAnError() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("model.safetensors")
        try SafetensorsWriter.write(syntheticGPT2(tinyConfig), metadata: ["n_head": "two"], to: path)
        let error = try #require(throws: WeightsError.self) { try GPT2Weights.load(from: path) }
        #expect(error.kind == .invalidConfig && error.description.contains("two"))
    }

    // MARK: - Files that do not match the configuration

    @Test func aMissingTensorIsNamedWithItsFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("model.safetensors")
        try SafetensorsWriter.write(syntheticGPT2(tinyConfig, skipping: ["h.1.mlp.c_fc.bias"]), metadata: ["n_head": "2"], to: path)
        let error = try #require(throws: WeightsError.self) { try GPT2Weights.load(from: path) }
        #expect(error.kind == .missingTensor && error.file == path && error.tensor == "h.1.mlp.c_fc.bias")
        #expect(error.description.contains("[32]"))
    }

    @Test func aWrongShapeIsNamedWithBothShapes() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("model.safetensors")
        try SafetensorsWriter.write(syntheticGPT2(tinyConfig, reshaping: ["h.0.attn.c_attn.weight": [24, 8]]), metadata: ["n_head": "2"], to: path)
        let error = try #require(throws: WeightsError.self) { try GPT2Weights.load(from: path) }
        #expect(error.kind == .shapeMismatch && error.file == path && error.tensor == "h.0.attn.c_attn.weight")
        #expect(error.description.contains("[24, 8]") && error.description.contains("[8, 24]"))
    }

    @Test func aConfigurationWithFewerLayersThanTheFileIsRefused() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("model.safetensors")
        try SafetensorsWriter.write(syntheticGPT2(tinyConfig), to: path)
        let oneLayer = try GPT2Config(layerCount: 1, embeddingSize: 8, headCount: 2, contextLength: 16, vocabularySize: 20)
        let error = try #require(throws: WeightsError.self) { try GPT2Weights.load(from: path, config: oneLayer) }
        #expect(error.kind == .shapeMismatch && (error.tensor ?? "").hasPrefix("h.1."))
    }

    @Test func aTensorFlowShapeErrorSaysBothNames() throws {
        let directory = try TemporaryDirectory()
        var tensors = tensorFlowGPT2(tinyConfig)
        let index = tensors.firstIndex { $0.name == "model/h1/mlp/c_proj/w" }!
        tensors[index].shape = [1, 8, 32]
        try TensorFlowCheckpointWriter().write(tensors, prefix: directory.file("model.ckpt"))
        let error = try #require(throws: WeightsError.self) { try GPT2Weights.load(from: directory.file("model.ckpt"), config: tinyConfig) }
        #expect(error.kind == .shapeMismatch && error.tensor == "h.1.mlp.c_proj.weight")
        #expect(error.description.contains("model/h1/mlp/c_proj/w") && error.description.contains("[32, 8]"))
    }

    @Test func aTensorMissingFromATensorFlowCheckpointIsNamedBothWays() throws {
        let directory = try TemporaryDirectory()
        try TensorFlowCheckpointWriter().write(tensorFlowGPT2(tinyConfig).filter { $0.name != "model/h1/ln_2/g" }, prefix: directory.file("model.ckpt"))
        let error = try #require(throws: WeightsError.self) { try GPT2Weights.load(from: directory.file("model.ckpt"), config: tinyConfig) }
        #expect(error.kind == .missingTensor && error.tensor == "h.1.ln_2.weight" && error.description.contains("model/h1/ln_2/g"))
    }

    @Test func nothingAtThePathIsAClearError() throws {
        let directory = try TemporaryDirectory()
        let empty = try #require(throws: WeightsError.self) { try GPT2Weights.load(from: directory.path) }
        #expect(empty.kind == .fileAccess && empty.description.contains("model.safetensors"))
        let absent = try #require(throws: WeightsError.self) { try GPT2Weights.load(from: directory.file("nothing")) }
        #expect(absent.kind == .fileAccess)
    }

    // MARK: - Classification heads

    @Test func aHeadFileAddsTensorsAndOverridesTrainedOnes() throws {
        let directory = try TemporaryDirectory()
        let base = try GPT2Weights.load(from: fixture)
        let trainedNorm = (0..<32).map { Float($0) / 10 }
        let headPath = directory.file("head.safetensors")
        try SafetensorsWriter.write([
            TensorView(name: "score.weight", shape: [2, 32], values: [Float](repeating: 0.5, count: 64)),
            TensorView(name: "score.bias", shape: [2], values: [1, -1]),
            TensorView(name: "ln_f.weight", shape: [32], values: trainedNorm),
        ], to: headPath)
        let head = try SafetensorsFile(path: headPath)
        let classifier = try base.overlaid(with: head)
        #expect(classifier.tensor(.finalNormWeight).toArray() == trainedNorm)
        #expect(pointer(classifier.tensor(.finalNormWeight), liesIn: head.mappedBytes))
        #expect(classifier.tensor(.finalNormBias).toArray() == base.tensor(.finalNormBias).toArray())
        #expect(try classifier.tensor(named: "score.bias").toArray() == [1, -1])
        #expect(try classifier.tensor(named: "score.weight").shape == [2, 32])
        #expect(classifier.extraTensorNames == ["score.bias", "score.weight"])
        #expect(try classifier.tensor(named: "ln_f.weight").toArray() == trainedNorm)
        let missing = try #require(throws: WeightsError.self) { try base.tensor(named: "score.weight") }
        #expect(missing.kind == .missingTensor && missing.description.contains(fixture))

        try SafetensorsWriter.write([TensorView(name: "ln_f.weight", shape: [31], values: [Float](repeating: 1, count: 31))], to: headPath)
        let wrong = try #require(throws: WeightsError.self) { try base.overlaid(with: try SafetensorsFile(path: headPath)) }
        #expect(wrong.kind == .shapeMismatch && wrong.file == headPath && wrong.tensor == "ln_f.weight")
    }
}

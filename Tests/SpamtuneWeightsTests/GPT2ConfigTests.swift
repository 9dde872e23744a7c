import Foundation
import SpamtuneTestSupport
import SpamtuneWeights
import Testing

@Suite struct GPT2ConfigTests {
    @Test func readsOpenAIsHparams() throws {
        let directory = try TemporaryDirectory()
        #expect(try GPT2Config.read(from: try directory.write("hparams.json", text: OpenAIGPT2Release.hparams)) == .gpt2Small)
    }

    @Test func readsHuggingFacesConfig() throws {
        #expect(try GPT2Config.read(from: ProjectPaths.fixture("weights/config.json").path) == fixtureConfig)
        let directory = try TemporaryDirectory()
        // n_positions wins over n_ctx: it is the size of wpe.
        let path = try directory.write("config.json", text: #"{"n_layer": 1, "n_embd": 8, "n_head": 2, "n_positions": 32, "n_ctx": 16, "vocab_size": 10}"#)
        #expect(try GPT2Config.read(from: path).contextLength == 32)
    }

    @Test func knowsTheStandardSizes() throws {
        let expected: [(String, Int, Int, Int)] = [("gpt2", 12, 768, 12), ("gpt2-medium", 24, 1024, 16), ("gpt2-large", 36, 1280, 20), ("gpt2-xl", 48, 1600, 25)]
        for (name, layers, embedding, heads) in expected {
            let config = try GPT2Config.standard(named: name)
            #expect(config.layerCount == layers && config.embeddingSize == embedding && config.headCount == heads)
            #expect(config.contextLength == 1024 && config.vocabularySize == 50257)
        }
        #expect(try GPT2Config.standard(named: "355M") == .gpt2Medium)
        #expect(try GPT2Config.standard(named: "GPT2-XL") == .gpt2XL)
        #expect(GPT2Config.gpt2Medium.parameterCount == 354_823_168)
        let error = try #require(throws: WeightsError.self) { try GPT2Config.standard(named: "gpt3") }
        #expect(error.kind == .invalidConfig && error.description.contains("gpt2-medium"))
    }

    @Test func refusesImpossibleShapes() throws {
        let notDivisible = try #require(throws: WeightsError.self) {
            try GPT2Config(layerCount: 2, embeddingSize: 30, headCount: 4, contextLength: 8, vocabularySize: 10, source: "x.json")
        }
        #expect(notDivisible.kind == .invalidConfig && notDivisible.description.contains("not divisible") && notDivisible.file == "x.json")
        #expect(throws: WeightsError.self) { try GPT2Config(layerCount: 0, embeddingSize: 8, headCount: 2, contextLength: 8, vocabularySize: 10) }
        #expect(throws: WeightsError.self) { try GPT2Config(layerCount: 1, embeddingSize: 8, headCount: -2, contextLength: 8, vocabularySize: 10) }
        #expect(throws: WeightsError.self) { try GPT2Config(layerCount: 1, embeddingSize: 8, headCount: 2, contextLength: 8, vocabularySize: 1 << 40) }
    }

    @Test func badConfigFilesNameTheFileAndTheKey() throws {
        let directory = try TemporaryDirectory()
        let noHeads = try directory.write("a.json", text: #"{"n_layer": 1, "n_embd": 8, "n_ctx": 16, "n_vocab": 10}"#)
        let missing = try #require(throws: WeightsError.self) { try GPT2Config.read(from: noHeads) }
        #expect(missing.kind == .invalidConfig && missing.file == noHeads && missing.description.contains("n_head"))
        let text = try directory.write("b.json", text: #"{"n_layer": "12", "n_embd": 8, "n_head": 2, "n_ctx": 16, "n_vocab": 10}"#)
        let typed = try #require(throws: WeightsError.self) { try GPT2Config.read(from: text) }
        #expect(typed.kind == .invalidConfig && typed.description.contains("n_layer"))
        let garbage = try directory.write("c.json", text: "not json")
        #expect(try #require(throws: WeightsError.self) { try GPT2Config.read(from: garbage) }.kind == .invalidConfig)
        let absent = try #require(throws: WeightsError.self) { try GPT2Config.read(from: directory.file("none.json")) }
        #expect(absent.kind == .fileAccess)
    }

    @Test func codableRoundTripValidates() throws {
        let encoded = try JSONEncoder().encode(GPT2Config.gpt2Large)
        #expect(try JSONDecoder().decode(GPT2Config.self, from: encoded) == .gpt2Large)
        let invalid = Data(#"{"layerCount": 2, "embeddingSize": 10, "headCount": 3, "contextLength": 8, "vocabularySize": 5}"#.utf8)
        #expect(throws: WeightsError.self) { try JSONDecoder().decode(GPT2Config.self, from: invalid) }
    }
}

import Foundation

extension LoopbackHTTPServer {
    /// A server standing in for UCI and a model host: the SMS zip at
    /// `/uci/sms+spam+collection.zip`, and under `modelPath` the tiny oracle GPT-2
    /// (model.safetensors, config.json) with the real tokenizer files in Hugging Face's
    /// names (vocab.json, merges.txt).
    public static func servingTinyGPT2(at modelPath: String) throws -> LoopbackHTTPServer {
        let server = try LoopbackHTTPServer()
        func bytes(_ url: URL) throws -> [UInt8] { Array(try Data(contentsOf: url)) }
        server.setFile("/uci/sms+spam+collection.zip", SMSArchive.bytes)
        server.setFile("\(modelPath)/model.safetensors", try bytes(ProjectPaths.fixture("model/tiny/model.safetensors")))
        server.setFile("\(modelPath)/config.json", try bytes(ProjectPaths.fixture("model/tiny/config.json")))
        server.setFile("\(modelPath)/vocab.json", try bytes(ProjectPaths.encoderJSON))
        server.setFile("\(modelPath)/merges.txt", try bytes(ProjectPaths.vocabBPE))
        return server
    }
}

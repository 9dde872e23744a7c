// Temporary until the weights module lands (branch `weights`): the config the model needs.
public struct GPT2Config: Equatable, Sendable, Codable {
    public var layers: Int
    public var embeddingSize: Int
    public var heads: Int
    public var contextLength: Int
    public var vocabularySize: Int
    public init(layers: Int, embeddingSize: Int, heads: Int, contextLength: Int, vocabularySize: Int) {
        self.layers = layers
        self.embeddingSize = embeddingSize
        self.heads = heads
        self.contextLength = contextLength
        self.vocabularySize = vocabularySize
    }
}

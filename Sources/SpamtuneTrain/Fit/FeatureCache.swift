import SpamtuneClassifier
import SpamtuneModel

/// The frozen part of the model's output for every example of a split, computed once.
///
/// The frozen blocks never change and GPT-2 has no dropout, so an example's hidden state
/// entering the first trainable block is the same in every epoch. Computing it once
/// turns an epoch of the book's recipe (12 blocks forward, 1 backward) into 1 block
/// forward and backward.
public final class FeatureCache {
    public let examples: [EncodedExample]
    private let storage: [Float]
    private let offsets: [Int]
    private let floatsPerToken: Int
    private let oneRowPerExample: Bool

    /// Runs the frozen part over `examples` in batches of about `tokensPerBatch` tokens.
    public init(examples: [EncodedExample], classifier: TrainableClassifier, tokensPerBatch: Int = 4096) {
        self.examples = examples
        var offsets: [Int] = []
        var total = 0
        for example in examples {
            offsets.append(total)
            total += classifier.featureCount(tokens: example.ids.count)
        }
        self.offsets = offsets
        floatsPerToken = classifier.config.embeddingSize
        oneRowPerExample = classifier.scope.blocks == 0
        var storage = [Float](repeating: 0, count: total)
        var start = 0
        while start < examples.count, total > 0 {
            var end = start
            var tokens = 0
            while end < examples.count && (end == start || tokens + examples[end].ids.count <= tokensPerBatch) {
                tokens += examples[end].ids.count
                end += 1
            }
            let batch = TokenBatch(examples[start..<end].map(\.ids))
            let features = classifier.frozenFeatures(for: batch)
            storage.withUnsafeMutableBufferPointer { buffer in
                features.withUnsafeBufferPointer { source in
                    (buffer.baseAddress! + offsets[start]).update(from: source.baseAddress!, count: source.count)
                }
            }
            start = end
        }
        self.storage = storage
    }

    /// Whether the model's input is the token ids themselves (embeddings train).
    public var isEmpty: Bool { storage.isEmpty }

    /// The features of the given examples, concatenated in the batch's row layout.
    public func gather(_ indices: [Int], into buffer: inout [Float]) {
        buffer.removeAll(keepingCapacity: true)
        guard !storage.isEmpty else { return }
        for index in indices {
            let count = oneRowPerExample ? floatsPerToken : examples[index].ids.count * floatsPerToken
            buffer.append(contentsOf: storage[offsets[index]..<(offsets[index] + count)])
        }
    }

    public var bytes: Int { storage.count * MemoryLayout<Float>.size }
}

/// One example as the model sees it: token ids (already cut and, in the book's recipe,
/// padded) and a class (0 = ham, 1 = spam).
public struct EncodedExample: Sendable, Equatable {
    public var ids: [Int]
    public var label: Label
    public var evidence: TokenEvidence?
    public init(ids: [Int], label: Label, evidence: TokenEvidence? = nil) {
        self.ids = ids
        self.label = label
        self.evidence = evidence
    }
}

extension TokenBatch {
    /// The examples' token ids, with their evidence when every one has it.
    init(_ examples: [EncodedExample]) {
        let evidence = examples.compactMap(\.evidence)
        self.init(examples.map(\.ids), evidence: evidence.count == examples.count && !examples.isEmpty ? evidence : nil)
    }
}

import SpamtuneKernels

/// A batch of token sequences of different lengths, laid out one after another without
/// padding: sequence i occupies rows `sequences[i].start ..< start + tokens` of every
/// [rows, C] activation. No position ever attends to another sequence or to padding.
public struct TokenBatch: Sendable {
    public let ids: [[Int]]
    public let sequences: [AttentionSequence]
    public let rowCount: Int
    /// Each sequence's token evidence, for a head that reads it (see `TokenEvidence`).
    public let evidence: [TokenEvidence]?

    public init(_ ids: [[Int]], evidence: [TokenEvidence]? = nil) {
        precondition(evidence.map { $0.count == ids.count } ?? true, "one evidence per sequence")
        self.ids = ids
        self.evidence = evidence
        var start = 0
        var sequences: [AttentionSequence] = []
        for sequence in ids {
            precondition(!sequence.isEmpty, "a sequence needs at least one token")
            sequences.append(AttentionSequence(start: start, tokens: sequence.count))
            start += sequence.count
        }
        self.sequences = sequences
        rowCount = start
    }

    public var count: Int { ids.count }

    /// The row of each sequence's last token: where the classifier reads its hidden state.
    public var lastRows: [Int] { sequences.map { $0.start + $0.tokens - 1 } }

    /// The same sequences with only the last query of each computed.
    var lastQueryOnly: [AttentionSequence] {
        sequences.map { AttentionSequence(start: $0.start, tokens: $0.tokens, firstQuery: $0.tokens - 1) }
    }
}

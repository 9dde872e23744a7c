import Foundation

/// GPT-2's byte-level BPE tokenizer, giving exactly the ids of OpenAI's tiktoken "gpt2"
/// encoding. Safe to share between threads; made for hostile input: any bytes encode,
/// nothing in a message becomes a control token, and memory stays bounded.
public final class GPT2Tokenizer: Sendable {
    /// `<|endoftext|>`. Text never encodes to it, even text that spells it: callers that
    /// want it (to pad, or to end a sequence) add it themselves.
    public static let endOfTextID = 50256
    public static let defaultWordCacheCapacity = 16384

    /// Number of token ids, <|endoftext|> included (50257 for GPT-2).
    public var vocabularySize: Int { tables.tokenCount }
    /// Slots in the cache of encoded words; it never holds more.
    public var wordCacheCapacity: Int { wordCache.capacity }
    /// Words the cache holds now.
    public var cachedWordCount: Int { wordCache.count }

    let tables: TokenTables
    private let wordCache: WordCache
    private let scalarClasses = ScalarClassTable.reference

    /// Loads encoder.json + vocab.bpe (OpenAI's names) or vocab.json + merges.txt
    /// (Hugging Face's) from `directory`.
    public convenience init(directory: URL, wordCacheCapacity: Int = defaultWordCacheCapacity) throws(TokenizerLoadError) {
        try self.init(files: TokenizerFiles(directory: directory), wordCacheCapacity: wordCacheCapacity)
    }

    /// - Parameters:
    ///   - vocabularyFile: encoder.json or vocab.json: token string -> id.
    ///   - mergesFile: vocab.bpe or merges.txt: the merges in order.
    public convenience init(vocabularyFile: URL, mergesFile: URL, wordCacheCapacity: Int = defaultWordCacheCapacity) throws(TokenizerLoadError) {
        try self.init(files: TokenizerFiles(vocabulary: vocabularyFile, merges: mergesFile), wordCacheCapacity: wordCacheCapacity)
    }

    public init(files: TokenizerFiles, wordCacheCapacity: Int = defaultWordCacheCapacity) throws(TokenizerLoadError) {
        let vocabulary = try GPT2Vocabulary(files: files)
        let tables = TokenTables(vocabulary: vocabulary)
        try vocabulary.checkMerges(files: files, tokenID: tables.tokenID)
        self.tables = tables
        self.wordCache = WordCache(capacity: wordCacheCapacity)
    }

    // MARK: Encoding

    public func encode(_ text: String) -> [Int] {
        encode(text, maxTokens: .max)
    }

    /// The first `maxTokens` ids of `encode(text)`, found without encoding the rest of the
    /// text (the piece being encoded when the limit is reached is finished, no more).
    public func encode(_ text: String, maxTokens: Int) -> [Int] {
        var output = [Int]()
        let contiguous: Void? = text.utf8.withContiguousStorageIfAvailable { encodeUTF8($0, maxTokens: maxTokens, into: &output) }
        if contiguous == nil {
            Array(text.utf8).withUnsafeBufferPointer { encodeUTF8($0, maxTokens: maxTokens, into: &output) }
        }
        return output
    }

    /// Encodes raw bytes, which may not be valid UTF-8: each invalid sequence becomes
    /// U+FFFD first, as Python's `bytes.decode("utf-8", errors="replace")` does.
    public func encode(bytes: some Collection<UInt8>) -> [Int] {
        encode(String(decoding: bytes, as: UTF8.self))
    }

    public func encode(bytes: some Collection<UInt8>, maxTokens: Int) -> [Int] {
        encode(String(decoding: bytes, as: UTF8.self), maxTokens: maxTokens)
    }

    private func encodeUTF8(_ text: UnsafeBufferPointer<UInt8>, maxTokens: Int, into output: inout [Int]) {
        guard maxTokens > 0, let textStart = text.baseAddress else { return }
        let textEnd = textStart + text.count
        output.reserveCapacity(min(maxTokens, text.count / 3 + 16))
        var splitter = PreTokenizer(text: text, classes: scalarClasses)
        let threshold = TokenTables.longPieceThreshold
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 2 * threshold) { scratch in
            let tokens = scratch.baseAddress!
            let ranks = tokens + threshold
            while let range = splitter.next() {
                let piece = UnsafeBufferPointer(rebasing: text[range])
                let start = piece.baseAddress!
                let hash: UInt64
                let found: UInt32?
                if piece.count <= TokenTables.shortTokenLength {
                    let packed = TokenTables.pack(start, count: piece.count, readableEnd: textEnd)
                    hash = TokenTables.shortHash(packed: packed, count: piece.count)
                    found = tables.shortTokenID(packed: packed, count: piece.count, hash: hash)
                } else {
                    hash = TokenTables.hash(start, count: piece.count)
                    found = tables.tokenID(start, count: piece.count, hash: hash)
                }
                if let id = found {
                    output.append(Int(id))
                } else if piece.count > threshold {
                    tables.mergeLongPiece(start, count: piece.count, into: &output)
                } else if piece.count > WordCache.maximumPieceLength || !wordCache.appendTokens(of: piece, hash: hash, to: &output) {
                    let parts = tables.mergeShortPiece(start, count: piece.count, tokens: tokens, ranks: ranks)
                    for index in 0..<parts { output.append(Int(tokens[index])) }
                    wordCache.remember(piece, hash: hash, tokens: UnsafeBufferPointer(start: tokens, count: parts))
                }
                if output.count >= maxTokens {
                    output.removeLast(output.count - maxTokens)
                    return
                }
            }
        }
    }

    // MARK: Decoding

    /// The bytes the ids stand for. An id outside the vocabulary gives the bytes of
    /// U+FFFD, so a corrupt id shows up in the text instead of stopping the caller.
    public func decodeBytes(_ ids: [Int]) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(ids.count * 4)
        for id in ids {
            if id >= 0 && id < tables.tokenCount {
                tables.appendBytes(ofToken: id, to: &bytes)
            } else {
                bytes += [0xEF, 0xBF, 0xBD]
            }
        }
        return bytes
    }

    /// The text the ids stand for; bytes that do not form valid UTF-8 (a cut through a
    /// character's bytes) become U+FFFD.
    public func decode(_ ids: [Int]) -> String {
        String(decoding: decodeBytes(ids), as: UTF8.self)
    }
}

import Foundation
import SpamtuneSupport

/// Where a tokenizer's two files are: the vocabulary (token string -> id, JSON) and the
/// merges (one pair of token strings per line, in merge order).
public struct TokenizerFiles: Sendable, Equatable {
    public var vocabulary: URL
    public var merges: URL

    public init(vocabulary: URL, merges: URL) {
        self.vocabulary = vocabulary
        self.merges = merges
    }

    /// The same content ships under two pairs of names.
    public static let conventionalNames = [
        (vocabulary: "encoder.json", merges: "vocab.bpe"),  // OpenAI's release
        (vocabulary: "vocab.json", merges: "merges.txt"),  // Hugging Face's
    ]

    /// Finds either pair of files in `directory`.
    public init(directory: URL) throws(TokenizerLoadError) {
        let fileManager = FileManager.default
        for names in Self.conventionalNames {
            let vocabulary = directory.appendingPathComponent(names.vocabulary)
            let merges = directory.appendingPathComponent(names.merges)
            switch (fileManager.fileExists(atPath: vocabulary.path), fileManager.fileExists(atPath: merges.path)) {
            case (true, true):
                self.init(vocabulary: vocabulary, merges: merges)
                return
            case (true, false): throw .missingFile(path: merges.path)
            case (false, true): throw .missingFile(path: vocabulary.path)
            case (false, false): continue
            }
        }
        throw .filesNotFound(directory: directory.path)
    }
}

/// The tokens of a GPT-2 vocabulary, read from its two files and checked against each
/// other the way tiktoken checks them.
struct GPT2Vocabulary {
    /// All tokens' raw bytes, back to back in id order.
    var tokenBytes: [UInt8]
    /// Token `id` is `tokenBytes[tokenOffsets[id]..<tokenOffsets[id + 1]]`.
    var tokenOffsets: [Int]
    /// Control tokens: they have ids but are never produced from text.
    var specialTokenIDs: Set<Int>

    var tokenCount: Int { tokenOffsets.count - 1 }

    static let endOfText = Array("<|endoftext|>".utf8)
    /// tiktoken drops these two from the mergeable tokens when present.
    static let specialTokens = [endOfText, Array("<|startoftext|>".utf8)]
    static let endOfTextID = 50256

    init(files: TokenizerFiles) throws(TokenizerLoadError) {
        let vocabularyPath = files.vocabulary.path
        let vocabularyFile = try Self.map(files.vocabulary)
        let entries: [VocabularyJSONParser.Entry]
        var keyBytes = [UInt8]()
        do {
            var parser = VocabularyJSONParser(vocabularyFile.bytes)
            entries = try parser.parse()
            keyBytes = parser.keyBytes
        } catch {
            throw .invalidVocabulary(path: vocabularyPath, reason: error.description)
        }

        // Ids must be 0..<count, each used once: they index the model's embedding rows.
        var rangeForID = [Range<Int>?](repeating: nil, count: entries.count)
        for entry in entries {
            let spelling = ByteLevelAlphabet.spelling(of: keyBytes[entry.key])
            guard entry.id >= 0, entry.id < entries.count else {
                throw .invalidVocabulary(
                    path: vocabularyPath, reason: "token \"\(spelling)\" has id \(entry.id), outside 0..<\(entries.count) (ids must be 0 up to the number of tokens, without gaps)")
            }
            guard rangeForID[entry.id] == nil else {
                throw .invalidVocabulary(path: vocabularyPath, reason: "id \(entry.id) is given to two tokens, one of them \"\(spelling)\"")
            }
            rangeForID[entry.id] = entry.key
        }
        tokenBytes = []
        tokenBytes.reserveCapacity(keyBytes.count)
        tokenOffsets = [0]
        tokenOffsets.reserveCapacity(entries.count + 1)
        specialTokenIDs = []
        for (id, range) in rangeForID.enumerated() {
            let bytes = keyBytes[range!]
            if Self.specialTokens.contains(where: { $0.elementsEqual(bytes) }) { specialTokenIDs.insert(id) }
            tokenBytes += bytes
            tokenOffsets.append(tokenBytes.count)
        }
        guard Self.endOfTextID < tokenCount, tokenBytes(of: Self.endOfTextID).elementsEqual(Self.endOfText) else {
            throw .invalidVocabulary(path: vocabularyPath, reason: "GPT-2's <|endoftext|> must have id \(Self.endOfTextID)")
        }
    }

    func tokenBytes(of id: Int) -> ArraySlice<UInt8> { tokenBytes[tokenOffsets[id]..<tokenOffsets[id + 1]] }

    private static func map(_ url: URL) throws(TokenizerLoadError) -> MappedFile {
        guard FileManager.default.fileExists(atPath: url.path) else { throw .missingFile(path: url.path) }
        do {
            return try MappedFile(path: url.path)
        } catch let error as FileAccessError {
            throw .unreadableFile(path: url.path, reason: error.reason)
        } catch {
            throw .unreadableFile(path: url.path, reason: "\(error)")
        }
    }

    /// Reads the merges file and checks it against the vocabulary as tiktoken's
    /// `data_gym_to_mergeable_bpe_ranks` does: the byte tokens take ranks 0..<256 and
    /// merge line n makes the token of rank 256 + n, and every rank must equal the
    /// token's id. Encoding relies on that: it ranks a merge by the merged token's id.
    func checkMerges(files: TokenizerFiles, tokenID: ([UInt8]) -> Int?) throws(TokenizerLoadError) {
        let mergesPath = files.merges.path
        let mergesFile = try Self.map(files.merges)
        let inconsistent = { (reason: String) in
            TokenizerLoadError.inconsistentFiles(vocabularyPath: files.vocabulary.path, mergesPath: mergesPath, reason: reason)
        }
        for (rank, byte) in ByteLevelAlphabet.bytesInRankOrder.enumerated() {
            let id = tokenID([byte])
            guard id == rank else {
                let spelling = ByteLevelAlphabet.spelling(of: [byte])
                throw inconsistent("byte token \"\(spelling)\" should have id \(rank), the vocabulary gives \(id.map(String.init) ?? "none")")
            }
        }
        var mergeCount = 0
        var lineNumber = 0
        var lines = mergesFile.bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)[...]
        if lines.last?.isEmpty == true { lines.removeLast() }  // the final newline
        for var line in lines {
            lineNumber += 1
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if lineNumber == 1, line.starts(with: "#version".utf8) { continue }
            let halves = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            guard halves.count == 2, !halves[0].isEmpty, !halves[1].isEmpty else {
                throw .malformedMerge(
                    path: mergesPath, line: lineNumber,
                    reason: "expected two tokens separated by one space, found \"\(String(decoding: line.prefix(80), as: UTF8.self))\"")
            }
            var merged = [UInt8]()
            for half in halves {
                let text = String(decoding: half, as: UTF8.self)
                guard let bytes = ByteLevelAlphabet.bytes(spelledBy: text.unicodeScalars) else {
                    throw .malformedMerge(path: mergesPath, line: lineNumber, reason: "\"\(text)\" is not spelled in GPT-2's byte-level alphabet")
                }
                merged += bytes
            }
            let rank = 256 + mergeCount
            let id = tokenID(merged)
            guard id == rank else {
                let spelling = ByteLevelAlphabet.spelling(of: merged)
                throw inconsistent(
                    "line \(lineNumber) of the merges makes \"\(spelling)\" with rank \(rank), the vocabulary gives it \(id.map { "id \($0)" } ?? "no id")")
            }
            mergeCount += 1
        }
        let mergeableCount = tokenCount - specialTokenIDs.count
        guard mergeableCount == 256 + mergeCount else {
            throw inconsistent("the vocabulary has \(mergeableCount) ordinary tokens, the merges make 256 + \(mergeCount)")
        }
    }
}

/// Reads a flat JSON object of string keys and integer values (encoder.json), keeping
/// each key as the raw bytes its byte-level spelling stands for. Written by hand rather
/// than with JSONDecoder: a `[String: Int]` compares keys by Unicode canonical
/// equivalence, which is not how token strings compare, and it loses where an error is.
struct VocabularyJSONParser {
    struct Entry {
        var key: Range<Int>
        var id: Int
    }

    struct Failure: Error, CustomStringConvertible {
        var offset: Int
        var message: String
        var description: String { "\(message) (at byte \(offset))" }
    }

    private let text: UnsafeRawBufferPointer
    private var position = 0
    /// The decoded keys' bytes, back to back; entries point into it.
    private(set) var keyBytes = [UInt8]()

    init(_ text: UnsafeRawBufferPointer) { self.text = text }

    mutating func parse() throws(Failure) -> [Entry] {
        var entries = [Entry]()
        try expect(UInt8(ascii: "{"), "the file must be one JSON object")
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            position += 1
        } else {
            while true {
                let key = try parseKey()
                try expect(UInt8(ascii: ":"), "expected ':' after a token")
                let id = try parseInteger()
                entries.append(Entry(key: key, id: id))
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    position += 1
                    continue
                }
                try expect(UInt8(ascii: "}"), "expected ',' or '}' after an id")
                break
            }
        }
        skipWhitespace()
        guard position == text.count else { throw fail("unexpected text after the JSON object") }
        return entries
    }

    private func peek() -> UInt8? { position < text.count ? text[position] : nil }

    private func fail(_ message: String) -> Failure { Failure(offset: position, message: message) }

    private mutating func skipWhitespace() {
        while let byte = peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
    }

    private mutating func expect(_ byte: UInt8, _ message: String) throws(Failure) {
        skipWhitespace()
        guard peek() == byte else { throw fail(message) }
        position += 1
    }

    private mutating func parseInteger() throws(Failure) -> Int {
        skipWhitespace()
        let negative = peek() == UInt8(ascii: "-")
        if negative { position += 1 }
        var value = 0
        var digits = 0
        while let byte = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
            guard digits < 12 else { throw fail("token id too large") }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            digits += 1
            position += 1
        }
        guard digits > 0 else { throw fail("expected an integer token id") }
        if let byte = peek(), byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            throw fail("token ids must be integers")
        }
        return negative ? -value : value
    }

    /// A JSON string whose scalars must all be letters of the byte-level alphabet.
    private mutating func parseKey() throws(Failure) -> Range<Int> {
        skipWhitespace()
        let keyStart = position
        guard peek() == UInt8(ascii: "\"") else { throw fail("expected a token string") }
        position += 1
        let start = keyBytes.count
        while true {
            guard let byte = peek() else { throw fail("unterminated string") }
            let scalar: Unicode.Scalar
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return start..<keyBytes.count
            case UInt8(ascii: "\\"):
                scalar = try parseEscape()
            case 0..<0x20:
                throw fail("control character inside a string")
            default:
                scalar = try parseUTF8Scalar()
            }
            guard let tokenByte = ByteLevelAlphabet.byte(spelledBy: scalar) else {
                let key = String(decoding: text[keyStart..<min(position, keyStart + 80)], as: UTF8.self)
                throw Failure(
                    offset: keyStart,
                    message: "token \(key)… has U+\(String(scalar.value, radix: 16, uppercase: true)), which is not in GPT-2's byte-level alphabet")
            }
            keyBytes.append(tokenByte)
        }
    }

    private mutating func parseEscape() throws(Failure) -> Unicode.Scalar {
        position += 1
        guard let byte = peek() else { throw fail("unterminated escape") }
        position += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let high = try parseHex4()
            guard (0xD800..<0xDC00).contains(high) else {
                guard let scalar = Unicode.Scalar(high) else { throw fail("lone low surrogate escape") }
                return scalar
            }
            guard peek() == UInt8(ascii: "\\") else { throw fail("high surrogate escape without its low half") }
            position += 1
            guard peek() == UInt8(ascii: "u") else { throw fail("high surrogate escape without its low half") }
            position += 1
            let low = try parseHex4()
            guard (0xDC00..<0xE000).contains(low) else { throw fail("high surrogate escape without its low half") }
            return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))!
        default:
            throw fail("unknown escape \\\(Unicode.Scalar(byte))")
        }
    }

    private mutating func parseHex4() throws(Failure) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek(), let digit = Self.hexValue(byte) else { throw fail("expected four hex digits after \\u") }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    private mutating func parseUTF8Scalar() throws(Failure) -> Unicode.Scalar {
        var decoder = UTF8()
        var iterator = text[position...].makeIterator()
        let start = position
        switch decoder.decode(&iterator) {
        case .scalarValue(let scalar):
            position = start + UTF8.width(scalar)
            return scalar
        case .emptyInput, .error:
            throw fail("invalid UTF-8")
        }
    }
}

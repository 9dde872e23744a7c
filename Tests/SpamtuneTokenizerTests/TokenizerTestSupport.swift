import Foundation
import SpamtuneTestSupport
import Testing

@testable import SpamtuneTokenizer

/// One tokenizer for all tests: loading parses a megabyte of JSON.
let sharedTokenizer: GPT2Tokenizer = {
    do {
        return try GPT2Tokenizer(directory: ProjectPaths.tokenizerDirectory)
    } catch {
        fatalError("cannot load the GPT-2 tokenizer shipped in \(ProjectPaths.tokenizerDirectory.path): \(error)")
    }
}()

/// A line of the reference's golden files: a text and tiktoken's ids for it.
struct GoldenLine: Decodable, Sendable, CustomTestStringConvertible {
    var text: String
    var ids: [Int]
    var testDescription: String { text.count > 60 ? "\(text.prefix(60).debugDescription)…" : text.debugDescription }

    /// A file of Tests/Fixtures/tokenizer.
    static func load(fixture name: String) throws -> [GoldenLine] {
        try jsonLines(ProjectPaths.fixture("tokenizer/\(name)"))
    }

    /// The reference's ids for all 5,574 SMS, in ../shared only (an optional check).
    static let allSMSFile = "golden/sms_tokens.jsonl"
    static var allSMSPresent: Bool { ProjectPaths.sharedFilesPresent(allSMSFile) }
    static func loadAllSMS() throws -> [GoldenLine] { try jsonLines(ProjectPaths.sharedFile(allSMSFile)) }
}

/// A line of Tests/Fixtures/tokenizer/reference_cases.jsonl: raw bytes (maybe invalid
/// UTF-8) and tiktoken's ids for their lossy decoding.
struct ReferenceCase: Decodable, Sendable, CustomTestStringConvertible {
    var name: String
    var bytesHex: String
    var ids: [Int]
    var testDescription: String { name }

    enum CodingKeys: String, CodingKey {
        case name, ids
        case bytesHex = "bytes_hex"
    }

    var bytes: [UInt8] {
        var bytes = [UInt8]()
        var index = bytesHex.startIndex
        while index < bytesHex.endIndex {
            let next = bytesHex.index(index, offsetBy: 2)
            bytes.append(UInt8(bytesHex[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    static func load() throws -> [ReferenceCase] {
        try jsonLines(ProjectPaths.fixture("tokenizer/reference_cases.jsonl"))
    }
}

func jsonLines<Line: Decodable>(_ url: URL) throws -> [Line] {
    let data = try Data(contentsOf: url)
    let decoder = JSONDecoder()
    return try data.split(separator: UInt8(ascii: "\n")).map { try decoder.decode(Line.self, from: Data($0)) }
}

/// The texts of the SMS Spam Collection shipped with spamtune, in file order.
let smsTexts: [String] = {
    do {
        let collection = try String(contentsOf: ProjectPaths.smsCollection, encoding: .utf8)
        return collection.split(separator: "\n", omittingEmptySubsequences: true).map { line in
            String(line.split(separator: "\t", maxSplits: 1).last ?? "")
        }
    } catch {
        fatalError("cannot read \(ProjectPaths.smsCollection.path): \(error)")
    }
}()

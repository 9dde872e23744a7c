import Foundation
import SpamtuneTestSupport
import Testing

@testable import SpamtuneTokenizer

/// Loading from either pair of file names, and errors a mail admin can act on.
@Suite struct LoadingTests {
    let encoderJSON = ProjectPaths.encoderJSON
    let vocabBPE = ProjectPaths.vocabBPE

    @Test func loadsHuggingFaceNames() throws {
        try withTemporaryDirectory { directory in
            try FileManager.default.copyItem(at: encoderJSON, to: directory.appendingPathComponent("vocab.json"))
            try FileManager.default.copyItem(at: vocabBPE, to: directory.appendingPathComponent("merges.txt"))
            #expect(try TokenizerFiles(directory: directory).vocabulary.lastPathComponent == "vocab.json")
            let tokenizer = try GPT2Tokenizer(directory: directory)
            for text in smsTexts.prefix(500) { #expect(tokenizer.encode(text) == sharedTokenizer.encode(text)) }
        }
    }

    @Test func loadsExplicitFiles() throws {
        let tokenizer = try GPT2Tokenizer(vocabularyFile: encoderJSON, mergesFile: vocabBPE)
        #expect(tokenizer.vocabularySize == 50257)
        #expect(tokenizer.encode("Hello world") == [15496, 995])
    }

    @Test func mergesWithWindowsLineEndingsLoad() throws {
        try withTemporaryDirectory { directory in
            let merges = try String(contentsOf: vocabBPE, encoding: .utf8).replacingOccurrences(of: "\n", with: "\r\n")
            let tokenizer = try load(in: directory, merges: merges)
            #expect(tokenizer.encode("Hello world") == [15496, 995])
        }
    }

    @Test func directoryWithoutTokenizerFiles() throws {
        try withTemporaryDirectory { directory in
            let error = #expect(throws: TokenizerLoadError.self) { try GPT2Tokenizer(directory: directory) }
            #expect(error == .filesNotFound(directory: directory.path))
            #expect(error?.description.contains("encoder.json and vocab.bpe") == true)
        }
    }

    @Test func directoryWithOnlyOneFileOfAPair() throws {
        try withTemporaryDirectory { directory in
            try FileManager.default.copyItem(at: encoderJSON, to: directory.appendingPathComponent("encoder.json"))
            #expect(throws: TokenizerLoadError.missingFile(path: directory.appendingPathComponent("vocab.bpe").path)) {
                try GPT2Tokenizer(directory: directory)
            }
        }
    }

    @Test func missingExplicitFile() {
        let missing = URL(fileURLWithPath: "/nonexistent/encoder.json")
        let error = #expect(throws: TokenizerLoadError.self) { try GPT2Tokenizer(vocabularyFile: missing, mergesFile: vocabBPE) }
        #expect(error == .missingFile(path: missing.path))
        #expect(error?.description == "GPT-2 tokenizer file /nonexistent/encoder.json does not exist")
    }

    @Test(arguments: [
        ("{\"a\": 0,", "expected a token string"),
        ("[1, 2]", "the file must be one JSON object"),
        ("{\"a\": 0.5}", "token ids must be integers"),
        ("{\"a\" 0}", "expected ':' after a token"),
        ("{\"a b\": 0}", "U+20, which is not in GPT-2's byte-level alphabet"),
        ("{\"a\": 0, \"b\": 0}", "id 0 is given to two tokens"),
        ("{\"a\": 5}", "outside 0..<1"),
        ("{\"a\": 0} x", "unexpected text after the JSON object"),
    ])
    func invalidVocabularyNamesTheFileAndTheFault(_ json: String, _ fault: String) throws {
        try withTemporaryDirectory { directory in
            let error = #expect(throws: TokenizerLoadError.self) { try load(in: directory, vocabulary: json) }
            guard case .invalidVocabulary(let path, let reason) = error else {
                Issue.record("expected invalidVocabulary, got \(String(describing: error))")
                return
            }
            #expect(path == directory.appendingPathComponent("encoder.json").path)
            #expect(reason.contains(fault), "\(reason)")
        }
    }

    @Test func malformedMergeLineIsReportedWithItsNumber() throws {
        try withTemporaryDirectory { directory in
            var lines = try String(contentsOf: vocabBPE, encoding: .utf8).components(separatedBy: "\n")
            lines[9] = "Ġ t x"  // line 10 of the file
            let error = #expect(throws: TokenizerLoadError.self) { try load(in: directory, merges: lines.joined(separator: "\n")) }
            guard case .malformedMerge(let path, let line, _) = error else {
                Issue.record("expected malformedMerge, got \(String(describing: error))")
                return
            }
            #expect(path == directory.appendingPathComponent("vocab.bpe").path)
            #expect(line == 10)
            #expect(error?.description.contains("line 10: expected two tokens separated by one space") == true)
        }
    }

    @Test func mergesThatDisagreeWithTheVocabularyAreRejected() throws {
        try withTemporaryDirectory { directory in
            var lines = try String(contentsOf: vocabBPE, encoding: .utf8).components(separatedBy: "\n")
            lines.swapAt(100, 101)
            let error = #expect(throws: TokenizerLoadError.self) { try load(in: directory, merges: lines.joined(separator: "\n")) }
            guard case .inconsistentFiles(_, _, let reason) = error else {
                Issue.record("expected inconsistentFiles, got \(String(describing: error))")
                return
            }
            #expect(reason.hasPrefix("line 101 of the merges makes"), "\(reason)")

            lines = try String(contentsOf: vocabBPE, encoding: .utf8).components(separatedBy: "\n")
            lines.removeLast(1000)
            #expect(throws: TokenizerLoadError.self) { try load(in: directory, merges: lines.joined(separator: "\n")) }
        }
    }

    /// Writes the given files (the shipped ones where not given) to `directory` and loads.
    private func load(in directory: URL, vocabulary: String? = nil, merges: String? = nil) throws -> GPT2Tokenizer {
        let vocabularyFile = directory.appendingPathComponent("encoder.json")
        let mergesFile = directory.appendingPathComponent("vocab.bpe")
        for file in [vocabularyFile, mergesFile] where FileManager.default.fileExists(atPath: file.path) {
            try FileManager.default.removeItem(at: file)
        }
        if let vocabulary {
            try vocabulary.write(to: vocabularyFile, atomically: true, encoding: .utf8)
        } else {
            try FileManager.default.copyItem(at: encoderJSON, to: vocabularyFile)
        }
        if let merges {
            try merges.write(to: mergesFile, atomically: true, encoding: .utf8)
        } else {
            try FileManager.default.copyItem(at: vocabBPE, to: mergesFile)
        }
        return try GPT2Tokenizer(directory: directory)
    }
}

func withTemporaryDirectory(_ body: (URL) throws -> Void) throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spamtune-tokenizer-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    try body(directory)
}

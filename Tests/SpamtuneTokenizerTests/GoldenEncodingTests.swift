import SpamtuneTestSupport
import Testing

@testable import SpamtuneTokenizer

/// The tokenizer must give exactly the reference's ids (tiktoken's GPT-2 encoding):
/// the model was trained on them.
@Suite struct GoldenEncodingTests {
    @Test func sampledSMSEncodeToTheReferenceIDs() throws {
        let lines = try GoldenLine.load(fixture: "sms_tokens_subset.jsonl")
        #expect(lines.count == 347)
        expectReferenceIDs(lines)
    }

    /// Optional: the fixture holds a sample; ../shared has the reference's ids of them all.
    @Test(.enabled(if: GoldenLine.allSMSPresent, "../shared/golden/sms_tokens.jsonl is absent; the sampled SMS are checked from Tests/Fixtures"))
    func everySMSEncodesToTheReferenceIDs() throws {
        let lines = try GoldenLine.loadAllSMS()
        #expect(lines.count == 5574)
        #expect(lines.map(\.text) == smsTexts)
        expectReferenceIDs(lines)
    }

    private func expectReferenceIDs(_ lines: [GoldenLine]) {
        var mismatches = 0
        for (number, line) in lines.enumerated() {
            let ids = sharedTokenizer.encode(line.text)
            if ids != line.ids {
                mismatches += 1
                if mismatches <= 5 { Issue.record("line \(number + 1) \(line.text.debugDescription): got \(ids), reference \(line.ids)") }
            }
        }
        #expect(mismatches == 0)
    }

    @Test(arguments: try GoldenLine.load(fixture: "tricky_public.jsonl"))
    func trickyCaseEncodesToTheReferenceIDs(_ line: GoldenLine) {
        #expect(sharedTokenizer.encode(line.text) == line.ids)
    }

    /// Cases the shared files do not cover: invalid UTF-8, long pieces (the heap merge),
    /// rarer Unicode classes, scalars newer than the reference's Unicode.
    @Test(arguments: try ReferenceCase.load())
    func referenceCaseEncodesToTheReferenceIDs(_ reference: ReferenceCase) {
        #expect(sharedTokenizer.encode(bytes: reference.bytes) == reference.ids)
    }

    @Test func endOfTextInAMessageIsPlainText() {
        let ids = sharedTokenizer.encode("hi <|endoftext|><|endoftext|> there")
        #expect(!ids.contains(GPT2Tokenizer.endOfTextID))
        #expect(sharedTokenizer.decode(ids) == "hi <|endoftext|><|endoftext|> there")
        #expect(sharedTokenizer.decode([GPT2Tokenizer.endOfTextID]) == "<|endoftext|>")
        #expect(sharedTokenizer.vocabularySize == 50257)
    }

    @Test func contractionsAreCaseSensitive() {
        // "'s" is one piece; "'S" is not a contraction, so the apostrophe stands alone.
        #expect(sharedTokenizer.encode("it's") == [270, 338])
        #expect(sharedTokenizer.encode("IT'S") == [2043, 6, 50])
    }
}

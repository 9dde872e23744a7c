import Testing

@testable import SpamtuneTokenizer

@Suite struct PrefixAndRoundTripTests {
    /// The classifier keeps the first N tokens of a mail: the limit must cut the full
    /// encoding, not encode a cut text.
    @Test func tokenLimitGivesThePrefixOfTheFullEncodingForEverySMS() {
        var mismatches = 0
        for text in smsTexts {
            let full = sharedTokenizer.encode(text)
            for limit in Set([0, 1, 2, 7, full.count / 2, full.count - 1, full.count, full.count + 5]) where limit >= 0 {
                if sharedTokenizer.encode(text, maxTokens: limit) != Array(full.prefix(limit)) { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
        #expect(sharedTokenizer.encode("anything", maxTokens: -3) == [])
        #expect(sharedTokenizer.encode(bytes: Array("Hello world".utf8), maxTokens: 1) == [15496])
    }

    @Test func decodeRestoresEverySMS() {
        for text in smsTexts {
            let ids = sharedTokenizer.encode(text)
            #expect(sharedTokenizer.decode(ids) == text)
            #expect(sharedTokenizer.decodeBytes(ids) == Array(text.utf8))
        }
    }

    @Test func decodingPartOfACharacterIsLossy() {
        let ids = sharedTokenizer.encode("😀")
        #expect(ids == [47249, 222])
        #expect(sharedTokenizer.decodeBytes([47249]) == [0xF0, 0x9F, 0x98])
        #expect(sharedTokenizer.decode([47249]) == "\u{FFFD}")
        #expect(sharedTokenizer.decode(ids) == "😀")
    }

    @Test func idsOutsideTheVocabularyDecodeAsReplacementCharacters() {
        #expect(sharedTokenizer.decode([15496, -1, 50257, 995]) == "Hello\u{FFFD}\u{FFFD} world")
    }

    @Test func emptyTextHasNoTokens() {
        #expect(sharedTokenizer.encode("") == [])
        #expect(sharedTokenizer.encode(bytes: [UInt8]()) == [])
        #expect(sharedTokenizer.decode([]) == "")
    }
}

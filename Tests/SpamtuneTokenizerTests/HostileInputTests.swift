import Foundation
import SpamtuneTestSupport
import Testing

@testable import SpamtuneTokenizer

/// A daemon reads whatever a sender writes: invalid UTF-8, megabytes without a space,
/// millions of distinct words. Encoding must neither crash nor take quadratic time nor
/// grow without bound.
@Suite struct HostileInputTests {
    @Test func arbitraryBytesEncodeAsTheirLossyDecoding() {
        var generator = SplitMix64(seed: 7)
        for round in 0..<2000 {
            // Mostly high bytes, so that invalid, truncated and overlong sequences abound.
            let length = Int(generator.next() % 40)
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next() | (round % 3 == 0 ? 0 : 0x80)) }
            let lossy = String(decoding: bytes, as: UTF8.self)
            let ids = sharedTokenizer.encode(bytes: bytes)
            #expect(ids == sharedTokenizer.encode(lossy))
            #expect(sharedTokenizer.decode(ids) == lossy)
        }
    }

    enum LongInput: CaseIterable, CustomTestStringConvertible {
        case fiveMegabytesOfOneLetter, fiveMegabytesOfRandomLetters, millionSpaces, millionSpacesBetweenWords

        var testDescription: String { "\(self)" }

        var text: String {
            switch self {
            case .fiveMegabytesOfOneLetter: String(repeating: "x", count: 5_000_000)
            case .fiveMegabytesOfRandomLetters: randomLetters(count: 5_000_000)
            case .millionSpaces: String(repeating: " ", count: 1_000_000)
            case .millionSpacesBetweenWords: "a" + String(repeating: " ", count: 1_000_000) + "b"
            }
        }
    }

    @Test(arguments: LongInput.allCases)
    func longPieceEncodesInBoundedTime(_ input: LongInput) {
        let text = input.text
        let clock = ContinuousClock()
        let start = clock.now
        let ids = sharedTokenizer.encode(text)
        let elapsed = clock.now - start
        #expect(ids.count <= text.utf8.count)
        #expect(sharedTokenizer.decode(ids) == text)
        // Quadratic merging (tiktoken's) would take hours here; ours is O(n log n).
        #expect(elapsed < .seconds(60), "took \(elapsed)")
    }

    /// GPT-2 has no token for two spaces: a run of spaces is one token per space, the last
    /// one joining the word after it.
    @Test func spacesAreOneTokenEach() {
        #expect(sharedTokenizer.encode(String(repeating: " ", count: 1000)) == Array(repeating: 220, count: 1000))
        #expect(sharedTokenizer.encode("a" + String(repeating: " ", count: 1000) + "b") == [64] + Array(repeating: 220, count: 999) + [275])
    }

    @Test func tokenLimitStopsEarlyOnHugeText() {
        let text = String(repeating: "Win a prize now ", count: 3_000_000)  // 48 MB
        let clock = ContinuousClock()
        let start = clock.now
        let ids = sharedTokenizer.encode(text, maxTokens: 1024)
        let elapsed = clock.now - start
        #expect(ids == Array(sharedTokenizer.encode(String(text.prefix(10_000))).prefix(1024)))
        #expect(elapsed < .seconds(1), "encoding 1024 tokens of a 48 MB text took \(elapsed)")
    }

    @Test func wordCacheStaysBoundedAndNeverChangesResults() throws {
        let cached = try GPT2Tokenizer(directory: ProjectPaths.tokenizerDirectory, wordCacheCapacity: 64)
        let uncached = try GPT2Tokenizer(directory: ProjectPaths.tokenizerDirectory, wordCacheCapacity: 0)
        #expect(cached.wordCacheCapacity == 64)
        #expect(uncached.wordCacheCapacity == 0)
        var generator = SplitMix64(seed: 11)
        var text = ""
        for _ in 0..<20_000 {
            text += " " + randomLetters(count: 3 + Int(generator.next() % 9), generator: &generator)
        }
        let ids = cached.encode(text)
        #expect(cached.cachedWordCount > 0)
        #expect(cached.cachedWordCount <= 64)
        #expect(uncached.cachedWordCount == 0)
        #expect(ids == uncached.encode(text))
        #expect(cached.encode(text) == ids)  // now partly from the cache
    }

    @Test func concurrentEncodingSharesTheCacheSafely() async throws {
        // Every SMS, against the ids the tokenizer gives without a cache (checked against
        // the reference by GoldenEncodingTests).
        let uncached = try GPT2Tokenizer(directory: ProjectPaths.tokenizerDirectory, wordCacheCapacity: 0)
        let golden = smsTexts.map { GoldenLine(text: $0, ids: uncached.encode($0)) }
        let tokenizer = try GPT2Tokenizer(directory: ProjectPaths.tokenizerDirectory, wordCacheCapacity: 512)
        let mismatches = await withTaskGroup(of: Int.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var mismatches = 0
                    for (index, line) in golden.enumerated() where index % 4 != worker && tokenizer.encode(line.text) != line.ids {
                        mismatches += 1
                    }
                    return mismatches
                }
            }
            return await group.reduce(0, +)
        }
        #expect(mismatches == 0)
    }
}

/// A small deterministic generator, so that a failure can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomLetters(count: Int, generator: inout SplitMix64) -> String {
    let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
    return String(decoding: (0..<count).map { _ in letters[Int(generator.next() % UInt64(letters.count))] }, as: UTF8.self)
}

func randomLetters(count: Int) -> String {
    var generator = SplitMix64(seed: UInt64(count))
    return randomLetters(count: count, generator: &generator)
}

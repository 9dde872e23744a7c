import Foundation
import SpamtuneSupport
import SpamtuneTestSupport
import Testing

@Suite struct BZip2Tests {
    private func reason(_ body: () throws -> Void) -> BZip2Error.Reason? {
        do {
            try body()
            return nil
        } catch let error as BZip2Error {
            return error.reason
        } catch {
            return nil
        }
    }

    /// Text of our own, several megabytes when `lines` is large: more than one output chunk.
    private func text(lines: Int, seed: UInt64 = 1) -> [UInt8] {
        var random = SeededGenerator(seed: seed)
        let words = ["spam", "ham", "mail", "filter", "offer", "meeting", "tomorrow", "free", "prize", "the", "a", "of"]
        var out = [UInt8]()
        for line in 0..<lines {
            out += Array("\(line): ".utf8)
            for _ in 0..<8 { out += Array((words[Int(random.next() % UInt64(words.count))] + " ").utf8) }
            out.append(10)
        }
        return out
    }

    @Test func decompressesWhatTheBzip2ProgramWrote() throws {
        for original in [text(lines: 3), text(lines: 60_000), []] {
            let compressed = try TestArchives.bzip2(original)
            #expect(try BZip2.decompress(compressed, limit: 64 << 20) == original)
        }
    }

    @Test func concatenatedStreamsDecompressToTheConcatenation() throws {
        let first = text(lines: 100, seed: 1), second = text(lines: 50_000, seed: 2)
        let joined = try TestArchives.bzip2(first) + TestArchives.bzip2(second, level: 1)
        #expect(try BZip2.decompress(joined, limit: 64 << 20) == first + second)
    }

    @Test func outputBeyondTheLimitIsRefusedAsItGrows() throws {
        let original = [UInt8](repeating: UInt8(ascii: "x"), count: 8 << 20)
        let compressed = try TestArchives.bzip2(original)
        #expect(compressed.count < 1000)
        #expect(reason { _ = try BZip2.decompress(compressed, limit: 1 << 20) } == .outputLimitExceeded(limit: 1 << 20))
        #expect(try BZip2.decompress(compressed, limit: 8 << 20).count == 8 << 20)
    }

    @Test func damagedDataIsRefusedClearly() throws {
        let original = text(lines: 2000)
        let compressed = try TestArchives.bzip2(original)

        var flipped = compressed
        flipped[compressed.count / 2] ^= 0x55
        #expect(reason { _ = try BZip2.decompress(flipped, limit: 64 << 20) } == .corrupt)

        let cut = Array(compressed.prefix(compressed.count - 40))
        #expect(reason { _ = try BZip2.decompress(cut, limit: 64 << 20) } == .truncated)

        #expect(reason { _ = try BZip2.decompress(Array("plain text, not bzip2".utf8), limit: 1024) } == .notBZip2)
        #expect(reason { _ = try BZip2.decompress([], limit: 1024) } == .notBZip2)
        #expect(reason { _ = try BZip2.decompress(compressed + Array("junk".utf8), limit: 64 << 20) }
            == .trailingData(offset: compressed.count))

        do {
            _ = try BZip2.decompress(flipped, limit: 64 << 20, source: "/cache/x.tar.bz2")
            Issue.record("damaged data was accepted")
        } catch {
            #expect(error.description == "/cache/x.tar.bz2 is corrupt: its bzip2 data fails libbz2's integrity checks")
        }
    }
}

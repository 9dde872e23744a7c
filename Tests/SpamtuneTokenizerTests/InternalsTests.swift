import Testing

@testable import SpamtuneTokenizer

/// The pieces inside: Unicode classes, pre-tokenizer, and the two merge algorithms.
@Suite struct InternalsTests {
    /// The class table comes from the reference's regex engine (Unicode 16). Checked here
    /// against the toolchain's own Unicode data for every scalar both know.
    @Test func scalarClassesAreUnicode16GeneralCategoriesAndWhiteSpace() {
        let table = ScalarClassTable.reference
        var disagreements = [String]()
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            let properties = scalar.properties
            guard let age = properties.age, age.major <= 16 else {
                #expect(table.classOf(value) == .other, "U+\(String(value, radix: 16)) is newer than Unicode 16")
                continue
            }
            let expected: ScalarClass
            switch properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: expected = .letter
            case .decimalNumber, .letterNumber, .otherNumber: expected = .number
            default: expected = properties.isWhitespace ? .whitespace : .other
            }
            if table.classOf(value) != expected && disagreements.count < 10 { disagreements.append(String(value, radix: 16)) }
        }
        #expect(disagreements.isEmpty)
    }

    @Test(arguments: [
        ("a  b", ["a", " ", " b"]),
        ("x  \n\na", ["x", "  \n", "\n", "a"]),
        ("I'M don't we'll 's", ["I", "'", "M", " don", "'t", " we", "'ll", " '", "s"]),
        ("''s !'s", ["''", "s", " !'", "s"]),
        ("a\u{A0}b\u{3000} c", ["a", "\u{A0}", "b", "\u{3000}", " c"]),
        ("12ab3 ½", ["12", "ab", "3", " ½"]),
        ("\t\t  ", ["\t\t  "]),
        ("e\u{301}", ["e", "\u{301}"]),
    ])
    func preTokenizerSplitsLikeTheGPT2Pattern(_ text: String, _ pieces: [String]) {
        #expect(split(text) == pieces)
    }

    @Test func piecesCoverTheTextExactly() {
        var generator = SplitMix64(seed: 3)
        let alphabet: [Unicode.Scalar] = ["a", "Z", "7", " ", " ", "\n", "\t", "'", "s", "!", "\u{A0}", "é", "ß", "日", "😀", "\u{301}", "٣", "\u{2028}", "\u{200B}"]
        for _ in 0..<2000 {
            var text = String.UnicodeScalarView()
            for _ in 0..<Int(generator.next() % 30) { text.append(alphabet[Int(generator.next() % UInt64(alphabet.count))]) }
            let pieces = split(String(text))
            #expect(pieces.joined() == String(text))
            #expect(!pieces.contains(""))
        }
    }

    /// Long pieces go through the heap, short ones through tiktoken's rescanning loop: on
    /// any piece both must merge the same way.
    @Test func heapMergeEqualsRescanningMerge() {
        let tables = sharedTokenizer.tables
        var generator = SplitMix64(seed: 5)
        let alphabets = [Array("aaaaabbc".utf8), Array("the quick brown fox".utf8), Array("0123456789".utf8), Array("-=_ *".utf8), (0...255).map { UInt8($0) }]
        let tokens = UnsafeMutablePointer<UInt32>.allocate(capacity: 256)
        let ranks = UnsafeMutablePointer<UInt32>.allocate(capacity: 256)
        defer {
            tokens.deallocate()
            ranks.deallocate()
        }
        for round in 0..<3000 {
            let alphabet = alphabets[round % alphabets.count]
            let piece = (0..<(1 + Int(generator.next() % 200))).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            piece.withUnsafeBufferPointer { bytes in
                var heapMerged = [Int]()
                tables.mergeLongPiece(bytes.baseAddress!, count: bytes.count, into: &heapMerged)
                let count = tables.mergeShortPiece(bytes.baseAddress!, count: bytes.count, tokens: tokens, ranks: ranks)
                #expect(heapMerged == (0..<count).map { Int(tokens[$0]) })
            }
        }
    }

    private func split(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { buffer in
            var splitter = PreTokenizer(text: buffer)
            var pieces = [String]()
            while let range = splitter.next() { pieces.append(String(decoding: buffer[range], as: UTF8.self)) }
            return pieces
        }
    }
}

import Foundation
import SpamtuneSupport
import SpamtuneTestSupport
@testable import SpamtuneTrain
import Testing

@Suite struct SMSCollectionTests {
    private func shippedCollection() throws -> [UInt8] {
        [UInt8](try Data(contentsOf: ProjectPaths.smsCollection))
    }

    private func reason(_ body: () throws -> Void) -> (line: Int?, reason: DatasetError.Reason)? {
        do {
            try body()
            return nil
        } catch let error as DatasetError {
            return (error.line, error.reason)
        } catch {
            return nil
        }
    }

    @Test func theSharedFileParsesExactly() throws {
        let examples = try SMSSpamCollection.load(try shippedCollection(), source: "SMSSpamCollection")
        #expect(examples.count == 5574)
        #expect(examples.count { $0.label == .ham } == 4827)
        #expect(examples.count { $0.label == .spam } == 747)
        #expect(examples[0] == LabelledText(label: .ham, text: "Go until jurong point, crazy.. Available only in bugis n great world la e buffet... Cine there got amore wat..."))
        #expect(examples.last == LabelledText(label: .ham, text: "Rofl. Its true to its name"))
        // Quotes are text: the book's CSV reader merges lines at these.
        #expect(examples.count { $0.text.contains("\"") } == 145)
        // Trailing spaces are part of a message.
        #expect(examples.contains { $0.text.hasSuffix("Not doing too badly cheers. You? ") })
    }

    @Test func textIsTakenByteForByte() throws {
        let bytes = try shippedCollection()
        let examples = try SMSSpamCollection.parse(bytes, source: "SMSSpamCollection")
        var rebuilt = [UInt8]()
        for example in examples {
            rebuilt += Array(example.label.name.utf8) + [9] + Array(example.text.utf8) + [10]
        }
        #expect(rebuilt == bytes)
    }

    @Test func aFinalLineWithoutNewlineAndCarriageReturnsAreKept() throws {
        let examples = try SMSSpamCollection.parse(Array("ham\tfirst\r\nspam\tsecond\twith tab".utf8), source: "x")
        #expect(examples == [LabelledText(label: .ham, text: "first\r"), LabelledText(label: .spam, text: "second\twith tab")])
        #expect(try SMSSpamCollection.parse([], source: "x") == [])
    }

    @Test func malformedLinesAreReportedWithTheirNumber() {
        #expect(reason { _ = try SMSSpamCollection.parse(Array("ham\tok\nno tab here\n".utf8), source: "x") }! == (2, .missingTab))
        #expect(reason { _ = try SMSSpamCollection.parse(Array("ham\tok\nspam\tok\nHam\tcaps\n".utf8), source: "x") }! == (3, .unknownLabel("Ham")))
        #expect(reason { _ = try SMSSpamCollection.parse(Array("ham\tok\n\nham\tok\n".utf8), source: "x") }! == (2, .emptyLine))
        #expect(reason { _ = try SMSSpamCollection.parse([0x68, 0x61, 0x6D, 9, 0xFF, 10], source: "x") }! == (1, .notUTF8))
        do {
            _ = try SMSSpamCollection.parse(Array("ham\tok\nno tab here\n".utf8), source: "/data/SMSSpamCollection")
        } catch {
            #expect("\(error)" == "/data/SMSSpamCollection, line 2: malformed line: expected a label, a tab and the message text")
        }
    }

    @Test func aDifferentFileFailsTheHashCheck() throws {
        var bytes = try shippedCollection()
        bytes[100] ^= 1
        guard case .hashMismatch(let expected, _)? = reason({ _ = try SMSSpamCollection.load(bytes, source: "x") })?.reason else {
            Issue.record("a changed file passed")
            return
        }
        #expect(expected == SMSSpamCollection.sha256)
    }

    @Test func theShippedCopyIsFoundAndIsThePublishedFile() throws {
        let located = try #require(ShippedCollection.locate())
        let bytes = [UInt8](try Data(contentsOf: located))
        #expect(SHA256.hexDigest(bytes) == SMSSpamCollection.sha256)
        let directory = located.deletingLastPathComponent()
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("LICENSE").path))
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("README.md").path))
    }

    @Test func anInstalledLayoutIsSearchedBesideTheExecutable() throws {
        let prefix = try TemporaryDirectory()
        defer { prefix.remove() }
        let share = prefix.path("share/spamtune/sms-spam-collection")
        try FileManager.default.createDirectory(at: share, withIntermediateDirectories: true)
        try Data("ham\thi\n".utf8).write(to: share.appendingPathComponent("SMSSpamCollection"))
        let path = ShippedCollection.searchPath(executable: prefix.path("bin/spamtune-train"))
        #expect(path[1].path == share.path)
        #expect(ShippedCollection.locate(searchPath: path)?.path == share.appendingPathComponent("SMSSpamCollection").path)
    }
}

@Suite struct DatasetPreparationTests {
    @Test func mersenneTwisterMatchesTheReferenceSequence() {
        var generator = NumPyRandomState(seed: 5489)
        #expect(generator.nextUInt32() == 3_499_211_612)
        for _ in 0..<9998 { _ = generator.nextUInt32() }
        #expect(generator.nextUInt32() == 4_123_659_995)  // the 10,000th, as C++ std::mt19937 requires
    }

    @Test func permutationsMatchNumPy() {
        // numpy.random.RandomState(123).permutation(n)[:10]
        var small = NumPyRandomState(seed: 123)
        #expect(Array(small.permutation(1494).prefix(10)) == [263, 627, 887, 925, 1050, 587, 182, 1411, 103, 392])
        var large = NumPyRandomState(seed: 123)
        #expect(Array(large.permutation(4827).prefix(10)) == [2864, 3581, 4711, 3859, 4715, 3848, 2247, 1912, 3394, 879])
    }

    @Test func theBooksBalanceAndSplitOnTheExactlyParsedCollection() throws {
        let bytes = [UInt8](try Data(contentsOf: ProjectPaths.smsCollection))
        let examples = try SMSSpamCollection.load(bytes, source: "SMSSpamCollection")
        let balanced = try DatasetPreparation.balance(examples)
        #expect(balanced.count == 1494)
        #expect(balanced.prefix(747).allSatisfy { $0.label == .ham } && balanced.suffix(747).allSatisfy { $0.label == .spam })
        // pandas: df[df.Label == "ham"].sample(747, random_state=123).index[:10]
        let hamRows = examples.indices.filter { examples[$0].label == .ham }
        var random = NumPyRandomState(seed: 123)
        let drawn = random.sample(747, from: hamRows.count).prefix(10).map { hamRows[$0] }
        #expect(drawn == [3308, 4139, 5438, 4462, 5442, 4449, 2603, 2219, 3916, 1035])
        #expect(Array(balanced.prefix(10)) == drawn.map { examples[$0] })

        let split = DatasetPreparation.split(balanced)
        #expect((split.train.count, split.validation.count, split.test.count) == (1045, 149, 300))
        // The bytes pandas' to_csv(index=None) writes for the book's procedure on these rows.
        #expect(SHA256.hexDigest(LabelledCSV.encode(split.train)) == "60084ae839ea08fc2e8de9e5a999c10e48fcb31d1efc2477d6f93782746a492b")
        #expect(SHA256.hexDigest(LabelledCSV.encode(split.validation)) == "df5424e6a3689523d60603af96993e7d95144e267a253ad755de826d73050b8d")
        #expect(SHA256.hexDigest(LabelledCSV.encode(split.test)) == "4da1b791775534bc64e671a9f9ceac0104642ff1e1f1bd95589692a5943aa883")
    }

    @Test func balancingKeepsTheRarerClassWhole() throws {
        let spamHeavy = (0..<10).map { LabelledText(label: .spam, text: "s\($0)") } + (0..<3).map { LabelledText(label: .ham, text: "h\($0)") }
        let balanced = try DatasetPreparation.balance(spamHeavy, seed: 7)
        #expect(balanced.count == 6)
        #expect(Array(balanced.prefix(3)) == Array(spamHeavy.suffix(3)))
        #expect(Set(balanced.suffix(3)).isSubset(of: Set(spamHeavy.prefix(10))))
        #expect(throws: DatasetError.self) { try DatasetPreparation.balance(Array(spamHeavy.prefix(10))) }
    }

    @Test func splitFractionsAreTruncatedAsInPython() {
        let examples = (0..<10).map { LabelledText(label: .ham, text: "\($0)") }
        let split = DatasetPreparation.split(examples)
        #expect((split.train.count, split.validation.count, split.test.count) == (7, 1, 2))
        #expect(Set(split.train + split.validation + split.test) == Set(examples))
        #expect(DatasetPreparation.split([]).train.isEmpty)
    }
}

@Suite struct LabelledCSVTests {
    private let tricky = [
        LabelledText(label: .spam, text: "Call now, win £1000!"),
        LabelledText(label: .ham, text: "He said \"hi\" and left"),
        LabelledText(label: .ham, text: "two\nlines"),
        LabelledText(label: .spam, text: "crlf\r\ninside"),
        LabelledText(label: .ham, text: ""),
        LabelledText(label: .ham, text: "  spaced  "),
        LabelledText(label: .spam, text: "\"quoted at the start\""),
        LabelledText(label: .ham, text: "emoji 😀 and Ü"),
    ]

    @Test func writesRFC4180AndReadsItBack() throws {
        let bytes = LabelledCSV.encode(tricky)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("Label,Text\n1,\"Call now, win £1000!\"\n0,\"He said \"\"hi\"\" and left\"\n0,\"two\nlines\"\n"))
        #expect(text.contains("\n0,\n0,  spaced  \n"))
        #expect(try LabelledCSV.decode(bytes, source: "x.csv") == tricky)
    }

    @Test func crlfRowsAreRead() throws {
        let bytes = Array("Label,Text\r\n1,win\r\n0,\"a, b\"\r\n".utf8)
        #expect(try LabelledCSV.decode(bytes, source: "x.csv") == [LabelledText(label: .spam, text: "win"), LabelledText(label: .ham, text: "a, b")])
    }

    @Test func badFilesAreReportedWithTheLine() {
        func failure(_ text: String) -> String {
            do {
                _ = try LabelledCSV.decode(Array(text.utf8), source: "train.csv")
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(failure("Text,Label\n") == "train.csv, line 1: the header is 'Text,Label', expected 'Label,Text'")
        #expect(failure("Label,Text\n0,ok\n1,\"a\nb\"\n2,bad\n") == "train.csv, line 5: the label is '2', expected 0 (ham) or 1 (spam)")
        #expect(failure("Label,Text\n0,ok\n0,a,b\n") == "train.csv, line 3: the row has 3 fields, expected 2 (Label,Text)")
        #expect(failure("Label,Text\n0,say \"hi\"\n") == "train.csv, line 2: a quote inside an unquoted field (quote the field and double the quote)")
        #expect(failure("Label,Text\n0,\"never closed\n") == "train.csv, line 2: a quoted field is never closed")
        #expect(failure("") == "train.csv, line 1: the header is '', expected 'Label,Text'")
    }

    @Test func filesAreWrittenWholeOrNotAtAll() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let url = directory.path("train.csv")
        try LabelledCSV.write(tricky, to: url)
        #expect(try LabelledCSV.read(contentsOf: url) == tricky)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path) == ["train.csv"])
        #expect(throws: DatasetError.self) { try LabelledCSV.write(tricky, to: directory.path("missing/train.csv")) }
    }
}

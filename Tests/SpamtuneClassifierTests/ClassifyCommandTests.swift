import Foundation
import SpamtuneClassifier
import SpamtuneTestSupport
import SpamtuneWeights
import Testing

/// `spamtune classify` as a user runs it: the built executable, on the tiny oracle model
/// (Tests/Fixtures/model/tiny) with a random head, reading SMS texts whose reference
/// token ids and oracle logits are in classify.json.
@Suite struct ClassifyCommandTests {
    struct Fixture: Decodable {
        struct Case: Decodable {
            let text: String
            let ids: [Int]
            let logits: [Double]
        }
        let cases: [Case]
    }

    struct Output: Decodable, Equatable {
        let source: String
        let label: String
        let spam_probability: Double
        let logits: [Double]
        let tokens: Int
        let precision: String
    }

    let spamtune = ProjectPaths.builtProduct("spamtune")
    let model = ProjectPaths.fixture("model/tiny/model.safetensors").path
    let head = ProjectPaths.fixture("model/tiny/head.safetensors").path
    let tokenizer = ProjectPaths.tokenizerDirectory.path

    func fixture(_ name: String = "classify.json") throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: ProjectPaths.fixture("model/tiny/\(name)")))
    }

    var bareHeadArguments: [String] { ["classify", "--base-model", model, "--head", head, "--tokenizer", tokenizer, "--threads", "2"] }

    /// Classifies the cases' texts with the bare head and checks each line's token count
    /// and logits against the oracle's.
    func classifiedAsTheOracle(_ cases: [Fixture.Case]) throws -> [Output] {
        let result = try runProcess(spamtune, bareHeadArguments + cases.flatMap { ["--text", $0.text] })
        #expect(result.status == 0, "\(result.standardError)")
        let lines = try outputs(result)
        #expect(lines.count == cases.count)
        for (line, expected) in zip(lines, cases) {
            #expect(line.tokens == expected.ids.count, "\(expected.text.debugDescription)")
            for (got, want) in zip(line.logits, expected.logits) {
                #expect(abs(got - want) <= 1e-4 * max(1, abs(want)), "\(expected.text.debugDescription): \(line.logits) vs \(expected.logits)")
            }
        }
        return lines
    }

    func outputs(_ result: ProcessResult) throws -> [Output] {
        try result.standardOutput.split(separator: "\n").map { try JSONDecoder().decode(Output.self, from: Data($0.utf8)) }
    }

    @Test func textLogitsAgreeWithTheOracle() throws {
        let cases = try fixture().cases
        let lines = try classifiedAsTheOracle(cases)
        for (line, expected) in zip(lines, cases) {
            let probability = 1 / (1 + exp(expected.logits[0] - expected.logits[1]))
            #expect(abs(line.spam_probability - probability) < 1e-5)
            #expect(line.label == (probability >= 0.5 ? "spam" : "ham"))
        }
        #expect(lines.first?.source == "text:1")
        // A bare head has no record of its verdicts in other precisions: auto serves fp32.
        #expect(lines.allSatisfy { $0.precision == "fp32" })
    }

    /// --precision serves the blocks' multiplies in int8 or bf16 as asked: the logits
    /// move by no more than the model tests' bound for that precision.
    @Test func precisionIsAsAskedAndABadOneIsAUsageError() throws {
        let cases = try fixture().cases
        for (precision, tolerance) in [("bf16", 2e-2), ("int8", 4e-2)] {
            let result = try runProcess(spamtune, bareHeadArguments + ["--precision", precision] + cases.flatMap { ["--text", $0.text] })
            #expect(result.status == 0, "\(result.standardError)")
            let lines = try outputs(result)
            #expect(lines.count == cases.count && lines.allSatisfy { $0.precision == precision })
            for (line, expected) in zip(lines, cases) {
                let scale = max(1, expected.logits.map(abs).max()!)
                #expect(zip(line.logits, expected.logits).allSatisfy { abs($0 - $1) <= tolerance * scale }, "\(precision): \(line.logits) vs \(expected.logits)")
            }
        }
        let bad = try runProcess(spamtune, bareHeadArguments + ["--precision", "fp16", "--text", "hi"])
        #expect(bad.status == 2)
        #expect(bad.standardError.contains("--precision must be fp32, bf16, int8, auto, not 'fp16'"), "\(bad.standardError)")
        #expect(bad.standardOutput.isEmpty)
    }

    /// Without a checkpoint nothing says how the head was trained, so text is read raw,
    /// as the book's classifier reads it: runs of blanks, CR LF, NBSP and joined emoji
    /// reach the model as their own tokens, and a text of blanks is not empty.
    @Test func aBareHeadReadsTextRawAsTheBookDoes() throws {
        _ = try classifiedAsTheOracle(try fixture("classify-raw.json").cases)
        // A mail layout when asked for: blanks collapse, and a text of blanks is empty.
        let laidOut = try runProcess(spamtune, bareHeadArguments + ["--layout", "v2", "--text", "   "])
        #expect(laidOut.status == 0, "\(laidOut.standardError)")
        #expect(try outputs(laidOut).first?.tokens == 1)
        let unknown = try runProcess(spamtune, bareHeadArguments + ["--layout", "v9", "--text", "hi"])
        #expect(unknown.status == 2)
        #expect(unknown.standardError.contains("--layout must be raw, v1, v2, v3, not 'v9'"))
    }

    @Test func filesAndStandardInputAsText() throws {
        let cases = try fixture().cases
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spamtune-classify-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("sms.txt")
        try Data(cases[0].text.utf8).write(to: file)
        let result = try runProcess(
            spamtune, ["classify", "--base-model", model, "--head", head, "--tokenizer", tokenizer, "--format", "text", file.path, "-"],
            input: Data(cases[1].text.utf8))
        #expect(result.status == 0, "\(result.standardError)")
        let lines = try outputs(result)
        #expect(lines.map(\.source) == [file.path, "stdin"])
        #expect(abs(lines[0].logits[1] - cases[0].logits[1]) < 1e-4)
        #expect(abs(lines[1].logits[1] - cases[1].logits[1]) < 1e-4)
    }

    @Test func rawMailIsReadThroughTheMailParser() throws {
        let message = "From: Prize Team <win@lottery.example>\r\nSubject: =?UTF-8?B?WW91IHdvbiE=?=\r\nContent-Type: text/plain\r\n\r\nClaim your prize now.\r\n"
        let result = try runProcess(spamtune, ["classify", "--base-model", model, "--head", head, "--tokenizer", tokenizer, "-"], input: Data(message.utf8))
        #expect(result.status == 0, "\(result.standardError)")
        let line = try #require(try outputs(result).first)
        // The same as classifying the layout's text for this mail directly.
        let classifier = try SpamClassifier.load(
            baseModel: URL(fileURLWithPath: model), head: URL(fileURLWithPath: head), tokenizer: URL(fileURLWithPath: tokenizer), threads: 1)
        let expected = classifier.classify([classifier.input(forMail: Array(message.utf8))])[0]
        #expect(line.tokens == expected.tokens)
        #expect(abs(line.logits[0] - Double(expected.logits[0])) < 1e-5)
        let text = classifier.input.text(forMail: Array(message.utf8))
        #expect(text.contains("You won!"))
        #expect(text.contains("Claim your prize now."))
    }

    @Test func maxTokensCutsTheInput() throws {
        let text = try fixture().cases[1].text
        let result = try runProcess(
            spamtune, ["classify", "--base-model", model, "--head", head, "--tokenizer", tokenizer, "--max-tokens", "5", "--text", text])
        #expect(try outputs(result).first?.tokens == 5)
    }

    /// More tokens than the model's context: read up to the context, and said once.
    @Test func maxTokensBeyondTheContextIsCappedAndSaid() throws {
        let context = try GPT2Config.read(from: ProjectPaths.fixture("model/tiny/config.json").path).contextLength
        let long = String(repeating: "win a prize now ", count: 400)
        let result = try runProcess(
            spamtune, ["classify", "--base-model", model, "--head", head, "--tokenizer", tokenizer, "--max-tokens", "100000", "--text", long, "--text", long])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(try outputs(result).map(\.tokens) == [context, context])
        #expect(result.standardError == "spamtune classify: --max-tokens 100000 is more than the model reads: each message is cut at \(context) tokens\n")
    }

    /// A Maildir, a directory of message files and an mbox are each scored message by
    /// message, with the same logits as the messages given one file at a time.
    @Test func mailboxesAreScoredMessageByMessage() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("classify-boxes-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let messages = [
            "From: Bob <bob@example.com>\nSubject: Lunch\n\nAre you free for lunch on Thursday?\n",
            "From: Prize Desk <win@prize.example>\nSubject: WINNER\n\nClaim your prize now: call 09061701461\n",
        ]
        let files = directory.appendingPathComponent("files")
        let maildir = directory.appendingPathComponent("Maildir")
        for sub in ["files/sub", "Maildir/cur", "Maildir/new", "Maildir/tmp"] {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        try Data(messages[0].utf8).write(to: files.appendingPathComponent("5f3a9c"))
        try Data(messages[1].utf8).write(to: files.appendingPathComponent("sub/b.eml"))
        try Data("mv 00001.7c53 00001.bfc8\n".utf8).write(to: files.appendingPathComponent("cmds"))
        try Data(messages[0].utf8).write(to: maildir.appendingPathComponent("new/1700000000.1.host"))
        try Data(messages[1].utf8).write(to: maildir.appendingPathComponent("cur/1700000001.2.host:2,S"))
        let mbox = directory.appendingPathComponent("saved.mbox")
        try Data(messages.map { "From sender@example.com Thu Dec  3 10:00:00 2026\n" + $0 + "\n" }.joined().utf8).write(to: mbox)
        let single = directory.appendingPathComponent("one")
        try Data(messages[1].utf8).write(to: single)

        let result = try runProcess(spamtune, bareHeadArguments + [files.path, maildir.path, mbox.path, single.path])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError == "spamtune classify: skipped \(files.path)/cmds: it does not read as mail\n")
        let lines = try outputs(result)
        #expect(lines.map(\.source) == [
            files.path + "/5f3a9c", files.path + "/sub/b.eml",
            maildir.path + "/new/1700000000.1.host", maildir.path + "/cur/1700000001.2.host:2,S",
            mbox.path + " message 0 (byte 0)", mbox.path + " message 1 (byte 130)",
            single.path,
        ])
        #expect(lines[0].logits != lines[1].logits)
        let expected = [0, 1, 0, 1, 0, 1, 1].map { lines[$0].logits }
        #expect(lines.map(\.logits) == expected)

        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let none = try runProcess(spamtune, bareHeadArguments + [empty.path])
        #expect(none.status == 1)
        #expect(none.standardError == "spamtune classify: \(empty.path): no messages in it\n")
    }

    @Test func badInputsAreOneLineErrorsAndAFailingStatus() throws {
        let base = ["classify", "--base-model", model, "--head", head, "--tokenizer", tokenizer]
        let missing = try runProcess(spamtune, base + ["/nonexistent/message.eml"])
        #expect(missing.status == 1)
        #expect(missing.standardError.split(separator: "\n").count == 1)
        #expect(missing.standardError.contains("/nonexistent/message.eml: no such file"))

        let badModel = try runProcess(spamtune, ["classify", "--base-model", "/nonexistent/model.safetensors", "--head", head, "--text", "hi"])
        #expect(badModel.status == 1)
        #expect(badModel.standardError.contains("/nonexistent/model.safetensors"))
        #expect(badModel.standardError.split(separator: "\n").count == 1)

        let notAHead = try runProcess(spamtune, base.dropLast(4) + ["--head", model, "--tokenizer", tokenizer, "--text", "hi"])
        #expect(notAHead.status == 1)
        #expect(notAHead.standardError.contains("score.weight"))

        let unknown = try runProcess(spamtune, base + ["--thread", "2", "--text", "hi"])
        #expect(unknown.status == 2)
        #expect(unknown.standardError.contains("unknown option --thread"))

        let noInput = try runProcess(spamtune, base)
        #expect(noInput.status == 2)
        #expect(noInput.standardError.split(separator: "\n").count == 1)
    }
}

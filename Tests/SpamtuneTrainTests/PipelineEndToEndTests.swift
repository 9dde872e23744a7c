import Foundation
import SpamtuneClassifier
import SpamtuneKernels
import SpamtuneModel
import SpamtuneTestSupport
import SpamtuneTrain
import Testing

/// `spamtune-train` as an admin runs it, against a loopback HTTP server standing in for
/// UCI and Hugging Face (serving the SMS zip built from the shipped collection, the
/// tokenizer files under Hugging Face's names and the tiny random GPT-2), and with no
/// server at all. The first trains on the
/// SMS data alone (`--data sms`), so no run here reaches for the real mail corpus.
@Suite(.serialized) struct PipelineEndToEndTests {
    let trainer = ProjectPaths.builtProduct("spamtune-train")
    let spamtune = ProjectPaths.builtProduct("spamtune")

    func temporaryDirectory() throws -> URL {
        let url = URL(fileURLWithPath: "/tmp/spamtune-pipeline-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func server() throws -> LoopbackHTTPServer { try .servingTinyGPT2(at: "/hf") }

    func fileURLs(_ server: LoopbackHTTPServer) -> [String] {
        ["sms+spam+collection.zip": "/uci/sms+spam+collection.zip", "model.safetensors": "/hf/model.safetensors",
         "config.json": "/hf/config.json", "vocab.json": "/hf/vocab.json", "merges.txt": "/hf/merges.txt"]
            .sorted { $0.key < $1.key }
            .flatMap { ["--file-url", "\($0.key)=\(server.url($0.value).absoluteString)"] }
    }

    struct Report: Decodable {
        struct Data: Decodable {
            let trainExamples: Int
            let validationExamples: Int
            let testExamples: Int
            let origin: String
        }
        struct Split: Decodable {
            let truePositives: Int
            let falsePositives: Int
            let trueNegatives: Int
            let falseNegatives: Int
        }
        struct Base: Decodable {
            let name: String
            let source: String
        }
        struct Threshold: Decodable {
            let value: Double
            let targetFalsePositiveRate: Double?
        }
        struct Mistakes: Decodable {
            struct Mistake: Decodable { let message: String; let spamProbability: Double }
            let hamCalledSpam: [Mistake]
            let hamCalledSpamTotal: Int
            let spamMissed: [Mistake]
            let spamMissedTotal: Int
        }
        let data: Data
        let test: Split
        let threshold: Threshold
        let mistakes: Mistakes
        let base: Base
        let promoted: Bool
    }

    @Test func downloadsTrainsAndWritesACheckpointThatClassifyReproduces() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try server()
        defer { server.stop() }
        let result = try runProcess(
            trainer,
            ["--state-dir", directory.path, "--cache-dir", directory.appendingPathComponent("cache").path, "--base", "gpt2",
             "--source", "huggingface", "--epochs", "1", "--threads", "2", "--retries", "0", "--data", "sms"] + fileURLs(server))
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("promoted"))
        #expect(result.standardError.contains("base model: gpt2 from Hugging Face"))

        let current = directory.appendingPathComponent("models/current")
        for file in ["spamtune.json", "model.safetensors", "vocab.json", "merges.txt", "report.json", "report.md", "loss.svg", "accuracy.svg"] {
            #expect(FileManager.default.fileExists(atPath: current.appendingPathComponent(file).path), "\(file)")
        }
        let report = try JSONDecoder().decode(Report.self, from: Data(contentsOf: current.appendingPathComponent("report.json")))
        #expect(report.data.trainExamples == 1045)
        #expect(report.data.validationExamples == 149)
        #expect(report.data.testExamples == 300)
        #expect(report.data.origin.hasPrefix("downloaded from http://127.0.0.1"))
        #expect(report.base.source == "huggingface")
        #expect(report.promoted)
        let reportedCorrect = report.test.truePositives + report.test.trueNegatives
        // The threshold chosen on validation is the one the checkpoint serves, and the
        // report lists the test mistakes made at it.
        #expect(report.threshold.targetFalsePositiveRate == 0.005)
        #expect(try CheckpointManifest.read(from: current).threshold == report.threshold.value)
        #expect(result.standardError.contains("served threshold"))
        // The served model's held-out verdicts in each precision against FP32's, at that
        // threshold: what `auto` decides by.
        let agreement = try #require(try CheckpointManifest.read(from: current).precisionAgreement)
        #expect(agreement.threshold == report.threshold.value)
        for precision in [Precision.bf16, .int8] {
            let splits = try #require(agreement.results(precision))
            #expect(splits.map(\.split) == ["validation", "test"] && splits.map(\.examples) == [149, 300])
            #expect(splits.allSatisfy { $0.differingVerdicts <= $0.examples && (0..<0.5).contains($0.largestProbabilityDifference) })
            #expect(splits.allSatisfy { $0.verdictChangingRanges != nil })
            #expect(result.standardError.contains("precision check: \(precision.rawValue): "))
        }
        let autoChoice = PrecisionChoice.choose(
            .auto, agreement: agreement, spamThreshold: report.threshold.value, instructionSet: InstructionSet.preferred)
        #expect(report.mistakes.hamCalledSpamTotal == report.test.falsePositives)
        #expect(report.mistakes.spamMissedTotal == report.test.falseNegatives)
        #expect(report.mistakes.spamMissed.allSatisfy { $0.spamProbability < report.threshold.value && !$0.message.isEmpty })
        #expect(report.mistakes.hamCalledSpam.allSatisfy { $0.spamProbability >= report.threshold.value })
        let markdown = try String(contentsOf: current.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(markdown.contains("## Test mistakes at the served threshold"))
        #expect(markdown.contains("recall at FPR 0.1%"))
        #expect(report.test.truePositives + report.test.falsePositives + report.test.trueNegatives + report.test.falseNegatives == 300)
        // The validation figure after each epoch is over the whole split (149 examples), not a few batches.
        let fullReport = try JSONSerialization.jsonObject(with: Data(contentsOf: current.appendingPathComponent("report.json"))) as! [String: Any]
        let epochs = (fullReport["history"] as! [String: Any])["epochs"] as! [[String: Any]]
        let validationAccuracy = try #require(epochs.last?["validationAccuracy"] as? Double)
        #expect(abs(validationAccuracy * 149 - (validationAccuracy * 149).rounded()) < 1e-6, "\(validationAccuracy)")
        #expect(result.standardError.contains("validation accuracy") && result.standardError.contains("(the whole split)"))
        #expect(!(try String(contentsOf: current.appendingPathComponent("accuracy.svg"), encoding: .utf8)).contains("soup"))

        // spamtune classify --checkpoint on the test split gives the same accuracy.
        let test = try LabelledCSV.read(contentsOf: directory.appendingPathComponent("train/data/test.csv"))
        let inputs = directory.appendingPathComponent("inputs")
        try FileManager.default.createDirectory(at: inputs, withIntermediateDirectories: true)
        var paths: [String] = []
        for (index, example) in test.enumerated() {
            let file = inputs.appendingPathComponent(String(format: "%03d-%@.txt", index, example.label.name))
            try Data(example.text.utf8).write(to: file)
            paths.append(file.path)
        }
        let classified = try runProcess(spamtune, ["classify", "--checkpoint", current.path, "--format", "text"] + paths)
        #expect(classified.status == 0, "\(classified.standardError)")
        struct Line: Decodable { let source: String; let label: String; let precision: String }
        let lines = try classified.standardOutput.split(separator: "\n").map { try JSONDecoder().decode(Line.self, from: Data($0.utf8)) }
        #expect(lines.count == 300)
        #expect(lines.allSatisfy { $0.precision == autoChoice.precision.rawValue })
        let correct = lines.count { $0.source.hasSuffix("-\($0.label).txt") }
        #expect(correct == reportedCorrect)

        // A second run skips the finished data step and keeps the better model current.
        let again = try runProcess(
            trainer,
            ["--state-dir", directory.path, "--cache-dir", directory.appendingPathComponent("cache").path, "--base", "gpt2",
             "--source", "huggingface", "--epochs", "0", "--threads", "2", "--offline", "--data", "sms"] + fileURLs(server))
        #expect(again.status == 0, "\(again.standardError)")
        #expect(again.standardError.contains("is complete"))
        let status = try runProcess(trainer, ["status", "--state-dir", directory.path])
        #expect(status.standardOutput.split(separator: "\n").count >= 3)
    }

    @Test func withNoServerAtAllItTrainsScratchFromTheShippedData() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let closed = try LoopbackHTTPServer.closedPort()
        let result = try runProcess(
            trainer,
            ["--state-dir", directory.path, "--cache-dir", directory.appendingPathComponent("cache").path,
             "--mirror", "http://127.0.0.1:\(closed)", "--retries", "0", "--scratch-layers", "2", "--scratch-dim", "32",
             "--scratch-heads", "2", "--scratch-epochs", "1", "--scratch-pretrain-epochs", "1", "--scratch-soup", "2", "--threads", "2"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("using the copy shipped with spamtune"))
        // The mail corpus is not shipped: unreachable, the default run goes on without it.
        #expect(result.standardError.contains("SpamAssassin public corpus: skipped: offline and not in the cache"))
        // Next-token pretraining on the training text and the ham balancing set aside.
        #expect(result.standardError.contains("pretraining on the text of 5011 messages"))
        #expect(result.standardError.contains("pretraining epoch 1: next-token loss"))
        #expect(result.standardError.contains("weights averaged over 2 fine-tunes from the same start"))
        // The threshold is chosen on every training and validation example, each scored by
        // the fine-tune that left it out (1,045 + 149 balanced SMS, 598 of them ham).
        #expect(result.standardError.contains("soup: fine-tune 2 of 2 on 597 examples, scoring the 597 held out of it"))
        #expect(result.standardError.contains("of the 598 out-of-fold ham (training and validation, each scored by the fine-tune that left it out) called spam"))
        #expect(result.standardError.contains("threshold for other target false-positive rates, on the same held-out scores: 0.1% "))
        // A first run of the default base with nothing to fetch: scratch, saying exactly why.
        #expect(result.standardError.contains("NO PRETRAINED GPT-2 COULD BE HAD: cannot download GPT-2 124M from any source:"))
        #expect(result.standardError.contains("cannot download model.safetensors: cannot reach 127.0.0.1: the connection was refused"))
        #expect(result.standardError.contains("a first run of the default base, with nothing fetched"))
        // The served model learns from the held-out examples too, after they measured the recipe.
        #expect(result.standardError.contains("final fit: the same fine-tune on all 1494 examples (train, validation and test)"))
        let manifest = try CheckpointManifest.read(from: directory.appendingPathComponent("models/current"))
        #expect(manifest.base.isScratch)
        #expect(manifest.trainable.embeddings)
        // Reports that agree with themselves: the blocks trained, the learning rate as written,
        // no frozen layers where nothing is frozen, the soup said on the plot, the time's parts.
        #expect(!result.standardError.contains("frozen layers"))
        let current = directory.appendingPathComponent("models/current")
        let reportJSON = try JSONSerialization.jsonObject(with: Data(contentsOf: current.appendingPathComponent("report.json"))) as! [String: Any]
        #expect((reportJSON["hyperparameters"] as! [String: Any])["trainableBlocks"] as? Int == manifest.trainable.blocks)
        #expect((reportJSON["scope"] as! [String: Any])["blocks"] as? Int == 2)
        let manifestText = try String(contentsOf: current.appendingPathComponent("spamtune.json"), encoding: .utf8)
        #expect(manifestText.contains("\"learning_rate\" : 0.001,") || manifestText.contains("\"learning_rate\":0.001,"), "\(manifestText)")
        #expect(!manifestText.contains("0.0010000000"))
        #expect(try String(contentsOf: current.appendingPathComponent("accuracy.svg"), encoding: .utf8).contains("the first of the soup"))
        #expect(try String(contentsOf: current.appendingPathComponent("report.md"), encoding: .utf8).contains("| train + validation, each scored out of fold | 1194 |"))
        let shownStatus = try runProcess(trainer, ["status", "--state-dir", directory.path]).standardOutput
        #expect(shownStatus.contains(" s in all: data ") && shownStatus.contains(", pretraining ") && shownStatus.contains(", training "), "\(shownStatus)")
        // The scratch model's input: layout v3, 128 tokens, and token evidence over 4096 and the header's words.
        #expect(manifest.input.textLayout == "v3" && manifest.input.maxTokens == 128)
        #expect(manifest.input.evidence == InputSettings.EvidenceSettings(buckets: 1 << 18, tokens: 4096, headerWords: true))
        let classifier = try SpamClassifier.load(checkpoint: directory.appendingPathComponent("models/current"), threads: 1)
        let verdicts = classifier.classify(texts: ["WINNER!! Claim your £1000 prize now: call 09061701461", "Ok lar... Joking wif u oni..."])
        #expect(verdicts.count == 2)
        // The trained evidence weights are in the checkpoint and move the verdict.
        let input = classifier.input(for: "WINNER!! Claim your £1000 prize now: call 09061701461")
        #expect(input.evidence != nil && input.ids.count <= 128)
        let withoutEvidence = classifier.classify([ModelInput(ids: input.ids)])[0].spamProbability
        #expect(withoutEvidence != verdicts[0].spamProbability)
        // A mail's header words are evidence too: the same text under other relays and Message-ID.
        let body = "\n\nWINNER!! Claim your prize now\n"
        let plain = classifier.input(forMail: Array(("Subject: Prize" + body).utf8))
        let relayed = classifier.input(forMail: Array(("Subject: Prize\nReceived: from mx9.bulk.example\nMessage-ID: <42@bulk.example>" + body).utf8))
        #expect(plain.ids == relayed.ids, "the transformer reads neither field")
        #expect(try #require(relayed.evidence).buckets.count > #require(plain.evidence).buckets.count)
        // A model that learned from no email says so wherever it is used on mail: at the
        // end of training, and when it classifies a message (text is no mail, so no warning).
        #expect(manifest.training?.mailMessages == 0)
        let warning = "the model learned from no email (SMS only), so it calls much ordinary mail spam"
        #expect(result.standardError.contains("WARNING: \(warning)"))
        let mail = directory.appendingPathComponent("lunch.eml")
        try Data("From: Bob <bob@site.example>\nSubject: Lunch\n\nAre you free on Thursday?\n".utf8).write(to: mail)
        let onMail = try runProcess(spamtune, ["classify", "--checkpoint", current.path, mail.path])
        #expect(onMail.status == 0 && onMail.standardError.contains("spamtune classify: warning: \(warning)"), "\(onMail.standardError)")
        let onText = try runProcess(spamtune, ["classify", "--checkpoint", current.path, "--format", "text", mail.path])
        #expect(onText.status == 0 && onText.standardError.isEmpty, "\(onText.standardError)")
    }

    @Test func unlabelledMailJoinsTheScratchModelsPretraining() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let unlabelled = directory.appendingPathComponent("unlabelled")
        try FileManager.default.createDirectory(at: unlabelled, withIntermediateDirectories: true)
        for (index, subject) in ["Minutes of Tuesday's meeting", "Re: the build is green again", "Lunch on Thursday?"].enumerated() {
            try Data("From: A <a@site.example>\r\nSubject: \(subject)\r\n\r\nSee you there.\r\n".utf8)
                .write(to: unlabelled.appendingPathComponent("\(index).eml"))
        }
        // The same message twice counts once.
        try FileManager.default.copyItem(at: unlabelled.appendingPathComponent("0.eml"), to: unlabelled.appendingPathComponent("3.eml"))
        // A message named by its hash is read by its header; an index beside it is not mail, and is named.
        try Data("Return-Path: <b@site.example>\nSubject: Rota for December\n\nAttached.\n".utf8)
            .write(to: unlabelled.appendingPathComponent("c0ffee5eed"))
        try Data("mv 00001.7c53336b 00001.bfc8d64d\n".utf8).write(to: unlabelled.appendingPathComponent("cmds"))
        let result = try runProcess(
            trainer,
            ["--state-dir", directory.path, "--cache-dir", directory.appendingPathComponent("cache").path, "--offline",
             "--data", "sms", "--base", "scratch", "--unlabelled", unlabelled.path, "--scratch-layers", "1", "--scratch-dim", "32",
             "--scratch-heads", "2", "--scratch-epochs", "1", "--scratch-pretrain-epochs", "1", "--scratch-soup", "1", "--threads", "2"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("unlabelled mail: 5 message(s) from \(unlabelled.path)"))
        #expect(result.standardError.contains("unlabelled mail: skipped 1 file(s) in \(unlabelled.path) that do not read as mail (no header with From, To, Subject, Date, Received or the like): cmds\n"))
        #expect(result.standardError.contains("pretraining also reads 4 unlabelled message(s) of the site's own mail"))
        // The training SMS and the ham balancing set aside, and the four unlabelled messages.
        #expect(result.standardError.contains("pretraining on the text of 5015 messages"))
    }

    /// A pretrained GPT-2 reads the site's unlabelled mail too: its trainable block and
    /// final LayerNorm learn next-token prediction on it before the fine-tune, and the
    /// next-token loss falls from the first epoch to the second.
    @Test func unlabelledMailAdaptsAPretrainedModelsLastBlock() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try server()
        defer { server.stop() }
        let unlabelled = directory.appendingPathComponent("unlabelled")
        try FileManager.default.createDirectory(at: unlabelled, withIntermediateDirectories: true)
        for index in 0..<40 {
            try Data("From: A <a@site.example>\r\nSubject: Minutes \(index)\r\n\r\nThe build is green again; lunch on Thursday.\r\n".utf8)
                .write(to: unlabelled.appendingPathComponent("\(index).eml"))
        }
        let result = try runProcess(
            trainer,
            ["--state-dir", directory.path, "--cache-dir", directory.appendingPathComponent("cache").path, "--base", "gpt2",
             "--source", "huggingface", "--epochs", "1", "--threads", "2", "--retries", "0", "--data", "sms",
             "--unlabelled", unlabelled.path, "--unlabelled-epochs", "2", "--lr", "0.001"] + fileURLs(server))
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("pretraining also reads 40 unlabelled message(s) of the site's own mail"))
        #expect(result.standardError.contains("adapting the last 1 block(s) and the final LayerNorm to the site's mail: next-token prediction on 40 unlabelled messages, 2 epoch(s)"))
        let losses = result.standardError.split(separator: "\n").compactMap { line -> Double? in
            guard let range = line.range(of: "next-token loss ") else { return nil }
            return Double(line[range.upperBound...].prefix { $0 != " " })
        }
        #expect(losses.count == 2 && losses[1] < losses[0], "\(losses)")
        let current = directory.appendingPathComponent("models/current")
        #expect(try String(contentsOf: current.appendingPathComponent("report.md"), encoding: .utf8).contains("Pretrained on message text first (next-token prediction, 2 epochs"))
    }

    @Test func helpAndAStrayWordNeverStartATraining() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let state = directory.appendingPathComponent("state")
        let help = try runProcess(trainer, ["-h", "--state-dir", state.path])
        #expect(help.status == 0)
        #expect(help.standardOutput.contains("--target-fpr P"))
        let typo = try runProcess(trainer, ["stauts", "--state-dir", state.path, "--offline"])
        #expect(typo.status == 2)
        #expect(typo.standardError == "spamtune-train: unknown command 'stauts' (did you mean status?); see `spamtune-train --help`\n")
        #expect(!FileManager.default.fileExists(atPath: state.path), "nothing is written")
    }
}

import Foundation
import SpamtuneClassifier
import SpamtuneTestSupport
import SpamtuneTrain
import Testing

/// `spamtune-train --data` as an admin runs it: the mail corpus from a loopback server
/// standing in for Apache's site, offline, labelled mail alone, a damaged tarball. The
/// model is a tiny scratch one, since what is checked is the data.
@Suite(.serialized) struct DataSourcesEndToEndTests {
    let trainer = ProjectPaths.builtProduct("spamtune-train")

    static let tinyModel = [
        "--base", "scratch", "--scratch-layers", "1", "--scratch-dim", "32", "--scratch-heads", "2", "--scratch-epochs", "1",
        "--scratch-pretrain-epochs", "0", "--scratch-soup", "1", "--threads", "2", "--retries", "0",
    ]

    struct Report: Decodable {
        struct Source: Decodable, Equatable {
            let name: String
            let ham: Int
            let spam: Int
        }
        struct Data: Decodable {
            let trainExamples: Int
            let validationExamples: Int
            let testExamples: Int
            let mailExamples: Int
            let sources: [Source]
        }
        let data: Data
    }

    func run(_ arguments: [String], in state: TemporaryDirectory) throws -> ProcessResult {
        try runProcess(trainer, ["--state-dir", state.url.path, "--cache-dir", state.path("cache").path] + Self.tinyModel + arguments)
    }

    func report(_ state: TemporaryDirectory) throws -> Report {
        try JSONDecoder().decode(Report.self, from: Data(contentsOf: state.path("models/current/report.json")))
    }

    /// More tokens than the scratch model's context: trained on what it reads, and said once.
    @Test func maxTokensBeyondTheContextIsCappedAndSaid() throws {
        let state = try TemporaryDirectory("spamtune-data")
        defer { state.remove() }
        let result = try run(["--data", "sms", "--offline", "--max-tokens", "100000"], in: state)
        #expect(result.status == 0, "\(result.standardError)")
        let said = result.standardError.components(separatedBy: "\n").filter { $0.contains("max tokens 100000 is more than the model's context") }
        #expect(said.count == 1, "\(result.standardError)")
        #expect(said.first?.hasSuffix("each message is cut at 256 tokens") == true, "\(said)")
    }

    @Test func trainsOnTheMailCorpusServedByTheLoopbackServer() throws {
        let state = try TemporaryDirectory("spamtune-data")
        defer { state.remove() }
        let corpus = try SyntheticCorpus()
        let server = try LoopbackHTTPServer()
        defer { server.stop() }
        corpus.serve(on: server)

        let result = try run(["--data", "spamassassin"] + corpus.fileURLArguments(server), in: state)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("SpamAssassin public corpus: hard_ham: 4 ham messages from"))
        #expect(result.standardError.contains("training data: spamassassin (16 ham, 11 spam)"))
        #expect(!result.standardError.contains("SMS Spam Collection"))
        #expect(!result.standardError.contains("learned from no email"))

        let report = try report(state)
        #expect(report.data.sources == [.init(name: "spamassassin", ham: 16, spam: 11)])
        #expect(report.data.mailExamples == 27)
        #expect(report.data.trainExamples + report.data.validationExamples + report.data.testExamples == 27)
        let markdown = try String(contentsOf: state.path("models/current/report.md"), encoding: .utf8)
        #expect(markdown.contains("Sources: spamassassin 16 ham / 11 spam (downloaded from http://127.0.0.1"))

        // spamtune.json records the sources and their counts.
        let manifest = try CheckpointManifest.read(from: state.path("models/current"))
        guard case .object(let data)? = manifest.training?.values["data"], case .array(let sources)? = data["sources"] else {
            Issue.record("spamtune.json has no data sources: \(String(describing: manifest.training))")
            return
        }
        #expect(sources == [.object(["name": .string("spamassassin"), "ham": .number(16), "spam": .number(11),
                                     "origin": .string("downloaded from \(server.url("/publiccorpus/").absoluteString)")])])
        #expect(manifest.training?.mailMessages == 27 && manifest.training?.noMailWarning == nil)

        // Both sets together, the corpus now from the cache, with the server gone.
        server.stop()
        let both = try run(["--offline", "--data", "sms,spamassassin"] + corpus.fileURLArguments(server), in: state)
        #expect(both.status == 0, "\(both.standardError)")
        #expect(both.standardError.contains("training data: sms (747 ham, 747 spam), spamassassin (16 ham, 11 spam)"))
    }

    @Test func offlineTheDefaultSkipsTheCorpusWithOneLineButNamingItMakesItAnError() throws {
        let state = try TemporaryDirectory("spamtune-data")
        defer { state.remove() }
        let result = try run(["--offline"], in: state)
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardError.split(separator: "\n").filter { $0.contains("SpamAssassin") }
        #expect(lines.count == 1, "\(lines)")
        #expect(lines.first?.hasPrefix("SpamAssassin public corpus: skipped: offline and not in the cache (20030228_easy_ham.tar.bz2 is missing from") == true)
        #expect(lines.first?.contains("downloaded, not shipped with spamtune") == true)
        #expect(try report(state).data.sources == [.init(name: "sms", ham: 747, spam: 747)])

        let named = try run(["--offline", "--data", "sms,spamassassin"], in: state)
        #expect(named.status == 1)
        #expect(named.standardError.contains("the SpamAssassin public corpus was asked for (--data sms,spamassassin) but cannot be had: offline: 20030228_easy_ham.tar.bz2 is not in the cache"))
    }

    @Test func smsAloneNeverAsksForTheCorpus() throws {
        let state = try TemporaryDirectory("spamtune-data")
        defer { state.remove() }
        let server = try LoopbackHTTPServer()
        defer { server.stop() }
        server.setFile("/uci/sms+spam+collection.zip", SMSArchive.bytes)
        let result = try run(["--data", "sms", "--mirror", server.baseURL.absoluteString,
                              "--file-url", "sms+spam+collection.zip=\(server.url("/uci/sms+spam+collection.zip").absoluteString)"], in: state)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("training data: sms (747 ham, 747 spam); train 1045, validation 149, test 300"))
        #expect(!result.standardError.contains("SpamAssassin"))
        #expect(server.requests.allSatisfy { !$0.path.contains("publiccorpus") })
    }

    @Test func noneTrainsOnTheLabelledMailAloneAndRefusesToRunWithout() throws {
        let state = try TemporaryDirectory("spamtune-data")
        defer { state.remove() }
        let ham = state.path("mail/ham"), spam = state.path("mail/spam")
        for (directory, make) in [(ham, SyntheticCorpus.ham), (spam, SyntheticCorpus.spam)] {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for number in 1...12 { try Data(make("mine", number)).write(to: directory.appendingPathComponent("\(number).eml")) }
        }
        let result = try run(["--data", "none", "--ham", ham.path, "--spam", spam.path], in: state)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("training data: labelled-mail (12 ham, 12 spam)"))
        #expect(!result.standardError.contains("SMS Spam Collection"))
        let report = try report(state)
        #expect(report.data.sources == [.init(name: "labelled-mail", ham: 12, spam: 12)])
        #expect(report.data.mailExamples == 24)

        let refused = try run(["--data", "none"], in: try TemporaryDirectory("spamtune-data-none"))
        #expect(refused.status == 2)
        #expect(refused.standardError.contains("--data none (train_data = none) trains on labelled mail only, and none is given"))
        let unknown = try run(["--data", "sms,enron"], in: state)
        #expect(unknown.status == 2)
        #expect(unknown.standardError.contains("--data must be a comma-separated list of sms and spamassassin, or none, not 'sms,enron'"))
    }

    @Test func aCorruptTarballStopsANamedRunAndIsSkippedWithAWarningOtherwise() throws {
        let state = try TemporaryDirectory("spamtune-data")
        defer { state.remove() }
        let corpus = try SyntheticCorpus()
        var damaged = corpus.archives["20050311_spam_2.tar.bz2"]!
        // The first block's stored CRC (after "BZh9" and the block magic): the data decodes,
        // the check fails. A byte flipped in the Huffman data may instead read as a stream
        // cut short, depending on the archive's bytes (tar records the files' times).
        damaged[10] ^= 0x5A
        let server = try LoopbackHTTPServer()
        defer { server.stop() }
        corpus.serve(on: server, replacing: ["20050311_spam_2.tar.bz2": damaged])
        let cached = state.path("cache/data/spamassassin-publiccorpus/20050311_spam_2.tar.bz2").path

        let named = try run(["--data", "spamassassin"] + corpus.fileURLArguments(server), in: state)
        #expect(named.status == 1)
        #expect(named.standardError.contains("the SpamAssassin public corpus was asked for (--data spamassassin) but cannot be had: \(cached) is corrupt: its bzip2 data fails libbz2's integrity checks; it was deleted from the cache"))

        // By default the run goes on without it (the SMS from the shipped copy: UCI is unreachable).
        let closed = try LoopbackHTTPServer.closedPort()
        let defaulted = try run(
            corpus.fileURLArguments(server) + ["--file-url", "sms+spam+collection.zip=http://127.0.0.1:\(closed)/sms.zip"], in: state)
        #expect(defaulted.status == 0, "\(defaulted.standardError)")
        #expect(defaulted.standardError.contains("WARNING: SpamAssassin public corpus: skipped, it cannot be used: \(cached) is corrupt"))
        #expect(try report(state).data.sources.map(\.name) == ["sms"])
    }
}

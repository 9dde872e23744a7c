import Foundation
import SpamtuneClassifier
import SpamtuneSupport
import SpamtuneTestSupport
@testable import SpamtuneTrain
import Testing

/// The base model is the admin's decision: `spamtune-train` as an admin runs it against a
/// loopback server standing in for Hugging Face (the tiny random GPT-2 under the real
/// file names), or with no server at all. A pretrained base that cannot be had stops the
/// run with its own reason, unless a first run of the default base finds nothing to fetch.
@Suite(.serialized) struct BaseModelFallbackTests {
    let trainer = ProjectPaths.builtProduct("spamtune-train")
    static let huggingFacePath = "/openai-community/gpt2/resolve/main"

    func temporaryDirectory() throws -> URL {
        let url = URL(fileURLWithPath: "/tmp/spamtune-fallback-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The tiny GPT-2 and the real tokenizer files where `--mirror` looks for Hugging Face's.
    func mirror() throws -> LoopbackHTTPServer { try .servingTinyGPT2(at: Self.huggingFacePath) }

    /// The tiny model's own files by URL (no pinned size or hash: it is not GPT-2 124M);
    /// the tokenizer files through the mirror, which keeps their pinned hashes.
    func tinyModelArguments(_ server: LoopbackHTTPServer) -> [String] {
        ["--mirror", server.baseURL.absoluteString, "--source", "huggingface",
         "--file-url", "sms+spam+collection.zip=\(server.url("/uci/sms+spam+collection.zip"))",
         "--file-url", "model.safetensors=\(server.url("\(Self.huggingFacePath)/model.safetensors"))",
         "--file-url", "config.json=\(server.url("\(Self.huggingFacePath)/config.json"))"]
    }

    func train(_ directory: URL, cache: String = "cache", _ arguments: [String]) throws -> ProcessResult {
        try runProcess(
            trainer,
            ["--state-dir", directory.path, "--cache-dir", directory.appendingPathComponent(cache).path, "--data", "sms",
             "--retries", "0", "--threads", "2"] + arguments)
    }

    func status(_ directory: URL) throws -> String {
        try runProcess(trainer, ["status", "--state-dir", directory.path]).standardOutput
    }

    @Test func aChangedTokenizerFileStopsEvenAFirstDefaultRunWithBothHashes() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try mirror()
        defer { server.stop() }
        var vocabulary = Array(try Data(contentsOf: ProjectPaths.encoderJSON))
        vocabulary[1000] ^= 1
        server.setFile("\(Self.huggingFacePath)/vocab.json", vocabulary)
        let result = try train(directory, tinyModelArguments(server) + ["--epochs", "1"])
        #expect(result.status == 65, "\(result.standardError)")
        #expect(result.standardError.contains(
            "the downloaded vocab.json has sha256 \(SHA256.hexDigest(vocabulary)), expected 196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"))
        #expect(result.standardError.contains("Not training scratch instead: what the source served is not the model"))
        #expect(!result.standardError.contains("NO PRETRAINED GPT-2 COULD BE HAD"))
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("models/current").path))
        #expect(try status(directory).contains("last run FAILED at"))
    }

    @Test func aWrongContentLengthIsRefusedBeforeTheBody() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try mirror()
        defer { server.stop() }
        // Through the mirror, model.safetensors keeps GPT-2 124M's pinned size; the server
        // announces the tiny model's, slowly enough that reading it would take minutes.
        let path = "\(Self.huggingFacePath)/model.safetensors"
        server.inject(.slowBody(chunk: 16384, interval: 0.2), at: path)
        let tinySize = try Data(contentsOf: ProjectPaths.fixture("model/tiny/model.safetensors")).count
        let result = try train(
            directory, ["--mirror", server.baseURL.absoluteString, "--base", "gpt2", "--source", "huggingface",
                        "--file-url", "sms+spam+collection.zip=\(server.url("/uci/sms+spam+collection.zip"))"])
        #expect(result.status == 65, "\(result.standardError)")
        #expect(server.bodyBytesSent(for: path) < tinySize / 4)
        #expect(result.standardError.contains(
            "\(server.url(path).absoluteString) announces \(tinySize) bytes for model.safetensors, expected 548105171; refused before downloading it"))
        #expect(result.standardError.contains("Not training scratch instead: the base was named (--base, train_base)"))
        #expect(server.requests(for: path).count == 1)
    }

    @Test func aNamedBaseWithTheServerDownExitsTemporarilyAndSaysSo() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let closed = try LoopbackHTTPServer.closedPort()
        let result = try train(directory, ["--mirror", "http://127.0.0.1:\(closed)", "--base", "gpt2", "--source", "huggingface"])
        #expect(result.status == 75, "\(result.standardError)")
        #expect(result.standardError.contains("cannot download model.safetensors: cannot reach 127.0.0.1: the connection was refused"))
        #expect(result.standardError.contains("Not training scratch instead: the base was named"))
        #expect(result.standardError.contains("The current model stays current; run again later; partial downloads are kept and resumed"))
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("models/current").path))
        let shown = try status(directory)
        #expect(shown.contains("(exit 75), base gpt2; current unchanged:"))
        #expect(shown.contains("the connection was refused"))
    }

    /// Offline as a machine without network sees it: names that do not resolve and
    /// connections refused. With the default retries, each source is asked once and the
    /// run goes straight to its fallbacks: the shipped SMS copy, no mail corpus, and for a
    /// named base exit 75.
    @Test func anOfflineRunWithDefaultRetriesAsksEachSourceOnce() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let closed = try LoopbackHTTPServer.closedPort()
        let result = try runProcess(
            trainer,
            ["--state-dir", directory.path, "--cache-dir", directory.appendingPathComponent("cache").path, "--threads", "2",
             "--mirror", "http://spamtune-offline.invalid", "--base", "gpt2",
             "--file-url", "sms+spam+collection.zip=http://127.0.0.1:\(closed)/sms.zip"])
        #expect(result.status == 75, "\(result.standardError)")
        #expect(result.standardError.contains("the connection was refused. Check the network"))
        #expect(result.standardError.contains("using the copy shipped with spamtune"))
        #expect(result.standardError.contains("SpamAssassin public corpus: skipped: offline and not in the cache"))
        #expect(result.standardError.contains("cannot reach spamtune-offline.invalid: the host name does not resolve. Check the network"))
        #expect(result.standardError.contains("Not training scratch instead: the base was named"))
        #expect(!result.standardError.contains("retrying"), "\(result.standardError)")
    }

    @Test func aRetrainOfAPretrainedModelDuringAnOutageExits75AndKeepsTheCurrentModel() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try mirror()
        defer { server.stop() }
        // The first run, the default base (not named), downloads it and promotes a model.
        let first = try train(directory, tinyModelArguments(server) + ["--epochs", "1"])
        #expect(first.status == 0, "\(first.standardError)")
        let store = CheckpointStore(root: directory.appendingPathComponent("models"))
        let current = try #require(store.currentVersion)
        #expect(try CheckpointManifest.read(from: store.currentLink).base.name == "gpt2")

        // The model host breaks off mid-file (its cache gone, as on a new machine with the
        // state copied): the retrain stops, keeps the bytes it has, and changes nothing.
        let modelPath = "\(Self.huggingFacePath)/model.safetensors"
        server.inject(.truncate(afterBytes: 100_000, times: 5), at: modelPath)
        let cut = try train(directory, cache: "cache2", tinyModelArguments(server) + ["--epochs", "1"])
        #expect(cut.status == 75, "\(cut.standardError)")
        #expect(cut.standardError.contains("stopped after 100000 of"))
        #expect(cut.standardError.contains("Not training scratch instead: the current model was fine-tuned from gpt2, and a retrain never changes its base"))
        #expect(!cut.standardError.contains("NO PRETRAINED GPT-2"))
        let partial = directory.appendingPathComponent("cache2/models/openai-community--gpt2/model.safetensors.partial")
        #expect(FileSystem.size(partial.path) == 100_000)
        #expect(store.currentVersion == current)

        // The host answering 503 for the whole run: the same, and `status` says why.
        server.clearFaults()
        server.inject(.status(503, times: 100), at: modelPath)
        let down = try train(directory, cache: "cache2", tinyModelArguments(server) + ["--epochs", "1"])
        #expect(down.status == 75, "\(down.standardError)")
        #expect(down.standardError.contains("answers HTTP 503"))
        #expect(store.currentVersion == current)
        #expect(store.versions().count == 1)
        #expect(FileSystem.size(partial.path) == 100_000)
        let shown = try status(directory)
        #expect(shown.contains("current: \(current)"))
        #expect(shown.contains("last run FAILED at") && shown.contains("(exit 75)") && shown.contains("answers HTTP 503"))

        // With the host back, the next run resumes the partial file where it stopped.
        server.clearFaults()
        let resumed = try train(directory, cache: "cache2", tinyModelArguments(server) + ["--epochs", "0", "--no-promote"])
        #expect(resumed.status == 0, "\(resumed.standardError)")
        #expect(server.requests(for: modelPath).map(\.range).last == "bytes=100000-")
        #expect(!(try status(directory)).contains("FAILED"))
        #expect(store.currentVersion == current)
    }

    @Test func onlyAFirstRunOfTheDefaultBaseWithNothingFetchedMayTrainScratch() {
        let unreachable = DownloadError(file: "model.safetensors", destination: "/x", url: nil, reason: .connection("the connection was refused"))
        let offline = DownloadError(file: "model.safetensors", destination: "/x", url: nil, reason: .offlineMissing)
        let wrongHash = DownloadError(file: "vocab.json", destination: "/x", url: nil, reason: .hashMismatch(expected: "a", actual: "b"))
        let halfWrong = DownloadError(file: "GPT-2 124M", destination: "/x", url: nil, reason: .everySourceFailed([wrongHash, unreachable]))
        let pretrained = CheckpointManifest.BaseModel(name: "gpt2", source: "huggingface")
        let scratch = CheckpointManifest.BaseModel(name: "scratch", source: "scratch")
        let firstRun = BaseFallback.firstRun
        #expect(firstRun.refusal(for: unreachable, baseIsExplicit: false, currentBase: nil) == nil)
        #expect(firstRun.refusal(for: offline, baseIsExplicit: false, currentBase: nil) == nil)
        // A scratch model retrained while still offline stays scratch: no base changes.
        #expect(firstRun.refusal(for: unreachable, baseIsExplicit: false, currentBase: scratch) == nil)
        #expect(firstRun.refusal(for: unreachable, baseIsExplicit: false, currentBase: pretrained) != nil)
        #expect(firstRun.refusal(for: unreachable, baseIsExplicit: true, currentBase: nil) != nil)
        #expect(firstRun.refusal(for: wrongHash, baseIsExplicit: false, currentBase: nil) != nil)
        #expect(firstRun.refusal(for: halfWrong, baseIsExplicit: false, currentBase: nil) != nil)
        #expect(BaseFallback.fail.refusal(for: unreachable, baseIsExplicit: false, currentBase: nil) != nil)
        #expect(BaseFallback.scratch.refusal(for: wrongHash, baseIsExplicit: true, currentBase: pretrained) == nil)
        #expect(BaseModelUnavailable(name: "gpt2", failure: halfWrong, refusal: "").exitStatus == 65)
        #expect(BaseModelUnavailable(name: "gpt2", failure: unreachable, refusal: "").exitStatus == 75)
    }
}

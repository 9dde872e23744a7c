import Foundation
import SpamtuneClassifier
import SpamtuneConfiguration
import SpamtuneControl
import SpamtuneModel
import SpamtuneTestClients
import SpamtuneTestSupport
import SpamtuneWeights
import Testing

@testable import SpamtuneDaemon

#if canImport(Glibc)
import Glibc
#endif

@Suite("spamd load client", .serialized)
struct SpamdLoadTests {
    @Test func countsEveryAnswerOfAConcurrentRun() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        let daemon = try bed.daemon()
        defer { daemon.service.drainAndStop() }
        let server = try SpamdServer(context: daemon.context)
        defer { server.stop(graceful: false) }
        let messages = (0..<10).map { SpamdTestBed.message("load \($0)") }
        let result = runSpamdLoad(address: .unix(path: bed.spamdSocket), messages: messages, concurrency: 4, count: 40)
        #expect(result.messages == 40)
        #expect(result.errors == 0, "\(result.firstError ?? "")")
        #expect(result.spam + result.ham == 40)
        #expect(result.latencyP50 > 0 && result.latencyP50 <= result.latencyP99)
        #expect(result.messagesPerSecond > 0)

        let unreachable = runSpamdLoad(address: .unix(path: bed.root.appendingPathComponent("none.sock").path), messages: messages, concurrency: 2, count: 4)
        #expect(unreachable.errors == 4 && unreachable.messages == 0)
        #expect(unreachable.firstError?.contains("no socket at") == true)
    }

    /// spamtuned with a GPT-2 124M-shape checkpoint beside SpamAssassin's spamd (local
    /// rules), the same messages through both: set SPAMTUNE_SPAMD_BENCH_MODEL to a
    /// model.safetensors of that shape (`gpt2_reference.py make-model --layers 12 --dim 768
    /// --heads 12 --ctx 1024`). SPAMTUNE_SPAMD_BENCH_DAEMON may name a release spamtuned;
    /// SPAMTUNE_SPAMD_BENCH_MESSAGES, _CONCURRENCY and _MAX_TOKENS set the run.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SPAMTUNE_SPAMD_BENCH_MODEL"] != nil))
    func benchmarkAgainstTheReferenceSpamd() throws {
        let environment = ProcessInfo.processInfo.environment
        let model = URL(fileURLWithPath: environment["SPAMTUNE_SPAMD_BENCH_MODEL"]!)
        let count = Int(environment["SPAMTUNE_SPAMD_BENCH_MESSAGES"] ?? "") ?? 200
        let concurrency = Int(environment["SPAMTUNE_SPAMD_BENCH_CONCURRENCY"] ?? "") ?? 4
        let maxTokens = Int(environment["SPAMTUNE_SPAMD_BENCH_MAX_TOKENS"] ?? "") ?? 256
        let messages = BenchMessages.make(count: count)

        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        try Self.writeCheckpoint(base: model, to: bed.models, maxTokens: maxTokens)
        let daemonPath = environment["SPAMTUNE_SPAMD_BENCH_DAEMON"].map { URL(fileURLWithPath: $0) } ?? ProjectPaths.builtProduct("spamtuned")
        let configuration = try bed.writeConfiguration(["threads = 0", "log_level = warning", "cache_entries = 0"])
        let process = Process()
        process.executableURL = daemonPath
        process.arguments = ["--config", configuration.path]
        _ = FileManager.default.createFile(atPath: bed.logFile.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: bed.logFile)
        try process.run()
        bed.processes.append(process)
        let deadline = Date(timeIntervalSinceNow: 120)
        while (try? ControlClient(socketPath: bed.controlSocket, timeout: 5).send(.status)) == nil {
            try #require(Date() < deadline && process.isRunning, "spamtuned did not start: \(bed.daemonLog)")
            usleep(100_000)
        }
        let address = ListenAddress.unix(path: bed.spamdSocket)
        _ = runSpamdLoad(address: address, messages: Array(messages.prefix(8)), concurrency: 2, count: 8)
        let ours = runSpamdLoad(address: address, messages: messages, concurrency: concurrency, count: count)
        let peak = Self.peakResidentMegabytes(of: process.processIdentifier)
        print(Self.line("spamtuned", ours) + String(format: " peak_rss_mb=%.0f max_tokens=%d", peak, maxTokens))
        #expect(ours.errors == 0, "\(ours.firstError ?? "")")

        let harness = URL(fileURLWithPath: "/tmp/st-ref-\(UUID().uuidString.prefix(8).lowercased())")
        let script = ProjectPaths.harness("spamd-loopback.sh")
        let harnessEnvironment = ["SPAMTUNE_HARNESS_DIR": harness.path, "SPAMD_SOCKET": harness.appendingPathComponent("spamd.sock").path]
        defer {
            _ = try? runDaemonizingScript(script, ["stop"], environment: harnessEnvironment)
            try? FileManager.default.removeItem(at: harness)
        }
        let started = try runDaemonizingScript(script, ["start"], environment: harnessEnvironment)
        try #require(started.status == 0, "\(started.output)")
        let reference = ListenAddress.unix(path: harness.appendingPathComponent("spamd.sock").path)
        _ = runSpamdLoad(address: reference, messages: Array(messages.prefix(4)), concurrency: 2, count: 4)
        let theirs = runSpamdLoad(address: reference, messages: messages, concurrency: concurrency, count: count)
        print(Self.line("spamassassin-spamd", theirs))
        #expect(theirs.errors == 0, "\(theirs.firstError ?? "")")
    }

    static func line(_ name: String, _ result: SpamdLoadResult) -> String {
        String(
            format: "spamd.load server=%@ messages=%d concurrency_errors=%d msgs_per_s=%.2f p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f spam=%d ham=%d",
            name, result.messages, result.errors, result.messagesPerSecond, result.latencyP50, result.latencyP90,
            result.latencyP99, result.spam, result.ham)
    }

    static func peakResidentMegabytes(of pid: Int32) -> Double {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return (Double(line.split(separator: " ").dropFirst().first ?? "") ?? 0) / 1024
    }

    /// A checkpoint over a base model with a random head (speed does not depend on it).
    static func writeCheckpoint(base: URL, to root: URL, maxTokens: Int) throws {
        let config = try GPT2Config.read(from: base.deletingLastPathComponent().appendingPathComponent("config.json").path)
        var generator = SeededGenerator(seed: 3)
        let width = config.embeddingSize
        let head = [
            TensorView(name: "score.weight", shape: [2, width], values: generator.normals(2 * width, deviation: 0.02)),
            TensorView(name: "score.bias", shape: [2], values: [0, 0]),
        ]
        let store = CheckpointStore(root: root)
        let size = try FileManager.default.attributesOfItem(atPath: base.path)[.size] as! NSNumber
        let manifest = CheckpointManifest(
            createdAt: "2026-11-23T00:00:00Z", version: "bench-124m", base: .init(name: "gpt2-shape", source: "local", path: base.path, bytes: size.intValue),
            config: config, tokenizer: .init(), input: InputSettings(textLayout: "v2", maxTokens: maxTokens), threshold: 0.5,
            trainable: TrainableScope(blocks: 0))
        try store.write(
            manifest,
            contents: .init(tensors: head, copiedFiles: [ProjectPaths.encoderJSON, ProjectPaths.vocabBPE]),
            makeCurrent: true)
    }
}

/// Ham-like and spam-like plain-text mails of 2-5 KB, seeded, like the harness's
/// spamc-bench.sh corpus.
enum BenchMessages {
    static func make(count: Int) -> [[UInt8]] {
        let ham = "meeting project schedule review budget team report draft attached thanks regards tomorrow update notes agenda minutes quarterly deadline invoice customer release build test deploy server backup question lunch weekend family photos".split(separator: " ").map(String.init)
        let spam = "FREE money winner guaranteed viagra cialis cheap pills casino lottery prize cash bonus urgent offer limited credit loan refinance mortgage unsubscribe click amazing discount million dollars investment bitcoin".split(separator: " ").map(String.init)
        var generator = SeededGenerator(seed: 42)
        return (0..<count).map { index in
            let isSpam = index % 2 == 1
            let words = (isSpam ? spam : ham) + ham
            let target = 2000 + Int(generator.next() % 2800)
            var paragraphs: [String] = []
            while paragraphs.reduce(0, { $0 + $1.count }) < target {
                let length = 40 + Int(generator.next() % 50)
                paragraphs.append((0..<length).map { _ in words[Int(generator.next() % UInt64(words.count))] }.joined(separator: " ") + ".")
            }
            var body = paragraphs.joined(separator: "\n\n")
            if isSpam { body = "CLICK HERE NOW!!! http://deals\(index).example.invalid/buy?id=\(index)\n100% GUARANTEED, act now!!!\n\n" + body }
            let subject = isSpam ? "FREE CASH PRIZE WINNER!!! act now \(index)" : "Re: project notes \(index)"
            let text = """
                Received: from mail.example.org (mail.example.org [192.0.2.\(index % 250 + 1)])
                \tby mx.example.test (Postfix) with ESMTP id B\(index)
                From: \(isSpam ? "Deals" : "Alice") <sender\(index)@example.org>
                To: user@example.test
                Subject: \(subject)
                Date: Mon, 2 Mar 2026 10:00:00 +0000
                Message-ID: <bench.\(index)@example.org>
                MIME-Version: 1.0
                Content-Type: text/plain; charset=us-ascii

                \(body)

                """
            return Array(text.utf8)
        }
    }
}

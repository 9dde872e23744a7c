import Foundation
import SpamtuneClassifier
import SpamtuneConfiguration
import SpamtuneDaemon
import SpamtuneModel
import SpamtuneSupport
import SpamtuneTestClients
import SpamtuneWeights

/// `make-checkpoint --base DIR --models DIR [--max-tokens N]`: a checkpoint over a base
/// model with a random head, for driving spamtuned in benchmarks (speed does not depend
/// on what the head learned).
func runMakeCheckpoint(_ parsed: ParsedArguments) throws {
    guard let base = parsed.value("base"), let models = parsed.value("models") else {
        throw ArgumentError.missingArgument("--base DIR --models DIR")
    }
    let baseURL = URL(fileURLWithPath: base)
    let file = baseURL.appendingPathComponent("model.safetensors")
    let weights = try GPT2Weights.load(from: file.path)
    let c = weights.config.embeddingSize
    var random = SplitMix64(seed: 3)
    let head = (0..<(2 * c)).map { _ in Float(random.below(2001) - 1000) / 20_000 }
    let size = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as! NSNumber
    let store = CheckpointStore(root: URL(fileURLWithPath: models))
    let manifest = CheckpointManifest(
        createdAt: ISO8601DateFormatter().string(from: Date()), version: store.newVersionName(),
        base: .init(name: baseURL.lastPathComponent, source: "local", path: file.path, bytes: size.intValue),
        config: weights.config, tokenizer: .init(),
        input: InputSettings(textLayout: "v2", maxTokens: try parsed.integer("max-tokens", default: 128, range: 1...1024)!),
        trainable: TrainableScope(blocks: 0))
    let directory = try store.write(
        manifest,
        contents: .init(
            tensors: [TensorView(name: "score.weight", shape: [2, c], values: head), TensorView(name: "score.bias", shape: [2], values: [0, 0])],
            copiedFiles: [baseURL.appendingPathComponent("encoder.json"), baseURL.appendingPathComponent("vocab.bpe")]),
        makeCurrent: true)
    print("checkpoint \(directory.path)")
}

/// `spamd-load --socket PATH --corpus DIR [--count N] [--concurrency C] [--verb V] [--pid PID]`:
/// CHECK (or `--verb`) requests with our client (for long soaks: spamc costs a process per message);
/// with --pid, samples that process's resident memory every 10% of the run.
func runSpamdLoadBenchmark(_ parsed: ParsedArguments) throws {
    guard let socket = parsed.value("socket"), let corpus = parsed.value("corpus") else {
        throw ArgumentError.missingArgument("--socket PATH --corpus DIR")
    }
    let messages = try readCorpus(corpus)
    let count = try parsed.integer("count", default: messages.count, range: 1...100_000_000)!
    let concurrency = try parsed.integer("concurrency", default: 4, range: 1...1024)!
    let pid = try parsed.integer("pid", default: nil, range: 1...Int(Int32.max))
    let verbName = parsed.value("verb") ?? SpamdVerb.check.rawValue
    guard let verb = SpamdVerb(rawValue: verbName.uppercased()), verb.hasBody, verb != .tell else {
        throw ArgumentError.conflicting("--verb \(verbName): one of CHECK, SYMBOLS, REPORT, REPORT_IFSPAM, PROCESS, HEADERS")
    }
    let address = try ListenAddress(parsing: socket)
    let slice = max(1, count / 10)
    var done = 0
    var samples: [Double] = []
    var scored = 0, errors = 0, seconds = 0.0, worstP50 = 0.0, worstP99 = 0.0
    var firstError: String?
    while done < count {
        let part = min(slice, count - done)
        let result = runSpamdLoad(address: address, messages: messages, concurrency: concurrency, count: part, verb: verb)
        scored += result.messages
        errors += result.errors
        firstError = firstError ?? result.firstError
        seconds += result.seconds
        worstP50 = max(worstP50, result.latencyP50)
        worstP99 = max(worstP99, result.latencyP99)
        done += part
        if let pid { samples.append(residentMB(pid: Int32(pid))) }
    }
    print("daemon.spamd_load messages=\(scored) errors=\(errors) per_s=\(format(Double(scored) / max(seconds, 1e-9))) worst_p50_ms=\(format(worstP50)) worst_p99_ms=\(format(worstP99))")
    if let firstError { print("daemon.spamd_load_first_error \(firstError)") }
    if !samples.isEmpty {
        print("daemon.rss_samples_mb \(samples.map { format($0) }.joined(separator: ","))")
    }
}

/// `milter-load --socket PATH --corpus DIR [--concurrency C]`: a connection per message,
/// as Postfix opens them.
func runMilterLoadBenchmark(_ parsed: ParsedArguments) throws {
    guard let socket = parsed.value("socket"), let corpus = parsed.value("corpus") else {
        throw ArgumentError.missingArgument("--socket PATH --corpus DIR")
    }
    let result = try runMilterLoad(
        socket: socket, messages: try readCorpus(corpus), concurrency: try parsed.integer("concurrency", default: 4, range: 1...1024)!)
    print("daemon.milter_load per_s=\(format(result.perSecond)) p50_ms=\(format(result.p50)) p99_ms=\(format(result.p99))")
}

private func readCorpus(_ directory: String) throws -> [[UInt8]] {
    let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".eml") }.sorted()
    guard !names.isEmpty else { throw ArgumentError.conflicting("no .eml files in \(directory)") }
    return try names.map { Array(try Data(contentsOf: URL(fileURLWithPath: directory).appendingPathComponent($0))) }
}

private func residentMB(pid: Int32) -> Double {
    let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return (line.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0) / 1024
    }
    return 0
}

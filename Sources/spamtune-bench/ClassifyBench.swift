import Foundation
import SpamtuneClassifier
import SpamtuneKernels
import SpamtuneModel
import SpamtuneSupport
import SpamtuneWeights

/// Classification speed on a GPT-2 (124M shape in bench/run) in one precision (fp32,
/// bf16 or int8; one per process, so that the memory figures are that precision's):
/// one message at a time at 16, 128 and 512 tokens (median latency), SMS one by one and
/// in batches of 16 (messages/s), and the process's resident memory.
func runClassifyBenchmark(_ parsed: ParsedArguments) throws {
    guard let modelPath = parsed.value("model") else { throw ArgumentError.missingArgument("--model DIR|FILE") }
    let threads = try parsed.integer("threads", default: 2, range: 1...256)!
    let seconds = try parsed.double("seconds", default: 5)!
    let repeats = try parsed.integer("repeats", default: 15, range: 1...10_000)!
    let tokenCounts = (parsed.value("tokens") ?? "16,128,512").split(separator: ",").compactMap { Int($0) }
    let precisionName = parsed.value("precision") ?? Precision.fp32.rawValue
    guard let precision = Precision(rawValue: precisionName) else {
        throw ArgumentError.conflicting("--precision must be \(Precision.allCases.map(\.rawValue).joined(separator: ", ")), not '\(precisionName)'")
    }
    let tag = "threads=\(threads) precision=\(precision.rawValue)"
    let residentBefore = ProcessMemory.current()

    let headURL: URL
    if let head = parsed.value("head") {
        headURL = URL(fileURLWithPath: head)
    } else {
        // A random head: speed does not depend on its values.
        let weights = try GPT2Weights.load(from: modelPath)
        var random = SplitMix64(seed: 1)
        let c = weights.config.embeddingSize
        let values = (0..<(2 * c)).map { _ in Float(random.below(2001) - 1000) / 50_000 }
        headURL = FileManager.default.temporaryDirectory.appendingPathComponent("spamtune-bench-head-\(getpid()).safetensors")
        try SafetensorsWriter.write(
            [TensorView(name: "score.weight", shape: [2, c], values: values), TensorView(name: "score.bias", shape: [2], values: [0, 0])],
            to: headURL.path)
    }
    defer { if parsed.value("head") == nil { try? FileManager.default.removeItem(at: headURL) } }
    let tokenizer = URL(fileURLWithPath: parsed.value("tokenizer") ?? "../shared/gpt2")
    let loadStart = Date()
    let classifier = try SpamClassifier.load(
        baseModel: URL(fileURLWithPath: modelPath), head: headURL, tokenizer: tokenizer, threads: threads,
        precision: .fixed(precision))
    print("classify.load_ms precision=\(precision.rawValue) \(format(Date().timeIntervalSince(loadStart) * 1000))")
    print("classify.isa \(classifier.model.kernels.instructionSet.rawValue)")

    var random = SplitMix64(seed: 7)
    let vocabulary = classifier.model.config.vocabularySize
    for count in tokenCounts {
        let ids = ModelInput(ids: (0..<count).map { _ in random.below(vocabulary) })
        for _ in 0..<3 { _ = classifier.classify([ids]) }
        var times: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = classifier.classify([ids])
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        print("classify.latency_ms tokens=\(count) \(tag) \(format(median(times)))")
    }

    if let smsPath = parsed.value("sms") {
        let messages = try readTokenLines(smsPath).map { Array($0.prefix(classifier.input.maxTokens)) }.filter { !$0.isEmpty }
            .map { ModelInput(ids: $0) }
        for message in messages.prefix(20) { _ = classifier.classify([message]) }
        var done = 0
        var start = Date()
        while Date().timeIntervalSince(start) < seconds {
            _ = classifier.classify([messages[done % messages.count]])
            done += 1
        }
        print("classify.sms_per_s \(tag) \(format(Double(done) / Date().timeIntervalSince(start)))")
        done = 0
        start = Date()
        while Date().timeIntervalSince(start) < seconds {
            let batch = (0..<16).map { messages[(done + $0) % messages.count] }
            _ = classifier.classify(batch)
            done += 16
        }
        print("classify.sms_per_s_batched batch=16 \(tag) \(format(Double(done) / Date().timeIntervalSince(start)))")
    }
    let memory = ProcessMemory.current()
    print("classify.peak_rss_mb precision=\(precision.rawValue) \(format(memory.peakResidentMB))")
    print("classify.rss_mb precision=\(precision.rawValue) \(format(memory.residentMB))")
    print("classify.rss_growth_mb precision=\(precision.rawValue) \(format(memory.residentMB - residentBefore.residentMB))")
}

/// The `ids` arrays of a JSON-lines file such as ../shared/golden/sms_tokens.jsonl.
func readTokenLines(_ path: String) throws -> [[Int]] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    struct Line: Decodable { let ids: [Int] }
    let decoder = JSONDecoder()
    return try text.split(separator: "\n").map { try decoder.decode(Line.self, from: Data($0.utf8)).ids }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
}

func format(_ value: Double) -> String { String(format: "%.3f", value) }

/// Resident memory from /proc/self/status: now (VmRSS) and at its peak (VmHWM).
struct ProcessMemory {
    var residentMB: Double
    var peakResidentMB: Double

    static func current() -> ProcessMemory {
        let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        func field(_ name: String) -> Double {
            for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
                let number = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Double($0) }
                return (number ?? 0) / 1024
            }
            return 0
        }
        return ProcessMemory(residentMB: field("VmRSS"), peakResidentMB: field("VmHWM"))
    }
}

import Foundation
import SpamtuneClassifier
import SpamtuneSupport

// spamtune-bench SUBCOMMAND [options]: the Swift half of the benchmark. Each subcommand
// prints machine-readable lines `<name> [key=value ...] <value>` that bench/run puts
// beside the reference implementations measured in the same run.

struct Benchmark {
    let name: String
    let usage: String
    let options: Set<String>
    let run: (ParsedArguments) throws -> Void
}

let benchmarks = [
    Benchmark(
        name: "classify",
        usage:
            "--model DIR|FILE [--head FILE] [--tokenizer DIR] [--threads N] [--precision fp32|bf16|int8] [--tokens 16,128,512]"
            + " [--sms FILE] [--seconds S] [--repeats N]",
        options: ["model", "head", "tokenizer", "threads", "precision", "tokens", "sms", "seconds", "repeats"], run: runClassifyBenchmark),
    Benchmark(
        name: "tokenizer", usage: "[--tokenizer DIR] [--sms FILE] [--seconds S] [--word-cache N]",
        options: ["tokenizer", "sms", "seconds", "word-cache"], run: runTokenizerBenchmark),
    Benchmark(name: "mail", usage: "[--seconds S] [--kind K]", options: ["seconds", "kind"], run: runMailBenchmark),
    Benchmark(
        name: "gemm",
        usage:
            "[--threads 1,2] [--tokens 23,128,1024] [--isa avx512vnni,avx512,avx2,baseline] [--ops nn,tn,nt] [--precision fp32,bf16,int8]"
            + " [--seconds 0.6] [--clock wall|cpu]",
        options: ["threads", "tokens", "isa", "ops", "precision", "seconds", "clock"], run: runGemmBenchmark),
    Benchmark(name: "make-checkpoint", usage: "--base DIR --models DIR [--max-tokens N]", options: ["base", "models", "max-tokens"], run: runMakeCheckpoint),
    Benchmark(
        name: "spamd-load", usage: "--socket PATH --corpus DIR [--count N] [--concurrency C] [--verb CHECK|PROCESS|...] [--pid PID]",
        options: ["socket", "corpus", "count", "concurrency", "verb", "pid"], run: runSpamdLoadBenchmark),
    Benchmark(name: "milter-load", usage: "--socket PATH --corpus DIR [--concurrency C]", options: ["socket", "corpus", "concurrency"], run: runMilterLoadBenchmark),
]

let tool = CommandLineTool(
    "spamtune-bench",
    usage: "usage: spamtune-bench SUBCOMMAND [options]   (bench/run runs them all; --version; SUBCOMMAND --help)\n\n"
        + benchmarks.map { "  spamtune-bench \($0.name) \($0.usage)" }.joined(separator: "\n"),
    checkpointFormat: CheckpointManifest.currentFormatVersion)

var arguments = Array(CommandLine.arguments.dropFirst())
guard let word = arguments.first else {
    FileHandle.standardError.write(Data((tool.usage + "\n").utf8))
    exit(CommandLineTool.usageStatus)
}
arguments.removeFirst()
guard let benchmark = benchmarks.first(where: { $0.name == word }) else {
    _ = tool.parse(ArgumentSpecification(options: []), [word])
    tool.fail(.unknownCommand(word, suggestion: Suggestion.nearest(to: word, among: benchmarks.map(\.name))))
}
let subcommand = CommandLineTool(
    "spamtune-bench \(benchmark.name)", usage: "usage: spamtune-bench \(benchmark.name) \(benchmark.usage)", checkpointFormat: tool.checkpointFormat)
let parsed = subcommand.parse(ArgumentSpecification(options: benchmark.options), arguments)
do {
    try parsed.rejectPositionals()
    try benchmark.run(parsed)
} catch let error as ArgumentError {
    subcommand.fail(error)
} catch {
    FileHandle.standardError.write(Data("\(subcommand.name): \(error)\n".utf8))
    exit(1)
}

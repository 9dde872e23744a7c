import Foundation
import SpamtuneSupport

// spamtune-bench SUBCOMMAND [options]: the Swift half of the benchmark. Each subcommand
// prints machine-readable lines `<name> [key=value ...] <value>` that bench/run puts
// beside the reference implementations measured in the same run.

let arguments = Array(CommandLine.arguments.dropFirst())
let subcommands: [String: ([String]) throws -> Void] = [
    "classify": runClassifyBenchmark,
    "tokenizer": { try runTokenizerBenchmark(arguments: $0) },
    "mail": { try runMailBenchmark(arguments: $0) },
    "gemm": { try runGemmBenchmark(arguments: $0) },
    "make-checkpoint": runMakeCheckpoint,
    "spamd-load": runSpamdLoadBenchmark,
    "milter-load": runMilterLoadBenchmark,
]

guard let name = arguments.first, let run = subcommands[name] else {
    FileHandle.standardError.write(Data("usage: spamtune-bench \(subcommands.keys.sorted().joined(separator: "|")) [options]\n".utf8))
    exit(2)
}
do {
    try run(Array(arguments.dropFirst()))
} catch {
    FileHandle.standardError.write(Data("spamtune-bench \(name): \(error)\n".utf8))
    exit(1)
}

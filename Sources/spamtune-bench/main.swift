import Foundation

// spamtune-bench SUBCOMMAND [options]: measurements printed as `name value` lines.
let arguments = Array(CommandLine.arguments.dropFirst())
let usage = """
    usage: spamtune-bench SUBCOMMAND [options]
      tokenizer [--tokenizer DIR] [--sms FILE] [--seconds S] [--word-cache SLOTS]
                  GPT-2 tokenizer throughput, one thread
    """

do {
    switch arguments.first {
    case "tokenizer":
        try runTokenizerBenchmark(arguments: Array(arguments.dropFirst()))
    default:
        FileHandle.standardError.write(Data((usage + "\n").utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("spamtune-bench: \(error)\n".utf8))
    exit(1)
}

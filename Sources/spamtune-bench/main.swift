import Foundation

// spamtune-bench <benchmark> [options]: one benchmark per subcommand, each printing
// "name value" lines that scripts can compare across runs.
let arguments = Array(CommandLine.arguments.dropFirst())
let usage = "usage: spamtune-bench mail [--seconds S] [--kind plain|html|alternative|attachment|charset]"
do {
    switch arguments.first {
    case "mail":
        try runMailBenchmark(arguments: Array(arguments.dropFirst()))
    default:
        FileHandle.standardError.write(Data((usage + "\n").utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(1)
}

import Foundation

// spamtune-bench: performance measurements, one subcommand per subsystem.
let usage = "usage: spamtune-bench gemm [options]"

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    switch arguments.first {
    case "gemm": try runGemmBenchmark(arguments: Array(arguments.dropFirst()))
    default:
        FileHandle.standardError.write(Data((usage + "\n").utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(1)
}

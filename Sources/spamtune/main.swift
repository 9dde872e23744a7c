import Foundation
import SpamtuneClassifier
import SpamtuneSupport

// spamtune: the admin's command. Each subcommand is a file of its own here; the work is
// done by the modules (SpamtuneClassifier; SpamtuneControl and SpamtuneConfiguration to
// reach the running daemon, which is not linked in).

let tool = CommandLineTool("spamtune", usage: """
    usage: spamtune COMMAND [options]

      classify   score messages: spamtune classify --checkpoint DIR [FILE ... | -]
                 or --base-model MODEL --head HEAD [--tokenizer DIR] [--text 'message' | FILE ... | -]
      status     the running daemon: model, counts, latency, queue (spamtune status [--json])
      reload     make the daemon load its checkpoint again, keeping the old one if the new fails
      retrain    make the daemon start its training command in the background
      help       this text (also -h, --help); --version: the version, commit and checkpoint format

    Run `spamtune COMMAND --help` for a command's options.
    """, checkpointFormat: CheckpointManifest.currentFormatVersion)

/// Each command: its usage and what runs it.
let commands: [(name: String, usage: String, run: (CommandLineTool, [String]) throws -> Int32)] = [
    ("classify", ClassifyCommand.help, ClassifyCommand.run),
    ("status", StatusCommand.help, StatusCommand.run),
    ("reload", ReloadCommand.help, ReloadCommand.run),
    ("retrain", RetrainCommand.help, RetrainCommand.run),
]

var arguments = Array(CommandLine.arguments.dropFirst())
guard let word = arguments.first else {
    FileHandle.standardError.write(Data((tool.usage + "\n").utf8))
    exit(CommandLineTool.usageStatus)
}
arguments.removeFirst()
if word == "help" { tool.printUsageAndExit() }
guard let command = commands.first(where: { $0.name == word }) else {
    // Options before a command: only --help and --version mean anything there.
    _ = tool.parse(ArgumentSpecification(options: []), [word])
    tool.fail(.unknownCommand(word, suggestion: Suggestion.nearest(to: word, among: commands.map(\.name) + ["help"])))
}

let subcommand = CommandLineTool("spamtune \(command.name)", usage: command.usage, checkpointFormat: tool.checkpointFormat)
let status: Int32
do {
    status = try command.run(subcommand, arguments)
} catch let error as ArgumentError {
    subcommand.fail(error)
} catch {
    FileHandle.standardError.write(Data("spamtune \(command.name): \(error)\n".utf8))
    status = 1
}
exit(status)

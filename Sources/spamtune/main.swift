import Foundation
import SpamtuneClassifier
import SpamtuneCommandLines
import SpamtuneSupport

// spamtune: the admin's command. Each subcommand is a file of its own here; the work is
// done by the modules (SpamtuneClassifier; SpamtuneControl and SpamtuneConfiguration to
// reach the running daemon, which is not linked in).

let tool = CommandLineTool("spamtune", usage: AdminCommandLine.usage, checkpointFormat: CheckpointManifest.currentFormatVersion)

/// What runs each command of AdminCommandLine.commands.
let runners: [String: (CommandLineTool, [String]) throws -> Int32] = [
    "classify": ClassifyCommand.run, "status": StatusCommand.run, "reload": ReloadCommand.run, "retrain": RetrainCommand.run,
]

var arguments = Array(CommandLine.arguments.dropFirst())
guard let word = arguments.first else {
    FileHandle.standardError.write(Data((tool.usage + "\n").utf8))
    exit(CommandLineTool.usageStatus)
}
arguments.removeFirst()
if word == "help" { tool.printUsageAndExit() }
guard let command = AdminCommandLine.commands.first(where: { $0.name == word }), let run = runners[command.name] else {
    // Options before a command: only --help and --version mean anything there.
    _ = tool.parse(ArgumentSpecification(options: []), [word])
    tool.fail(.unknownCommand(word, suggestion: Suggestion.nearest(to: word, among: AdminCommandLine.commands.map(\.name) + ["help"])))
}

let subcommand = CommandLineTool("spamtune \(command.name)", usage: command.usage, checkpointFormat: tool.checkpointFormat)
let status: Int32
do {
    status = try run(subcommand, arguments)
} catch let error as ArgumentError {
    subcommand.fail(error)
} catch {
    FileHandle.standardError.write(Data("spamtune \(command.name): \(error)\n".utf8))
    status = 1
}
exit(status)

import Foundation
import SpamtuneSupport

/// `spamtune retrain`: the daemon starts the training command in the background.
enum RetrainCommand {
    static let help = """
        usage: spamtune retrain [--socket PATH | --config FILE] [--json]

        Makes the running spamtuned start its training command (retrain_command; by default
        spamtune-train --config <its configuration>) in the background, with the feedback
        users gave. Its output goes to <state_directory>/retrain.log; `spamtune status`
        shows whether it is still running and how it ended. Once it has written a new
        checkpoint, `spamtune reload` serves it.

        """ + ControlCommandLine.optionsHelp

    static func run(_ tool: CommandLineTool, _ arguments: [String]) throws -> Int32 {
        try ControlCommandLine.run(tool, .retrain, arguments) { response in
            guard let retrain = response.retrain else { return "retrain started\n" }
            return "retrain started: \(retrain.command.joined(separator: " "))\n" + "\(ControlCommandLine.describe(retrain))\n"
        }
    }
}

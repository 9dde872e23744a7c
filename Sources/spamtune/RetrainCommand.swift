import Foundation
import SpamtuneSupport

/// `spamtune retrain`: the daemon starts the training command in the background.
enum RetrainCommand {
    static func run(_ tool: CommandLineTool, _ arguments: [String]) throws -> Int32 {
        try ControlCommandLine.run(tool, .retrain, arguments) { response in
            guard let retrain = response.retrain else { return "retrain started\n" }
            return "retrain started: \(retrain.command.joined(separator: " "))\n" + "\(ControlCommandLine.describe(retrain))\n"
        }
    }
}

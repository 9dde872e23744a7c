import Foundation
import SpamtuneSupport

/// `spamtune reload`: the daemon loads its checkpoint (`current`) again and swaps it in
/// between batches; one that fails to load is refused and the old model keeps serving.
enum ReloadCommand {
    static let help = """
        usage: spamtune reload [--socket PATH | --config FILE] [--json]

        Makes the running spamtuned load the checkpoint again (after `current` moved to a
        new version) and serve it, without dropping a connection. A checkpoint that fails
        to load is refused, the error is printed, and the old model keeps serving.
        SIGHUP to spamtuned does the same.

        """ + ControlCommandLine.optionsHelp

    static func run(_ tool: CommandLineTool, _ arguments: [String]) throws -> Int32 {
        try ControlCommandLine.run(tool, .reload, arguments) { response in
            guard let reload = response.reload else { return "reloaded\n" }
            if reload.previousVersion == reload.version { return "reloaded model \(reload.version) (the same version as before)\n" }
            return "reloaded: now serving model \(reload.version) (was \(reload.previousVersion))\n"
        }
    }
}

import Foundation
import SpamtuneSupport

/// `spamtune reload`: the daemon loads its checkpoint (`current`) again and swaps it in
/// between batches; one that fails to load is refused and the old model keeps serving.
enum ReloadCommand {
    static func run(_ tool: CommandLineTool, _ arguments: [String]) throws -> Int32 {
        try ControlCommandLine.run(tool, .reload, arguments) { response in
            guard let reload = response.reload else { return "reloaded\n" }
            if reload.previousVersion == reload.version { return "reloaded model \(reload.version) (the same version as before)\n" }
            return "reloaded: now serving model \(reload.version) (was \(reload.previousVersion))\n"
        }
    }
}

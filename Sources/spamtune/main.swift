import Foundation
import SpamtuneSupport

// spamtune: the admin's command. Each subcommand is a file of its own here; the work is
// done by the modules (SpamtuneClassifier, SpamtuneDaemon, SpamtuneTrain).

let usage = """
    usage: spamtune COMMAND [options]

      classify   score messages: spamtune classify --checkpoint DIR [FILE ... | -]
                 or --base-model MODEL --head HEAD [--tokenizer DIR] [--text 'message' | FILE ... | -]
      status     the running daemon: model, counts, latency, queue (spamtune status [--json])
      reload     make the daemon load its checkpoint again, keeping the old one if the new fails
      retrain    make the daemon start its training command in the background
      help       this text

    Run `spamtune COMMAND --help` for a command's options.
    """

var arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first else {
    FileHandle.standardError.write(Data((usage + "\n").utf8))
    exit(2)
}
arguments.removeFirst()

let status: Int32
do {
    switch command {
    case "classify": status = try ClassifyCommand.run(arguments)
    case "status": status = try StatusCommand.run(arguments)
    case "reload": status = try ReloadCommand.run(arguments)
    case "retrain": status = try RetrainCommand.run(arguments)
    case "help", "--help", "-h":
        print(usage)
        status = 0
    default:
        FileHandle.standardError.write(Data("spamtune: unknown command '\(command)'\n\(usage)\n".utf8))
        status = 2
    }
} catch let error as ArgumentError {
    FileHandle.standardError.write(Data("spamtune \(command): \(error)\n".utf8))
    status = 2
} catch {
    FileHandle.standardError.write(Data("spamtune \(command): \(error)\n".utf8))
    status = 1
}
exit(status)

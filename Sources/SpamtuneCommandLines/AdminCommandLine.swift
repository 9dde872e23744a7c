import Foundation
import SpamtuneClassifier
import SpamtuneSupport

/// One subcommand of `spamtune`: what its usage text and spamtune(1) say about it.
public struct AdminCommand: Sendable {
    public let name: String
    /// Its line in `spamtune --help`.
    public let summary: String
    /// The ways to call it, each from `spamtune` on.
    public let synopses: [String]
    /// What it does, in paragraphs (blank lines between).
    public let description: String
    public let options: [CommandLineOption]
    /// What it prints, after the options in its usage text.
    public let output: String
    public let exitStatuses: [ExitStatus]

    /// `spamtune NAME --help`.
    public var usage: String {
        var text = "usage: " + synopses.joined(separator: "\n       ") + "\n\n"
        if !description.isEmpty { text += description + "\n\n" }
        text += options.usageText(helpColumn: 23, unsectionedIndent: 2)
        if !output.isEmpty { text += "\n\n" + output }
        return text + "\n\n" + ExitStatus.line(exitStatuses)
    }
}

/// `spamtune`, the admin's command: its subcommands and their options, once. The
/// parser's accepted names, the usage texts and spamtune(1) all come from here.
public enum AdminCommandLine {
    public static let commands: [AdminCommand] = [classify, status, reload, retrain]

    /// What `status`, `reload` and `retrain` print when the daemon is not running.
    public static let notRunningStatus: Int32 = 3

    public static let usage: String = {
        var lines = ["usage: spamtune COMMAND [options]", ""]
        for command in commands + [help] {
            lines.append("  " + command.name.padding(toLength: 11, withPad: " ", startingAt: 0) + command.summary)
        }
        return (lines + ["", "Run `spamtune COMMAND --help` for a command's options."]).joined(separator: "\n")
    }()

    /// Not a command of its own: `spamtune help` is `spamtune --help`.
    static let help = AdminCommand(
        name: "help", summary: "this text (also -h, --help); --version: the version, commit and checkpoint format",
        synopses: [], description: "", options: [], output: "", exitStatuses: [])

    public static let classify = AdminCommand(
        name: "classify",
        summary: "score messages with a checkpoint, or a head over a GPT-2: one JSON line each",
        synopses: [
            "spamtune classify --checkpoint DIR [options] [FILE ... | -]",
            "spamtune classify --base-model MODEL --head HEAD.safetensors [--tokenizer DIR] [options] [FILE ... | -]",
        ],
        description: """
            Scores each FILE (- for standard input) and each --text as the daemon would, with
            no daemon running: raw mail is read the way spamtuned reads it. A FILE may also be
            a Maildir, a directory of message files or an mbox: each message in it is scored,
            read as spamtune-train reads labelled mail.
            """,
        options: [
            .init("checkpoint", "DIR", "a checkpoint written by spamtune-train (its spamtune.json, weights and tokenizer)", section: ""),
            .init("base-model", "PATH", "a GPT-2: model.safetensors, a directory holding it, or a TensorFlow checkpoint", section: ""),
            .init("head", "FILE", """
                safetensors with score.weight [2, n_embd] and score.bias [2] (and trained tensors that replace the \
                base model's of the same name)
                """, section: ""),
            .init("tokenizer", "DIR", "encoder.json + vocab.bpe, or vocab.json + merges.txt (default: beside the model)", section: ""),
            .init("text", "'message'", "classify this text (repeatable)", section: ""),
            .init("format", "mail|text", "FILE and - are raw email (default) or plain text", section: ""),
            .init("threads", "N", "compute threads (default: all cores)", section: ""),
            .init("max-tokens", "N", "read at most N tokens of each message", section: ""),
            .init("precision", "P", """
                the blocks' matrix multiplies in \(PrecisionSetting.names.joined(separator: ", ")) (default auto: int8 where \
                the CPU has VNNI and the checkpoint found int8's verdicts identical to fp32's, else fp32; as \
                spamtuned's precision setting)
                """, section: ""),
            .init("layout", "L", """
                with --base-model: how a text becomes tokens: \(InputSettings.rawLayout) (default: as given, as the \
                book's classifier reads it) or a mail layout, \
                \(InputSettings.layoutNames.filter { $0 != InputSettings.rawLayout }.joined(separator: ", ")) \
                (README, Mail); a checkpoint records its own
                """, section: ""),
        ],
        output: """
            Output, one line per input:
              {"source":…,"label":"spam"|"ham","spam_probability":…,"logits":[ham,spam],"tokens":…,"precision":…}
            """,
        exitStatuses: [
            .init(0, "every input scored", "every input was scored"),
            .init(1, "an input could not be read", "an input could not be read or the model not loaded (each input that could be read is scored)"),
            CommandLineTool.usageMistake,
        ])

    /// The options of the commands that talk to the running daemon.
    public static let controlOptions: [CommandLineOption] = [
        .init("socket", "PATH", "the daemon's control socket (default: control_socket from the configuration)", section: ""),
        .init("config", "FILE", "the configuration naming it (default \(SpamtunePaths.configurationFile), if present)", section: ""),
        .init("json", nil, "print the daemon's answer as JSON", section: ""),
    ]

    static let controlExitStatuses: [ExitStatus] = [
        .success,
        .init(1, "the daemon refused or failed", "the daemon refused or failed (its reason is printed)"),
        CommandLineTool.usageMistake,
        .init(notRunningStatus, "spamtuned is not running", "spamtuned is not running (nothing listens on the control socket)"),
    ]

    public static let status = AdminCommand(
        name: "status", summary: "the running daemon: model, counts, latency, queue (spamtune status [--json])",
        synopses: ["spamtune status [--socket PATH | --config FILE] [--json]"],
        description: """
            Shows the running spamtuned: its model and training metrics, uptime, verdicts per
            way in, latency percentiles, queue depth, batches, reloads and listening sockets.
            """,
        options: controlOptions, output: "", exitStatuses: controlExitStatuses)

    public static let reload = AdminCommand(
        name: "reload", summary: "make the daemon load its checkpoint again, keeping the old one if the new fails",
        synopses: ["spamtune reload [--socket PATH | --config FILE] [--json]"],
        description: """
            Makes the running spamtuned load the checkpoint again (after `current` moved to a
            new version) and serve it, without dropping a connection. A checkpoint that fails
            to load is refused, the error is printed, and the old model keeps serving.
            SIGHUP to spamtuned does the same.
            """,
        options: controlOptions, output: "", exitStatuses: controlExitStatuses)

    public static let retrain = AdminCommand(
        name: "retrain", summary: "make the daemon start its training command in the background",
        synopses: ["spamtune retrain [--socket PATH | --config FILE] [--json]"],
        description: """
            Makes the running spamtuned start its training command (retrain_command; by default
            spamtune-train --config <its configuration>) in the background, with the feedback
            users gave. Its output goes to <state_directory>/retrain.log; `spamtune status`
            shows whether it is still running and how it ended. Once it has written a new
            checkpoint, `spamtune reload` serves it.
            """,
        options: controlOptions, output: "", exitStatuses: controlExitStatuses)
}

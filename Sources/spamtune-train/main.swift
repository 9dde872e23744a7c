import Foundation
import SpamtuneClassifier
import SpamtuneConfiguration
import SpamtuneControl
import SpamtuneSupport
import SpamtuneTrain

// spamtune-train: download, fine-tune, evaluate, checkpoint; on a schedule with --every.

let tool = CommandLineTool("spamtune-train", usage: TrainingCommandLine.usage, checkpointFormat: CheckpointManifest.currentFormatVersion)

/// A promoted model is served at once: the running spamtuned reloads (and refuses, still
/// serving the old one, if the new checkpoint does not load).
func tellDaemonToReload(_ socket: String) {
    do {
        let response = try ControlClient(socketPath: socket, timeout: 600).send(.reload)
        if response.ok {
            FileHandle.standardError.write(Data("spamtune-train: spamtuned reloaded: now serving \(response.reload?.version ?? "the new model")\n".utf8))
        } else {
            FileHandle.standardError.write(Data("spamtune-train: WARNING: spamtuned refused the new model: \(response.error ?? "no reason given")\n".utf8))
        }
    } catch {
        FileHandle.standardError.write(Data("spamtune-train: spamtuned is not reachable at \(socket) (\(error)); it loads the new model when it starts\n".utf8))
    }
}

func fail(_ message: String, status: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("spamtune-train: \(message)\n".utf8))
    exit(status)
}

let commands = TrainingCommandLine.commands.map(\.name)
var arguments = Array(CommandLine.arguments.dropFirst())
let command = arguments.first.flatMap { commands.contains($0) ? $0 : nil } ?? "run"
if arguments.first == command { arguments.removeFirst() }

do {
    let parsed = tool.parse(TrainingCommandLine.specification, arguments)
    try parsed.rejectPositionals(commands: commands)
    var defaults = TrainingCommandLine.Defaults()
    var controlSocket = parsed.value("control-socket")
    if let path = parsed.value("config") {
        let configuration = try DaemonConfiguration.load(path)
        controlSocket = controlSocket ?? configuration.controlSocket
        defaults = TrainingCommandLine.Defaults(
            stateDirectory: configuration.stateDirectory, cacheDirectory: configuration.cacheDirectory,
            base: configuration.trainBase, fallback: configuration.trainFallback, recipe: configuration.trainRecipe, data: configuration.trainData, ham: configuration.trainHam,
            spam: configuration.trainSpam, unlabelled: configuration.trainUnlabelled, threads: configuration.threads > 0 ? configuration.threads : nil)
    }
    let options = try TrainingCommandLine.options(from: parsed, defaults: defaults)
    switch command {
    case "status":
        let entries = RunHistory(directory: options.workDirectory).entries()
        let store = CheckpointStore(root: options.modelsDirectory)
        print("current: \(store.currentVersion ?? "none") in \(options.modelsDirectory.path)")
        if entries.isEmpty { print("no training runs recorded in \(options.workDirectory.path)") }
        for entry in entries.suffix(10) {
            print("\(entry.version)  \(entry.promoted ? "promoted" : "kept aside")  base \(entry.base), recipe \(entry.recipe): "
                + TrainingSummary.metrics(entry) + "; " + TrainingSummary.time(entry) + "; " + entry.reason)
        }
        if let failure = RunHistory(directory: options.workDirectory).lastFailure() {
            print("last run FAILED at \(failure.failedAt) (exit \(failure.exitStatus)), base \(failure.base); current unchanged:")
            print(failure.reason.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        }
    case "export":
        guard let target = parsed.value("hf") else { throw ArgumentError.missingArgument("--hf DIR") }
        let source = parsed.value("checkpoint").map { URL(fileURLWithPath: $0) }
            ?? CheckpointStore(root: options.modelsDirectory).currentLink
        try HuggingFaceExport.export(checkpoint: source.resolvingSymlinksInPath(), to: URL(fileURLWithPath: target))
        print("exported \(source.path) to \(target): load it with GPT2ForSequenceClassification.from_pretrained")
    case "rollback":
        let version = try CheckpointStore(root: options.modelsDirectory).rollback()
        print("current is now \(version); run `spamtune reload` (or send spamtuned SIGHUP) to serve it")
    default:
        let interval = try parsed.value("every").map { try TrainingCommandLine.interval($0) }
        repeat {
            let started = Date()
            let result: TrainingRunResult
            do {
                result = try await TrainingPipeline(options: options).run()
            } catch {
                // Recorded for `status`; the served model was not touched.
                let status = (error as? BaseModelUnavailable)?.exitStatus ?? 1
                try? RunHistory(directory: options.workDirectory).recordFailure(.init(base: options.base, exitStatus: status, reason: "\(error)"))
                guard let interval else { fail("\(error)", status: status) }
                FileHandle.standardError.write(Data("spamtune-train: this run failed (exit \(status)): \(error)\nspamtune-train: next run in \(Int(interval)) s\n".utf8))
                try await Task.sleep(nanoseconds: UInt64(interval * 1e9))
                continue
            }
            print("\(result.version) \(result.promoted ? "promoted" : "kept aside"): " + TrainingSummary.metrics(result.report))
            if result.promoted, let controlSocket { tellDaemonToReload(controlSocket) }
            if let interval {
                let wait = max(0, interval - Date().timeIntervalSince(started))
                FileHandle.standardError.write(Data("spamtune-train: next run in \(Int(wait)) s\n".utf8))
                try await Task.sleep(nanoseconds: UInt64(wait * 1e9))
            }
        } while interval != nil
    }
} catch let error as ArgumentError {
    tool.fail(error)
} catch {
    fail("\(error)")
}

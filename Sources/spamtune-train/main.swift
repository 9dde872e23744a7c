import Foundation
import SpamtuneClassifier
import SpamtuneConfiguration
import SpamtuneControl
import SpamtuneSupport
import SpamtuneTrain

// spamtune-train: download, fine-tune, evaluate, checkpoint; on a schedule with --every.

let tool = CommandLineTool("spamtune-train", usage: """
    usage: spamtune-train [run] [options]      train now (and again every --every)
           spamtune-train status [options]     the last runs and their metrics
           spamtune-train rollback [options]   point `current` at the previous version
           spamtune-train export --hf DIR [--checkpoint DIR]
                                               write the current (or given) checkpoint as a Hugging Face
                                               GPT2ForSequenceClassification directory
           spamtune-train --version            the version, the commit it was built from, the checkpoint format
           spamtune-train [COMMAND] -h|--help  this text

    --config FILE            read state_directory, cache_directory and the train_* keys from spamtuned's
                             configuration (/etc/spamtune/spamtune.conf); options given here win
    Where things go (defaults under --state-dir, /var/lib/spamtune):
      --state-dir DIR        data and run records in DIR/train, checkpoints in DIR/models
      --models-dir DIR       the checkpoint store spamtuned loads (DIR/current)
      --cache-dir DIR        downloads (default /var/cache/spamtune, or ~/.cache/spamtune)
    Base model:
      --base NAME|PATH       gpt2 (default), gpt2-medium, gpt2-large, gpt2-xl, a local model, or scratch
      --source S             automatic (default: Hugging Face, then OpenAI's checkpoint), huggingface, openai
      --mirror URL           fetch every file from URL instead of its default host (same paths)
      --file-url NAME=URL    fetch one file (model.safetensors, sms+spam+collection.zip, 20030228_spam.tar.bz2...) from URL
      --offline              use only the cache; a missing file is named, not downloaded
      --fallback F           when the pretrained GPT-2 cannot be had: first-run (default: only a first run
                             of the default base trains scratch, and only when nothing could be fetched),
                             scratch (always train scratch instead, saying why) or fail. Otherwise the run
                             stops with exit 75 (try later) or 65 (a source served wrong files) and the
                             current model stays current
      --retries N            retries per download (default 3), the first after --retry-delay S (default 2), doubling
    Data:
      --data LIST            public data sets to train on beside --ham/--spam: sms,spamassassin (default;
                             sms alone with --recipe book), sms, spamassassin, or none (labelled mail only).
                             spamassassin is the SpamAssassin public corpus of raw mail, downloaded (not
                             shipped); offline and not cached, it is skipped unless named here
    Recipe (--recipe book reproduces the book's chapter 6 exactly):
      --recipe book|spamtune --epochs N --batch-size N --lr X --weight-decay X --trainable-blocks N
      --max-tokens N --padding none|longest --seed N --threads N
      --text-layout L        how mail becomes text: v1, v2, v3 (README, Mail) or raw
      --evidence-tokens N    the head also reads the tokens and token pairs of the first N tokens of
                             each message (hashed), beside the transformer's first --max-tokens; 0: off
                             (defaults: GPT-2 v2, 64 tokens, no evidence; scratch v3, 128, 1024)
      --header-words yes|no  the evidence also reads the words of each mail's header fields, tagged by
                             field (not recipients, dates or other filters' verdicts); default yes
      --scratch-layers N --scratch-dim N --scratch-heads N --scratch-epochs N --scratch-lr X
      --scratch-pretrain-epochs N (next-token pretraining first; default 5, 0 for none)
      --scratch-pretrain-text training|unused-ham (what it reads: the training messages, and by
      default also the ham balancing set aside; never a validation or test message) --scratch-pretrain-lr X
      --scratch-soup K (K fine-tunes from the same start in different orders, weights averaged; default 4)
    The threshold served (P(spam) at or above it is spam):
      --target-fpr P         the lowest threshold calling at most this share of the validation ham spam
                             (default 0.005: 0.5%; kept within 0.05-0.999)
      --threshold T          serve T instead of choosing one
    Retraining on labelled mail (Maildir, mbox or a directory of message files; repeatable):
      --ham PATH --spam PATH --feedback DIR (spamtuned's feedback store; default DIR/feedback under the state dir)
      --unlabelled PATH      the site's mail without labels (repeatable): the scratch model's next-token
                             pretraining reads it too (at most 10,000 messages; never a held-out one)
      --every DURATION       run again every DURATION (24h, 30m) until stopped
      --final-fit yes|no     after measuring on the held-out examples, fine-tune again on all of them and
                             serve that model (default yes; the spamtune recipe only)
      --no-promote           keep the new checkpoint aside whatever its metrics
      --keep N               versions kept (default 5)
      --control-socket PATH  after a promotion, tell the spamtuned listening here to reload
                             (default: control_socket from --config)
    """, checkpointFormat: CheckpointManifest.currentFormatVersion)

let optionNames: Set<String> = [
    "config", "state-dir", "hf", "checkpoint", "control-socket", "models-dir", "cache-dir", "base", "source", "mirror", "file-url", "recipe", "epochs", "batch-size", "lr",
    "weight-decay", "trainable-blocks", "max-tokens", "padding", "text-layout", "final-fit", "evidence-tokens", "header-words", "seed", "threads", "threshold", "target-fpr", "scratch-layers",
    "scratch-dim", "scratch-heads", "scratch-epochs", "scratch-lr", "scratch-pretrain-epochs", "scratch-pretrain-lr", "scratch-pretrain-text", "scratch-soup", "data", "ham", "spam", "unlabelled", "feedback", "every", "keep", "retries", "retry-delay", "fallback",
]

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

let commands = ["run", "status", "rollback", "export"]
var arguments = Array(CommandLine.arguments.dropFirst())
let command = arguments.first.flatMap { commands.contains($0) ? $0 : nil } ?? "run"
if arguments.first == command { arguments.removeFirst() }

do {
    let parsed = tool.parse(ArgumentSpecification(options: optionNames, flags: ["offline", "no-promote"]), arguments)
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
                + TrainingSummary.metrics(entry) + String(format: ", %.0f s training; ", entry.trainingSeconds) + entry.reason)
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
        let interval = try parsed.value("every").map { try TrainingCommandLine.duration($0) }
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

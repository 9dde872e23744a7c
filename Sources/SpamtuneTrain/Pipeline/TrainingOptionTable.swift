import Foundation
import SpamtuneClassifier
import SpamtuneSupport

extension TrainingCommandLine {
    /// Every option `spamtune-train` accepts, once: the parser's accepted names and the
    /// usage text both come from this table; `options(from:)` reads the values. Defaults
    /// quoted in the help are the ones the code uses.
    public static let table: [CommandLineOption] = {
        let state = URL(fileURLWithPath: SpamtunePaths.stateDirectory)
        let defaults = TrainingOptions(workDirectory: state, modelsDirectory: state, cacheDirectory: state)
        let h = defaults.hyperparameters
        let book = Recipe.book.hyperparameters
        let scratch = defaults.scratch
        let where_ = "Where things go (defaults under --state-dir, \(SpamtunePaths.stateDirectory)):"
        let base = "Base model:"
        let data = "Data:"
        let recipe = "Recipe (--recipe book reproduces the book's chapter 6 exactly):"
        let scratchModel = "The scratch model (--base scratch, or the fallback when no GPT-2 can be had):"
        let threshold = "The threshold served (P(spam) at or above it is spam):"
        let mail = "Retraining on labelled mail (Maildir, mbox or a directory of message files; repeatable):"
        let runs = "Runs:"
        let export = "export:"
        return [
            .init("config", "FILE", """
                read state_directory, cache_directory, threads, control_socket and the train_* keys from spamtuned's \
                configuration (\(SpamtunePaths.configurationFile)); options given here win
                """, section: ""),

            .init("state-dir", "DIR", "data and run records in DIR/train, checkpoints in DIR/models", section: where_),
            .init("models-dir", "DIR", "the checkpoint store spamtuned loads (DIR/current)", section: where_),
            .init("cache-dir", "DIR", "downloads (default /var/cache/spamtune, or ~/.cache/spamtune)", section: where_),

            .init("base", "NAME|PATH", """
                \(baseModelNames.filter { $0 != "scratch" }.map { $0 == defaults.base ? "\($0) (default)" : $0 }.joined(separator: ", ")), \
                a local model, or scratch (a small GPT-2 trained from random weights)
                """, section: base),
            .init("source", "S", "automatic (default: Hugging Face, then OpenAI's checkpoint), huggingface, openai", section: base),
            .init("mirror", "URL", "fetch every file from URL instead of its default host (same paths)", section: base),
            .init("file-url", "NAME=URL", """
                fetch one file (model.safetensors, sms+spam+collection.zip, 20030228_spam.tar.bz2...) from URL; repeatable
                """, section: base),
            .init("offline", nil, "use only the cache; a missing file is named, not downloaded", section: base),
            .init("fallback", "F", """
                when the pretrained GPT-2 cannot be had: first-run (default: only a first run of the default base \
                trains scratch, and only when nothing could be fetched), scratch (always train scratch instead, \
                saying why) or fail. Otherwise the run stops with exit 75 (try later) or 65 (a source served wrong \
                files) and the current model stays current
                """, section: base),
            .init("retries", "N", """
                retries per download after a timeout, a cut-off body or HTTP 5xx (default \(defaults.downloadAttempts - 1)); \
                a name that does not resolve or a refused connection is tried once
                """, section: base),
            .init("retry-delay", "S", """
                seconds before the first retry (default \(Int(defaults.downloadRetryDelay))), doubling after each
                """, section: base),

            .init("data", "LIST", """
                public data sets to train on beside --ham/--spam: sms,spamassassin (default; sms alone with --recipe \
                book), sms, spamassassin, or none (labelled mail only). spamassassin is the SpamAssassin public corpus \
                of raw mail, downloaded (not shipped); offline and not cached, it is skipped unless named here
                """, section: data),

            .init("recipe", Recipe.allCases.map(\.rawValue).joined(separator: "|"), """
                the named set of defaults the options below change (default \(defaults.recipe.rawValue))
                """, section: recipe),
            .init("epochs", "N", "passes over the training examples (default \(h.epochs))", section: recipe),
            .init("batch-size", "N", "examples per step (default \(h.batchSize))", section: recipe),
            .init("lr", "X", "AdamW learning rate (default \(h.learningRate))", section: recipe),
            .init("weight-decay", "X", "AdamW weight decay (default \(h.weightDecay))", section: recipe),
            .init("trainable-blocks", "N", """
                transformer blocks fine-tuned, counting from the last (default \(h.trainableBlocks)); the head and the \
                final LayerNorm always are
                """, section: recipe),
            .init("max-tokens", "N", """
                tokens of each message the transformer reads (defaults: GPT-2 \(h.maxTokens), \(book.maxTokens) with \
                --recipe book; scratch \(scratch.maxTokens))
                """, section: recipe),
            .init("padding", "none|longest", """
                none: every example at its own length (default); longest: padded to the longest training example, \
                as the book does (--recipe book)
                """, section: recipe),
            .init("seed", "N", "seed of the new head, the data split and the example order (default \(h.seed))", section: recipe),
            .init("threads", "N", "compute threads (default: every core, or threads from --config)", section: recipe),
            .init("text-layout", "L", """
                how mail becomes text: \(InputSettings.layoutNames.joined(separator: ", ")) (README, Mail; defaults: \
                GPT-2 \(h.textLayout), \(book.textLayout) with --recipe book; scratch \(scratch.textLayout))
                """, section: recipe),
            .init("evidence-tokens", "N", """
                the head also reads the tokens and token pairs of the first N tokens of each message (hashed), beside \
                the transformer's first --max-tokens; 0: off (defaults: GPT-2 off, scratch \(scratch.evidenceTokens))
                """, section: recipe),
            .init("header-words", "yes|no", """
                the evidence also reads the words of each mail's header fields, tagged by field (not recipients, dates \
                or other filters' verdicts); default \(scratch.headerWords ? "yes" : "no")
                """, section: recipe),

            .init("scratch-layers", "N", "transformer blocks (default \(scratch.layers))", section: scratchModel),
            .init("scratch-dim", "N", "embedding size, divisible by --scratch-heads (default \(scratch.embeddingSize))", section: scratchModel),
            .init("scratch-heads", "N", "attention heads (default \(scratch.heads))", section: scratchModel),
            .init("scratch-epochs", "N", "fine-tuning epochs (default \(scratch.epochs))", section: scratchModel),
            .init("scratch-lr", "X", "fine-tuning learning rate (default \(scratch.learningRate))", section: scratchModel),
            .init("scratch-pretrain-epochs", "N", """
                next-token pretraining first (default \(scratch.pretrainEpochs), 0 for none)
                """, section: scratchModel),
            .init("scratch-pretrain-text", "training|unused-ham", """
                what it reads: the training messages, and by default also the ham balancing set aside; never a \
                validation or test message
                """, section: scratchModel),
            .init("scratch-pretrain-lr", "X", "pretraining learning rate (default \(scratch.pretrainLearningRate))", section: scratchModel),
            .init("scratch-soup", "K", """
                K fine-tunes from the same start, each leaving out a K-th of the training and validation \
                examples and scoring it (the threshold is chosen on those scores), weights averaged \
                (default \(scratch.soup))
                """, section: scratchModel),

            .init("target-fpr", "P", """
                the lowest threshold calling at most this share of the held-out ham spam (the validation \
                split's, or with a soup every training and validation ham scored out of fold) (default \
                \(ThresholdPolicy.defaultTargetFalsePositiveRate): \(ThresholdPolicy.defaultTargetFalsePositiveRate * 100)%; \
                kept within \(ServedThreshold.range.lowerBound)-\(ServedThreshold.range.upperBound))
                """, section: threshold),
            .init("threshold", "T", "serve T instead of choosing one", section: threshold),

            .init("ham", "PATH", "mail known to be ham", section: mail),
            .init("spam", "PATH", "mail known to be spam", section: mail),
            .init("feedback", "DIR", "spamtuned's feedback store (default DIR/feedback under the state dir)", section: mail),
            .init("unlabelled", "PATH", """
                the site's mail without labels, read by next-token pretraining: the scratch model's, or a \
                pretrained GPT-2's trainable blocks' (at most \(UnlabelledMail.maximumMessages) messages; never a \
                held-out one)
                """, section: mail),
            .init("unlabelled-epochs", "N", """
                epochs a pretrained GPT-2's trainable blocks read the unlabelled mail (default \(defaults.unlabelledEpochs))
                """, section: mail),

            .init("every", "DURATION", "run again every DURATION (24h, 30m) until stopped", section: runs),
            .init("final-fit", "yes|no", """
                after measuring on the held-out examples, fine-tune again on all of them and serve that model \
                (default yes; the spamtune recipe only)
                """, section: runs),
            .init("no-promote", nil, "keep the new checkpoint aside whatever its metrics", section: runs),
            .init("keep", "N", "versions kept (default \(defaults.keepVersions))", section: runs),
            .init("control-socket", "PATH", """
                after a promotion, tell the spamtuned listening here to reload (default: control_socket from --config)
                """, section: runs),

            .init("hf", "DIR", "the Hugging Face directory written", section: export),
            .init("checkpoint", "DIR", "the checkpoint exported (default: the current one)", section: export),
        ]
    }()

    public static let specification = ArgumentSpecification(table)

    /// spamtune-train's commands: the parser's, the usage text's and spamtune-train(8)'s.
    /// `run` is also what a command line without one does.
    public static let commands: [(name: String, synopsis: String, summary: String)] = [
        ("run", "spamtune-train [run] [options]", "train now (and again every --every)"),
        ("status", "spamtune-train status [options]", "the last runs and their metrics"),
        ("rollback", "spamtune-train rollback [options]", "point `current` at the previous version"),
        ("export", "spamtune-train export --hf DIR [--checkpoint DIR]", """
            write the current (or given) checkpoint as a Hugging Face GPT2ForSequenceClassification directory
            """),
    ]

    public static let exitStatuses: [ExitStatus] = [
        .init(0, "done", "the run finished (its checkpoint promoted or kept aside), or the command did what it says"),
        .init(1, "failed", "the run or command failed; the current model is unchanged"),
        CommandLineTool.usageMistake,
        .init(BaseModelUnavailable.badDataStatus, "wrong file", """
            EX_DATAERR: a source served a wrong file (its size or hash differs); the current model stays current
            """),
        .init(BaseModelUnavailable.temporaryStatus, "try later", """
            EX_TEMPFAIL: the pretrained base model could not be had and this run may not train scratch instead \
            (--fallback); partial downloads are kept for the next run
            """),
    ]

    public static let usage: String = {
        let lines = commands.map { ($0.synopsis, $0.summary) } + [
            ("spamtune-train --version", "the version, the commit it was built from, the checkpoint format"),
            ("spamtune-train [COMMAND] -h|--help", "this text"),
        ]
        // Each summary beside its synopsis, or below it when the synopsis is wide.
        let column = 43
        var text = ""
        for (index, (synopsis, summary)) in lines.enumerated() {
            let head = (index == 0 ? "usage: " : "       ") + synopsis
            let wrapped = TextWrapping.lines(summary, width: 104 - column).map { String(repeating: " ", count: column) + $0 }
            if head.count + 2 <= column {
                text += head.padding(toLength: column, withPad: " ", startingAt: 0) + wrapped.joined(separator: "\n").dropFirst(column) + "\n"
            } else {
                text += head + "\n" + wrapped.joined(separator: "\n") + "\n"
            }
        }
        return text + "\n" + table.usageText()
    }()
}

import Foundation
import SpamtuneCommandLines
import SpamtuneConfiguration
import SpamtuneSupport
import SpamtuneTrain

/// spamtune's four man pages. What the tools accept comes from their tables
/// (DaemonCommandLine, AdminCommandLine, TrainingCommandLine, the configuration keys as
/// etc/spamtune.conf documents them); the prose around it is short and from README.
package enum SpamtuneManual {
    /// The pages' file names (`spamtuned.8`) and texts, in the order of `pageNames`.
    package static func pages(configurationText: String) throws -> [(fileName: String, text: String)] {
        let configuration = try ConfigurationDocumentation(text: configurationText)
        return [daemon(), admin(), train(), configurationFile(configuration)].map { ($0.fileName, $0.roff()) }
    }

    package static let pageNames = ["spamtuned.8", "spamtune.1", "spamtune-train.8", "spamtune.conf.5"]

    static let seeAlso: [String: [String]] = [
        "spamtuned": ["spamtune(1)", "spamtune-train(8)", "spamtune.conf(5)", "spamc(1)", "postconf(5)", "systemd.socket(5)"],
        "spamtune": ["spamtuned(8)", "spamtune-train(8)", "spamtune.conf(5)"],
        "spamtune-train": ["spamtuned(8)", "spamtune(1)", "spamtune.conf(5)", "systemd.timer(5)"],
        "spamtune.conf": ["spamtuned(8)", "spamtune(1)", "spamtune-train(8)", "spamc(1)"],
    ]

    static func seeAlsoLines(_ name: String) -> [String] {
        let references = seeAlso[name, default: []].map { reference -> String in
            let open = reference.firstIndex(of: "(")!
            return "\\fB" + Roff.escape(String(reference[..<open])) + "\\fR" + reference[open...]
        }
        return [references.joined(separator: ",\n"), "and README.md in /usr/share/doc/spamtune (the source tree's README)."]
    }

    static func synopsis(_ lines: [String], commandWords: Int) -> [String] {
        lines.enumerated().flatMap { index, line in (index > 0 ? [".br"] : []) + [Roff.synopsis(line, commandWords: commandWords)] }
    }

    static func exitStatus(_ statuses: [ExitStatus]) -> [String] {
        statuses.flatMap { [".TP", Roff.bold(String($0.code))] + Prose.roff($0.meaning, paragraph: ".IP") }
    }

    /// Tagged paragraphs from `(tag, text)` pairs; the tag in bold.
    static func list(_ items: [(String, String)]) -> [String] {
        items.flatMap { [".TP", Roff.bold($0.0)] + Prose.roff($0.1, paragraph: ".IP") }
    }

    static let instructionSetVariable = ("SPAMTUNE_ISA", """
        avx2 or baseline: use the numeric kernels of a lower instruction set than the CPU's \
        best (avx512, avx2, baseline), for comparing or working around a CPU. A level the CPU \
        lacks is ignored.
        """)

    // MARK: spamtuned(8)

    static func daemon() -> ManualPage {
        var page = ManualPage(name: "spamtuned", section: 8, summary: "the spamtune mail filter daemon: GPT-2 spam scores for milter, spamd and Maildir")
        page.add("SYNOPSIS", synopsis(["spamtuned [--config FILE] [--check-config]", "spamtuned --version | -h"], commandWords: 1))
        page.add("DESCRIPTION", Prose.roff("""
            spamtuned loads a checkpoint trained by spamtune-train(8) once and scores every
            message that reaches it, by three ways in: the milter protocol (Postfix
            `smtpd_milters`, Sendmail), a spamd-compatible socket (the stock spamc(1) and Exim's
            `spam =` condition work unchanged), and Maildirs watched with inotify (spam moves to
            the Junk folder). Each message gets `X-Spam-Flag`, `X-Spam-Score` and `X-Spam-Status`
            headers; copies a sender put in are removed first. Scores read SpamAssassin-style,
            `score_scale` x P(spam) against `score_scale` x threshold, such as 7.9 / 5.0.

            Concurrent messages are scored together in batches. A message not scored within
            `message_deadline` gets `failure_action`: delivered with `X-Spam-Status: Unknown`
            (fail open), or a temporary failure the sender retries. No message is lost: the
            Maildir watcher rewrites through `tmp/` and a rename, restartable at any instant.

            spamtuned runs in the foreground and logs to standard error (one line per message
            at `log_level = info`). Under systemd it is `Type=notify` and takes its sockets from
            the socket units `spamtuned-milter.socket`, `spamtuned-spamd.socket` and
            `spamtuned-control.socket`; started by hand it makes the sockets its configuration
            names. Everything it does is set in spamtune.conf(5).
            """))
        page.add("OPTIONS", ManualPage.options(DaemonCommandLine.table + CommandLineOption.everyTool))
        page.add("SIGNALS", list([
            ("SIGHUP", """
                Load the checkpoint again (`checkpoint`, following the `current` link anew) and swap
                it in between batches, without dropping a connection; a checkpoint that does not load
                is refused and the old model keeps serving. The sender list files of `allow_senders`
                and `deny_senders` are read again too. `systemctl reload spamtuned` and `spamtune
                reload` do the same. Other settings take a restart.
                """),
            ("SIGTERM, SIGINT", "Stop accepting, finish the messages under way, and exit 0."),
        ]))
        page.add("FILES", list([
            (SpamtunePaths.configurationFile, "the configuration, spamtune.conf(5)"),
            (SpamtunePaths.stateDirectory + "/models/current", "the checkpoint served (a link to the promoted version)"),
            (SpamtunePaths.stateDirectory + "/feedback/", "what users taught (TELL, Junk moves), for the next training run"),
            (SpamtunePaths.stateDirectory + "/spamtuned.pid", "locked while spamtuned runs: one daemon per state directory"),
            (SpamtunePaths.stateDirectory + "/retrain.log", "the output of the training `spamtune retrain` started"),
            ("/run/spamtune/milter.sock, /run/spamtune/spamd.sock, /run/spamtune/control.sock", "the sockets, by default"),
        ]))
        page.add("ENVIRONMENT", list([
            ("LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES", """
                the sockets systemd passes (socket activation); each `FileDescriptorName=` (milter,
                spamd, control, milter-tcp, spamd-tcp) names the key whose address it stands for.
                They are removed from the environment so that no retrain takes them for its own.
                """),
            ("NOTIFY_SOCKET, WATCHDOG_USEC", "systemd's readiness and watchdog notifications"),
            ("JOURNAL_STREAM", "standard error is the journal: log lines carry no time stamp of their own"),
            instructionSetVariable,
        ]))
        page.add("EXIT STATUS", exitStatus(DaemonCommandLine.exitStatuses))
        page.add("SECURITY", Prose.roff("""
            Scoring is open to whoever may connect; teaching is granted by the admin. The milter
            socket is mode 0660, group postfix; the spamd socket is 0666, as spamd's: every local
            user may have a message scored, which reveals nothing but the verdict. Over TCP, only
            `spamd_allowed_networks` and `milter_allowed_networks` are served.

            TELL (`spamc -L spam|ham|forget`) changes what the next model believes. On the Unix
            socket spamtuned asks the kernel who the peer is (`SO_PEERCRED`): root and spamtuned's
            own user may teach, and the users of `learn_allowed_users` and members of
            `learn_allowed_groups`; over TCP only clients in `learn_allowed_networks`. Anyone else
            gets EX_NOPERM (77) and a log line naming the uid or address. The feedback store is
            bounded in total and per reporter (`feedback_max_*`), the oldest entries making room.
            A Maildir listed in `maildir` is the admin's grant: Junk moves there teach as its
            owner.

            The control socket (reload, retrain) is for root and spamtuned's user, or the group
            `control_socket_group` names. Connections are bounded per socket and per client
            (`max_connections`, `max_connections_per_client`), and the milter has places in the
            scoring queue no spamd client can take (`milter_queue_reserve`).
            """))
        page.add("EXAMPLES", Prose.roff("""
            Check a configuration and that its model loads, then run in the foreground:

              spamtuned --config /etc/spamtune/spamtune.conf --check-config
              spamtuned --config /etc/spamtune/spamtune.conf

            Postfix, in main.cf (tempfail: while spamtuned is down senders retry, no mail lost):

              smtpd_milters = unix:/run/spamtune/milter.sock
              non_smtpd_milters = $smtpd_milters
              milter_default_action = tempfail

            Score a message through the spamd socket (prints 7.9/5.0, exits 1 for spam):

              spamc -x -U /run/spamtune/spamd.sock -c < message.eml
            """))
        page.add("SEE ALSO", seeAlsoLines("spamtuned"))
        return page
    }

    // MARK: spamtune(1)

    static func admin() -> ManualPage {
        var page = ManualPage(name: "spamtune", section: 1, summary: "score messages by hand, and ask the running spamtuned for its status, a reload or a retrain")
        let synopses = AdminCommandLine.commands.flatMap(\.synopses) + ["spamtune --version | -h"]
        page.add("SYNOPSIS", synopsis(synopses, commandWords: 2))
        page.add("DESCRIPTION", Prose.roff("""
            spamtune is the admin's command. `classify` loads a checkpoint itself and needs no
            daemon; `status`, `reload` and `retrain` talk to the running spamtuned(8) through its
            control socket (`control_socket` in spamtune.conf(5)), which root, spamtuned's user
            and the group `control_socket_group` names may use.
            """))
        var commands: [String] = []
        for command in AdminCommandLine.commands {
            commands += [".SS " + Roff.argument(command.name)]
            commands += synopsis(command.synopses, commandWords: 2)
            commands += [".PP"] + Prose.roff(command.description)
            commands += ManualPage.options(command.options)
            if !command.output.isEmpty { commands += [".PP"] + Prose.roff(command.output) }
        }
        page.add("COMMANDS", commands)
        page.add("OPTIONS", Prose.roff("Every command, and spamtune itself, also takes:") + ManualPage.options(CommandLineOption.everyTool))
        page.add("FILES", list([
            (SpamtunePaths.configurationFile, "read for `control_socket` when no --socket or --config is given"),
            (SpamtunePaths.stateDirectory + "/models/current", "the checkpoint spamtuned serves, for `classify --checkpoint`"),
        ]))
        page.add("ENVIRONMENT", list([instructionSetVariable]))
        // Each status once, with the commands that give it each meaning.
        var meanings: [(code: Int32, meaning: String, commands: [String])] = []
        for command in AdminCommandLine.commands {
            for status in command.exitStatuses {
                if let index = meanings.firstIndex(where: { $0.code == status.code && $0.meaning == status.meaning }) {
                    meanings[index].commands.append(command.name)
                } else {
                    meanings.append((status.code, status.meaning, [command.name]))
                }
            }
        }
        page.add("EXIT STATUS", Set(meanings.map(\.code)).sorted().flatMap { code in
            [".TP", Roff.bold(String(code))] + meanings.filter { $0.code == code }.enumerated().flatMap { index, entry in
                (index > 0 ? [".br"] : []) + [Roff.text(entry.commands.joined(separator: ", ") + ": " + entry.meaning)]
            }
        })
        page.add("EXAMPLES", Prose.roff("""
            Score a message with the model spamtuned serves, and a text:

              spamtune classify --checkpoint /var/lib/spamtune/models/current message.eml
              spamtune classify --checkpoint DIR --text 'WINNER!! Claim your prize now'

            A head trained by the book's PyTorch code, over a GPT-2:

              spamtune classify --base-model model.safetensors --head head.safetensors - < message.eml

            The daemon's state; serve a model spamtune-train has just promoted:

              spamtune status
              spamtune reload
            """))
        page.add("SEE ALSO", seeAlsoLines("spamtune"))
        return page
    }

    // MARK: spamtune-train(8)

    static func train() -> ManualPage {
        var page = ManualPage(name: "spamtune-train", section: 8, summary: "train, evaluate and promote the GPT-2 spam classifier spamtuned serves")
        page.add("SYNOPSIS", synopsis(
            TrainingCommandLine.commands.map(\.synopsis) + ["spamtune-train --version | -h"], commandWords: 1))
        page.add("DESCRIPTION", Prose.roff("""
            spamtune-train goes from nothing to a checkpoint, each step logged and skipped when its
            output is already complete. It reads the public data sets (the SMS Spam Collection,
            shipped with spamtune; the SpamAssassin public corpus, downloaded), the mail the admin
            labelled (--ham, --spam) and what users taught spamtuned (its feedback store); fetches
            the base model (GPT-2 from Hugging Face or OpenAI, resumed and verified by size and
            hash) or builds the small scratch model from random weights; fine-tunes a 2-class head
            (AdamW); chooses the threshold to serve on the validation split (--target-fpr); and
            measures the test split.

            The new checkpoint, written whole under DIR/models, becomes `current` only if it is not
            worse than the current model on the same test examples (false-positive rate first,
            then F1); a running spamtuned is then told to reload. A run that fails leaves the
            current model serving, and `spamtune-train status` shows why. The base model is the
            admin's decision: only a first run of the default base trains scratch when nothing at
            all can be fetched (--fallback).

            With --config, the state and cache directories, the threads, the control socket and
            the `train_*` keys come from spamtune.conf(5); options given on the command line win.
            The systemd timer `spamtune-train.timer` runs it daily as
            `spamtune-train --config /etc/spamtune/spamtune.conf`.
            """))
        page.add("COMMANDS", TrainingCommandLine.commands.flatMap { command in
            [".TP", Roff.synopsis(command.synopsis, commandWords: 1)] + Prose.roff(command.summary, paragraph: ".IP")
        })
        page.add("OPTIONS", ManualPage.options(TrainingCommandLine.table + CommandLineOption.everyTool))
        page.add("FILES", list([
            (SpamtunePaths.stateDirectory + "/train/", "data, run records, report.md, report.json and plots of each run"),
            (SpamtunePaths.stateDirectory + "/models/", "the checkpoints, one directory per version, and `current`"),
            (SpamtunePaths.stateDirectory + "/feedback/", "what users taught spamtuned (read, never written)"),
            ("/var/cache/spamtune/", "downloads, kept and resumed (~/.cache/spamtune when not root)"),
            ("/usr/share/spamtune/, /usr/local/share/spamtune/", """
                the SMS Spam Collection and the GPT-2 tokenizer shipped with spamtune, and the build's commit record
                """),
        ]))
        page.add("ENVIRONMENT", list([
            ("SPAMTUNE_CACHE_DIR", "the download cache, when neither --cache-dir nor `cache_directory` names one"),
            ("XDG_CACHE_HOME, HOME", "the cache of a user other than root: $XDG_CACHE_HOME/spamtune, else ~/.cache/spamtune"),
            instructionSetVariable,
        ]))
        page.add("EXIT STATUS", exitStatus(TrainingCommandLine.exitStatuses))
        page.add("SECURITY", Prose.roff("""
            Run it as spamtuned's user (spamtune), as the timer does: it writes the checkpoints
            spamtuned reads. What users teach reaches it only through the feedback store, where
            spamtuned admitted only those the admin allows (`learn_allowed_*` in spamtune.conf(5))
            and bounded each reporter's share. Downloads are checked against pinned sizes and
            hashes; archive entries with `..` are refused.
            """))
        page.add("EXAMPLES", Prose.roff("""
              spamtune-train --config /etc/spamtune/spamtune.conf
              spamtune-train --base scratch --offline
              spamtune-train --recipe book
              spamtune-train --ham ~/Maildir/.Archive --spam ~/Maildir/.Junk --every 24h
              spamtune-train status
              spamtune-train rollback && spamtune reload
              spamtune-train export --hf /tmp/spamtune-hf
            """))
        page.add("SEE ALSO", seeAlsoLines("spamtune-train"))
        return page
    }

    // MARK: spamtune.conf(5)

    static func configurationFile(_ documentation: ConfigurationDocumentation) -> ManualPage {
        var page = ManualPage(name: "spamtune.conf", section: 5, summary: "configuration of spamtuned and spamtune-train")
        page.add("SYNOPSIS", [Roff.bold(SpamtunePaths.configurationFile)])
        // The file's first paragraph is its title line.
        let introduction = documentation.introduction.drop { !$0.isEmpty }
        page.add("DESCRIPTION", Prose.roff(lines: Array(introduction.drop { $0.isEmpty })))
        var keys: [String] = []
        for section in documentation.sections {
            keys += [".SS " + Roff.argument(section.title)]
            for item in section.items {
                switch item {
                case let .prose(lines):
                    keys += [".PP"] + Prose.roff(lines: lines)
                case let .entry(settings, prose):
                    var text = prose
                    // The header shows the example the comment announces.
                    if settings.allSatisfy({ !$0.isSet }), let last = text.last {
                        for word in [" Examples:", " Example:", "Examples:", "Example:"] where last.hasSuffix(word) {
                            text[text.count - 1] = String(last.dropLast(word.count))
                            break
                        }
                    }
                    keys += ManualPage.tags(settings.map(tag)) + Prose.roff(lines: text, paragraph: ".IP")
                }
            }
        }
        page.add("KEYS", keys)
        page.add("SECURITY", Prose.roff("""
            Scoring is open to whoever may connect to a socket (its mode, or the `*_allowed_networks`
            of a TCP listener); teaching is not. Only root, spamtuned's own user and those named in
            `learn_allowed_users`, `learn_allowed_groups` (Unix socket, checked by the kernel's peer
            credentials) and `learn_allowed_networks` (TCP) may send TELL; all are `none` by
            default. `allow_senders` trusts a sender address, which is easy to forge: allow a
            domain only where its mail is checked (SPF, DKIM) before it reaches spamtuned. The file
            itself should be writable by root only: it names the command `spamtune retrain` runs.
            """))
        page.add("FILES", list([
            (SpamtunePaths.configurationFile, "read by spamtuned at start, by spamtune-train --config, and by spamtune for the control socket"),
        ]))
        page.add("EXAMPLES", Prose.roff("""
            A site that rejects near-certain spam, lets its own users' mail through unscored, and
            lets the mail admins' group teach:

              reject_threshold = 0.99
              skip_authenticated = yes
              trusted_networks = 192.0.2.0/24
              learn_allowed_groups = mailadmin
              maildir = /home/alice/Maildir

            Check it before restarting:

              spamtuned --config /etc/spamtune/spamtune.conf --check-config
            """))
        page.add("SEE ALSO", seeAlsoLines("spamtune.conf"))
        return page
    }

    static func tag(_ setting: ConfigurationDocumentation.Setting) -> String {
        if setting.isSet { return Roff.bold(setting.name) + " = " + Roff.escape(setting.value) }
        return Roff.bold(setting.name) + " (not set; for example " + Roff.bold("\(setting.name) = \(setting.value)") + ")"
    }
}

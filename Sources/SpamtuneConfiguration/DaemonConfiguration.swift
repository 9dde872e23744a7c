import Foundation
import SpamtuneSupport

/// Every setting of spamtuned, with its default. etc/spamtune.conf documents each key;
/// `DaemonConfiguration.keys` is the single list both the parser and that file's test
/// use, so a key cannot be documented and unknown, or known and undocumented.
public struct DaemonConfiguration: Equatable, Sendable {
    // Model
    public var checkpoint = SpamtunePaths.stateDirectory + "/models/current"
    public var threads = 0  // 0: all cores
    public var maxTokens: Int? = nil  // nil: the checkpoint's
    /// fp32, bf16, int8 or auto: SpamtuneClassifier's `PrecisionSetting` (and
    /// `PrecisionChoice` for auto), which reads this name.
    public var precision = "auto"

    // Verdicts
    /// P(spam) at or above which a message is spam; nil: the checkpoint's threshold.
    public var spamThreshold: Double? = nil
    /// At or above this P(spam) the milter rejects the message with 550 5.7.1; nil: never.
    public var rejectThreshold: Double? = nil
    /// At or above this P(spam) the milter quarantines the message (Postfix hold queue).
    public var quarantineThreshold: Double? = nil
    /// Scores are reported as `scoreScale × P(spam)`, the required score as
    /// `scoreScale × threshold`: 10 gives SpamAssassin-like `7.9 / 5.0`.
    public var scoreScale = 10.0
    public var flagHeader = "X-Spam-Flag"
    public var scoreHeader = "X-Spam-Score"
    public var statusHeader = "X-Spam-Status"

    // Scoring service
    /// A message larger than this is scored on its first part of this size.
    public var maxMessageBytes = 1 << 20
    /// Messages waiting to be scored; beyond it callers wait (back-pressure).
    public var queueLimit = 256
    public var batchMaxMessages = 16
    public var batchMaxTokens = 4096
    /// How long a message may wait for its verdict.
    public var messageDeadline = 30.0
    /// What a message gets when its deadline passes or scoring fails: accept (fail open:
    /// treated as ham, with a header saying it was not scored) or tempfail (4xx; the
    /// sender retries).
    public var failureAction = FailureAction.accept
    /// Verdicts remembered by message text hash (bulk spam repeats itself); 0 disables.
    public var cacheEntries = 10_000

    // Ways in
    public var milterListen: ListenAddress? = .unix(path: "/run/spamtune/milter.sock")
    public var milterSocketMode: UInt16 = 0o660
    public var milterSocketGroup: String? = "postfix"
    /// Additional TCP listener for MTAs on other hosts (`inet:PORT@HOST`).
    public var milterTCPListen: ListenAddress? = nil
    /// Whether a milter listens at all: the reject and quarantine thresholds, and the
    /// queue's milter reserve, matter only then.
    public var servesMilter: Bool { milterListen != nil || milterTCPListen != nil }
    /// Client networks allowed on the milter's TCP listener. Unix sockets rely on their mode.
    public var milterAllowedNetworks: [ClientNetwork] = [
        try! ClientNetwork(parsing: "127.0.0.1/32"), try! ClientNetwork(parsing: "::1/128"),
    ]
    public var spamdListen: ListenAddress? = .unix(path: "/run/spamtune/spamd.sock")
    public var spamdSocketMode: UInt16 = 0o666
    /// Additional TCP listener for a pool of MTAs (spamd's --listen).
    public var spamdTCPListen: ListenAddress? = nil
    /// Client networks allowed on TCP (spamd's -A). Unix sockets rely on their mode.
    public var spamdAllowedNetworks: [ClientNetwork] = [
        try! ClientNetwork(parsing: "127.0.0.1/32"), try! ClientNetwork(parsing: "::1/128"),
    ]
    /// PROCESS, HEADERS and TELL hold the whole message (they answer with it or store
    /// it); larger ones are refused with EX_DATAERR, and spamc passes them through.
    public var spamdMaxBodyBytes = 32 << 20
    public var maildirs: [String] = []
    /// The Maildir++ folder spam is moved to (under each Maildir).
    public var junkFolder = ".Junk"
    public var controlSocket = "/run/spamtune/control.sock"
    public var controlSocketMode: UInt16 = 0o660
    public var controlSocketGroup: String? = nil
    /// What `spamtune retrain` starts: a program and its arguments, split at blanks
    /// (no shell). nil: `spamtune-train --config <this file>`, the spamtune-train beside
    /// spamtuned's own executable.
    public var retrainCommand: [String]? = nil
    /// Where Prometheus scrapes `GET /metrics` (TCP only); nil: no metrics listener.
    public var metricsListen: ListenAddress? = nil

    // Who may teach (TELL, on the spamd sockets). Root and spamtuned's own user always may.
    /// Further users (names or uids) who may teach through the Unix socket.
    public var learnAllowedUsers: [String] = []
    /// Groups whose members (primary or supplementary) may teach through the Unix socket.
    public var learnAllowedGroups: [String] = []
    /// Client networks that may teach over TCP; none by default.
    public var learnAllowedNetworks: [ClientNetwork] = []
    // The feedback store's bounds: the oldest entries make room.
    public var feedbackMaxMessages = 20_000
    public var feedbackMaxBytes = 1 << 30
    /// Entries one reporter (a user, an address, a Maildir's owner) may have in the store.
    public var feedbackMaxPerReporter = 2_000

    // Policy: rules that decide before the model (see Policy, which applies them)
    /// Mail from a client that authenticated (the milter's `{auth_authen}`) is ham unscored.
    public var skipAuthenticated = false
    /// Mail from a client in these networks (the milter's `{client_addr}`) is ham unscored.
    public var trustedNetworks: [ClientNetwork] = []
    /// Senders (addresses, @domains; list files) whose mail is ham unscored.
    public var allowSenders: [SenderListEntry] = []
    /// Senders (addresses, @domains, client networks; list files) whose mail is spam unscored.
    public var denySenders: [SenderListEntry] = []

    // Limits and housekeeping
    public var maxConnections = 512
    /// Connections one client (a uid on the Unix socket, an address on TCP) may hold on
    /// a spamd socket. The milter has none: every Postfix smtpd is the same user.
    public var maxConnectionsPerClient = 32
    /// A new connection that sends nothing for this long is closed.
    public var firstByteTimeout = 10.0
    /// A connection idle for longer than this is closed.
    public var connectionTimeout = 300.0
    /// Places in the scoring queue only the milter may take.
    public var milterQueueReserve = 64
    /// Where the feedback store (TELL, Junk moves) and other state live.
    public var stateDirectory = SpamtunePaths.stateDirectory
    public var logLevel = LogLevel.info

    // Training (spamtune-train --config)
    /// gpt2, gpt2-medium, gpt2-large, gpt2-xl, a local model path, or scratch; nil when
    /// the file does not name one (gpt2, which a first run may replace by scratch offline).
    public var trainBase: String?
    /// What a run does when its pretrained base cannot be had (spamtune-train --fallback):
    /// first-run, scratch or fail.
    public var trainFallback = "first-run"
    public var trainRecipe = "spamtune"
    /// The public data sets to train on (spamtune-train --data): a comma-separated list of
    /// sms and spamassassin, or none; nil for the recipe's default.
    public var trainData: String?
    /// Mail the admin labels: Maildirs, mbox files or directories of .eml.
    public var trainHam: [String] = []
    public var trainSpam: [String] = []
    /// The site's mail without labels, read for next-token pretraining (spamtune-train --unlabelled).
    public var trainUnlabelled: [String] = []
    /// Where downloads are cached.
    public var cacheDirectory = "/var/cache/spamtune"

    public enum FailureAction: String, Sendable { case accept, tempfail }

    public init() {}

    /// The effective spam threshold given the checkpoint's.
    public func spamThreshold(checkpointDefault: Double) -> Double { spamThreshold ?? checkpointDefault }

    public var feedbackDirectory: String { (stateDirectory as NSString).appendingPathComponent("feedback") }
}

public enum LogLevel: String, Comparable, Sendable {
    case debug, info, warning, error
    private var rank: Int { [.debug: 0, .info: 1, .warning: 2, .error: 3][self]! }
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rank < b.rank }
}

extension DaemonConfiguration {
    /// A key of the file: its name, whether it may repeat, and how it sets the value.
    struct Key {
        let name: String
        let repeatable: Bool
        let apply: (inout DaemonConfiguration, String) throws -> Void
    }

    static func key(_ name: String, repeatable: Bool = false, _ apply: @escaping (inout DaemonConfiguration, String) throws -> Void) -> Key {
        Key(name: name, repeatable: repeatable, apply: apply)
    }

    static func optionalAddress(_ text: String) throws -> ListenAddress? {
        text == "off" || text == "no" ? nil : try ListenAddress(parsing: text)
    }

    static func optionalGroup(_ text: String) -> String? { text == "none" || text.isEmpty ? nil : text }

    /// `alice, bob` or `none`.
    static func names(_ text: String) -> [String] {
        let words = text.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
        return words == ["none"] ? [] : words
    }

    static func networks(_ text: String) throws -> [ClientNetwork] {
        let words = names(text)
        return try words.map { try ClientNetwork(parsing: $0) }
    }

    /// `alice@example.org, @example.net, file:/etc/spamtune/allow-senders` or `none`.
    static func senderList(_ text: String, allowingNetworks: Bool) throws -> [SenderListEntry] {
        try names(text).map { try SenderListEntry(parsing: $0, allowingNetworks: allowingNetworks, allowingFiles: true) }
    }

    static let keys: [Key] = [
        key("checkpoint") { $0.checkpoint = $1 },
        key("threads") { $0.threads = try ValueParser.integer($1, 0...1024) },
        key("max_tokens") { $0.maxTokens = $1 == "checkpoint" ? nil : try ValueParser.integer($1, 1...1_000_000) },
        key("precision") { $0.precision = try ValueParser.oneOf($1, Dictionary(uniqueKeysWithValues: precisionNames.map { ($0, $0) })) },
        key("spam_threshold") { $0.spamThreshold = $1 == "checkpoint" ? nil : try ValueParser.probability($1) },
        key("reject_threshold") { $0.rejectThreshold = try ValueParser.optionalProbability($1) },
        key("quarantine_threshold") { $0.quarantineThreshold = try ValueParser.optionalProbability($1) },
        key("score_scale") { $0.scoreScale = try ValueParser.positiveNumber($1) },
        key("flag_header") { $0.flagHeader = try headerName($1) },
        key("score_header") { $0.scoreHeader = try headerName($1) },
        key("status_header") { $0.statusHeader = try headerName($1) },
        key("max_message_size") { $0.maxMessageBytes = try ValueParser.byteCount($1) },
        key("queue_limit") { $0.queueLimit = try ValueParser.integer($1, 1...1_000_000) },
        key("batch_max_messages") { $0.batchMaxMessages = try ValueParser.integer($1, 1...1024) },
        key("batch_max_tokens") { $0.batchMaxTokens = try ValueParser.integer($1, 1...1_000_000) },
        key("message_deadline") { $0.messageDeadline = try ValueParser.duration($1) },
        key("failure_action") { $0.failureAction = try ValueParser.oneOf($1, ["accept": .accept, "tempfail": .tempfail]) },
        key("cache_entries") { $0.cacheEntries = try ValueParser.integer($1, 0...10_000_000) },
        key("milter_listen") { $0.milterListen = try optionalAddress($1) },
        key("milter_socket_mode") { $0.milterSocketMode = try ValueParser.fileMode($1) },
        key("milter_socket_group") { $0.milterSocketGroup = optionalGroup($1) },
        key("milter_tcp_listen") { $0.milterTCPListen = try optionalAddress($1) },
        key("milter_allowed_networks") { $0.milterAllowedNetworks = try networks($1) },
        key("spamd_listen") { $0.spamdListen = try optionalAddress($1) },
        key("spamd_socket_mode") { $0.spamdSocketMode = try ValueParser.fileMode($1) },
        key("spamd_tcp_listen") { $0.spamdTCPListen = try optionalAddress($1) },
        key("spamd_allowed_networks") { $0.spamdAllowedNetworks = try networks($1) },
        key("learn_allowed_users") { $0.learnAllowedUsers = names($1) },
        key("learn_allowed_groups") { $0.learnAllowedGroups = names($1) },
        key("learn_allowed_networks") { $0.learnAllowedNetworks = try networks($1) },
        key("feedback_max_messages") { $0.feedbackMaxMessages = try ValueParser.integer($1, 1...100_000_000) },
        key("feedback_max_bytes") { $0.feedbackMaxBytes = try ValueParser.byteCount($1) },
        key("feedback_max_per_reporter") { $0.feedbackMaxPerReporter = try ValueParser.integer($1, 1...100_000_000) },
        key("spamd_max_body_size") { $0.spamdMaxBodyBytes = try ValueParser.byteCount($1) },
        key("maildir", repeatable: true) { config, value in
            guard value.hasPrefix("/") else { throw ValueError("a Maildir needs an absolute path, not '\(value)'") }
            config.maildirs.append(value)
        },
        key("junk_folder") { config, value in
            guard value.hasPrefix("."), !value.contains("/"), value.count > 1 else {
                throw ValueError("a Maildir++ folder name starts with a dot and has no slash, like .Junk")
            }
            config.junkFolder = value
        },
        key("metrics_listen") { config, value in
            guard !value.isEmpty, value != "off", value != "no" else {
                config.metricsListen = nil
                return
            }
            let address = try ListenAddress(parsing: value)
            if case .unix = address {
                throw ValueError("'\(value)' is a Unix socket: Prometheus scrapes over TCP, give HOST:PORT like 127.0.0.1:9783")
            }
            config.metricsListen = address
        },
        key("control_socket") { config, value in
            guard value.hasPrefix("/") else { throw ValueError("the control socket needs an absolute path") }
            config.controlSocket = value
        },
        key("control_socket_mode") { $0.controlSocketMode = try ValueParser.fileMode($1) },
        key("control_socket_group") { $0.controlSocketGroup = optionalGroup($1) },
        key("retrain_command") { config, value in
            let words = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            config.retrainCommand = words.isEmpty || value == "default" ? nil : words
        },
        key("skip_authenticated") { $0.skipAuthenticated = try ValueParser.boolean($1) },
        key("trusted_networks") { $0.trustedNetworks = try networks($1) },
        key("allow_senders", repeatable: true) { $0.allowSenders += try senderList($1, allowingNetworks: false) },
        key("deny_senders", repeatable: true) { $0.denySenders += try senderList($1, allowingNetworks: true) },
        key("max_connections") { $0.maxConnections = try ValueParser.integer($1, 1...100_000) },
        key("max_connections_per_client") { $0.maxConnectionsPerClient = try ValueParser.integer($1, 1...100_000) },
        key("first_byte_timeout") { $0.firstByteTimeout = try ValueParser.duration($1) },
        key("connection_timeout") { $0.connectionTimeout = try ValueParser.duration($1) },
        key("milter_queue_reserve") { $0.milterQueueReserve = try ValueParser.integer($1, 0...1_000_000) },
        key("state_directory") { config, value in
            guard value.hasPrefix("/") else { throw ValueError("the state directory needs an absolute path") }
            config.stateDirectory = value
        },
        key("train_base") { $0.trainBase = $1 },
        key("train_fallback") { config, value in
            config.trainFallback = try ValueParser.oneOf(value, ["first-run": "first-run", "scratch": "scratch", "fail": "fail"])
        },
        key("train_recipe") { $0.trainRecipe = try ValueParser.oneOf($1, ["book": "book", "spamtune": "spamtune"]) },
        key("train_data") { config, value in
            // Checked here so spamtuned names the line; spamtune-train parses the list itself.
            let names = value.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard names == ["none"] || names.allSatisfy({ ["sms", "spamassassin"].contains($0) }) else {
                throw ValueError("'\(value)' is not a comma-separated list of sms and spamassassin, or none")
            }
            config.trainData = value
        },
        key("train_ham", repeatable: true) { config, value in
            guard value.hasPrefix("/") else { throw ValueError("labelled mail needs an absolute path, not '\(value)'") }
            config.trainHam.append(value)
        },
        key("train_spam", repeatable: true) { config, value in
            guard value.hasPrefix("/") else { throw ValueError("labelled mail needs an absolute path, not '\(value)'") }
            config.trainSpam.append(value)
        },
        key("train_unlabelled", repeatable: true) { config, value in
            guard value.hasPrefix("/") else { throw ValueError("unlabelled mail needs an absolute path, not '\(value)'") }
            config.trainUnlabelled.append(value)
        },
        key("cache_directory") { config, value in
            guard value.hasPrefix("/") else { throw ValueError("the cache directory needs an absolute path") }
            config.cacheDirectory = value
        },
        key("log_level") { $0.logLevel = try ValueParser.oneOf($1, ["debug": .debug, "info": .info, "warning": .warning, "error": .error]) },
    ]

    package static var keyNames: [String] { keys.map(\.name) }

    /// The values of `precision`; a test holds them equal to `PrecisionSetting.names`.
    package static let precisionNames = ["fp32", "bf16", "int8", "auto"]

    static func headerName(_ text: String) throws -> String {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") }) else {
            throw ValueError("'\(text)' is not a valid header field name")
        }
        return text
    }

    /// The configuration a file describes (defaults for what it leaves out).
    package init(file: ConfigurationFile) throws {
        self.init()
        let byName = Dictionary(uniqueKeysWithValues: Self.keys.map { ($0.name, $0) })
        var seen: [String: Int] = [:]
        for entry in file.entries {
            guard let key = byName[entry.key] else {
                throw ConfigurationError(path: file.path, line: entry.line, message: "unknown key '\(entry.key)'")
            }
            if let first = seen[entry.key], !key.repeatable {
                throw ConfigurationError(path: file.path, line: entry.line, message: "'\(entry.key)' is already set on line \(first)")
            }
            seen[entry.key] = seen[entry.key] ?? entry.line
            do {
                try key.apply(&self, entry.value)
            } catch let error as ValueError {
                throw ConfigurationError(path: file.path, line: entry.line, message: "\(entry.key): \(error.message)")
            }
        }
        if milterQueueReserve >= queueLimit {
            throw ConfigurationError(
                path: file.path, line: seen["milter_queue_reserve"] ?? seen["queue_limit"],
                message: "milter_queue_reserve \(milterQueueReserve) leaves no place in queue_limit \(queueLimit) for the other ways in")
        }
        if let reject = rejectThreshold, let spam = spamThreshold, reject < spam {
            throw ConfigurationError(path: file.path, line: seen["reject_threshold"], message: "reject_threshold \(reject) is below spam_threshold \(spam)")
        }
    }

    public static func load(_ path: String) throws -> DaemonConfiguration {
        try DaemonConfiguration(file: ConfigurationFile.read(path))
    }
}

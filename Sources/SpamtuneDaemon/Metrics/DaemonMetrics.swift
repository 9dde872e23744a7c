import Foundation
import SpamtuneClassifier
import SpamtuneSupport

#if canImport(Glibc)
import Glibc
#endif

/// What `GET /metrics` shows: the counts `ServiceStatistics` keeps for `spamtune status`
/// (one source for both), the served model, and the process. README "Monitoring" lists
/// every family.
enum DaemonMetrics {
    /// The ways in that carry mail, and those that listen for connections.
    static let mailWaysIn: [Channel] = [.milter, .spamd, .maildir]
    static let listenerNames = ["milter", "spamd", "control", "metrics"]
    /// The evaluation figures spamtune-train records in the manifest, by split and measure.
    static let evaluationSplits = ["train", "validation", "test"]
    static let evaluationMeasures = ["accuracy", "precision", "recall", "f1", "false_positive_rate"]

    static func page(service: ScoringService) -> String {
        let totals = service.statistics.totals()
        let model = service.currentModel
        var page = MetricsPage()

        page.family(
            "spamtune_messages_total", .counter,
            "Messages a way in has acted on, by way in (milter, spamd, maildir), verdict (spam, ham, unscored, tempfail) and action.",
            totals.messages.sorted { $0.key.sortKey.lexicographicallyPrecedes($1.key.sortKey) }.map { key, count in
                ([("way_in", key.channel.rawValue), ("verdict", key.verdict), ("action", key.action.rawValue)], Double(count))
            })
        page.family(
            "spamtune_policy_decisions_total", .counter, "Messages decided by an admin's rule without the model, by rule.",
            PolicyRule.allCases.map { rule in ([("rule", rule.rawValue)], Double(totals.snapshot.counts["policy.\(rule.rawValue)"] ?? 0)) })
        page.family(
            "spamtune_verdicts_cached_total", .counter, "Verdicts answered from the cache of recent texts (an identical text scored before).",
            Double(totals.snapshot.counts["total.cached"] ?? 0))
        page.histogram(
            "spamtune_scoring_duration_seconds",
            "Time from a message reaching the scoring service to its verdict (queue wait included), by way in; policy decisions excluded.",
            mailWaysIn.map { channel in
                ([("way_in", channel.rawValue)], totals.latency[channel] ?? Histogram(bounds: ServiceStatistics.latencyBounds))
            })
        page.family("spamtune_scoring_batches_total", .counter, "Batches the model has scored.", Double(totals.snapshot.batches))
        page.family("spamtune_scoring_batched_messages_total", .counter, "Messages scored in those batches.", Double(totals.batchedMessages))
        page.family("spamtune_queue_depth", .gauge, "Messages waiting for the model now.", Double(service.queueDepth))
        page.family("spamtune_queue_depth_max", .gauge, "The most messages that have waited at once since the start.", Double(totals.snapshot.maximumQueueDepth))
        page.family("spamtune_queue_limit", .gauge, "Messages that may wait (queue_limit); beyond it callers wait.", Double(service.settings.queueLimit))

        let listeners = listenerNames.map { ($0, totals.listeners[$0]) }
        page.family(
            "spamtune_connections", .gauge, "Connections open now, by way in.",
            listeners.compactMap { name, counts in counts.map { ([("way_in", name)], Double($0.active)) } })
        page.family(
            "spamtune_connections_accepted_total", .counter, "Connections accepted, by way in.",
            listeners.compactMap { name, counts in counts.map { ([("way_in", name)], Double($0.accepted)) } })
        page.family(
            "spamtune_connections_refused_total", .counter,
            "Connections turned away, by way in and reason (max-connections, max-connections-per-client, network-not-allowed).",
            listeners.flatMap { name, counts in
                counts.map { counts in ConnectionRefusal.allCases.map { ([("way_in", name), ("reason", $0.rawValue)], Double(counts.refused[$0] ?? 0)) } } ?? []
            })
        page.family(
            "spamtune_connections_closed_total", .counter,
            "Connections closed by spamtuned before the peer was done, by way in and reason (evicted-silent, first-byte-timeout, idle-timeout).",
            listeners.flatMap { name, counts in
                counts.map { counts in ConnectionClosing.allCases.map { ([("way_in", name), ("reason", $0.rawValue)], Double(counts.closed[$0] ?? 0)) } } ?? []
            })
        page.family(
            "spamtune_request_errors_total", .counter,
            "Requests that broke their protocol or could not be served, by way in and reason (spamd: the exit code's name; milter: protocol, timeout-in-message).",
            totals.requestErrors.sorted { ($0.key.channel.rawValue, $0.key.reason) < ($1.key.channel.rawValue, $1.key.reason) }.map { key, count in
                ([("way_in", key.channel.rawValue), ("reason", key.reason)], Double(count))
            })

        page.family(
            "spamtune_feedback_total", .counter,
            "Messages the feedback store took (TELL, moves in and out of Junk), by label and change (added, relabelled, unchanged).",
            Label.allCases.flatMap { label in
                ["added", "relabelled", "unchanged"].map { change in
                    ([("label", label.name), ("change", change)], Double(totals.feedback[.init(label: label, change: change)] ?? 0))
                }
            })
        page.family("spamtune_tell_refused_total", .counter, "TELL requests refused: the peer is not allowed to teach.", Double(totals.refusedTells))
        page.family(
            "spamtune_reloads_total", .counter, "Model reloads, by result (ok; failed: the old model kept serving).",
            [([("result", "ok")], Double(totals.snapshot.reloads)), ([("result", "failed")], Double(totals.failedReloads))])
        page.family(
            "spamtune_retrains_total", .counter,
            "spamtune retrain runs, by event (started, refused: not started; succeeded, failed: how a started run ended).",
            ServiceStatistics.RetrainEvent.allCases.map { ([("event", $0.rawValue)], Double(totals.retrains[$0] ?? 0)) })

        page.family("spamtune_model_info", .gauge, "The model serving now (always 1), by version.", [([("version", model.version)], 1)])
        page.family(
            "spamtune_model_threshold", .gauge, "P(spam) at or above which a message is spam, as served.",
            service.settings.spamThreshold ?? model.classifier.threshold)
        page.family("spamtune_model_loaded_timestamp_seconds", .gauge, "When the serving model was loaded (Unix time).", model.loadedAt.timeIntervalSince1970)
        if let created = model.classifier.manifest.flatMap({ ISO8601DateFormatter().date(from: $0.createdAt) }) {
            page.family("spamtune_model_created_timestamp_seconds", .gauge, "When the serving model was trained (Unix time).", created.timeIntervalSince1970)
        }
        let evaluation = evaluationFigures(model.classifier.manifest)
        if !evaluation.isEmpty {
            page.family(
                "spamtune_model_evaluation", .gauge,
                "The serving model's figures from its training run at its threshold, by split (train, validation, test) and measure.", evaluation)
        }

        page.family("spamtune_build_info", .gauge, "spamtuned's release and commit (always 1).", [
            ([("version", SpamtuneVersion.release), ("commit", SpamtuneVersion.commit ?? "unknown")], 1)
        ])
        ProcessFigures.read(startedAt: service.statistics.startedAt).add(to: &page)
        return page.text
    }

    /// `metrics.test_accuracy` and its kin from the manifest's training record.
    static func evaluationFigures(_ manifest: CheckpointManifest?) -> [([(String, String)], Double)] {
        guard case let .object(metrics)? = manifest?.training?.values["metrics"] else { return [] }
        var figures: [([(String, String)], Double)] = []
        for split in evaluationSplits {
            for measure in evaluationMeasures {
                if case let .number(value)? = metrics["\(split)_\(measure)"], value.isFinite {
                    figures.append(([("split", split), ("measure", measure)], value))
                }
            }
        }
        return figures
    }
}

extension ServiceStatistics.MessageKey {
    var sortKey: [String] { [channel.rawValue, verdict, action.rawValue] }
}

/// The `process_*` families every Prometheus client exports, read from /proc.
struct ProcessFigures {
    var residentBytes: Double?
    var virtualBytes: Double?
    var cpuSeconds: Double?
    var startTime: Double
    var openDescriptors: Double?
    var maximumDescriptors: Double?

    static func read(startedAt: Date) -> ProcessFigures {
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var figures = ProcessFigures(startTime: startedAt.timeIntervalSince1970)
        // /proc/self/stat: the fields after the command name (which may hold spaces), from field 3.
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            func field(_ number: Int) -> Double? { fields.count > number - 3 ? Double(fields[number - 3]) : nil }
            if let user = field(14), let system = field(15), ticks > 0 { figures.cpuSeconds = (user + system) / ticks }
            if let virtual = field(23) { figures.virtualBytes = virtual }
            if let resident = field(24) { figures.residentBytes = resident * pageSize }
            if let started = field(22), ticks > 0, let boot = bootTime() { figures.startTime = boot + started / ticks }
        }
        figures.openDescriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")).map { Double($0.count) }
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 { figures.maximumDescriptors = Double(limit.rlim_cur) }
        return figures
    }

    /// `btime` from /proc/stat: when the system booted (Unix time).
    private static func bootTime() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    func add(to page: inout MetricsPage) {
        if let cpuSeconds { page.family("process_cpu_seconds_total", .counter, "Total user and system CPU time spent in seconds.", cpuSeconds) }
        if let openDescriptors { page.family("process_open_fds", .gauge, "Number of open file descriptors.", openDescriptors) }
        if let maximumDescriptors { page.family("process_max_fds", .gauge, "Maximum number of open file descriptors.", maximumDescriptors) }
        if let virtualBytes { page.family("process_virtual_memory_bytes", .gauge, "Virtual memory size in bytes.", virtualBytes) }
        if let residentBytes { page.family("process_resident_memory_bytes", .gauge, "Resident memory size in bytes.", residentBytes) }
        page.family("process_start_time_seconds", .gauge, "Start time of the process since unix epoch in seconds.", startTime)
    }
}

extension SpamdStatus {
    /// A spamd error's reason in `spamtune_request_errors_total`: the exit code's name,
    /// as spamc reports it (EX_PROTOCOL, EX_TIMEOUT, ...).
    var metricReason: String { description }
}

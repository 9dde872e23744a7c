import Foundation
import SpamtuneClassifier
import SpamtuneCommandLines
import SpamtuneConfiguration
import SpamtuneControl
import SpamtuneSupport

/// What `status`, `reload` and `retrain` share: finding the control socket, asking, and
/// printing the answer as text or JSON.
enum ControlCommandLine {
    static func parse(_ tool: CommandLineTool, _ arguments: [String]) throws -> ParsedArguments {
        let parsed = tool.parse(ArgumentSpecification(AdminCommandLine.controlOptions), arguments)
        try parsed.rejectPositionals()
        if parsed.has("socket") && parsed.has("config") {
            throw ArgumentError.conflicting("give either --socket or --config, not both")
        }
        return parsed
    }

    static func socketPath(_ parsed: ParsedArguments) throws -> String {
        if let socket = parsed.value("socket") { return socket }
        if let config = parsed.value("config") { return try DaemonConfiguration.load(config).controlSocket }
        if FileManager.default.fileExists(atPath: SpamtunePaths.configurationFile) {
            return try DaemonConfiguration.load(SpamtunePaths.configurationFile).controlSocket
        }
        return DaemonConfiguration().controlSocket
    }

    /// Sends `command`; prints the answer (text by `describe`, or JSON) and returns the
    /// exit status.
    static func run(
        _ tool: CommandLineTool, _ command: ControlCommand, _ arguments: [String], describe: (ControlResponse) -> String
    ) throws -> Int32 {
        let parsed = try parse(tool, arguments)
        let response: ControlResponse
        do {
            response = try ControlClient(socketPath: try socketPath(parsed)).send(command)
        } catch let error as ControlClientError {
            FileHandle.standardError.write(Data("spamtune \(command.rawValue): \(error)\n".utf8))
            if case .notRunning = error { return AdminCommandLine.notRunningStatus }
            return 1
        }
        if parsed.has("json") {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(response), as: UTF8.self))
        } else if response.ok {
            print(describe(response), terminator: "")
        }
        if !response.ok {
            FileHandle.standardError.write(Data("spamtune \(command.rawValue): \(response.error ?? "the daemon refused")\n".utf8))
            return 1
        }
        return 0
    }

    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds)
        let (days, hours, minutes) = (total / 86400, total % 86400 / 3600, total % 3600 / 60)
        if days > 0 { return "\(days)d \(hours)h \(minutes)m" }
        if hours > 0 { return "\(hours)h \(minutes)m" }
        if minutes > 0 { return "\(minutes)m \(total % 60)s" }
        return String(format: "%.1fs", seconds)
    }

    static func describe(_ retrain: RetrainState) -> String {
        if retrain.running { return "pid \(retrain.pid) running since \(retrain.startedAt); output in \(retrain.log)" }
        let how = retrain.exitStatus.map { $0 == 0 ? "succeeded" : "failed with exit status \($0)" } ?? "ended"
        return "pid \(retrain.pid) started \(retrain.startedAt) \(how); output in \(retrain.log)"
    }
}

/// `spamtune status`: the running daemon's model, counts, latency and queue.
enum StatusCommand {
    static func run(_ tool: CommandLineTool, _ arguments: [String]) throws -> Int32 {
        try ControlCommandLine.run(tool, .status, arguments) { response in
            guard let status = response.status else { return "spamtuned answered without a status\n" }
            return text(status)
        }
    }

    static func text(_ status: DaemonStatus) -> String {
        var lines: [String] = []
        func row(_ label: String, _ value: String) { lines.append(label.padding(toLength: 11, withPad: " ", startingAt: 0) + value) }
        row("spamtuned", "pid \(status.pid), up \(ControlCommandLine.duration(status.uptimeSeconds)) (since \(status.startedAt))")
        row("model", "\(status.model.version), threshold \(String(format: "%.2f", status.model.threshold)), loaded \(status.model.loadedAt)")
        row("", "from \(status.model.origin)")
        if let reason = status.model.precisionReason { row("precision", reason) }
        if let warning = status.model.training.map(TrainingRecord.init(values:))?.noMailWarning { row("warning", warning) }
        let metrics = metricLines(status.model.training)
        if !metrics.isEmpty {
            row("metrics", metrics[0])
            for line in metrics.dropFirst() { row("", line) }
        }
        let columns = ["spam", "ham", "unscored", "tempfail"]
        let ways = status.verdicts.keys.filter { $0 != "total" }.sorted() + (status.verdicts["total"] != nil ? ["total"] : [])
        if ways.isEmpty {
            row("verdicts", "none yet")
        } else {
            row("verdicts", "way in    " + columns.map { $0.leftPadded(9) }.joined())
            for way in ways {
                let counts = status.verdicts[way] ?? [:]
                row("", way.padding(toLength: 10, withPad: " ", startingAt: 0) + columns.map { String(counts[$0] ?? 0).leftPadded(9) }.joined())
            }
            row("", "\(status.cachedVerdicts) answered from the cache")
            if let decided = status.policyDecisions, !decided.isEmpty {
                row("", "decided by policy rules: " + decided.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            }
        }
        if let p50 = status.latency.p50, let p90 = status.latency.p90, let p99 = status.latency.p99 {
            row("latency", String(format: "p50 %.1f ms, p90 %.1f ms, p99 %.1f ms", p50, p90, p99))
        }
        row("queue", "\(status.queueDepth) waiting (at most \(status.maximumQueueDepth) so far, limit \(status.queueLimit))")
        row("batches", String(format: "%d, %.1f messages each", status.batches, status.meanBatchSize))
        row("reloads", "\(status.reloads)")
        if let feedback = status.feedback { row("feedback", "\(feedback.spam) spam, \(feedback.ham) ham labelled by users") }
        if let retrain = status.retrain { row("retrain", ControlCommandLine.describe(retrain)) }
        for (index, line) in status.listening.enumerated() { row(index == 0 ? "listening" : "", line) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The numbers of the checkpoint's training record (its `metrics` when it has them),
    /// as `name value` lines, at most 12.
    static func metricLines(_ training: [String: JSONValue]?) -> [String] {
        guard let training else { return [] }
        let root: JSONValue = training["metrics"] ?? .object(training)
        var found: [(String, Double)] = []
        func walk(_ value: JSONValue, _ path: String) {
            switch value {
            case let .number(number): found.append((path, number))
            case let .object(members): for key in members.keys.sorted() { walk(members[key]!, path.isEmpty ? key : "\(path).\(key)") }
            default: break
            }
        }
        walk(root, "")
        return found.prefix(12).map { name, value in
            value == value.rounded() && abs(value) < 1e15 ? "\(name) \(Int(value))" : "\(name) \(String(format: "%.4g", value))"
        }
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

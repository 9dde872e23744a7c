import Foundation
import SpamtuneConfiguration
import SpamtuneSupport

// The control socket speaks JSON lines: the client sends one request object per line,
// `{"command":"status"}`, and gets one response object per line,
// `{"ok":true,"status":{...}}` or `{"ok":false,"error":"..."}`. A connection may carry
// several requests; either side may close it after any answer.

public enum ControlCommand: String, Codable, Sendable, CaseIterable {
    /// Model, counts, latency, queue: `spamtune status`.
    case status
    /// Load the current checkpoint again and swap it in: `spamtune reload`.
    case reload
    /// Start the training command in the background: `spamtune retrain`.
    case retrain
}

public struct ControlRequest: Codable, Sendable, Equatable {
    public var command: ControlCommand
    public init(command: ControlCommand) { self.command = command }
}

public struct ControlResponse: Codable, Sendable {
    public var ok: Bool
    public var error: String?
    public var status: DaemonStatus?
    public var reload: ReloadOutcome?
    public var retrain: RetrainState?

    public init(ok: Bool, error: String? = nil, status: DaemonStatus? = nil, reload: ReloadOutcome? = nil, retrain: RetrainState? = nil) {
        self.ok = ok
        self.error = error
        self.status = status
        self.reload = reload
        self.retrain = retrain
    }

    public static func failure(_ message: String) -> ControlResponse { ControlResponse(ok: false, error: message) }
}

/// What `spamtune status` shows.
public struct DaemonStatus: Codable, Sendable {
    public var pid: Int32
    public var startedAt: String
    public var uptimeSeconds: Double
    public var model: ModelStatus
    /// Verdicts by way in (`milter`, `spamd`, `maildir`, ... and `total`), then by
    /// verdict (`spam`, `ham`, `unscored`, `tempfail`).
    public var verdicts: [String: [String: Int]]
    /// Verdicts answered from the cache of identical texts.
    public var cachedVerdicts: Int
    /// Of the verdicts, those a policy rule gave without the model, by rule
    /// (`authenticated`, `trusted-network`, `allow-list`, `deny-list`).
    public var policyDecisions: [String: Int]? = nil
    public var latency: LatencyPercentiles
    public var queueDepth: Int
    public var maximumQueueDepth: Int
    public var queueLimit: Int
    public var batches: Int
    public var meanBatchSize: Double
    public var reloads: Int
    /// Where the daemon takes work: one line per way in.
    public var listening: [String]
    public var feedback: FeedbackCounts?
    /// The last (or running) retrain, if any since the daemon started.
    public var retrain: RetrainState?

    package init(
        pid: Int32, startedAt: String, uptimeSeconds: Double, model: ModelStatus, verdicts: [String: [String: Int]],
        cachedVerdicts: Int, policyDecisions: [String: Int]? = nil, latency: LatencyPercentiles, queueDepth: Int,
        maximumQueueDepth: Int, queueLimit: Int, batches: Int, meanBatchSize: Double, reloads: Int, listening: [String],
        feedback: FeedbackCounts?, retrain: RetrainState?
    ) {
        self.pid = pid
        self.startedAt = startedAt
        self.uptimeSeconds = uptimeSeconds
        self.model = model
        self.verdicts = verdicts
        self.cachedVerdicts = cachedVerdicts
        self.policyDecisions = policyDecisions
        self.latency = latency
        self.queueDepth = queueDepth
        self.maximumQueueDepth = maximumQueueDepth
        self.queueLimit = queueLimit
        self.batches = batches
        self.meanBatchSize = meanBatchSize
        self.reloads = reloads
        self.listening = listening
        self.feedback = feedback
        self.retrain = retrain
    }
}

/// Messages users labelled, in the feedback store.
public struct FeedbackCounts: Sendable, Equatable, Codable {
    public var spam: Int
    public var ham: Int
    public var total: Int { spam + ham }

    package init(spam: Int, ham: Int) {
        self.spam = spam
        self.ham = ham
    }
}

public struct ModelStatus: Codable, Sendable {
    public var version: String
    public var origin: String
    public var loadedAt: String
    public var threshold: Double
    /// The checkpoint manifest's training record (hyper-parameters, metrics), if any.
    public var training: [String: JSONValue]?
    /// What the model computes in (fp32, bf16, int8) and why; nil from an older spamtuned.
    public var precision: String?
    public var precisionReason: String?

    package init(
        version: String, origin: String, loadedAt: String, threshold: Double, training: [String: JSONValue]?,
        precision: String? = nil, precisionReason: String? = nil
    ) {
        self.version = version
        self.origin = origin
        self.loadedAt = loadedAt
        self.threshold = threshold
        self.training = training
        self.precision = precision
        self.precisionReason = precisionReason
    }
}

/// Milliseconds from a message's arrival to its verdict, over the recent messages.
public struct LatencyPercentiles: Codable, Sendable {
    public var p50: Double?
    public var p90: Double?
    public var p99: Double?

    package init(p50: Double?, p90: Double?, p99: Double?) {
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
    }
}

public struct ReloadOutcome: Codable, Sendable {
    public var previousVersion: String
    public var version: String

    package init(previousVersion: String, version: String) {
        self.previousVersion = previousVersion
        self.version = version
    }
}

public struct RetrainState: Codable, Sendable {
    public var pid: Int32
    public var command: [String]
    public var startedAt: String
    /// Where the command's output goes.
    public var log: String
    public var running: Bool
    /// The exit status once it has ended (128 + N when killed by signal N).
    public var exitStatus: Int32?

    package init(pid: Int32, command: [String], startedAt: String, log: String, running: Bool, exitStatus: Int32?) {
        self.pid = pid
        self.command = command
        self.startedAt = startedAt
        self.log = log
        self.running = running
        self.exitStatus = exitStatus
    }
}

public enum ControlClientError: Error, Equatable, CustomStringConvertible {
    case notRunning(path: String, detail: String)
    case failed(String)

    public var description: String {
        switch self {
        case let .notRunning(path, detail): "spamtuned is not running (\(detail.isEmpty ? "no socket at \(path)" : detail))"
        case let .failed(message): message
        }
    }
}

/// The client side, for `spamtune status|reload|retrain`.
public struct ControlClient: Sendable {
    public let socketPath: String
    public var timeout: Double

    public init(socketPath: String, timeout: Double = 300) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    /// Sends one command and returns the daemon's answer (which may say it failed).
    public func send(_ command: ControlCommand) throws -> ControlResponse {
        let socket: ClientSocket
        do {
            socket = try ClientSocket(connectingTo: .unix(path: socketPath), timeout: timeout)
        } catch let failure as ClientSocket.Failure {
            if case let .noServer(detail) = failure { throw ControlClientError.notRunning(path: socketPath, detail: detail) }
            throw ControlClientError.failed("\(failure) (is control_socket_mode/control_socket_group letting you in?)")
        }
        defer { socket.close() }
        let request = try JSONEncoder().encode(ControlRequest(command: command))
        do {
            try socket.write(Array(request) + [UInt8(ascii: "\n")])
            guard let line = try socket.readLine() else {
                throw ControlClientError.failed("spamtuned closed the control connection without answering")
            }
            return try JSONDecoder().decode(ControlResponse.self, from: Data(line))
        } catch let error as ControlClientError {
            throw error
        } catch let error as DecodingError {
            throw ControlClientError.failed("spamtuned's answer is not understood (\(error)); are spamtune and spamtuned the same version?")
        } catch {
            throw ControlClientError.failed("talking to spamtuned on \(socketPath): \(error)")
        }
    }
}

import Foundation
import SpamtuneClassifier

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
}

public struct ModelStatus: Codable, Sendable {
    public var version: String
    public var origin: String
    public var loadedAt: String
    public var threshold: Double
    /// The checkpoint manifest's training record (hyper-parameters, metrics), if any.
    public var training: [String: JSONValue]?
}

/// Milliseconds from a message's arrival to its verdict, over the recent messages.
public struct LatencyPercentiles: Codable, Sendable {
    public var p50: Double?
    public var p90: Double?
    public var p99: Double?
}

public struct ReloadOutcome: Codable, Sendable {
    public var previousVersion: String
    public var version: String
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

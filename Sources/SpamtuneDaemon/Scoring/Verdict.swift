/// Which way a message came in.
public enum Channel: String, Sendable, CaseIterable {
    case milter, spamd, maildir, control
}

/// The daemon's answer for one message.
public struct Verdict: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        /// The model read the message.
        case scored
        /// An identical text was scored before by the same model.
        case cached
        /// Not scored (deadline passed, or scoring failed): treated as ham, as configured.
        case failedOpen(reason: String)
        /// Not scored: the sender should retry later (4xx).
        case temporaryFailure(reason: String)
    }

    public var outcome: Outcome
    public var isSpam: Bool
    public var spamProbability: Double
    public var threshold: Double
    public var tokens: Int
    public var modelVersion: String
    public var milliseconds: Double

    public var wasScored: Bool {
        switch outcome {
        case .scored, .cached: true
        default: false
        }
    }

    /// SpamAssassin-style score: `scale × P(spam)`.
    public func score(scale: Double) -> Double { scale * spamProbability }
    public func requiredScore(scale: Double) -> Double { scale * threshold }

    public var label: String {
        switch outcome {
        case .scored, .cached: isSpam ? "spam" : "ham"
        case .failedOpen: "unscored"
        case .temporaryFailure: "tempfail"
        }
    }
}

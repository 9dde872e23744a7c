import SpamtuneClassifier

/// Which way a message came in.
enum Channel: String, Sendable, CaseIterable {
    case milter, spamd, maildir, control
}

/// The daemon's answer for one message.
struct Verdict: Sendable, Equatable {
    enum Outcome: Sendable, Equatable {
        /// The model read the message.
        case scored
        /// An identical text was scored before by the same model.
        case cached
        /// Not scored (deadline passed, or scoring failed): treated as ham, as configured.
        case failedOpen(reason: String)
        /// Not scored: the sender should retry later (4xx).
        case temporaryFailure(reason: String)
        /// Not given to the model: an admin's rule decided (`Policy`), matching `entry`
        /// of its list when it has one.
        case policy(rule: PolicyRule, entry: String?)
    }

    var outcome: Outcome
    /// Spam or ham. A message that was not scored carries P(spam) 0: ham, as the
    /// failure action says to deliver it.
    var decision: Decision
    var tokens: Int
    var modelVersion: String
    var milliseconds: Double

    init(outcome: Outcome, decision: Decision, tokens: Int, modelVersion: String, milliseconds: Double) {
        self.outcome = outcome
        self.decision = decision
        self.tokens = tokens
        self.modelVersion = modelVersion
        self.milliseconds = milliseconds
    }

    var isSpam: Bool { decision.isSpam }
    var spamProbability: Double { decision.spamProbability }
    var threshold: Double { decision.threshold }

    /// The model read the message (now or before).
    var wasScored: Bool {
        switch outcome {
        case .scored, .cached: true
        default: false
        }
    }

    /// Spam or ham for certain: by the model or by a policy rule (not a failure).
    var isDecided: Bool {
        switch outcome {
        case .scored, .cached, .policy: true
        case .failedOpen, .temporaryFailure: false
        }
    }

    /// SpamAssassin-style score: `scale × P(spam)`.
    func score(scale: Double) -> Double { scale * spamProbability }
    func requiredScore(scale: Double) -> Double { scale * threshold }

    var label: String {
        switch outcome {
        case .scored, .cached, .policy: decision.label.name
        case .failedOpen: "unscored"
        case .temporaryFailure: "tempfail"
        }
    }
}

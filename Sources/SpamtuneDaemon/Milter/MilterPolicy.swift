import Foundation
import SpamtuneConfiguration

/// What the milter does with a verdict: the configured thresholds, and the header fields
/// every way in writes.
struct MilterPolicy: Sendable, Equatable {
    var verdictHeaders: VerdictHeaders
    /// P(spam) at or above which spam is rejected (550 5.7.1); nil: never.
    var rejectThreshold: Double?
    /// P(spam) at or above which spam is quarantined (Postfix: the hold queue); nil: never.
    var quarantineThreshold: Double?

    init(_ configuration: DaemonConfiguration, headers: VerdictHeaders) {
        verdictHeaders = headers
        rejectThreshold = configuration.rejectThreshold
        quarantineThreshold = configuration.quarantineThreshold
    }

    /// The headers spamtune writes; copies that arrive with the message are removed, so a
    /// sender cannot pre-set `X-Spam-Flag: NO`.
    var headerNames: [String] { verdictHeaders.names }

    enum Action: Equatable, Sendable {
        /// Deliver, with the headers.
        case accept
        /// Deliver to the quarantine (with the headers), for this reason.
        case quarantine(reason: String)
        /// Refuse with this SMTP reply (5xx).
        case reject(reply: String)
        /// Ask the sender to retry later with this SMTP reply (4xx).
        case temporaryFailure(reply: String)
    }

    struct Decision: Equatable, Sendable {
        var action: Action
        /// Header fields to add, in order.
        var headers: [Header]
    }

    struct Header: Equatable, Sendable {
        var name: String
        var value: String
    }

    /// Spam is rejected or quarantined only when it is spam by the spam threshold as well
    /// as at or above the reject or quarantine threshold, so a low reject threshold never
    /// turns away a message the model calls ham.
    func decide(_ verdict: Verdict) -> Decision {
        switch verdict.outcome {
        case let .temporaryFailure(reason):
            return Decision(
                action: .temporaryFailure(reply: "451 4.7.1 Message not checked for spam (\(VerdictHeaders.clean(reason, limit: 80))); try again later"),
                headers: [])
        case let .failedOpen(reason):
            let status = verdictHeaders.unscoredStatus(reason: reason, modelVersion: verdict.modelVersion)
            return Decision(action: .accept, headers: [Header(name: status.name, value: status.value)])
        case .scored, .cached, .policy:
            break
        }
        let score = verdictHeaders.score(verdict)
        let required = verdictHeaders.requiredScore(verdict)
        // A denied sender's mail is spam at P(spam) 1, so it meets any threshold.
        var denied = false
        if case .policy(.denyList, _) = verdict.outcome { denied = true }
        if verdict.isSpam, let reject = rejectThreshold, verdict.spamProbability >= reject {
            let why = denied ? "the sender is on the deny list" : "score \(score), required \(required)"
            return Decision(action: .reject(reply: "550 5.7.1 Message rejected as spam (\(why))"), headers: [])
        }
        let headers = verdictHeaders.fields(for: verdict).map { Header(name: $0.name, value: $0.value) }
        if verdict.isSpam, let quarantine = quarantineThreshold, verdict.spamProbability >= quarantine {
            let why = denied ? "the sender is on the deny list" : "spam score \(score), required \(required)"
            return Decision(action: .quarantine(reason: "spamtune: \(why)"), headers: headers)
        }
        return Decision(action: .accept, headers: headers)
    }
}

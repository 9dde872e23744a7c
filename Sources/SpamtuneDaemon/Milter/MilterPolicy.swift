import Foundation

/// What the milter does with a verdict: the configured thresholds and header names.
public struct MilterPolicy: Sendable, Equatable {
    public var flagHeader = "X-Spam-Flag"
    public var scoreHeader = "X-Spam-Score"
    public var statusHeader = "X-Spam-Status"
    /// P(spam) at or above which spam is rejected (550 5.7.1); nil: never.
    public var rejectThreshold: Double?
    /// P(spam) at or above which spam is quarantined (Postfix: the hold queue); nil: never.
    public var quarantineThreshold: Double?
    public var scoreScale = 10.0

    public init() {}

    public init(_ configuration: DaemonConfiguration) {
        flagHeader = configuration.flagHeader
        scoreHeader = configuration.scoreHeader
        statusHeader = configuration.statusHeader
        rejectThreshold = configuration.rejectThreshold
        quarantineThreshold = configuration.quarantineThreshold
        scoreScale = configuration.scoreScale
    }

    /// The headers spamtune writes; copies that arrive with the message are removed, so a
    /// sender cannot pre-set `X-Spam-Flag: NO`.
    public var headerNames: [String] { [flagHeader, scoreHeader, statusHeader] }

    public enum Action: Equatable, Sendable {
        /// Deliver, with the headers.
        case accept
        /// Deliver to the quarantine (with the headers), for this reason.
        case quarantine(reason: String)
        /// Refuse with this SMTP reply (5xx).
        case reject(reply: String)
        /// Ask the sender to retry later with this SMTP reply (4xx).
        case temporaryFailure(reply: String)
    }

    public struct Decision: Equatable, Sendable {
        public var action: Action
        /// Header fields to add, in order.
        public var headers: [Header]
    }

    public struct Header: Equatable, Sendable {
        public var name: String
        public var value: String
    }

    /// Spam is rejected or quarantined only when it is spam by the spam threshold as well
    /// as at or above the reject or quarantine threshold, so a low reject threshold never
    /// turns away a message the model calls ham.
    public func decide(_ verdict: Verdict) -> Decision {
        switch verdict.outcome {
        case let .temporaryFailure(reason):
            return Decision(
                action: .temporaryFailure(reply: "451 4.7.1 Message not checked for spam (\(Self.clean(reason, limit: 80))); try again later"),
                headers: [])
        case let .failedOpen(reason):
            return Decision(
                action: .accept,
                headers: [Header(name: statusHeader, value: "Unknown, reason=\"\(Self.clean(reason, limit: 120))\" model=\(Self.token(verdict.modelVersion))")])
        case .scored, .cached:
            break
        }
        let score = String(format: "%.1f", verdict.score(scale: scoreScale))
        let required = String(format: "%.1f", verdict.requiredScore(scale: scoreScale))
        if verdict.isSpam, let reject = rejectThreshold, verdict.spamProbability >= reject {
            return Decision(action: .reject(reply: "550 5.7.1 Message rejected as spam (score \(score), required \(required))"), headers: [])
        }
        let headers = [
            Header(name: flagHeader, value: verdict.isSpam ? "YES" : "NO"),
            Header(name: scoreHeader, value: score),
            Header(
                name: statusHeader,
                value: "\(verdict.isSpam ? "Yes" : "No"), score=\(score) required=\(required) tests=SPAMTUNE model=\(Self.token(verdict.modelVersion))"),
        ]
        if verdict.isSpam, let quarantine = quarantineThreshold, verdict.spamProbability >= quarantine {
            return Decision(action: .quarantine(reason: "spamtune: spam score \(score), required \(required)"), headers: headers)
        }
        return Decision(action: .accept, headers: headers)
    }

    /// Text for a header value or SMTP reply: printable ASCII on one line, bounded, and
    /// no `%` (Sendmail treats replies as format strings).
    static func clean(_ text: String, limit: Int) -> String {
        let kept = text.unicodeScalars.prefix(limit).map { scalar -> Character in
            scalar.value >= 0x20 && scalar.value < 0x7f && scalar != "%" && scalar != "\"" ? Character(scalar) : "_"
        }
        return kept.isEmpty ? "-" : String(kept)
    }

    /// A single word: printable ASCII without spaces.
    static func token(_ text: String) -> String {
        let kept = text.unicodeScalars.prefix(64).map { scalar -> Character in
            scalar.value > 0x20 && scalar.value < 0x7f && scalar != "%" && scalar != "\"" ? Character(scalar) : "_"
        }
        return kept.isEmpty ? "-" : String(kept)
    }
}

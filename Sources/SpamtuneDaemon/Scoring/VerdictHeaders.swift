import SpamtuneConfiguration

/// The score header fields every way in writes (X-Spam-Flag, X-Spam-Score and
/// X-Spam-Status by default) and the score scale, so a message reads the same whether
/// the milter, the spamd socket or the Maildir watcher saw it. The daemon builds one
/// from the configuration (`DaemonContext.verdictHeaders`); a reload does not change it.
struct VerdictHeaders: Sendable, Equatable {
    var flagName: String
    var scoreName: String
    var statusName: String
    /// Scores are `scale × P(spam)`: 10 gives SpamAssassin's familiar `7.9 / 5.0`.
    var scale: Double

    init(flagName: String = "X-Spam-Flag", scoreName: String = "X-Spam-Score", statusName: String = "X-Spam-Status", scale: Double = 10) {
        self.flagName = flagName
        self.scoreName = scoreName
        self.statusName = statusName
        self.scale = scale
    }

    init(_ configuration: DaemonConfiguration) {
        self.init(
            flagName: configuration.flagHeader, scoreName: configuration.scoreHeader, statusName: configuration.statusHeader,
            scale: configuration.scoreScale)
    }

    /// The names, for removing copies a sender put in: nobody may pre-set X-Spam-Flag: NO.
    var names: [String] { [flagName, scoreName, statusName] }

    /// The score with one decimal. Clients compare printed numbers (Exim's `spam`
    /// condition: spam when score >= threshold), so a message that is not spam never
    /// prints a score that rounds up to the threshold: like SpamAssassin, it then shows
    /// the threshold less 0.1.
    func score(_ verdict: Verdict) -> String {
        let score = Self.roundedTenths(verdict.score(scale: scale))
        let required = Self.roundedTenths(verdict.requiredScore(scale: scale))
        if verdict.isSpam || score < required { return Self.tenths(score) }
        return Self.tenths(required - 0.1)
    }

    func requiredScore(_ verdict: Verdict) -> String { Self.tenths(verdict.requiredScore(scale: scale)) }

    /// `X-Spam-Flag: YES`, `X-Spam-Score: 7.9`,
    /// `X-Spam-Status: Yes, score=7.9 required=5.0 tests=SPAMTUNE model=2026-11-23T04-00-00Z`.
    /// A message a policy rule decided says which instead of the tests and the model:
    /// `X-Spam-Status: No, score=0.0 required=5.0 reason=authenticated`.
    func fields(for verdict: Verdict, tests: [String] = ["SPAMTUNE"]) -> [(name: String, value: String)] {
        let score = score(verdict)
        var status = "\(verdict.isSpam ? "Yes" : "No"), score=\(score) required=\(requiredScore(verdict))"
        if case let .policy(rule, _) = verdict.outcome {
            status += " reason=\(rule.rawValue)"
        } else {
            status += " tests=\(tests.joined(separator: ",")) model=\(Self.token(verdict.modelVersion))"
        }
        return [(flagName, verdict.isSpam ? "YES" : "NO"), (scoreName, score), (statusName, status)]
    }

    /// The status field of a message that was not scored (failing open).
    func unscoredStatus(reason: String, modelVersion: String) -> (name: String, value: String) {
        (statusName, "Unknown, reason=\"\(Self.clean(reason, limit: 120))\" model=\(Self.token(modelVersion))")
    }

    /// One printable word (a model version in a header value or a scan mark).
    static func token(_ text: String) -> String {
        let kept = text.unicodeScalars.prefix(64).map { scalar -> Character in
            scalar.value > 0x20 && scalar.value < 0x7f && !";=\"%".unicodeScalars.contains(scalar) ? Character(scalar) : "_"
        }
        return kept.isEmpty ? "-" : String(kept)
    }

    /// Text for a header value or SMTP reply: printable ASCII on one line, bounded, and no
    /// `%` (Sendmail treats replies as format strings) or `"`.
    static func clean(_ text: String, limit: Int) -> String {
        let kept = text.unicodeScalars.prefix(limit).map { scalar -> Character in
            scalar.value >= 0x20 && scalar.value < 0x7f && scalar != "%" && scalar != "\"" ? Character(scalar) : "_"
        }
        return kept.isEmpty ? "-" : String(kept)
    }

    static func roundedTenths(_ value: Double) -> Double { (value * 10).rounded() / 10 }

    static func tenths(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return (tenths < 0 ? "-" : "") + "\(abs(tenths) / 10).\(abs(tenths) % 10)"
    }
}

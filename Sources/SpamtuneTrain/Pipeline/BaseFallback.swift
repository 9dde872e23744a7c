import Foundation
import SpamtuneClassifier

/// What a run does when its pretrained GPT-2 cannot be had (`--fallback`, `train_fallback`).
/// The base model is a decision the admin makes once: a scratch model quietly standing in
/// for a pretrained one, on a retrain after a short outage of the model host, would
/// replace the served model behind the admin's back.
public enum BaseFallback: String, Sendable, CaseIterable {
    /// The default: only a first run of the default base may train scratch instead, and
    /// only when nothing at all could be fetched (offline, the host unreachable, HTTP
    /// errors). A named base, a retrain of a model with a pretrained base, and wrong
    /// files (size, hash) stop the run.
    case firstRun = "first-run"
    /// Any run whose pretrained base cannot be had trains scratch instead, saying why.
    case scratch
    /// A run whose pretrained base cannot be had stops.
    case fail

    /// Whether a run may train scratch after `failure`; nil when it may, else why not.
    /// `currentBase` is the base of the checkpoint served now, if any.
    func refusal(for failure: DownloadError, baseIsExplicit: Bool, currentBase: CheckpointManifest.BaseModel?) -> String? {
        switch self {
        case .scratch:
            return nil
        case .fail:
            return "--fallback fail (train_fallback) forbids training scratch instead"
        case .firstRun:
            if let currentBase, !currentBase.isScratch {
                return "the current model was fine-tuned from \(currentBase.name), and a retrain never changes its base; --fallback scratch allows it"
            }
            if baseIsExplicit {
                return "the base was named (--base, train_base), and a named base is never replaced; --fallback scratch allows it"
            }
            if !failure.isUnreachable {
                return "what the source served is not the model, so it is not a matter of being offline; --fallback scratch allows training scratch anyway"
            }
            return nil
        }
    }
}

/// The pretrained base could not be had and the run may not train scratch instead.
/// The served model stays current; partial downloads stay in the cache for the next run.
public struct BaseModelUnavailable: Error, CustomStringConvertible {
    public let name: String
    public let failure: DownloadError
    /// Why scratch is not trained instead.
    public let refusal: String

    /// EX_DATAERR when the source served wrong files, EX_TEMPFAIL when the next run may
    /// succeed (network, server, disk).
    public var exitStatus: Int32 { failure.isBadData ? Self.badDataStatus : Self.temporaryStatus }
    public static let badDataStatus: Int32 = 65
    public static let temporaryStatus: Int32 = 75

    public var description: String {
        let what = failure.isBadData
            ? "a source served a wrong file; fix the source (or --mirror URL) and run again"
            : "run again later; partial downloads are kept and resumed"
        return "the base model \(name) could not be had: \(failure)\n"
            + "Not training scratch instead: \(refusal). The current model stays current; \(what)."
    }
}

import SpamtuneClassifier

/// One labelled example in its original form: an SMS text or a raw mail. Kept raw so
/// that any model (this run's, or the current one it is compared against) reads it
/// through its own text layout.
public struct TrainingExample: Sendable {
    public enum Content: Sendable {
        case text(String)
        case mail([UInt8])
    }

    public var content: Content
    public var label: Label
    /// Where it came from (a mail file, a mailbox position), when known: how a report
    /// names a message the model got wrong.
    public var source: String?

    public init(content: Content, label: Label, source: String? = nil) {
        self.content = content
        self.label = label
        self.source = source
    }
}

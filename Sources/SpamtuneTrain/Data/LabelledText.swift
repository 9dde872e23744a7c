import SpamtuneClassifier

/// One training example: a text and its class. SMS messages now; mail the daemon has
/// seen and an admin has labelled later.
public struct LabelledText: Equatable, Hashable, Sendable {
    public var label: Label
    public var text: String

    public init(label: Label, text: String) {
        self.label = label
        self.text = text
    }
}

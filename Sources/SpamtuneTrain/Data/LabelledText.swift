/// The two classes the classifier tells apart. The raw values are the book's labels
/// (`{"ham": 0, "spam": 1}`), which are also the columns of the classifier's output.
public enum Label: Int, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    case ham = 0
    case spam = 1

    /// The label as the SMS Spam Collection spells it.
    public var name: String {
        switch self {
        case .ham: "ham"
        case .spam: "spam"
        }
    }

    public init?(name: String) {
        switch name {
        case "ham": self = .ham
        case "spam": self = .spam
        default: return nil
        }
    }

    public var description: String { name }
}

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

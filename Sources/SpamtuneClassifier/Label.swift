/// The two classes, ham and spam: what the model tells apart, what training data and
/// users' feedback say a message is, and what a verdict calls it. The raw values are the
/// book's labels (`{"ham": 0, "spam": 1}`), which are also the columns of the model's
/// output; the names are how files, folders, headers and JSON spell them.
public enum Label: Int, CaseIterable, Sendable, Hashable, Codable, CustomStringConvertible {
    case ham = 0
    case spam = 1

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

    public var other: Label { self == .spam ? .ham : .spam }

    public var description: String { name }

    // Spelled by name in JSON, as everywhere else a person reads it.
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        guard let label = Label(name: name) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "a label is ham or spam, not '\(name)'")
        }
        self = label
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}

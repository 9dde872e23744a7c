import SpamtuneClassifier

/// A problem with a dataset file, naming the file and, where there is one, the line.
public struct DatasetError: Error, Equatable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        case missingTab
        case unknownLabel(String)
        case emptyLine
        case notUTF8
        case hashMismatch(expected: String, actual: String)
        case unexpectedCounts(String)
        case csvHeader(found: String)
        case csvFieldCount(Int)
        case csvUnterminatedQuote
        case csvStrayQuote
        case csvLabel(String)
        case unreadable(String)
        case unwritable(String)
        case noExamples(of: Label)
        /// Neither the download nor a shipped copy could supply the data.
        case unavailable(String)
    }

    public let file: String
    public let line: Int?
    public let reason: Reason

    public init(file: String, line: Int? = nil, reason: Reason) {
        self.file = file
        self.line = line
        self.reason = reason
    }

    public var description: String {
        let place = line.map { "\(file), line \($0)" } ?? file
        switch reason {
        case .missingTab:
            return "\(place): malformed line: expected a label, a tab and the message text"
        case .unknownLabel(let label):
            return "\(place): malformed line: the label is '\(label)', expected 'ham' or 'spam'"
        case .emptyLine:
            return "\(place): malformed line: the line is empty"
        case .notUTF8:
            return "\(place): the text is not valid UTF-8"
        case .hashMismatch(let expected, let actual):
            return "\(place) has sha256 \(actual), expected \(expected): it is not the published SMS Spam Collection (damaged or a different version)"
        case .unexpectedCounts(let detail):
            return "\(place): \(detail)"
        case .csvHeader(let found):
            return "\(place): the header is '\(found)', expected 'Label,Text'"
        case .csvFieldCount(let count):
            return "\(place): the row has \(count) fields, expected 2 (Label,Text)"
        case .csvUnterminatedQuote:
            return "\(place): a quoted field is never closed"
        case .csvStrayQuote:
            return "\(place): a quote inside an unquoted field (quote the field and double the quote)"
        case .csvLabel(let label):
            return "\(place): the label is '\(label)', expected 0 (ham) or 1 (spam)"
        case .unreadable(let detail):
            return "cannot read \(place): \(detail)"
        case .unwritable(let detail):
            return "cannot write \(place): \(detail)"
        case .noExamples(let label):
            return "\(place) has no \(label) examples, so it cannot be balanced"
        case .unavailable(let detail):
            return "cannot get \(place): \(detail)"
        }
    }
}

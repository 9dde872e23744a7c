import Foundation
import SpamtuneClassifier
import SpamtuneSupport

/// The UCI SMS Spam Collection (Almeida, Gómez Hidalgo and Yamakami, 2011; CC BY 4.0):
/// 5,574 SMS messages, one per line as `label<TAB>text`.
///
/// The file is parsed exactly: the label is everything before the first tab, the text
/// everything after it up to the line feed, byte for byte. Quotes are part of the text
/// (the book reads the file with pandas' CSV reader, which treats a few stray quotes as
/// quoting and so merges lines into 5,572 rows). The published file has no carriage
/// returns; one would stay part of its message's text rather than be silently dropped.
public enum SMSSpamCollection {
    public static let fileName = "SMSSpamCollection"
    /// sha256 of the published file.
    public static let sha256 = "7d039a24a6083ed9ef0f806ebad56bbb976e3aeb8de05669173bfdc4996c239d"
    public static let messageCount = 5574
    public static let hamCount = 4827
    public static let spamCount = 747
    /// Where the book downloads it from.
    public static let archiveURL = URL(string: "https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip")!
    /// The collection's name inside that archive.
    public static let archiveEntry = fileName

    /// Parses tab-separated `label<TAB>text` lines. A final line without a line feed
    /// counts; an empty last line (the file's final line feed) does not.
    /// - Parameter source: the file's name for messages.
    public static func parse(_ bytes: [UInt8], source: String) throws(DatasetError) -> [LabelledText] {
        var examples = [LabelledText]()
        examples.reserveCapacity(messageCount)
        let newline = UInt8(ascii: "\n"), tab = UInt8(ascii: "\t")
        var lineStart = 0
        var lineNumber = 1
        while lineStart < bytes.count {
            let lineEnd = bytes[lineStart...].firstIndex(of: newline) ?? bytes.count
            let line = bytes[lineStart..<lineEnd]
            guard !line.isEmpty else { throw DatasetError(file: source, line: lineNumber, reason: .emptyLine) }
            guard let tabIndex = line.firstIndex(of: tab) else {
                throw DatasetError(file: source, line: lineNumber, reason: .missingTab)
            }
            let labelBytes = bytes[lineStart..<tabIndex]
            guard let labelName = String(validating: labelBytes, as: UTF8.self), let label = Label(name: labelName) else {
                let shown = String(decoding: labelBytes.prefix(40), as: UTF8.self)
                throw DatasetError(file: source, line: lineNumber, reason: .unknownLabel(shown))
            }
            guard let text = String(validating: bytes[tabIndex + 1..<lineEnd], as: UTF8.self) else {
                throw DatasetError(file: source, line: lineNumber, reason: .notUTF8)
            }
            examples.append(LabelledText(label: label, text: text))
            lineStart = lineEnd + 1
            lineNumber += 1
        }
        return examples
    }

    /// Checks that `bytes` are the published file.
    public static func verify(_ bytes: [UInt8], source: String) throws(DatasetError) {
        let actual = SHA256.hexDigest(bytes)
        guard actual == sha256 else { throw DatasetError(file: source, reason: .hashMismatch(expected: sha256, actual: actual)) }
    }

    /// Verifies and parses the published file, and checks its class counts.
    public static func load(_ bytes: [UInt8], source: String) throws(DatasetError) -> [LabelledText] {
        try verify(bytes, source: source)
        let examples = try parse(bytes, source: source)
        let spam = examples.count { $0.label == .spam }
        guard examples.count == messageCount, spam == spamCount else {
            throw DatasetError(file: source, reason: .unexpectedCounts(
                "\(examples.count) messages, \(spam) spam; expected \(messageCount) and \(spamCount)"))
        }
        return examples
    }

    public static func load(contentsOf url: URL) throws(DatasetError) -> [LabelledText] {
        try load(readBytes(url), source: url.path)
    }
}

func readBytes(_ url: URL) throws(DatasetError) -> [UInt8] {
    do {
        return try FileSystem.readFile(url.path)
    } catch {
        throw DatasetError(file: url.path, reason: .unreadable(error.reason))
    }
}

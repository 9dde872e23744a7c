import Foundation
import SpamtuneClassifier

/// `Label,Text` CSV files as the book writes them with pandas' `to_csv(index=None)`:
/// a header, the label as 0 (ham) or 1 (spam), fields quoted as RFC 4180 says when
/// they hold a comma, a quote, a CR or an LF, quotes doubled, rows ended by LF.
/// The bytes equal pandas' for the same rows (the tests compare hashes).
public enum LabelledCSV {
    public static let header = "Label,Text"

    public static func encode(_ examples: [LabelledText]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(examples.reduce(16) { $0 + $1.text.utf8.count + 6 })
        out.append(contentsOf: header.utf8)
        out.append(UInt8(ascii: "\n"))
        for example in examples {
            out.append(contentsOf: String(example.label.rawValue).utf8)
            out.append(UInt8(ascii: ","))
            appendField(example.text, to: &out)
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    private static func appendField(_ text: String, to out: inout [UInt8]) {
        let quote = UInt8(ascii: "\"")
        let needsQuotes = text.utf8.contains { $0 == UInt8(ascii: ",") || $0 == quote || $0 == 10 || $0 == 13 }
        guard needsQuotes else {
            out.append(contentsOf: text.utf8)
            return
        }
        out.append(quote)
        for byte in text.utf8 {
            if byte == quote { out.append(quote) }
            out.append(byte)
        }
        out.append(quote)
    }

    /// Reads a file written by `encode` (or by pandas): RFC 4180 fields, LF or CRLF rows.
    /// - Parameter source: the file's name for messages, which give the line a bad row starts on.
    public static func decode(_ bytes: [UInt8], source: String) throws(DatasetError) -> [LabelledText] {
        var reader = CSVRecordReader(bytes: bytes, source: source)
        guard let headerRecord = try reader.nextRecord() else {
            throw DatasetError(file: source, line: 1, reason: .csvHeader(found: ""))
        }
        let headerFields = try headerRecord.fields.map { field throws(DatasetError) in try utf8(field, source, headerRecord.line) }
        guard headerFields == ["Label", "Text"] else {
            throw DatasetError(file: source, line: 1, reason: .csvHeader(found: headerFields.joined(separator: ",")))
        }
        var examples = [LabelledText]()
        while let record = try reader.nextRecord() {
            guard record.fields.count == 2 else {
                throw DatasetError(file: source, line: record.line, reason: .csvFieldCount(record.fields.count))
            }
            let labelText = try utf8(record.fields[0], source, record.line)
            guard let value = Int(labelText), let label = Label(rawValue: value) else {
                throw DatasetError(file: source, line: record.line, reason: .csvLabel(labelText))
            }
            examples.append(LabelledText(label: label, text: try utf8(record.fields[1], source, record.line)))
        }
        return examples
    }

    public static func write(_ examples: [LabelledText], to url: URL) throws(DatasetError) {
        try writeAtomically(encode(examples), to: url)
    }

    public static func read(contentsOf url: URL) throws(DatasetError) -> [LabelledText] {
        try decode(readBytes(url), source: url.path)
    }

    private static func utf8(_ bytes: [UInt8], _ source: String, _ line: Int) throws(DatasetError) -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw DatasetError(file: source, line: line, reason: .notUTF8)
        }
        return text
    }
}

/// Splits CSV bytes into records of raw fields, tracking the line each record starts on.
private struct CSVRecordReader {
    let bytes: [UInt8]
    let source: String
    var position = 0
    var line = 1

    init(bytes: [UInt8], source: String) {
        self.bytes = bytes
        self.source = source
    }

    mutating func nextRecord() throws(DatasetError) -> (fields: [[UInt8]], line: Int)? {
        guard position < bytes.count else { return nil }
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        let startLine = line
        var fields = [[UInt8]]()
        var field = [UInt8]()
        while true {
            if position < bytes.count && bytes[position] == quote && field.isEmpty {
                // A quoted field runs to the next quote not followed by another.
                position += 1
                while true {
                    guard position < bytes.count else {
                        throw DatasetError(file: source, line: startLine, reason: .csvUnterminatedQuote)
                    }
                    let byte = bytes[position]
                    position += 1
                    if byte == quote {
                        if position < bytes.count && bytes[position] == quote {
                            field.append(quote)
                            position += 1
                        } else {
                            break
                        }
                    } else {
                        if byte == lf { line += 1 }
                        field.append(byte)
                    }
                }
                guard position >= bytes.count || [comma, lf, cr].contains(bytes[position]) else {
                    throw DatasetError(file: source, line: line, reason: .csvStrayQuote)
                }
            }
            while position < bytes.count, ![comma, lf, cr].contains(bytes[position]) {
                if bytes[position] == quote { throw DatasetError(file: source, line: line, reason: .csvStrayQuote) }
                field.append(bytes[position])
                position += 1
            }
            fields.append(field)
            field = []
            if position >= bytes.count { return (fields, startLine) }
            let separator = bytes[position]
            position += 1
            if separator == comma { continue }
            if separator == cr && position < bytes.count && bytes[position] == lf { position += 1 }
            line += 1
            return (fields, startLine)
        }
    }
}

/// Writes to a temporary file beside `url`, flushes it to disk and renames it over
/// `url`, so a reader never sees a half-written file, even after a crash or a full disk.
func writeAtomically(_ bytes: [UInt8], to url: URL) throws(DatasetError) {
    do {
        try FileSystem.writeAtomically(bytes, to: url.path)
    } catch {
        throw DatasetError(file: url.path, reason: .unwritable(error.reason))
    }
}

import Foundation
import SpamtuneSupport

/// The `key = value` format of etc/spamtune.conf: one setting per line, `#` starts a
/// comment line, blank lines are ignored, a key may repeat where the setting is a list.
/// Every key must be known and every value valid: a typo is an error naming the line,
/// not a setting silently ignored.
package struct ConfigurationFile {
    package struct Entry: Equatable {
        package var key: String
        package var value: String
        package var line: Int
    }

    package let path: String
    package let entries: [Entry]

    package init(path: String, text: String) throws {
        self.path = path
        var entries: [Entry] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw ConfigurationError(path: path, line: index + 1, message: "expected `key = value`, found '\(line)'")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw ConfigurationError(path: path, line: index + 1, message: "'\(key)' is not a valid key")
            }
            entries.append(Entry(key: key, value: value, line: index + 1))
        }
        self.entries = entries
    }

    package static func read(_ path: String) throws -> ConfigurationFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError(path: path, line: nil, message: "cannot be read: \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(path: path, line: nil, message: "is not UTF-8 text")
        }
        return try ConfigurationFile(path: path, text: text)
    }
}

public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var line: Int?
    public var message: String

    package init(path: String, line: Int?, message: String) {
        self.path = path
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(path), line \(line): \(message)" }
        return "\(path): \(message)"
    }
}

/// Parsers for the kinds of value a setting can have.
enum ValueParser {
    static func integer(_ text: String, _ range: ClosedRange<Int>) throws -> Int {
        guard let number = Int(text.replacingOccurrences(of: "_", with: "")) else { throw ValueError("'\(text)' is not a whole number") }
        guard range.contains(number) else { throw ValueError("\(number) is outside \(range.lowerBound)...\(range.upperBound)") }
        return number
    }

    static func probability(_ text: String) throws -> Double {
        guard let number = Double(text), number > 0, number < 1 else {
            throw ValueError("'\(text)' is not a probability strictly between 0 and 1")
        }
        return number
    }

    /// A probability, or `off`.
    static func optionalProbability(_ text: String) throws -> Double? {
        if text == "off" || text == "no" { return nil }
        return try probability(text)
    }

    static func positiveNumber(_ text: String) throws -> Double {
        guard let number = Double(text), number > 0, number.isFinite else { throw ValueError("'\(text)' is not a positive number") }
        return number
    }

    /// 30, 30s, 5m, 2h, 1d, 250ms: spamtune-train's `--every` reads durations the same way.
    static func duration(_ text: String) throws -> Double {
        guard let seconds = DurationText.seconds(text) else { throw ValueError("'\(text)' is not a duration (like 30s, 5m, 2h)") }
        return seconds
    }

    /// 1048576, 512k, 10M, 1G.
    static func byteCount(_ text: String) throws -> Int {
        let units: [(String, Int)] = [("k", 1 << 10), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let number = Int(text.dropLast()), number > 0 { return number * scale }
        }
        if let number = Int(text), number > 0 { return number }
        throw ValueError("'\(text)' is not a size (like 1048576, 512k, 10M)")
    }

    static func boolean(_ text: String) throws -> Bool {
        switch text.lowercased() {
        case "yes", "true", "on", "1": return true
        case "no", "false", "off", "0": return false
        default: throw ValueError("'\(text)' is not yes or no")
        }
    }

    /// An octal file mode such as 0660.
    static func fileMode(_ text: String) throws -> UInt16 {
        guard let mode = UInt16(text, radix: 8), mode <= 0o777 else { throw ValueError("'\(text)' is not an octal mode like 0660") }
        return mode
    }

    static func oneOf<T>(_ text: String, _ choices: [String: T]) throws -> T {
        guard let value = choices[text] else {
            throw ValueError("'\(text)' is not one of \(choices.keys.sorted().joined(separator: ", "))")
        }
        return value
    }
}

package struct ValueError: Error {
    package let message: String
    package init(_ message: String) { self.message = message }
}

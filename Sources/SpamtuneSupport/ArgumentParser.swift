/// Command-line arguments for spamtune's tools: `--name value`, `--name=value`, boolean
/// `--flag`, repeated options, `--` ending options, and positionals. A tool declares
/// what it accepts so that an unknown option or a missing value is a one-line error
/// instead of being ignored.
public struct ParsedArguments {
    public internal(set) var values: [String: [String]] = [:]
    public internal(set) var flags: Set<String> = []
    public internal(set) var positionals: [String] = []

    public func value(_ name: String) -> String? { values[name]?.last }
    public func all(_ name: String) -> [String] { values[name] ?? [] }
    public func has(_ name: String) -> Bool { flags.contains(name) || values[name] != nil }

    public func integer(_ name: String, default fallback: Int? = nil, range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let text = value(name) else { return fallback }
        guard let number = Int(text) else { throw ArgumentError.notANumber(option: name, value: text) }
        if let range, !range.contains(number) { throw ArgumentError.outOfRange(option: name, value: text, range: "\(range)") }
        return number
    }

    public func double(_ name: String, default fallback: Double? = nil) throws -> Double? {
        guard let text = value(name) else { return fallback }
        guard let number = Double(text), number.isFinite else { throw ArgumentError.notANumber(option: name, value: text) }
        return number
    }
}

public struct ArgumentSpecification {
    /// Options that take a value (without the leading dashes).
    public var options: Set<String>
    /// Options that are flags; every tool also knows --help (-h) and --version.
    public var flags: Set<String>

    public init(options: Set<String>, flags: Set<String> = []) {
        self.options = options
        self.flags = flags.union(["help", "version"])
    }

    public func parse(_ arguments: some Sequence<String>) throws(ArgumentError) -> ParsedArguments {
        var parsed = ParsedArguments()
        var iterator = arguments.makeIterator()
        var optionsEnded = false
        while let argument = iterator.next() {
            if argument == "--" && !optionsEnded {
                optionsEnded = true
                continue
            }
            if argument == "-h" && !optionsEnded {
                // The short form every admin types first; it must never be taken for a file or command.
                parsed.flags.insert("help")
                continue
            }
            if optionsEnded || argument == "-" || !argument.hasPrefix("-") {
                parsed.positionals.append(argument)
                continue
            }
            guard argument.hasPrefix("--") else {
                // -v, -c: no tool takes short options but -h; a file named so follows --.
                throw ArgumentError.unknownOption(argument, suggestion: suggestion(for: argument))
            }
            var name = String(argument.dropFirst(2))
            var inlineValue: String?
            if let equals = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            if flags.contains(name) {
                guard inlineValue == nil else { throw ArgumentError.flagWithValue(option: name) }
                parsed.flags.insert(name)
            } else if options.contains(name) {
                guard let value = inlineValue ?? iterator.next() else { throw ArgumentError.missingValue(option: name) }
                parsed.values[name, default: []].append(value)
            } else {
                throw ArgumentError.unknownOption("--" + name, suggestion: suggestion(for: name))
            }
        }
        return parsed
    }

    /// The known option nearest to a mistyped one, with its dashes.
    private func suggestion(for typed: String) -> String? {
        let bare = String(typed.drop { $0 == "-" })
        return Suggestion.nearest(to: bare, among: options.union(flags).sorted()).map { "--" + $0 }
    }
}

extension ParsedArguments {
    /// Refuses any positional argument: the first one is named, as a misspelt command
    /// when it is near one of `commands`.
    public func rejectPositionals(commands: [String] = []) throws(ArgumentError) {
        guard let stray = positionals.first else { return }
        if let command = Suggestion.nearest(to: stray, among: commands) {
            throw ArgumentError.unknownCommand(stray, suggestion: command)
        }
        throw ArgumentError.unexpectedArgument(stray)
    }
}

/// The valid choice nearest to a mistyped word, for "did you mean" in a usage error.
public enum Suggestion {
    /// The choice with the fewest edits (insertions, deletions, substitutions, swaps of
    /// neighbours) from `word`, if that is few for its length; or the only choice that
    /// starts with `word`.
    public static func nearest(to word: String, among choices: [String]) -> String? {
        let typed = Array(word.lowercased())
        guard !typed.isEmpty else { return nil }
        let allowed = typed.count <= 4 ? 1 : typed.count <= 9 ? 2 : 3
        let scored = choices.map { ($0, editDistance(typed, Array($0.lowercased()))) }
        if let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= allowed { return best.0 }
        let extending = choices.filter { typed.count >= 3 && $0.lowercased().hasPrefix(word.lowercased()) }
        return extending.count == 1 ? extending[0] : nil
    }

    /// Optimal string alignment distance.
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }
}

public enum ArgumentError: Error, CustomStringConvertible, Equatable {
    /// An option no tool knows, as typed (`--epoch`, `-v`), and the nearest known one.
    case unknownOption(String, suggestion: String?)
    /// A word where a command is expected, and the nearest command.
    case unknownCommand(String, suggestion: String?)
    /// A word where none is expected.
    case unexpectedArgument(String)
    case missingValue(option: String)
    case flagWithValue(option: String)
    case notANumber(option: String, value: String)
    case outOfRange(option: String, value: String, range: String)
    case missingArgument(String)
    case conflicting(String)

    public var description: String {
        switch self {
        case let .unknownOption(option, suggestion): "unknown option \(option)" + Self.didYouMean(suggestion)
        case let .unknownCommand(word, suggestion): "unknown command '\(word)'" + Self.didYouMean(suggestion)
        case let .unexpectedArgument(word): "unexpected argument '\(word)'"
        case let .missingValue(option): "option --\(option) needs a value"
        case let .flagWithValue(option): "option --\(option) takes no value"
        case let .notANumber(option, value): "option --\(option): '\(value)' is not a number"
        case let .outOfRange(option, value, range): "option --\(option): \(value) is outside \(range)"
        case let .missingArgument(what): "missing \(what)"
        case let .conflicting(what): what
        }
    }

    private static func didYouMean(_ suggestion: String?) -> String {
        suggestion.map { " (did you mean \($0)?)" } ?? ""
    }
}

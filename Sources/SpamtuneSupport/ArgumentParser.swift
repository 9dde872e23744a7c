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
    /// Options that are flags.
    public var flags: Set<String>

    public init(options: Set<String>, flags: Set<String> = []) {
        self.options = options
        self.flags = flags.union(["help"])
    }

    public func parse(_ arguments: some Sequence<String>) throws -> ParsedArguments {
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
            if optionsEnded || !argument.hasPrefix("--") {
                parsed.positionals.append(argument)
                continue
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
                throw ArgumentError.unknownOption(option: name, known: (options.union(flags)).sorted())
            }
        }
        return parsed
    }
}

public enum ArgumentError: Error, CustomStringConvertible, Equatable {
    case unknownOption(option: String, known: [String])
    case missingValue(option: String)
    case flagWithValue(option: String)
    case notANumber(option: String, value: String)
    case outOfRange(option: String, value: String, range: String)
    case missingArgument(String)
    case conflicting(String)

    public var description: String {
        switch self {
        case let .unknownOption(option, known):
            "unknown option --\(option) (known: \(known.map { "--" + $0 }.joined(separator: ", ")))"
        case let .missingValue(option): "option --\(option) needs a value"
        case let .flagWithValue(option): "option --\(option) takes no value"
        case let .notANumber(option, value): "option --\(option): '\(value)' is not a number"
        case let .outOfRange(option, value, range): "option --\(option): \(value) is outside \(range)"
        case let .missingArgument(what): "missing \(what)"
        case let .conflicting(what): what
        }
    }
}

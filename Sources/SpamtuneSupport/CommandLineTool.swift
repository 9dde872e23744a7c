import Foundation

/// How every spamtune tool and subcommand answers its command line: `--help` (`-h`) and
/// `--version` on standard output with status 0 and nothing else done; a usage mistake in
/// one line on standard error, naming the nearest valid choice, with status 2.
public struct CommandLineTool: Sendable {
    /// As the user types it: `spamtuned`, `spamtune classify`.
    public let name: String
    public let usage: String
    /// The checkpoint format this build reads and writes, for `--version`.
    public let checkpointFormat: Int

    public static let usageStatus: Int32 = 2
    public static let usageMistake = ExitStatus(usageStatus, "usage", "a mistake on the command line (one line on standard error says which)")

    public init(_ name: String, usage: String, checkpointFormat: Int) {
        self.name = name
        self.usage = usage
        self.checkpointFormat = checkpointFormat
    }

    public var versionText: String {
        "\(name.split(separator: " ").first ?? "spamtune") \(SpamtuneVersion.release) "
            + "(commit \(SpamtuneVersion.commit ?? "unknown"), checkpoint format \(checkpointFormat))"
    }

    /// The one line a usage mistake gets.
    public func errorLine(_ error: ArgumentError) -> String {
        "\(name): \(error); see `\(name) --help`"
    }

    /// Parses `arguments`; answers --help and --version and exits; a mistake exits with
    /// status 2. A request for help wins over a mistake beside it.
    public func parse(_ specification: ArgumentSpecification, _ arguments: [String]) -> ParsedArguments {
        let parsed: ParsedArguments
        do {
            parsed = try specification.parse(arguments)
        } catch {
            let beforeEnd = arguments.prefix { $0 != "--" }
            if beforeEnd.contains("--help") || beforeEnd.contains("-h") { printUsageAndExit() }
            fail(error)
        }
        if parsed.has("help") { printUsageAndExit() }
        if parsed.has("version") {
            print(versionText)
            exit(0)
        }
        return parsed
    }

    public func printUsageAndExit() -> Never {
        print(usage)
        exit(0)
    }

    public func fail(_ error: ArgumentError) -> Never {
        FileHandle.standardError.write(Data((errorLine(error) + "\n").utf8))
        exit(Self.usageStatus)
    }
}

/// An exit status a tool uses and what it means, for its usage text and its man page.
public struct ExitStatus: Sendable {
    public let code: Int32
    /// A word or two, for a usage text's one line.
    public let brief: String
    public let meaning: String

    public init(_ code: Int32, _ brief: String, _ meaning: String) {
        self.code = code
        self.brief = brief
        self.meaning = meaning
    }

    public static let success = ExitStatus(0, "done", "success")

    /// `Exit status: 0 done, 1 failed, 2 usage.`
    public static func line(_ statuses: [ExitStatus]) -> String {
        "Exit status: " + statuses.map { "\($0.code) \($0.brief)" }.joined(separator: ", ") + "."
    }
}

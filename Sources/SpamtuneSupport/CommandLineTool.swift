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

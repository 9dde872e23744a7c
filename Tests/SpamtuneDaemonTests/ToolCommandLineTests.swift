import Foundation
import SpamtuneClassifier
import SpamtuneSupport
import SpamtuneTestSupport
import Testing

/// Every tool and subcommand as an admin first meets it: --help and --version answer and
/// do nothing else; a mistake gets one line naming the nearest valid choice, status 2.
@Suite struct ToolCommandLineTests {
    /// Each tool with its subcommands ([] for the tool itself).
    static let commands: [(tool: String, arguments: [String])] = [
        ("spamtuned", []),
        ("spamtune", []), ("spamtune", ["classify"]), ("spamtune", ["status"]), ("spamtune", ["reload"]), ("spamtune", ["retrain"]),
        ("spamtune-train", []), ("spamtune-train", ["run"]), ("spamtune-train", ["status"]), ("spamtune-train", ["rollback"]),
        ("spamtune-train", ["export"]),
        ("spamtune-bench", ["classify"]), ("spamtune-bench", ["tokenizer"]), ("spamtune-bench", ["mail"]), ("spamtune-bench", ["gemm"]),
        ("spamtune-bench", ["make-checkpoint"]), ("spamtune-bench", ["spamd-load"]), ("spamtune-bench", ["milter-load"]),
    ]

    func run(_ tool: String, _ arguments: [String], in directory: ToolDirectory) throws -> ProcessResult {
        // Where a tool would write if it ran for real: all inside the test's directory.
        try runProcess(
            ProjectPaths.builtProduct(tool), arguments,
            environment: ["HOME": directory.url.path, "SPAMTUNE_CACHE_DIR": directory.path("cache").path, "TMPDIR": directory.url.path])
    }

    @Test(arguments: commands)
    func helpPrintsUsageAndDoesNothingElse(_ tool: String, _ subcommand: [String]) throws {
        let directory = try ToolDirectory("spamtune-help")
        defer { directory.remove() }
        // Options that would make a real run write into the directory, and a missing config.
        let settings = tool == "spamtune-train" ? ["--state-dir", directory.path("state").path] : tool == "spamtuned" ? ["--config", directory.path("none.conf").path] : []
        for help in ["-h", "--help"] {
            for arguments in [subcommand + [help], subcommand + settings + [help]] {
                let result = try run(tool, arguments, in: directory)
                #expect(result.status == 0, "\(tool) \(arguments): \(result.standardError)")
                #expect(result.standardOutput.hasPrefix("usage: "), "\(tool) \(arguments): \(result.standardOutput.prefix(200))")
                #expect(result.standardError.isEmpty, "\(tool) \(arguments): \(result.standardError)")
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path).isEmpty, "\(tool) \(subcommand) -h wrote something")
    }

    @Test(arguments: commands)
    func versionNamesTheReleaseCommitAndCheckpointFormat(_ tool: String, _ subcommand: [String]) throws {
        let directory = try ToolDirectory("spamtune-version")
        defer { directory.remove() }
        let result = try run(tool, subcommand + ["--version"], in: directory)
        #expect(result.status == 0, "\(result.standardError)")
        let expected = "^\(tool) \(SpamtuneVersion.release) \\(commit [^ ,]+, checkpoint format \(CheckpointManifest.currentFormatVersion)\\)\n$"
        #expect(result.standardOutput.range(of: expected, options: .regularExpression) != nil, "\(result.standardOutput)")
    }

    @Test(arguments: [
        ("spamtune-train", ["stauts"], "spamtune-train: unknown command 'stauts' (did you mean status?); see `spamtune-train --help`"),
        ("spamtune-train", ["--epoch", "3"], "spamtune-train: unknown option --epoch (did you mean --epochs?); see `spamtune-train --help`"),
        ("spamtune-train", ["status", "extra"], "spamtune-train: unexpected argument 'extra'; see `spamtune-train --help`"),
        ("spamtune-train", ["--max-tokens", "0"], "spamtune-train: option --max-tokens: 0 is outside 1...1000000; see `spamtune-train --help`"),
        ("spamtune-train", ["--lr", "-0.1"], "spamtune-train: --lr must be above 0, not -0.1; see `spamtune-train --help`"),
        ("spamtune-train", ["--retry-delay", "-1"], "spamtune-train: --retry-delay must be at least 0, not -1.0; see `spamtune-train --help`"),
        ("spamtune", ["stauts"], "spamtune: unknown command 'stauts' (did you mean status?); see `spamtune --help`"),
        ("spamtune", ["--verison"], "spamtune: unknown option --verison (did you mean --version?); see `spamtune --help`"),
        ("spamtune", ["classify", "--thread", "2"], "spamtune classify: unknown option --thread (did you mean --threads?); see `spamtune classify --help`"),
        ("spamtune", ["status", "-v"], "spamtune status: unknown option -v; see `spamtune status --help`"),
        ("spamtune", ["reload", "now"], "spamtune reload: unexpected argument 'now'; see `spamtune reload --help`"),
        ("spamtuned", ["--confg", "/x.conf"], "spamtuned: unknown option --confg (did you mean --config?); see `spamtuned --help`"),
        ("spamtuned", ["start"], "spamtuned: unexpected argument 'start'; see `spamtuned --help`"),
        ("spamtune-bench", ["gemmm"], "spamtune-bench: unknown command 'gemmm' (did you mean gemm?); see `spamtune-bench --help`"),
        ("spamtune-bench", ["gemm", "--clock", "cpus"], "spamtune-bench gemm: --clock takes wall, cpu, not 'cpus' (did you mean cpu?); see `spamtune-bench gemm --help`"),
    ])
    func aMistakeIsOneLineWithTheNearestChoice(_ tool: String, _ arguments: [String], _ line: String) throws {
        let directory = try ToolDirectory("spamtune-usage")
        defer { directory.remove() }
        let result = try run(tool, arguments + (tool == "spamtune-train" ? ["--state-dir", directory.path("state").path] : []), in: directory)
        #expect(result.status == 2)
        #expect(result.standardError == line + "\n")
        #expect(result.standardOutput.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path).isEmpty)
    }

    /// A base model that is neither a name nor a path is refused before any download.
    @Test func anUnknownBaseModelListsTheNamesAtOnce() throws {
        let directory = try ToolDirectory("spamtune-base")
        defer { directory.remove() }
        let started = Date()
        let result = try run("spamtune-train", ["--base", "gpt3", "--state-dir", directory.path("state").path], in: directory)
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(result.status == 2)
        #expect(result.standardError == "spamtune-train: --base gpt3 is neither a model name nor an existing path (did you mean gpt2?): "
            + "the names are gpt2, gpt2-medium, gpt2-large, gpt2-xl, scratch; see `spamtune-train --help`\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path).isEmpty)
    }

    /// The commit comes from the record scripts/stamp-commit writes beside the binaries,
    /// and only while no binary is newer than it.
    @Test func theCommitIsTheRecordNewerThanTheBinary() throws {
        let directory = try ToolDirectory("spamtune-stamp")
        defer { directory.remove() }
        let binary = directory.path("spamtuned")
        try FileManager.default.copyItem(at: ProjectPaths.builtProduct("spamtuned"), to: binary)
        let record = directory.path(SpamtuneVersion.commitFileName)
        try Data("0123456789ab-dirty\n".utf8).write(to: record)
        let stamped = try runProcess(binary, ["--version"])
        #expect(stamped.standardOutput.contains("(commit 0123456789ab-dirty, checkpoint format"), "\(stamped.standardOutput)")

        // Rebuilt after the record was written: the record is about an older build.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: record.path)
        let stale = try runProcess(binary, ["--version"])
        #expect(stale.standardOutput.contains("(commit unknown, checkpoint format"), "\(stale.standardOutput)")

        // Installed: bin/ and share/spamtune/.
        try FileManager.default.createDirectory(at: directory.path("bin"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: directory.path("share/spamtune"), withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: binary, to: directory.path("bin/spamtuned"))
        try Data("fedcba987654\n".utf8).write(to: directory.path("share/spamtune/\(SpamtuneVersion.commitFileName)"))
        let installed = try runProcess(directory.path("bin/spamtuned"), ["--version"])
        #expect(installed.standardOutput.contains("(commit fedcba987654, checkpoint format"), "\(installed.standardOutput)")
    }
}

/// A fresh directory under the system's temporary directory, removed by `remove()`.
struct ToolDirectory {
    let url: URL

    init(_ label: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ relative: String) -> URL { url.appendingPathComponent(relative) }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

import Foundation
import SpamtuneCommandLines
import SpamtuneConfiguration
@testable import SpamtuneManual
import SpamtuneSupport
import SpamtuneTestSupport
import SpamtuneTrain
import Testing

/// The man pages as an admin reads them: written from the tables the tools use, so every
/// option, subcommand and configuration key is in them, and rendered by man(1) without
/// a warning.
@Suite struct ManualPageTests {
    static let configurationPath = ProjectPaths.root.appendingPathComponent("etc/spamtune.conf").path

    /// The pages written into a fresh directory, by name.
    func writePages() throws -> (directory: URL, pages: [String: String]) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spamtune-man-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var pages: [String: String] = [:]
        for page in try SpamtuneManual.pages(configurationText: String(contentsOfFile: Self.configurationPath, encoding: .utf8)) {
            try Data(page.text.utf8).write(to: directory.appendingPathComponent(page.fileName))
            pages[page.fileName] = page.text
        }
        return (directory, pages)
    }

    /// What man(1) shows on an 80-column terminal, as plain text (grotty -cbou: no bold
    /// or underline by overstriking or escape sequences).
    func rendered(_ page: URL) throws -> ProcessResult {
        try runProcess(
            URL(fileURLWithPath: "/usr/bin/man"), ["--warnings", "-E", "UTF-8", "-l", "-Tutf8", page.path],
            environment: ["MANWIDTH": "80", "MANROFFOPT": "-P-cbou", "MANPAGER": "cat", "PAGER": "cat"])
    }

    /// Rendered text with every run of blanks and line breaks as one space, so a check does
    /// not depend on where man breaks lines.
    func flat(_ text: String) -> String {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: " ")
    }

    /// An exit status as the page's EXIT STATUS section tags it.
    func exitStatusTag(_ code: Int32) -> String { ".TP\n\\fB\(code)\\fR\n" }

    @Test func everyPageRendersWithoutWarnings() throws {
        let (directory, pages) = try writePages()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(Set(pages.keys) == Set(SpamtuneManual.pageNames))
        for name in SpamtuneManual.pageNames {
            let result = try rendered(directory.appendingPathComponent(name))
            #expect(result.status == 0, "\(name): \(result.standardError)")
            #expect(result.standardError.isEmpty, "man --warnings on \(name): \(result.standardError)")
            #expect(result.standardOutput.count > 1000, "\(name) rendered to \(result.standardOutput.count) characters")
        }
    }

    /// Every key spamtuned knows, with the comment etc/spamtune.conf gives it.
    @Test func theConfigurationPageHasEveryKey() throws {
        let (directory, pages) = try writePages()
        defer { try? FileManager.default.removeItem(at: directory) }
        let page = try #require(pages["spamtune.conf.5"])
        for key in DaemonConfiguration.keyNames {
            #expect(page.contains("\\fB" + Roff.escape(key) + "\\fR"), "spamtune.conf(5) lacks \(key)")
        }
        let text = flat(try rendered(directory.appendingPathComponent("spamtune.conf.5")).standardOutput)
        #expect(text.contains("SECURITY"))
        #expect(text.contains("learn_allowed_networks = none"))
        #expect(text.contains("Over TCP, TELL is refused unless the client is in one of these networks"))
    }

    @Test func theTrainingPageHasEveryOptionAndCommand() throws {
        let (directory, pages) = try writePages()
        defer { try? FileManager.default.removeItem(at: directory) }
        let page = try #require(pages["spamtune-train.8"])
        for option in TrainingCommandLine.table + CommandLineOption.everyTool {
            #expect(page.contains("\\fB\\-\\-" + Roff.escape(option.name) + "\\fR"), "spamtune-train(8) lacks --\(option.name)")
        }
        let text = flat(try rendered(directory.appendingPathComponent("spamtune-train.8")).standardOutput)
        for command in TrainingCommandLine.commands {
            #expect(text.contains(command.synopsis), "spamtune-train(8) lacks \(command.synopsis)")
        }
        for status in TrainingCommandLine.exitStatuses {
            #expect(page.contains(exitStatusTag(status.code)), "spamtune-train(8) lacks exit status \(status.code)")
        }
    }

    @Test func theAdminPageHasEverySubcommandAndItsOptions() throws {
        let (directory, pages) = try writePages()
        defer { try? FileManager.default.removeItem(at: directory) }
        let page = try #require(pages["spamtune.1"])
        let text = flat(try rendered(directory.appendingPathComponent("spamtune.1")).standardOutput)
        for command in AdminCommandLine.commands {
            #expect(page.contains(".SS \"\(command.name)\""), "spamtune(1) lacks \(command.name)")
            for synopsis in command.synopses {
                #expect(text.contains(synopsis), "spamtune(1) lacks \(synopsis)")
            }
            for option in command.options {
                #expect(page.contains("\\fB\\-\\-" + Roff.escape(option.name) + "\\fR"), "spamtune(1) lacks \(command.name) --\(option.name)")
            }
        }
        #expect(page.contains(exitStatusTag(AdminCommandLine.notRunningStatus)))
    }

    @Test func theDaemonPageHasItsOptionsSignalsAndExitStatuses() throws {
        let (directory, pages) = try writePages()
        defer { try? FileManager.default.removeItem(at: directory) }
        let page = try #require(pages["spamtuned.8"])
        let text = try rendered(directory.appendingPathComponent("spamtuned.8")).standardOutput
        for option in DaemonCommandLine.table { #expect(text.contains("--" + option.name)) }
        for heading in ["SIGNALS", "ENVIRONMENT", "EXIT STATUS", "SECURITY", "FILES", "EXAMPLES", "SEE ALSO"] {
            #expect(text.contains("\n" + heading + "\n"), "spamtuned(8) lacks \(heading)")
        }
        for status in DaemonCommandLine.exitStatuses {
            #expect(page.contains(exitStatusTag(status.code)), "spamtuned(8) lacks exit status \(status.code)")
        }
        #expect(text.contains("SIGHUP") && text.contains("LISTEN_FDS") && text.contains("SPAMTUNE_ISA"))
    }

    /// etc/spamtune.conf documents exactly spamtuned's keys: none missing, none unknown.
    @Test func theShippedFileDocumentsExactlyTheKnownKeys() throws {
        let text = try String(contentsOfFile: Self.configurationPath, encoding: .utf8)
        let documentation = try ConfigurationDocumentation(text: text)
        #expect(Set(documentation.settings.map(\.name)) == Set(DaemonConfiguration.keyNames))
        #expect(throws: ConfigurationDocumentation.Mismatch.self) {
            try ConfigurationDocumentation(text: text + "\n# A key spamtuned never heard of.\n# colour = blue\n")
        }
        let withoutThreads = text.replacingOccurrences(of: "\nthreads = 0\n", with: "\n")
        #expect(throws: ConfigurationDocumentation.Mismatch.self) { try ConfigurationDocumentation(text: withoutThreads) }
    }

    /// What roff would read as a request, an escape or a hyphen is printed as typed.
    @Test func textIsEscaped() {
        #expect(Roff.text(".Junk is a folder") == "\\&.Junk is a folder")
        #expect(Roff.text("'quoted' first") == "\\&'quoted' first")
        #expect(Roff.text("C:\\path --flag") == "C:\\epath \\-\\-flag")
        #expect(Roff.text("set `key = value` here") == "set \\fBkey = value\\fR here")
        #expect(Roff.text("x × y …") == "x \\[u00D7] y \\[u2026]")
        #expect(Roff.synopsis("spamtune classify --checkpoint DIR [FILE ... | -]", commandWords: 2)
            == "\\fBspamtune\\fR \\fBclassify\\fR \\fB\\-\\-checkpoint\\fR \\fIDIR\\fR [\\fIFILE\\fR ... | \\-]")
    }

    /// The interface packaging uses: scripts/man-pages OUTDIR BINARY_DIR.
    @Test func theScriptWritesTheFourPages() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spamtune-man-script-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let binaries = ProjectPaths.builtProduct("spamtune-man").deletingLastPathComponent()
        let result = try runProcess(
            URL(fileURLWithPath: "/bin/bash"), [ProjectPaths.root.appendingPathComponent("scripts/man-pages").path, directory.path, binaries.path])
        #expect(result.status == 0, "\(result.standardError)")
        let written = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(Set(written) == Set(SpamtuneManual.pageNames))
    }
}

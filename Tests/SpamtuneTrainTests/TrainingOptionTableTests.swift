import Foundation
import SpamtuneSupport
import SpamtuneTrain
import Testing

/// spamtune-train's one option table, and the defaults it quotes.
@Suite struct TrainingOptionTableTests {
    @Test func everyOptionIsListedOnceAndDocumented() {
        let names = TrainingCommandLine.table.map(\.name)
        #expect(Set(names).count == names.count)
        let usage = TrainingCommandLine.usage
        let lines = usage.split(separator: "\n").map { $0.drop { $0 == " " } }
        for option in TrainingCommandLine.table {
            #expect(lines.filter { $0 == option.synopsis || $0.hasPrefix(option.synopsis + " ") }.count == 1,
                    "\(option.synopsis) is not listed exactly once")
            #expect(!option.help.isEmpty)
        }
        #expect(usage.hasPrefix("usage: spamtune-train [run] [options]"))
    }

    @Test func theHelpQuotesTheDefaultsTheCodeUses() throws {
        let options = try TrainingCommandLine.options(from: TrainingCommandLine.specification.parse([]))
        let usage = TrainingCommandLine.usage
        #expect(options.workDirectory.path == SpamtunePaths.stateDirectory + "/train")
        #expect(usage.contains("--state-dir, \(SpamtunePaths.stateDirectory)"))
        #expect(options.base == "gpt2" && usage.contains("gpt2 (default)"))
        #expect(options.recipe == .spamtune && usage.contains("(default spamtune)"))
        #expect(usage.contains("passes over the training examples (default \(options.hyperparameters.epochs))"))
        #expect(usage.contains("weights averaged (default \(options.scratch.soup))"))
    }

    @Test func everyTakesADurationAboveZero() throws {
        #expect(try TrainingCommandLine.interval("24h") == 86400)
        #expect(try TrainingCommandLine.interval("30m") == 1800)
        #expect(try TrainingCommandLine.interval("90") == 90)
        for wrong in ["0", "0s", "soon", "-1h"] {
            #expect(throws: ArgumentError.conflicting("--every needs a duration like 24h or 30m, not '\(wrong)'")) {
                try TrainingCommandLine.interval(wrong)
            }
        }
    }
}

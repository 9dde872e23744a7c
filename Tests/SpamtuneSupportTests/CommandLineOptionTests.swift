import SpamtuneSupport
import Testing

/// A tool's option table: what the parser accepts and what the usage text says.
@Suite struct CommandLineOptionTests {
    let table: [CommandLineOption] = [
        .init("config", "FILE", "read the configuration", section: ""),
        .init("threads", "N", "compute threads", section: "Speed:"),
        .init("offline", nil, "use only the cache", section: "Data:"),
        .init("scratch-pretrain-text", "training|unused-ham", "what the pretraining reads", section: "Speed:"),
        .init("ham", "PATH", String(repeating: "word ", count: 30), section: "Data:"),
    ]

    @Test func theParserAcceptsExactlyTheTablesOptions() throws {
        let spec = ArgumentSpecification(table)
        let parsed = try spec.parse(["--threads", "2", "--offline", "--ham", "a", "--ham", "b"])
        #expect(try parsed.integer("threads") == 2 && parsed.has("offline") && parsed.all("ham") == ["a", "b"])
        #expect(throws: ArgumentError.flagWithValue(option: "offline")) { try spec.parse(["--offline=yes"]) }
        #expect(throws: ArgumentError.missingValue(option: "config")) { try spec.parse(["--config"]) }
        #expect(throws: ArgumentError.unknownOption("--thread", suggestion: "--threads")) { try spec.parse(["--thread", "2"]) }
        #expect(try spec.parse(["-h"]).has("help"))
    }

    @Test func theUsageTextListsEveryOptionBySectionWithItsHelp() {
        let lines = table.usageText(width: 80).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "--config FILE              read the configuration")
        #expect(lines[1] == "Speed:")
        #expect(lines[2] == "  --threads N              compute threads")
        // Too wide to have its help beside it: the help goes below.
        #expect(lines[3] == "  --scratch-pretrain-text training|unused-ham")
        #expect(lines[4] == String(repeating: " ", count: 27) + "what the pretraining reads")
        #expect(lines[5] == "Data:")
        #expect(lines[6] == "  --offline                use only the cache")
        let ham = lines[7...]
        #expect(ham.first?.hasPrefix("  --ham PATH               word word") == true)
        #expect(ham.allSatisfy { $0.count <= 80 } && ham.count == 3)
        #expect(ham.joined().split(separator: " ").filter { $0 == "word" }.count == 30)
    }

    @Test func durationsAreReadInOnePlace() {
        #expect(DurationText.seconds("30") == 30)
        #expect(DurationText.seconds("30s") == 30)
        #expect(DurationText.seconds("5m") == 300)
        #expect(DurationText.seconds("2h") == 7200)
        #expect(DurationText.seconds("1d") == 86400)
        #expect(DurationText.seconds("250ms") == 0.25)
        #expect(DurationText.seconds("1.5h") == 5400)
        #expect(DurationText.seconds("0") == 0)
        for wrong in ["", "soon", "-1", "-5m", "5 m", "nan", "infs", "m"] {
            #expect(DurationText.seconds(wrong) == nil, "\(wrong)")
        }
    }
}

import SpamtuneSupport
import Testing

@Suite struct ArgumentParserTests {
    let spec = ArgumentSpecification(options: ["threads", "text", "ham"], flags: ["offline"])

    @Test func parsesOptionsFlagsAndPositionals() throws {
        let parsed = try spec.parse(["a.eml", "--threads", "2", "--text=hi there", "--offline", "--ham", "x", "--ham", "y", "--", "--b"])
        #expect(parsed.positionals == ["a.eml", "--b"])
        #expect(try parsed.integer("threads") == 2)
        #expect(parsed.value("text") == "hi there")
        #expect(parsed.has("offline"))
        #expect(parsed.all("ham") == ["x", "y"])
        #expect(parsed.positionals.count == 2)
    }

    @Test func rejectsWhatItDoesNotKnow() {
        #expect(throws: ArgumentError.missingValue(option: "threads")) { try spec.parse(["--threads"]) }
        #expect(throws: ArgumentError.flagWithValue(option: "offline")) { try spec.parse(["--offline=yes"]) }
        #expect(throws: ArgumentError.notANumber(option: "threads", value: "two")) {
            try spec.parse(["--threads", "two"]).integer("threads")
        }
        #expect(throws: ArgumentError.outOfRange(option: "threads", value: "0", range: "1...64")) {
            try spec.parse(["--threads", "0"]).integer("threads", range: 1...64)
        }
        do {
            _ = try spec.parse(["--thread", "2"])
            Issue.record("an unknown option was accepted")
        } catch {
            #expect(error == .unknownOption("--thread", suggestion: "--threads"))
            #expect(error.description == "unknown option --thread (did you mean --threads?)")
        }
    }

    @Test func dashHIsHelpUntilOptionsEnd() throws {
        let parsed = try spec.parse(["-h"])
        #expect(parsed.has("help") && parsed.positionals.isEmpty)
        let after = try spec.parse(["--", "-h"])
        #expect(!after.has("help") && after.positionals == ["-h"])
    }

    @Test func aLoneDashIsAPositional() throws {
        #expect(try spec.parse(["-"]).positionals == ["-"])
    }

    @Test func shortOptionsOtherThanDashHAreRefused() {
        #expect(throws: ArgumentError.unknownOption("-v", suggestion: nil)) { try spec.parse(["-v"]) }
        #expect(throws: ArgumentError.unknownOption("-text", suggestion: "--text")) { try spec.parse(["-text", "x"]) }
        #expect(throws: Never.self) { try spec.parse(["--", "-v"]) }
    }

    @Test func helpAndVersionAreKnownToEveryTool() throws {
        #expect(try spec.parse(["--version"]).has("version"))
        #expect(try spec.parse(["--help"]).has("help"))
    }

    @Test func strayWordsAreNamedAsMisspeltCommandsWhenNearOne() {
        let commands = ["run", "status", "rollback", "export"]
        #expect(throws: ArgumentError.unknownCommand("stauts", suggestion: "status")) {
            try spec.parse(["stauts"]).rejectPositionals(commands: commands)
        }
        #expect(throws: ArgumentError.unexpectedArgument("banana")) { try spec.parse(["banana"]).rejectPositionals(commands: commands) }
        #expect(throws: Never.self) { try spec.parse(["--offline"]).rejectPositionals() }
    }

    @Test func theNearestChoiceIsFewEditsAwayOrTheOnlyOneExtended() {
        let options = ["threads", "text", "ham", "max-tokens", "evidence-tokens", "epochs"]
        #expect(Suggestion.nearest(to: "thread", among: options) == "threads")
        #expect(Suggestion.nearest(to: "tetx", among: options) == "text")  // a swap is one edit
        #expect(Suggestion.nearest(to: "max-token", among: options) == "max-tokens")
        #expect(Suggestion.nearest(to: "MAX-TOKENS", among: options) == "max-tokens")
        #expect(Suggestion.nearest(to: "evid", among: options) == "evidence-tokens")  // the only one it starts
        #expect(Suggestion.nearest(to: "zzzz", among: options) == nil)
        #expect(Suggestion.nearest(to: "x", among: options) == nil)
        #expect(Suggestion.nearest(to: "gpt3", among: ["gpt2", "gpt2-medium", "scratch"]) == "gpt2")
        #expect(Suggestion.nearest(to: "", among: options) == nil)
    }
}

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
        } catch let error as ArgumentError {
            #expect(error.description.hasPrefix("unknown option --thread "))
        } catch {
            Issue.record("unexpected error \(error)")
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
}

import Foundation
import SpamtuneSupport
import SpamtuneTrain
import Testing

/// `--data` and the `train_data` default as spamtune-train reads them.
@Suite struct DataSelectionTests {
    private let specification = TrainingCommandLine.specification

    private func options(_ arguments: [String], defaults: TrainingCommandLine.Defaults = .init()) throws -> TrainingOptions {
        try TrainingCommandLine.options(from: specification.parse(["--state-dir", "/nonexistent/spamtune-state"] + arguments), defaults: defaults)
    }

    @Test func theDefaultIsBothSetsAndTheBooksRecipeKeepsToTheSMS() throws {
        #expect(try options([]).data == DataSelection([.sms, .spamassassin], isExplicit: false))
        #expect(try options(["--recipe", "book"]).data == DataSelection([.sms], isExplicit: false))
        #expect(try options([], defaults: .init(recipe: "book")).data.sources == [.sms])
        #expect(try options(["--recipe", "book", "--data", "sms,spamassassin"]).data == DataSelection([.sms, .spamassassin], isExplicit: true))
    }

    @Test func listsAreReadInAFixedOrderAndNamedOnesAreExplicit() throws {
        #expect(try options(["--data", "spamassassin, sms"]).data == DataSelection([.sms, .spamassassin], isExplicit: true))
        #expect(try options(["--data", "sms"]).data == DataSelection([.sms], isExplicit: true))
        #expect(try options(["--data", "spamassassin"]).data.description == "spamassassin")
        // The configuration's train_data counts as named by the admin; --data wins over it.
        #expect(try options([], defaults: .init(data: "sms")).data == DataSelection([.sms], isExplicit: true))
        #expect(try options(["--data", "spamassassin"], defaults: .init(data: "sms")).data.sources == [.spamassassin])
    }

    @Test func badListsAndNoneWithoutMailAreRefused() throws {
        for list in ["", "sms,", "mail", "none,sms", "SMS"] {
            #expect(throws: ArgumentError.self, "\(list)") { try options(["--data", list]) }
        }
        do {
            _ = try options(["--data", "none"])
            Issue.record("--data none with no mail was accepted")
        } catch {
            #expect("\(error)".hasPrefix("--data none (train_data = none) trains on labelled mail only, and none is given"))
        }
        let mailOnly = try options(["--data", "none", "--ham", "/srv/ham", "--spam", "/srv/spam"])
        #expect(mailOnly.data == DataSelection([], isExplicit: true))
        #expect(mailOnly.data.description == "none")
    }
}

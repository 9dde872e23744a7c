import Foundation
import SpamtuneMail
import SpamtuneTestSupport
import Testing

/// Every committed message in Tests/Fixtures/mail (NAME.eml) must give exactly the
/// text in NAME.expected.txt in layout v2. Tests/Fixtures/mail/generate.py wrote both.
@Suite struct FixtureTests {
    static let directory = ProjectPaths.fixture("mail")

    static var fixtureNames: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".eml") }.map { String($0.dropLast(4)) }.sorted()
    }

    @Test func theFixtureSetCoversTheIssue() {
        // A guard against a fixture directory that silently went missing.
        #expect(FixtureTests.fixtureNames.count >= 50)
    }

    @Test(arguments: FixtureTests.fixtureNames)
    func fixtureGivesItsExpectedText(_ name: String) throws {
        let message = try Data(contentsOf: FixtureTests.directory.appendingPathComponent(name + ".eml"))
        let expected = try String(contentsOf: FixtureTests.directory.appendingPathComponent(name + ".expected.txt"), encoding: .utf8)
        let text = MailMessage(data: message).classificationText(layout: .v2)
        #expect(text == expected, "\(name): got\n\(text.debugDescription)\nexpected\n\(expected.debugDescription)")
    }
}

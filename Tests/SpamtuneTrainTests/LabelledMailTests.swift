import Foundation
import SpamtuneClassifier
import Testing

@testable import SpamtuneTrain

/// The admin's labelled folders as training examples: what is read, what is skipped and
/// said, and a message filed both ways.
@Suite struct LabelledMailTests {
    @Test func foldersAreReadWhateverTheNamesAndMistakesAreSaid() throws {
        let directory = try TemporaryDirectory("labelled-mail")
        defer { directory.remove() }
        let ham = directory.path("ham"), spam = directory.path("spam"), empty = directory.path("empty")
        for folder in [ham, spam, empty] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        let minutes = Data("From: Ann <ann@site.example>\nSubject: Minutes\n\nAttached.\n".utf8)
        let prize = Data("From: Desk <win@prize.example>\nSubject: WINNER\n\nClaim now.\n".utf8)
        try minutes.write(to: ham.appendingPathComponent("9c1d77e0"))
        try prize.write(to: ham.appendingPathComponent("a41f00c2"))
        try Data("mv 00001.7c53 00001.bfc8\n".utf8).write(to: ham.appendingPathComponent("cmds"))
        // Filed as ham by mistake, then as spam: the newer file's label is kept, and said.
        let spamCopy = spam.appendingPathComponent("a41f00c2")
        try prize.write(to: spamCopy)
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: ham.appendingPathComponent("a41f00c2").path)

        let capture = LogCapture()
        let items = try LabelledMail.collect(ham: [ham.path, empty.path], spam: [spam.path], feedback: nil, log: capture.log)
        #expect(items.count == 2)
        #expect(Set(items.map { "\(MailMessageSubject.of($0.bytes)) \($0.label.name)" }) == ["Minutes ham", "WINNER spam"])
        #expect(capture.contains("labelled mail: 2 ham message(s) from \(ham.path)"))
        #expect(capture.contains("labelled mail: skipped 1 file(s) in \(ham.path) that do not read as mail"))
        #expect(capture.lines.contains("WARNING: labelled mail: no messages in \(empty.path)"))
        #expect(capture.lines.contains("WARNING: labelled mail: 1 message(s) labelled both ham and spam; each keeps its newest file's label"))
    }
}

/// The subject line of raw test mail, read without the mail parser the test is about.
enum MailMessageSubject {
    static func of(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        return text.split(separator: "\n").first { $0.hasPrefix("Subject: ") }.map { String($0.dropFirst(9)) } ?? ""
    }
}

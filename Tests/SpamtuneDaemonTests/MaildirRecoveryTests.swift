import Foundation
import SpamtuneClassifier
import SpamtuneControl
import SpamtuneTestSupport
import Testing

@testable import SpamtuneDaemon

#if canImport(Glibc)
import Glibc
#endif

/// The states a kill can leave behind, each made by hand, and what the next start
/// makes of them (the table in MaildirDelivery); and the atomic steps they rest on.
@Suite("Maildir: recovery and the steps of a delivery")
struct MaildirRecoveryTests {
    /// A scanned copy of `original` as spamtuned writes it, signed with the bed's key.
    func scannedCopy(_ original: [UInt8], verdict: Label, bed: MaildirTestBed, at path: String) throws {
        let signer = try MaildirMarkSigner.loadOrCreate(stateDirectory: bed.configuration.stateDirectory)
        let source = bed.directory.appendingPathComponent("source-\(UUID().uuidString)").path
        try Data(original).write(to: URL(fileURLWithPath: source))
        let file = try #require(try MaildirMessageFile(path: source))
        let flag = verdict == .spam ? "YES" : "NO"
        try MaildirRewrite(signer: signer, headerNames: ["X-Spam-Flag", "X-Spam-Score", "X-Spam-Status"]).write(
            file, mark: MaildirScanMark(verdict: verdict, model: "by-hand"),
            fields: [("X-Spam-Flag", flag), ("X-Spam-Score", "5.0"), ("X-Spam-Status", "\(flag), by hand")], to: path)
        unlink(source)
    }

    @Test func everyStateAKillLeavesIsFinishedOrUndone() throws {
        let bed = try MaildirTestBed(threshold: 0.01)
        defer { bed.tearDown() }
        try bed.mailbox.createJunkFolder()
        let part = MaildirDelivery.partSuffix, ready = MaildirDelivery.readySuffix, original = MaildirDelivery.originalSuffix

        // A: killed while writing the copy.
        try bed.deliver(testMessage(id: "A"), name: "A")
        try Data("X-Spamtune-Scanned: verdict=sp".utf8).write(to: URL(fileURLWithPath: bed.path("tmp/A" + part)))
        // B: the copy is ready, the original not yet claimed.
        try bed.deliver(testMessage(id: "B"), name: "B")
        try scannedCopy(testMessage(id: "B"), verdict: .spam, bed: bed, at: bed.path(".Junk/tmp/B" + ready))
        // C: spam claimed, not yet committed.
        try Data(testMessage(id: "C")).write(to: URL(fileURLWithPath: bed.path("tmp/C" + original)))
        try scannedCopy(testMessage(id: "C"), verdict: .spam, bed: bed, at: bed.path(".Junk/tmp/C" + ready))
        let copyOfC = try bed.contents(".Junk/tmp/C" + ready)
        // D: committed (and already read by the user), the original not yet removed.
        try Data(testMessage(id: "D")).write(to: URL(fileURLWithPath: bed.path("tmp/D" + original)))
        try scannedCopy(testMessage(id: "D"), verdict: .spam, bed: bed, at: bed.path(".Junk/cur/D:2,S"))
        // E: ham claimed on a file system without RENAME_EXCHANGE, not yet committed.
        try Data(testMessage(id: "E")).write(to: URL(fileURLWithPath: bed.path("tmp/E" + original)))
        try scannedCopy(testMessage(id: "E"), verdict: .ham, bed: bed, at: bed.path("tmp/E" + ready))
        // F: a link + unlink commit cut between the two.
        try Data(testMessage(id: "F")).write(to: URL(fileURLWithPath: bed.path("tmp/F" + original)))
        try scannedCopy(testMessage(id: "F"), verdict: .spam, bed: bed, at: bed.path(".Junk/tmp/F" + ready))
        #expect(link(bed.path(".Junk/tmp/F" + ready), bed.path(".Junk/new/F")) == 0)
        // G: the ham swap done; the original, under the ready name, not yet removed.
        try scannedCopy(testMessage(id: "G"), verdict: .ham, bed: bed, at: bed.path("new/G"))
        try Data(testMessage(id: "G")).write(to: URL(fileURLWithPath: bed.path("tmp/G" + ready)))
        let scannedG = try bed.contents("new/G")

        try bed.start()
        #expect(eventually { bed.logLines.all.contains { $0.contains("watching") } })
        #expect(bed.logLines.all.contains { $0.hasSuffix("recovered after an interruption: 2 deliveries finished, 2 already delivered, 3 unfinished copies removed") })
        // A and B scanned afresh (everything is spam here).
        #expect(eventually { bed.names(".Junk/new") == ["A", "B", "C", "F"] })
        #expect(bed.names("new") == ["E", "G"])
        #expect(bed.names(".Junk/cur") == ["D:2,S"])
        #expect(try bed.contents(".Junk/new/C") == copyOfC)
        #expect(try bed.contents("new/G") == scannedG)
        #expect(fieldValues(try bed.contents("new/E"), "X-Spam-Flag") == ["NO"])
        // B's claimed original leaves tmp/ just after its copy reaches Junk (move, sync, unlink).
        #expect(eventually { bed.names("tmp").isEmpty && bed.names(".Junk/tmp").isEmpty })
        // Only A and B were scored; the rest were finished, not scanned again.
        usleep(200_000)
        let scored = bed.logLines.all.filter { $0.hasPrefix("maildir id=") }.map { $0.dropFirst("maildir id=".count).prefix { $0 != " " } }
        #expect(scored.sorted() == ["A", "B"])
        // None of it is the user's feedback.
        #expect(try bed.feedbackStore.counts() == FeedbackCounts(spam: 0, ham: 0))
    }

    @Test func theAtomicStepsDoNotReplaceOrRecreate() throws {
        let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("spamtune-maildir-steps-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func write(_ name: String, _ text: String) throws { try text.write(toFile: directory + "/" + name, atomically: false, encoding: .utf8) }
        func read(_ name: String) -> String? { try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) }

        try write("copy", "scanned")
        try write("message", "original")
        #expect(try MaildirFileSystem.exchange(directory + "/copy", directory + "/message") == .exchanged)
        #expect(read("message") == "scanned" && read("copy") == "original")
        // The client took the message: the swap does nothing, and nothing is recreated.
        #expect(try MaildirFileSystem.exchange(directory + "/copy", directory + "/taken") == .secondMissing)
        #expect(read("taken") == nil && read("copy") == "original")

        try write("other", "someone else's")
        #expect(try MaildirFileSystem.moveWithoutReplacing(directory + "/copy", to: directory + "/other") == .destinationExists)
        #expect(read("other") == "someone else's" && read("copy") == "original")
        #expect(try MaildirFileSystem.moveWithoutReplacing(directory + "/gone", to: directory + "/free") == .sourceMissing)
        #expect(try MaildirFileSystem.moveWithoutReplacing(directory + "/copy", to: directory + "/free") == .moved)
        #expect(read("free") == "original" && read("copy") == nil)
        // A missing destination folder is an error naming it, not "the client took it".
        #expect(throws: MaildirError.self) { try MaildirFileSystem.moveWithoutReplacing(directory + "/free", to: directory + "/no-such-folder/x") }
        #expect(MaildirFileSystem.uniqueName() != MaildirFileSystem.uniqueName())
    }

    @Test func theScanMarkChecksTheMessageItSitsOn() throws {
        let bed = try MaildirTestBed(threshold: 0.5)
        defer { bed.tearDown() }
        let signer = try MaildirMarkSigner.loadOrCreate(stateDirectory: bed.configuration.stateDirectory)
        // The same key on the next start; a different one elsewhere.
        #expect(try MaildirMarkSigner.loadOrCreate(stateDirectory: bed.configuration.stateDirectory).key == signer.key)
        #expect(try MaildirMarkSigner.loadOrCreate(stateDirectory: bed.directory.appendingPathComponent("other").path).key != signer.key)
        let keyInfo = try #require(MaildirFileSystem.status(bed.configuration.stateDirectory + "/maildir.key"))
        #expect(keyInfo.st_mode & 0o777 == 0o600)

        let path = bed.directory.appendingPathComponent("scanned").path
        var body = String(repeating: "line of text\n", count: 10_000)  // past the 64 KiB checked
        try scannedCopy(testMessage(id: "m", body: body), verdict: .spam, bed: bed, at: path)
        func mark(_ bytes: [UInt8]) throws -> MaildirScanMark? {
            let tampered = bed.directory.appendingPathComponent("t-\(UUID().uuidString)").path
            try Data(bytes).write(to: URL(fileURLWithPath: tampered))
            let file = try #require(try MaildirMessageFile(path: tampered))
            return signer.validMark(in: file.descriptor, size: file.size)
        }
        let scanned = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(try mark(scanned) == MaildirScanMark(verdict: .spam, model: "by-hand"))
        var flipped = scanned
        flipped[scanned.count / 10] ^= 1
        #expect(try mark(flipped) == nil)
        #expect(try mark(scanned + Array("more".utf8)) == nil)
        let asHam = Array(String(decoding: scanned, as: UTF8.self).replacingOccurrences(of: "verdict=spam", with: "verdict=ham").utf8)
        #expect(try mark(asHam) == nil)

        // The feedback store gets the message without spamtuned's lines.
        body = "short\n"
        let original = testMessage(id: "n", body: body, extraHeaders: "X-Spam-Flag: NO\n")
        try scannedCopy(original, verdict: .ham, bed: bed, at: path)
        let rewrite = MaildirRewrite(signer: signer, headerNames: ["X-Spam-Flag", "X-Spam-Score", "X-Spam-Status"])
        #expect(rewrite.unscanned(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))) == testMessage(id: "n", body: body))
        #expect(rewrite.unscanned(original) == original)
    }
}

extension MaildirTestBed {
    var mailbox: MaildirMailbox { MaildirMailbox(root: maildir, junkFolder: configuration.junkFolder) }
}

import Foundation
import SpamtuneControl
import SpamtuneTestSupport
import Testing

@testable import SpamtuneDaemon

#if canImport(Glibc)
import Glibc
#endif

@Suite("Maildir watcher: real inotify on real Maildirs")
struct MaildirWatcherTests {
    @Test func hamGetsHeadersAndStaysInNew() throws {
        let bed = try MaildirTestBed(threshold: 0.99)
        defer { bed.tearDown() }
        try bed.start()
        let original = testMessage(id: "ham-1")
        let name = try bed.deliver(original)
        let originalTime = try #require(MaildirFileSystem.status(bed.path("new/" + name))).st_mtim.tv_sec

        #expect(eventually { ((try? bed.contents("new/" + name)) ?? []).starts(with: Array("X-Spamtune-Scanned:".utf8)) })
        let scanned = try bed.contents("new/" + name)
        #expect(fieldValues(scanned, "X-Spam-Flag") == ["NO"])
        #expect(fieldValues(scanned, "X-Spam-Score").count == 1)
        let status = try #require(fieldValues(scanned, "X-Spam-Status").first)
        #expect(status.hasPrefix("No, score="))
        #expect(status.contains("required=9.9"))
        #expect(fieldValues(scanned, "X-Spamtune-Scanned").first?.hasPrefix("verdict=ham; model=") == true)
        // Below spamtuned's lines, the message exactly as delivered.
        #expect(Array(scanned.suffix(original.count)) == original)
        #expect(bed.names("new") == [name])
        #expect(bed.names(".Junk/new").isEmpty)
        // The swap puts the scanned copy in new/ first; the original, left in tmp/ under
        // the ready name, is removed just after.
        #expect(eventually { bed.names("tmp").isEmpty })
        // The arrival time a mail server shows (the file's mtime) is kept.
        #expect(try #require(MaildirFileSystem.status(bed.path("new/" + name))).st_mtim.tv_sec == originalTime)
        // One log line per message, named by the file.
        #expect(eventually { bed.logLines.all.contains { $0.hasPrefix("maildir id=\(name) verdict=ham") } })
    }

    /// The names and scale the milter uses (MilterSessionTests) are the Maildir's too.
    @Test func headerNamesAndScaleComeFromTheConfiguration() throws {
        let bed = try MaildirTestBed(threshold: 0.99) {
            $0.flagHeader = "X-Junk"
            $0.scoreHeader = "X-Junk-Score"
            $0.statusHeader = "X-Junk-Report"
            $0.scoreScale = 100
        }
        defer { bed.tearDown() }
        try bed.start()
        let name = try bed.deliver(testMessage(id: "names-1", extraHeaders: "X-Junk: NO\n"))
        #expect(eventually { ((try? bed.contents("new/" + name)) ?? []).starts(with: Array("X-Spamtune-Scanned:".utf8)) })
        let scanned = try bed.contents("new/" + name)
        #expect(headerFields(scanned).map(\.name).prefix(4) == ["X-Spamtune-Scanned", "X-Junk", "X-Junk-Score", "X-Junk-Report"])
        #expect(fieldValues(scanned, "X-Junk") == ["NO"])
        #expect(fieldValues(scanned, "X-Spam-Flag").isEmpty)
        #expect(try #require(fieldValues(scanned, "X-Junk-Report").first).contains("required=99.0 "))
    }

    @Test func spamMovesToTheJunkFolderWhichIsCreated() throws {
        let bed = try MaildirTestBed(threshold: 0.01)
        defer { bed.tearDown() }
        try bed.start()
        #expect(eventually { MaildirFileSystem.isDirectory(bed.path(".Junk/new")) })
        // The marker is written last.
        #expect(eventually { MaildirFileSystem.exists(bed.path(".Junk/maildirfolder")) })
        for sub in ["cur", "tmp"] { #expect(MaildirFileSystem.isDirectory(bed.path(".Junk/" + sub))) }

        let original = testMessage(id: "spam-1", subject: "WINNER!! Claim your prize now")
        let name = try bed.deliver(original)
        #expect(eventually { bed.names(".Junk/new") == [name] })
        #expect(bed.names("new").isEmpty)
        let scanned = try bed.contents(".Junk/new/" + name)
        #expect(fieldValues(scanned, "X-Spam-Flag") == ["YES"])
        #expect(try #require(fieldValues(scanned, "X-Spam-Status").first).hasPrefix("Yes, score="))
        #expect(Array(scanned.suffix(original.count)) == original)
        #expect(bed.names("tmp").isEmpty && bed.names(".Junk/tmp").isEmpty)
        // spamtuned's own move into Junk is not the user's feedback.
        usleep(300_000)
        #expect(try bed.feedbackStore.counts() == FeedbackCounts(spam: 0, ham: 0))
    }

    @Test func messagesWaitingAtStartAreScannedAndForgedFieldsReplaced() throws {
        let bed = try MaildirTestBed(threshold: 0.99) { $0.junkFolder = ".Spam" }
        defer { bed.tearDown() }
        // A sender's own "X-Spam-Flag: NO" and a made-up scan mark, folded over two lines.
        let forged = testMessage(
            id: "forged", extraHeaders: "X-Spamtune-Scanned: verdict=ham; model=x;\n check=00000000000000000000000000000000\nX-Spam-Flag: YES\n")
        let names = try (0..<5).map { try bed.deliver(testMessage(id: "waiting-\($0)")) } + [try bed.deliver(forged)]
        try bed.start()
        #expect(eventually { names.allSatisfy { fieldValues((try? bed.contents("new/" + $0)) ?? [], "X-Spam-Flag") == ["NO"] } })
        let scanned = try bed.contents("new/" + names.last!)
        #expect(fieldValues(scanned, "X-Spam-Flag") == ["NO"])
        #expect(fieldValues(scanned, "X-Spamtune-Scanned").count == 1)
        #expect(fieldValues(scanned, "Message-ID") == ["<forged@example.test>"])
        #expect(MaildirFileSystem.isDirectory(bed.path(".Spam/new")))
    }

    @Test func aScanMarkCopiedFromAnotherMessageFailsItsCheck() throws {
        let bed = try MaildirTestBed(threshold: 0.99)
        defer { bed.tearDown() }
        try bed.start()
        let first = try bed.deliver(testMessage(id: "first"))
        #expect(eventually { ((try? bed.contents("new/" + first)) ?? []).starts(with: Array("X-Spamtune-Scanned:".utf8)) })
        let markLine = try bed.contents("new/" + first).prefix { $0 != UInt8(ascii: "\n") } + [UInt8(ascii: "\n")]
        // A sender who once received a scanned message replays its mark on another one.
        let replayed = Array(markLine) + testMessage(id: "second", subject: "Cheap pills")
        let second = try bed.deliver(replayed)
        #expect(eventually { fieldValues((try? bed.contents("new/" + second)) ?? [], "X-Spamtune-Scanned").count == 1 && fieldValues((try? bed.contents("new/" + second)) ?? [], "X-Spam-Flag") == ["NO"] })
        let scanned = try bed.contents("new/" + second)
        #expect(!scanned.starts(with: markLine))
        #expect(bed.logLines.all.contains { $0.hasPrefix("maildir id=\(second) ") })
    }

    @Test func crlfMessagesGetCrlfFields() throws {
        let bed = try MaildirTestBed(threshold: 0.99)
        defer { bed.tearDown() }
        try bed.start()
        let original = testMessage(id: "crlf", lineEnding: "\r\n")
        let name = try bed.deliver(original)
        #expect(eventually { ((try? bed.contents("new/" + name)) ?? []).starts(with: Array("X-Spamtune-Scanned:".utf8)) })
        let scanned = try bed.contents("new/" + name)
        let added = scanned.prefix(scanned.count - original.count)
        let text = String(decoding: added, as: UTF8.self)
        #expect(text.components(separatedBy: "\r\n").count == 5)  // four fields, each ending in CRLF
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
    }

    @Test func aLargeMessageIsScoredOnItsStartAndRewrittenWhole() throws {
        let bed = try MaildirTestBed(threshold: 0.01) { $0.maxMessageBytes = 64 << 10 }
        defer { bed.tearDown() }
        try bed.start()
        var body = ""
        var generator = SeededGenerator(seed: 7)
        while body.utf8.count < 6 << 20 {
            body += (0..<16).map { _ in String(UInt64.random(in: 0...UInt64.max, using: &generator), radix: 36) }.joined(separator: " ") + "\n"
        }
        let original = testMessage(id: "large", body: body)
        let name = try bed.deliver(original)
        #expect(eventually(timeout: 60) { bed.names(".Junk/new") == [name] })
        let scanned = try bed.contents(".Junk/new/" + name)
        #expect(Array(scanned.suffix(original.count)) == original)
        // Only the first max_message_size bytes were read for scoring.
        #expect(bed.logLines.all.contains { $0.hasPrefix("maildir id=\(name) verdict=spam") && $0.contains("bytes=\(64 << 10) ") }, "\(bed.logLines.all)")
    }

    @Test func usersMovesIntoAndOutOfJunkAreFeedback() throws {
        let bed = try MaildirTestBed(threshold: 0.01)
        defer { bed.tearDown() }
        try bed.start()
        let spamOriginal = testMessage(id: "caught", subject: "Limited offer")
        let spam = try bed.deliver(spamOriginal)
        #expect(eventually { bed.names(".Junk/new") == [spam] })
        // The client reads it in Junk (new/ to cur/ with flags): still not feedback.
        try bed.move(".Junk/new/" + spam, ".Junk/cur/" + spam + ":2,S")
        usleep(300_000)
        #expect(try bed.feedbackStore.counts() == FeedbackCounts(spam: 0, ham: 0))

        // Out of Junk into the inbox: the user says ham. The store keeps the message as
        // the sender sent it, without spamtuned's lines.
        try bed.move(".Junk/cur/" + spam + ":2,S", "cur/" + spam + ":2,S")
        #expect(eventually { (try? bed.feedbackStore.counts()) == FeedbackCounts(spam: 0, ham: 1) })
        #expect(try bed.feedbackStore.entry(for: spamOriginal)?.label == .ham)
        #expect(try bed.feedbackStore.entry(for: spamOriginal)?.source.hasPrefix("maildir") == true)
        // Marking it read again in the inbox (a flag change) is no new feedback.
        try bed.move("cur/" + spam + ":2,S", "cur/" + spam + ":2,RS")

        // Back into Junk: spam again (the newest label wins).
        try bed.move("cur/" + spam + ":2,RS", ".Junk/cur/" + spam + ":2,RS")
        #expect(eventually { (try? bed.feedbackStore.entry(for: spamOriginal)?.label) == .spam })

        // An old message, never scanned, moved by the user from the inbox into Junk.
        let old = testMessage(id: "old", subject: "Newsletter")
        try Data(old).write(to: URL(fileURLWithPath: bed.path("cur/old-message:2,S")))
        try bed.move("cur/old-message:2,S", ".Junk/cur/old-message:2,S")
        #expect(eventually { (try? bed.feedbackStore.entry(for: old)?.label) == .spam })

        // An IMAP server's copy into Junk: a hard link made in Junk's tmp/ and renamed
        // into cur/ under a new name, then the original expunged.
        let linked = testMessage(id: "linked", subject: "Meeting")
        try Data(linked).write(to: URL(fileURLWithPath: bed.path("cur/linked:2,S")))
        #expect(link(bed.path("cur/linked:2,S"), bed.path(".Junk/tmp/1234.linked")) == 0)
        try bed.move(".Junk/tmp/1234.linked", ".Junk/cur/1234.linked:2,S")
        unlink(bed.path("cur/linked:2,S"))
        // A hard link made straight into Junk's cur/ (qmail style), the original kept.
        let direct = testMessage(id: "direct", subject: "Lunch")
        try Data(direct).write(to: URL(fileURLWithPath: bed.path("cur/direct:2,S")))
        #expect(link(bed.path("cur/direct:2,S"), bed.path(".Junk/cur/5678.direct:2,S")) == 0)
        // The watcher takes these after the inbox's own events; with the whole suite
        // running beside it that has taken longer than the usual 20 s.
        #expect(eventually(timeout: 60) { (try? bed.feedbackStore.entry(for: direct)?.label) == .spam })
        #expect(eventually(timeout: 60) { (try? bed.feedbackStore.entry(for: linked)?.label) == .spam })
        #expect(try bed.feedbackStore.counts() == FeedbackCounts(spam: 4, ham: 0))
    }

    @Test func aMaildirCreatedLaterIsWatchedOnceItExists() throws {
        let bed = try MaildirTestBed(threshold: 0.99, createMaildir: false)
        defer { bed.tearDown() }
        try bed.start()
        #expect(eventually { bed.logLines.all.contains { $0.contains("waiting for the Maildir to be created") } })
        try MaildirTestBed.makeMaildir(bed.maildir)
        let name = try bed.deliver(testMessage(id: "late"))
        #expect(eventually { ((try? bed.contents("new/" + name)) ?? []).starts(with: Array("X-Spamtune-Scanned:".utf8)) })
    }

    @Test func aDeletedJunkFolderIsMadeAgain() throws {
        let bed = try MaildirTestBed(threshold: 0.01)
        defer { bed.tearDown() }
        try bed.start()
        #expect(eventually { MaildirFileSystem.isDirectory(bed.path(".Junk/new")) })
        usleep(100_000)
        // As an IMAP server deletes a folder: renamed out of the way, then removed.
        try bed.move(".Junk", "../deleted-junk")
        try FileManager.default.removeItem(atPath: bed.directory.appendingPathComponent("deleted-junk").path)
        let name = try bed.deliver(testMessage(id: "after-delete"))
        #expect(eventually { bed.names(".Junk/new") == [name] })
        // And it is watched again: a user's move into it is feedback.
        let moved = testMessage(id: "moved-later")
        try Data(moved).write(to: URL(fileURLWithPath: bed.path("cur/moved:2,S")))
        #expect(eventually {
            try? bed.move("cur/moved:2,S", ".Junk/cur/moved:2,S")
            return (try? bed.feedbackStore.entry(for: moved)?.label) == .spam
        })
    }

    @Test func filesSpamtunedWritesBelongToTheMaildirsOwner() throws {
        guard geteuid() == 0 else { return }
        let bed = try MaildirTestBed(threshold: 0.01)
        defer { bed.tearDown() }
        for path in [bed.maildir, bed.path("new"), bed.path("cur"), bed.path("tmp")] { chown(path, 65534, 65534) }
        let name = uniqueMaildirName()
        try Data(testMessage(id: "owned")).write(to: URL(fileURLWithPath: bed.path("tmp/" + name)))
        chown(bed.path("tmp/" + name), 65534, 65534)
        chmod(bed.path("tmp/" + name), 0o640)
        rename(bed.path("tmp/" + name), bed.path("new/" + name))
        try bed.start()
        #expect(eventually { bed.names(".Junk/new") == [name] })
        for path in [".Junk", ".Junk/new", ".Junk/cur", ".Junk/tmp", ".Junk/maildirfolder", ".Junk/new/" + name] {
            let info = try #require(MaildirFileSystem.status(bed.path(path)))
            #expect(info.st_uid == 65534 && info.st_gid == 65534, "\(path)")
        }
        #expect(try #require(MaildirFileSystem.status(bed.path(".Junk/new/" + name))).st_mode & 0o777 == 0o640)
    }
    @Test func dovecotSizesInTheNameAreThoseOfTheScannedCopy() throws {
        let bed = try MaildirTestBed(threshold: 0.99)
        defer { bed.tearDown() }
        try bed.start()
        let original = testMessage(id: "sized", lineEnding: "\n")
        let lines = original.filter { $0 == 10 }.count
        let name = try bed.deliver(original, name: "1795450000.M1P2.mx,S=\(original.count),W=\(original.count + lines)")
        #expect(eventually { bed.names("new").count == 1 && bed.names("new") != [name] })
        let delivered = try #require(bed.names("new").first)
        let scanned = try bed.contents("new/" + delivered)
        let scannedLines = scanned.filter { $0 == 10 }.count
        #expect(delivered == "1795450000.M1P2.mx,S=\(scanned.count),W=\(scanned.count + scannedLines)")
        #expect(fieldValues(scanned, "X-Spam-Flag") == ["NO"])
        // The original, claimed into tmp/, is removed just after the scanned copy reaches new/.
        #expect(eventually { bed.names("tmp").isEmpty })

        var size = MaildirMessageSize()
        size.count(Array("a\r\nb\nc".utf8))
        #expect(size.applied(to: "123.host,S=1,W=2:2,S") == "123.host,S=6,W=7:2,S")
        #expect(size.applied(to: "123.host") == "123.host")
        #expect(size.applied(to: "123.host,S=x") == "123.host,S=x")
    }
    @Test func aBacklogIsWorkedThroughInBatches() throws {
        let count = 400
        let messages = (0..<count).map { testMessage(id: "backlog-\($0)", subject: "Report \($0)", body: String(repeating: "figure \($0) ", count: 20 + $0 % 40) + "\n") }
        var bed = try MaildirTestBed(threshold: 0.5)
        let threshold = try medianSpamProbability(Array(messages.prefix(64)), checkpoint: bed.modelsRoot.appendingPathComponent("current"))
        bed.tearDown()
        bed = try MaildirTestBed(threshold: 0.5) { $0.spamThreshold = threshold }
        defer { bed.tearDown() }
        for message in messages { try bed.deliver(message) }
        let started = Date()
        try bed.start()
        #expect(eventually(timeout: 120) { bed.logLines.all.filter { $0.hasPrefix("maildir id=") }.count == count })
        #expect(eventually { MaildirCensus(maildir: bed.maildir).scannedIDs.count == count })
        let seconds = Date().timeIntervalSince(started)
        let census = MaildirCensus(maildir: bed.maildir)
        let statistics = try #require(bed.daemon).service.statistics.snapshot()
        print(String(format: "maildir backlog: %d messages in %.1fs (%.0f/s, model load included), mean batch %.1f, %d ham, %d spam", count, seconds, Double(count) / seconds, statistics.meanBatchSize, census.inbox, census.junk))
        #expect(census.duplicates.isEmpty && census.badFields.isEmpty && census.unscannedPaths.isEmpty && census.staging.isEmpty)
        #expect(census.inbox > 0 && census.junk > 0)
        // Several workers wait on the scoring service at once, so it can batch them.
        #expect(statistics.meanBatchSize > 1)
    }
}

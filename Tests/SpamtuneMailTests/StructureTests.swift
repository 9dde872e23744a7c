import Foundation
import SpamtuneMail
import SpamtuneTestSupport
import Testing

@Suite struct MIMEStructureTests {
    func fixture(_ name: String) throws -> MailMessage {
        MailMessage(data: try Data(contentsOf: ProjectPaths.fixture("mail/\(name).eml")))
    }

    @Test func treeOfANestedMessage() throws {
        let message = try fixture("nested-rfc822")
        let (root, hits) = message.mimeStructure()
        #expect(hits.isEmpty)
        #expect(root.contentType.mimeType == "multipart/mixed")
        #expect(root.children.map(\.contentType.mimeType) == ["text/plain", "message/rfc822"])
        let embedded = try #require(root.children[1].children.first)
        #expect(embedded.depth == 2)
        #expect(embedded.fields(named: "subject").first?.rawValue == "Verify your account")
        #expect(embedded.children.map(\.contentType.mimeType) == ["text/plain", "text/html"])
        #expect(root.allParts.count == 6)
        let plain = root.children[0]
        #expect(String(decoding: message.bytes[plain.bodyRange], as: UTF8.self) == "Forwarding this, looks odd.")
    }

    @Test func inferredBoundaryAndDefaultTypes() throws {
        let (missing, _) = try fixture("multipart-missing-boundary").mimeStructure()
        #expect(missing.inferredBoundary == "XYZ")
        #expect(missing.children.count == 2)
        let (wrong, _) = try fixture("multipart-wrong-boundary").mimeStructure()
        #expect(wrong.inferredBoundary == "actual")
        let (none, _) = try fixture("multipart-without-delimiters").mimeStructure()
        #expect(none.children.count == 1 && none.children[0].contentType == .textPlain)

        let digest = MailMessage(bytes: bytes("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: inner\n\nhello\n--d--\n"))
        let (root, _) = digest.mimeStructure()
        #expect(root.children.first?.contentType.mimeType == "message/rfc822")
        #expect(root.children.first?.hasContentTypeField == false)
        #expect(digest.content().bodyText == "inner\n\nhello")
    }

    @Test func partsBeyondTheLimitsAreLeftOutAndNoted() {
        var text = "Subject: many\nContent-Type: multipart/mixed; boundary=b\n\n"
        for index in 0..<20 { text += "--b\nContent-Type: text/plain\n\npart \(index)\n" }
        text += "--b--\n"
        let limited = MailMessage(bytes: bytes(text), limits: MailParsingLimits(maxParts: 5))
        let (root, hits) = limited.mimeStructure()
        #expect(root.children.count == 4)
        #expect(hits.contains(.parts))
        let content = limited.content()
        #expect(content.bodyText == "part 0\n\npart 1\n\npart 2\n\npart 3")
        #expect(content.limitHits.contains(.parts))
    }

    @Test func nestingBeyondTheLimitIsLeftOut() {
        var text = "Content-Type: multipart/mixed; boundary=b0\n\n"
        for depth in 1...10 { text += "--b\(depth - 1)\nContent-Type: multipart/mixed; boundary=b\(depth)\n\nlevel \(depth)\n" }
        text += "--b10\nContent-Type: text/plain\n\ndeepest\n"
        let deep = MailMessage(bytes: bytes(text), limits: MailParsingLimits(maxMIMEDepth: 4))
        let content = deep.content()
        #expect(content.limitHits.contains(.mimeDepth))
        #expect(!content.bodyText.contains("deepest"))
        let shallow = MailMessage(bytes: bytes(text)).content()
        #expect(shallow.bodyText == "deepest")
        #expect(shallow.limitHits.isEmpty)
    }

    @Test func limitsFromConfiguration() throws {
        let limits = try JSONDecoder().decode(MailParsingLimits.self, from: Data(#"{"maxParts": 7, "maxMIMEDepth": 100000}"#.utf8))
        #expect(limits.maxParts == 7)
        #expect(limits.maxMIMEDepth == MailParsingLimits.mimeDepthCeiling)
        #expect(limits.maxTextCharacters == MailParsingLimits.default.maxTextCharacters)
        let roundTrip = try JSONDecoder().decode(MailParsingLimits.self, from: try JSONEncoder().encode(limits))
        #expect(roundTrip == limits)
    }

    @Test func textLimitsCutTheBodyAndSaySo() {
        let text = "Subject: " + String(repeating: "s", count: 50) + "\n\n" + String(repeating: "word ", count: 1000)
        let limits = MailParsingLimits(maxTextCharacters: 100, maxHeaderTextCharacters: 10)
        let content = MailMessage(bytes: bytes(text), limits: limits).content()
        #expect(content.subject == String(repeating: "s", count: 10))
        #expect(content.bodyText.unicodeScalars.count <= 100)
        #expect(content.bodyText.hasPrefix("word word"))
        #expect(content.limitHits == [.textCharacters, .headerTextCharacters])
    }

    @Test func attachmentNamesAreBounded() {
        var text = "Content-Type: multipart/mixed; boundary=b\n\n"
        for index in 0..<10 { text += "--b\nContent-Type: image/png; name=\"img\(index).png\"\n\nxx\n" }
        let content = MailMessage(bytes: bytes(text), limits: MailParsingLimits(maxAttachmentNames: 3)).content()
        #expect(content.attachmentNames == ["img0.png", "img1.png", "img2.png"])
        #expect(content.limitHits == [.attachmentNames])
    }

    @Test func attachmentsAreNeverDecoded() {
        // 3 MB of base64 in an attachment must not spend the decoding budget.
        let payload = String(repeating: "QUFBQUFB", count: 400_000)
        let text = "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/zip; name=x.zip\n"
            + "Content-Transfer-Encoding: base64\n\n\(payload)\n--b\nContent-Type: text/plain\n\nthe text\n--b--\n"
        let content = MailMessage(bytes: bytes(text), limits: MailParsingLimits(maxDecodedBytes: 100)).content()
        #expect(content.bodyText == "the text")
        #expect(content.attachmentNames == ["x.zip"])
        #expect(content.limitHits.isEmpty)
    }
}

@Suite struct MailboxTests {
    let boxes = ProjectPaths.fixture("mail/mailboxes").path

    func subjects(_ messages: [MailboxMessage]) -> [String] {
        messages.map { MailMessage(bytes: $0.bytes).subject }
    }

    @Test func maildirWithFolders() throws {
        var reader = try MaildirReader(path: boxes + "/Maildir")
        #expect(reader.folders == ["", ".Archive.2024", ".Junk"])
        let messages = try reader.readAll()
        #expect(subjects(messages) == ["inbox message 2", "inbox message 1", "inbox message 3",
                                       "archive message 6", "junk message 5", "junk message 4"])
        guard case .maildir(let path, let folder) = messages[5].source else { Issue.record("not a Maildir source"); return }
        #expect(folder == ".Junk")
        #expect(path.hasSuffix("Maildir/.Junk/cur/1700000004.M4P1.host:2,S"))
        var topOnly = try MaildirReader(path: boxes + "/Maildir", includeSubfolders: false)
        #expect(try topOnly.readAll().count == 3)
    }

    @Test func mboxSplitsAndUnquotes() throws {
        var reader = try MboxReader(path: boxes + "/sample.mbox")
        let messages = try reader.readAll()
        #expect(subjects(messages) == ["first", "second", "third"])
        #expect(String(decoding: messages[0].bytes, as: UTF8.self) == "From: alice@example.org\nSubject: first\n\nLine one.\n"
                + "From the quoted line.\n>From twice quoted.\nFrom an unquoted body line that follows text, not a blank line.\n")
        #expect(String(decoding: messages[1].bytes, as: UTF8.self) == "From: bob@example.org\nSubject: second\n\nSecond body.\n")
        #expect(String(decoding: messages[2].bytes, as: UTF8.self).hasSuffix("Third body, CRLF.\r\n"))
        guard case .mbox(_, let index, let offset) = messages[1].source else { Issue.record("not an mbox source"); return }
        #expect(index == 1)
        let file = try Data(contentsOf: URL(fileURLWithPath: boxes + "/sample.mbox"))
        #expect(String(decoding: file[offset..<offset + 18], as: UTF8.self) == "From bob@example.o")
    }

    @Test func mboxEdgeCases() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spamtune-mbox-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let empty = directory.appendingPathComponent("empty.mbox").path
        try Data().write(to: URL(fileURLWithPath: empty))
        var emptyReader = try MboxReader(path: empty)
        #expect(try emptyReader.nextMessage() == nil)

        let adjacent = directory.appendingPathComponent("adjacent.mbox").path
        try Data("From a\nFrom b\nSubject: x\n\nbody".utf8).write(to: URL(fileURLWithPath: adjacent))
        var adjacentReader = try MboxReader(path: adjacent)
        let messages = try adjacentReader.readAll()
        #expect(messages.map(\.bytes.count) == [0, 16])

        let notMbox = directory.appendingPathComponent("x.eml").path
        try Data("Subject: x\n\nbody".utf8).write(to: URL(fileURLWithPath: notMbox))
        #expect(throws: MailboxError.self) { try MboxReader(path: notMbox) }
        var single = try Mailbox.open(path: notMbox)
        #expect(try single.readAll().map { MailMessage(bytes: $0.bytes).subject } == ["x"])

        let big = directory.appendingPathComponent("big.mbox").path
        try Data(("From a\nSubject: big\n\n" + String(repeating: "x", count: 1000)).utf8).write(to: URL(fileURLWithPath: big))
        var bounded = try MboxReader(path: big, maxMessageBytes: 100)
        let cut = try #require(try bounded.nextMessage())
        #expect(cut.bytes.count == 100 && cut.isTruncated)
    }

    @Test func anUnreadableMessageIsAnErrorNamingIt() throws {
        let maildir = FileManager.default.temporaryDirectory.appendingPathComponent("spamtune-maildir-\(UUID())")
        try FileManager.default.createDirectory(at: maildir.appendingPathComponent("cur"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: maildir) }
        let dangling = maildir.appendingPathComponent("cur/1.M1P1.host:2,S").path
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: "/nonexistent/spamtune")
        var reader = try MaildirReader(path: maildir.path)
        do {
            _ = try reader.nextMessage()
            Issue.record("reading a dangling link succeeded")
        } catch let error as MailboxError {
            guard case .cannotRead(let path, _) = error else { Issue.record("\(error)"); return }
            #expect(path == dangling)
            #expect(error.description.hasPrefix("cannot read \(dangling): "))
        }
        #expect(throws: MailboxError.self) { try MaildirReader(path: maildir.appendingPathComponent("cur").path) }
    }

    @Test func emlDirectoryInNameOrder() throws {
        var reader = try EMLDirectoryReader(path: boxes + "/eml")
        let messages = try reader.readAll()
        #expect(subjects(messages) == ["eml message 1", "eml message 2", "eml message 3"])
        #expect(messages.map(\.source.description).allSatisfy { $0.lowercased().hasSuffix(".eml") })
    }

    @Test func messageFilesAreKnownByNameOrByTheirHeader() throws {
        // MH folders and the public corpora number their messages, other corpora and exports
        // name them by hash or anyhow; an index or a note is not a message, whatever it is named.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numbered-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let files = [
            ("17", "Subject: mh\r\n\r\nbody\r\n"),
            ("00042.5e2a9b", "From sender@example.com Thu Aug 22 12:36:23 2002\nReturn-Path: <sender@example.com>\nSubject: corpus\n\nbody\n"),
            ("e3b0c44298fc1c14", "Received: from mx.example\r\nSubject: hashed\r\n\r\nbody\r\n"),
            ("inmail.7", "Message-ID: <7@example>\nSubject: trec\n\nbody\n"),
            ("cmds", "mv 00001.7c53336b37003a9286aba55d2945844c 00001.bfc8d64d12b325ff385cca8d07b84288\n"),
            ("notes.txt", "Note: these came from the Junk folder, sorted by hand.\n\nFrom: and Subject: lines are as received.\n"),
            ("empty", ""),
        ]
        for (name, text) in files { try Data(text.utf8).write(to: directory.appendingPathComponent(name)) }
        var reader = try EMLDirectoryReader(path: directory.path)
        #expect(subjects(try reader.readAll()) == ["corpus", "mh", "hashed", "trec"])
        #expect(reader.skippedFiles.map { ($0 as NSString).lastPathComponent } == ["cmds", "empty", "notes.txt"])
    }

    @Test func openDetectsTheFormat() throws {
        var maildir = try Mailbox.open(path: boxes + "/Maildir")
        #expect(maildir is MaildirReader)
        #expect(try maildir.readAll().count == 6)
        #expect(try Mailbox.open(path: boxes + "/sample.mbox") is MboxReader)
        #expect(try Mailbox.open(path: boxes + "/eml") is EMLDirectoryReader)
        #expect(throws: MailboxError.cannotRead(path: boxes + "/missing", reason: "no such file or directory")) {
            try Mailbox.open(path: boxes + "/missing")
        }
        let error = MailboxError.cannotRead(path: "/x/y", reason: "Permission denied")
        #expect(error.description == "cannot read /x/y: Permission denied")
    }
}

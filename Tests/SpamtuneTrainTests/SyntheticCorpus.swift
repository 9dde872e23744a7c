import Foundation
import SpamtuneSupport
import SpamtuneTestSupport
import SpamtuneTrain

/// Five small "SpamAssassin corpus parts" made at test time from hand-written messages,
/// laid out as the real tarballs are (`<part>/<number>.<hash>` files and a `<part>/cmds`
/// index), archived by /usr/bin/tar and compressed by /usr/bin/bzip2. Never corpus data.
///
/// Deliberate overlaps: one easy_ham message is repeated in easy_ham_2 (a duplicate, kept
/// once), and one hard_ham message is repeated in spam (labelled both ways, left out).
struct SyntheticCorpus {
    static let counts: [String: Int] = ["easy_ham": 8, "easy_ham_2": 6, "hard_ham": 4, "spam": 6, "spam_2": 6]
    /// After deduplication: 8 + 5 + 3 ham, 5 + 6 spam.
    static let distinctHam = 16
    static let distinctSpam = 11
    static let duplicates = 2
    static let conflicting = 1

    /// Tarball bytes by published file name.
    let archives: [String: [UInt8]]

    static func ham(_ part: String, _ number: Int) -> [UInt8] {
        Array("""
            From alice@example.org  Thu Aug 22 13:17:22 2002
            Return-Path: <alice@example.org>
            From: Alice Example <alice@example.org>
            To: bob@example.com
            Subject: notes from the \(part) meeting, item \(number)
            Date: Thu, 22 Aug 2002 13:17:22 +0200
            Content-Type: text/plain; charset=us-ascii

            Hi Bob,

            here are the notes from today's meeting, item \(number). The build is green
            again and the release goes out on Friday. Lunch on Thursday?

            Alice

            """.utf8)
    }

    static func spam(_ part: String, _ number: Int) -> [UInt8] {
        Array("""
            From winner\(number)@prizes.example  Fri Aug 23 02:11:09 2002
            From: "Prize Office" <winner\(number)@prizes.example>
            To: you@example.com
            Subject: You have WON $\(number),000,000 -- claim now (\(part))
            Content-Type: text/html

            <html><body><p>CONGRATULATIONS!!! You are our lucky winner number \(number).
            Click <a href="http://claim.prizes.example/\(part)/\(number)">here</a> to claim your
            FREE prize today. Offer ends at midnight.</p></body></html>

            """.utf8)
    }

    static func messages(of part: SpamAssassinCorpus.Part) -> [[UInt8]] {
        let count = counts[part.name]!
        var messages = (1...count).map { part.label == .ham ? ham(part.name, $0) : spam(part.name, $0) }
        if part.name == "easy_ham_2" { messages[count - 1] = ham("easy_ham", 3) }
        if part.name == "spam" { messages[count - 1] = ham("hard_ham", 2) }
        return messages
    }

    init() throws {
        var archives = [String: [UInt8]]()
        for part in SpamAssassinCorpus.parts {
            var files = [(name: String, contents: [UInt8])]()
            var index = [String]()
            for (number, message) in Self.messages(of: part).enumerated() {
                let name = String(format: "%05d.%@", number + 1, String(SHA256.hexDigest(message).prefix(32)))
                files.append(("\(part.name)/\(name)", message))
                index.append("mv \(name) \(name)")
            }
            files.append(("\(part.name)/cmds", Array((index.joined(separator: "\n") + "\n").utf8)))
            let directory = try TestArchives.scratchDirectory("corpus-part")
            defer { try? FileManager.default.removeItem(at: directory) }
            try TestArchives.write(files, under: directory)
            archives[part.archiveName] = try TestArchives.bzip2(try TestArchives.tar([part.name], in: directory))
        }
        self.archives = archives
    }

    /// Serves each tarball at `/publiccorpus/<name>` on `server`.
    func serve(on server: LoopbackHTTPServer, replacing replacements: [String: [UInt8]] = [:]) {
        for (name, bytes) in archives { server.setFile("/publiccorpus/\(name)", replacements[name] ?? bytes) }
    }

    /// `--file-url NAME=URL` for every part, pointing at `server`.
    func fileURLArguments(_ server: LoopbackHTTPServer) -> [String] {
        SpamAssassinCorpus.parts.flatMap {
            ["--file-url", "\($0.archiveName)=\(server.url("/publiccorpus/\($0.archiveName)").absoluteString)"]
        }
    }

    /// The same overrides as `URLOverrides`, for calling the loader directly.
    func overrides(_ server: LoopbackHTTPServer) -> URLOverrides {
        URLOverrides(files: Dictionary(uniqueKeysWithValues: SpamAssassinCorpus.parts.map {
            ($0.archiveName, server.url("/publiccorpus/\($0.archiveName)"))
        }))
    }
}

import Foundation
import SpamtuneClassifier
import SpamtuneSupport

/// The SpamAssassin public corpus (Apache SpamAssassin project): raw RFC 822 mail in
/// five parts, each a .tar.bz2 holding one folder of messages, one message per file, and
/// a `cmds` index that is not a message. Real mail, where the SMS collection is text
/// messages: what a mail filter is for.
///
/// It is downloaded, never shipped with spamtune. The same message appears in more than
/// one part; it counts once, and a message found both as ham and as spam is left out.
public enum SpamAssassinCorpus {
    public struct Part: Sendable, Equatable {
        /// The folder inside the tarball, and the part's name in log lines.
        public let name: String
        public let archiveName: String
        public let label: Label
        /// What the published part holds, independent of how it was compressed: its
        /// message count and `contentDigest` of its messages.
        public let pinnedMessageCount: Int?
        public let pinnedContentDigest: String?
        /// The published tarball's own size and sha256, when confirmed from a copy of it.
        public let pinnedSize: Int64?
        public let pinnedSHA256: String?
    }

    public static let baseURL = URL(string: "https://spamassassin.apache.org/old/publiccorpus/")!

    /// The tarballs' own bytes could not be had to pin (no copy of the original archives was
    /// found), so their size and sha256 stay open and the downloader records what arrives.
    /// The content is pinned instead: message counts and digests computed from a byte-exact
    /// copy of every message (each file's name carries the MD5 of its content, and all but
    /// one, whose headers upstream rewrote in 2004, match it). Any faithful mirror passes,
    /// whatever its bzip2 settings; an altered or cut one is refused.
    public static let parts: [Part] = [
        Part(
            name: "easy_ham", archiveName: "20030228_easy_ham.tar.bz2", label: .ham, pinnedMessageCount: 2500,
            pinnedContentDigest: "00cbf3656a0deae090aaa006bafd080e69cd373e6e8ba933eb0a0222b019919e", pinnedSize: nil, pinnedSHA256: nil),
        Part(
            name: "easy_ham_2", archiveName: "20030228_easy_ham_2.tar.bz2", label: .ham, pinnedMessageCount: 1400,
            pinnedContentDigest: "078141159c009739b18a0358e09848d0c875600305289d830a87d2c003916dbf", pinnedSize: nil, pinnedSHA256: nil),
        Part(
            name: "hard_ham", archiveName: "20030228_hard_ham.tar.bz2", label: .ham, pinnedMessageCount: 250,
            pinnedContentDigest: "c38916c91792142e0685abb06a1a88db2604d68a8a80a4258a447f611f166a9c", pinnedSize: nil, pinnedSHA256: nil),
        Part(
            name: "spam", archiveName: "20030228_spam.tar.bz2", label: .spam, pinnedMessageCount: 500,
            pinnedContentDigest: "7f49f1323c300404dda072e08df25e6510bf4b3162a66fae8805a6056e60274e", pinnedSize: nil, pinnedSHA256: nil),
        // The 2005-03-11 version: one misclassified message of the 2003 spam_2 removed.
        Part(
            name: "spam_2", archiveName: "20050311_spam_2.tar.bz2", label: .spam, pinnedMessageCount: 1396,
            pinnedContentDigest: "c5c840e352fb0e9e6977da3e5613f5c58ee6e70a2cada24a21798fd0504d1d4b", pinnedSize: nil, pinnedSHA256: nil),
    ]

    /// sha256 over one line per message, `<file name>\t<sha256 of its bytes>\n`, in byte
    /// order of the file names (the last path component: the folder is not content).
    package static func contentDigest(_ messages: [(name: String, bytes: [UInt8])]) -> String {
        let lines = messages.map { message -> [UInt8] in
            let name = message.name.split(separator: "/").last.map(String.init) ?? message.name
            return Array("\(name)\t\(SHA256.hexDigest(message.bytes))\n".utf8)
        }
        var hasher = SHA256()
        for line in lines.sorted(by: { $0.lexicographicallyPrecedes($1) }) { hasher.update(line) }
        return hasher.finalize().hexString
    }

    /// The index file each tarball carries beside the messages.
    static let indexFileName = "cmds"
    /// The largest part expands to a few tens of MB; a file expanding past this is refused.
    static let maximumExpandedSize = 256 << 20

    /// How many messages a part gave and how many of them were kept.
    public struct PartCount: Codable, Equatable, Sendable {
        public var name: String
        public var label: String
        public var messages: Int
        /// Not already found in an earlier part (or, for a conflict, left out).
        public var kept: Int
    }

    struct Loaded {
        var messages: [LabelledMail.Item]
        var parts: [PartCount]
        var duplicates: Int
        /// Messages found both as ham and as spam, left out.
        var conflicting: Int
        /// `downloaded from <url>`, `the download cache`, or both.
        var origin: String
        /// sha256 of each tarball, by file name.
        var archives: [String: String]
    }

    /// Why the corpus could not be used: no network (or `--offline`) with nothing cached,
    /// which a default run shrugs off, or anything else, which it warns about.
    enum Failure: Error, CustomStringConvertible {
        case unreachable(DownloadError)
        case unusable(String)

        var description: String {
            switch self {
            case let .unreachable(error): error.description
            case let .unusable(detail): detail
            }
        }
    }

    /// The regular files of one part's .tar.bz2, without the `cmds` index.
    package static func messages(inArchive bytes: [UInt8], source: String) throws -> [(name: String, bytes: [UInt8])] {
        let tar = try TarArchive(bytes: try BZip2.decompress(bytes, limit: maximumExpandedSize, source: source), source: source)
        return tar.entries.compactMap { entry in
            entry.name.split(separator: "/").last == Substring(indexFileName) ? nil : (entry.name, tar.contents(of: entry))
        }
    }

    /// Every part fetched (or found in the cache), checked, unpacked and deduplicated.
    static func load(overrides: URLOverrides, downloader: Downloader) async throws(Failure) -> Loaded {
        let log = downloader.log
        let plan = ModelCatalog.spamAssassinCorpus.applying(overrides)
        let files: [CachedFile]
        do {
            files = try await downloader.fetch(plan)
        } catch {
            throw error.meansNoNetwork ? .unreachable(error) : .unusable(error.description)
        }
        var byHash: [[UInt8]: LabelledMail.Item] = [:]
        var order: [[UInt8]] = []
        var conflicted = Set<[UInt8]>()
        var counts = [PartCount]()
        var duplicates = 0
        for (part, file) in zip(parts, files) {
            let messages: [(name: String, bytes: [UInt8])]
            do {
                messages = try Self.messages(inArchive: try FileSystem.readFile(file.location.path), source: file.location.path)
                guard !messages.isEmpty else {
                    throw TrainingError.data("\(file.location.path) holds no messages: it is not a part of the SpamAssassin public corpus")
                }
                // A per-file URL names a file of the admin's choosing, so its pins do not apply
                // (as the downloader drops the size and hash); a mirror serves the same files.
                if overrides.files[part.archiveName] == nil {
                    try verify(messages, of: part, source: file.location.path)
                }
            } catch {
                // A bad archive stays bad in the cache: drop it so the next run fetches it anew.
                downloader.evict(file.name, of: plan)
                throw .unusable("\(error); it was deleted from the cache")
            }
            var kept = 0
            for message in messages {
                let hash = SHA256.hash(message.bytes)
                if let existing = byHash[hash] {
                    duplicates += 1
                    if existing.label != part.label { conflicted.insert(hash) }
                    continue
                }
                byHash[hash] = LabelledMail.Item(
                    bytes: message.bytes, label: part.label, hash: hash, date: .distantPast, source: "\(part.archiveName):\(message.name)")
                order.append(hash)
                kept += 1
            }
            counts.append(PartCount(name: part.name, label: part.label.name, messages: messages.count, kept: kept))
            log("SpamAssassin public corpus: \(part.name): \(messages.count) \(part.label.name) messages from \(file.location.path)")
        }
        // A conflict is charged to the part that first held the message.
        for hash in conflicted {
            guard let item = byHash[hash], let index = parts.firstIndex(where: { item.source.hasPrefix($0.archiveName + ":") }) else { continue }
            counts[index].kept -= 1
        }
        let items = order.filter { !conflicted.contains($0) }.compactMap { byHash[$0] }
        let spam = items.count { $0.label == .spam }
        log("SpamAssassin public corpus: \(items.count) distinct messages (\(items.count - spam) ham, \(spam) spam) after dropping \(duplicates) duplicate(s)\(conflicted.isEmpty ? "" : " and \(conflicted.count) message(s) found both as ham and as spam")")

        var origins = [String]()
        for file in files {
            let origin: String
            switch file.origin {
            case .cache: origin = "the download cache"
            case let .downloaded(url): origin = "downloaded from \(url.deletingLastPathComponent().absoluteString)"
            }
            if !origins.contains(origin) { origins.append(origin) }
        }
        return Loaded(
            messages: items, parts: counts, duplicates: duplicates, conflicting: conflicted.count, origin: origins.joined(separator: " and "),
            archives: Dictionary(uniqueKeysWithValues: files.map { ($0.name, $0.sha256) }))
    }
}

extension SpamAssassinCorpus {
    static func verify(_ messages: [(name: String, bytes: [UInt8])], of part: Part, source: String) throws {
        let digest = contentDigest(messages)
        let countMatches = part.pinnedMessageCount.map { $0 == messages.count } ?? true
        let digestMatches = part.pinnedContentDigest.map { $0 == digest } ?? true
        guard countMatches && digestMatches else {
            throw TrainingError.data(
                "\(source) holds \(messages.count) messages with content digest \(digest); the published \(part.name) holds \(part.pinnedMessageCount.map(String.init) ?? "?") with digest \(part.pinnedContentDigest ?? "?"): it is damaged or not that part of the corpus")
        }
    }
}

extension DownloadError {
    /// The failure is the network's (or `--offline`'s), not the file's: nothing reached us.
    var meansNoNetwork: Bool {
        switch reason {
        case .offlineMissing, .connection, .unreachable: true
        case let .everySourceFailed(errors): errors.allSatisfy(\.meansNoNetwork)
        default: false
        }
    }
}

import Foundation
import SpamtuneClassifier
import SpamtuneSupport
import SpamtuneTestSupport
@testable import SpamtuneTrain
import Testing

/// The SpamAssassin public corpus as a data source, against a loopback HTTP server
/// serving small synthetic parts (see `SyntheticCorpus`).
@Suite struct SpamAssassinCorpusTests {
    private func downloader(_ cache: URL, log: TrainingLog, offline: Bool = false) -> Downloader {
        Downloader(
            cacheRoot: cache,
            options: DownloadOptions(offline: offline, attempts: 1, baseDelay: 0.01, timeout: 5, progress: .logLines(interval: 60)),
            log: log)
    }

    @Test func theCatalogNamesTheFivePublishedTarballsOnApachesSite() {
        let plan = ModelCatalog.spamAssassinCorpus
        #expect(plan.files.map(\.name) == [
            "20030228_easy_ham.tar.bz2", "20030228_easy_ham_2.tar.bz2", "20030228_hard_ham.tar.bz2", "20030228_spam.tar.bz2",
            "20050311_spam_2.tar.bz2",
        ])
        #expect(plan.files[0].urls == [URL(string: "https://spamassassin.apache.org/old/publiccorpus/20030228_easy_ham.tar.bz2")!])
        #expect(SpamAssassinCorpus.parts.map(\.label) == [.ham, .ham, .ham, .spam, .spam])
        // A mirror keeps the path (and any pins); a per-file URL replaces the file's source.
        let mirrored = plan.applying(URLOverrides(mirror: URL(string: "http://mirror.example/base")!))
        #expect(mirrored.files[4].urls == [URL(string: "http://mirror.example/base/old/publiccorpus/20050311_spam_2.tar.bz2")!])
        #expect(mirrored.files.map(\.expectedSHA256) == plan.files.map(\.expectedSHA256))
    }

    @Test func aPartsMessagesAreItsFilesWithoutTheIndex() throws {
        let corpus = try SyntheticCorpus()
        let messages = try SpamAssassinCorpus.messages(inArchive: corpus.archives["20030228_hard_ham.tar.bz2"]!, source: "hard_ham")
        #expect(messages.count == 4)
        #expect(messages.allSatisfy { $0.name.hasPrefix("hard_ham/0000") })
        #expect(messages[1].bytes == SyntheticCorpus.ham("hard_ham", 2))
    }

    @Test func thePartsAreDownloadedCachedAndDeduplicated() async throws {
        let cache = try TemporaryDirectory("spamassassin-cache")
        defer { cache.remove() }
        let corpus = try SyntheticCorpus()
        let server = try LoopbackHTTPServer()
        defer { server.stop() }
        corpus.serve(on: server)
        let capture = LogCapture()

        let loaded = try await SpamAssassinCorpus.load(overrides: corpus.overrides(server), downloader: downloader(cache.url, log: capture.log))
        #expect(loaded.messages.count { $0.label == .ham } == SyntheticCorpus.distinctHam)
        #expect(loaded.messages.count { $0.label == .spam } == SyntheticCorpus.distinctSpam)
        #expect(loaded.duplicates == SyntheticCorpus.duplicates)
        #expect(loaded.conflicting == SyntheticCorpus.conflicting)
        #expect(loaded.parts.map(\.messages) == [8, 6, 4, 6, 6])
        #expect(loaded.parts.map(\.kept) == [8, 5, 3, 5, 6])
        #expect(!loaded.messages.contains { $0.bytes == SyntheticCorpus.ham("hard_ham", 2) })
        #expect(Set(loaded.messages.map(\.hash)).count == loaded.messages.count)
        #expect(loaded.origin.hasPrefix("downloaded from http://127.0.0.1"))
        #expect(loaded.archives["20030228_spam.tar.bz2"] == SHA256.hexDigest(corpus.archives["20030228_spam.tar.bz2"]!))
        #expect(capture.contains("SpamAssassin public corpus: 27 distinct messages (16 ham, 11 spam) after dropping 2 duplicate(s) and 1 message(s) found both as ham and as spam"))

        // Offline, the cache serves it.
        let again = try await SpamAssassinCorpus.load(
            overrides: corpus.overrides(server), downloader: downloader(cache.url, log: .silent, offline: true))
        #expect(again.messages.map(\.hash) == loaded.messages.map(\.hash))
        #expect(again.origin == "the download cache")
    }

    @Test func theContentDigestIgnoresOrderAndFolderButNotABytesChange() {
        let a = (name: "easy_ham/00001.x", bytes: Array("one".utf8)), b = (name: "easy_ham/00002.y", bytes: Array("two".utf8))
        let digest = SpamAssassinCorpus.contentDigest([a, b])
        #expect(SpamAssassinCorpus.contentDigest([b, a]) == digest)
        #expect(SpamAssassinCorpus.contentDigest([(name: "elsewhere/00001.x", bytes: a.bytes), b]) == digest)
        #expect(SpamAssassinCorpus.contentDigest([(name: a.name, bytes: Array("One".utf8)), b]) != digest)
        // The definition, spelled out: sha256 of "<name>\t<sha256>\n" lines in name order.
        let lines = "00001.x\t\(SHA256.hexDigest(a.bytes))\n00002.y\t\(SHA256.hexDigest(b.bytes))\n"
        #expect(digest == SHA256.hexDigest(Array(lines.utf8)))
    }

    @Test func aMirrorIsHeldToThePublishedContentButAPerFileURLIsNot() async throws {
        let cache = try TemporaryDirectory("spamassassin-cache")
        defer { cache.remove() }
        let corpus = try SyntheticCorpus()
        let server = try LoopbackHTTPServer()
        defer { server.stop() }
        for (name, bytes) in corpus.archives { server.setFile("/mirror/old/publiccorpus/\(name)", bytes) }
        do {
            _ = try await SpamAssassinCorpus.load(
                overrides: URLOverrides(mirror: server.url("/mirror")), downloader: downloader(cache.url, log: .silent))
            Issue.record("synthetic parts passed for the published corpus")
        } catch {
            guard case .unusable(let detail) = error else { Issue.record("\(error)"); return }
            let path = cache.path("data/spamassassin-publiccorpus/20030228_easy_ham.tar.bz2").path
            #expect(detail.hasPrefix("\(path) holds 8 messages with content digest "))
            #expect(detail.contains("the published easy_ham holds 2500 with digest 00cbf3656a0deae090aaa006bafd080e69cd373e6e8ba933eb0a0222b019919e: it is damaged or not that part of the corpus; it was deleted from the cache"))
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test func offlineWithNothingCachedIsNoNetworkNotADamagedCorpus() async throws {
        let cache = try TemporaryDirectory("spamassassin-cache")
        defer { cache.remove() }
        do {
            _ = try await SpamAssassinCorpus.load(overrides: .none, downloader: downloader(cache.url, log: .silent, offline: true))
            Issue.record("an empty cache served the corpus offline")
        } catch {
            guard case .unreachable(let download) = error else { Issue.record("\(error)"); return }
            #expect(download.file == "20030228_easy_ham.tar.bz2")
        }
        let closed = try LoopbackHTTPServer.closedPort()
        do {
            _ = try await SpamAssassinCorpus.load(
                overrides: URLOverrides(mirror: URL(string: "http://127.0.0.1:\(closed)")!), downloader: downloader(cache.url, log: .silent))
            Issue.record("a closed port served the corpus")
        } catch {
            guard case .unreachable = error else { Issue.record("\(error)"); return }
        }
    }

    @Test func aCorruptTarballIsRefusedClearlyAndDroppedFromTheCache() async throws {
        let cache = try TemporaryDirectory("spamassassin-cache")
        defer { cache.remove() }
        let corpus = try SyntheticCorpus()
        var damaged = corpus.archives["20030228_spam.tar.bz2"]!
        damaged[damaged.count / 2] ^= 0x5A
        let server = try LoopbackHTTPServer()
        defer { server.stop() }
        corpus.serve(on: server, replacing: ["20030228_spam.tar.bz2": damaged])
        do {
            _ = try await SpamAssassinCorpus.load(overrides: corpus.overrides(server), downloader: downloader(cache.url, log: .silent))
            Issue.record("a corrupt tarball was accepted")
        } catch {
            guard case .unusable(let detail) = error else { Issue.record("\(error)"); return }
            let path = cache.path("data/spamassassin-publiccorpus/20030228_spam.tar.bz2").path
            #expect(detail == "\(path) is corrupt: its bzip2 data fails libbz2's integrity checks; it was deleted from the cache")
            #expect(!FileManager.default.fileExists(atPath: path))
        }

        // A tar that is not bzip2-compressed at all is named as such.
        let plain = try TestArchives.tar([("spam/00001.x", Array("Subject: x\n\nx\n".utf8))])
        corpus.serve(on: server, replacing: ["20030228_spam.tar.bz2": plain])
        do {
            _ = try await SpamAssassinCorpus.load(overrides: corpus.overrides(server), downloader: downloader(cache.url, log: .silent))
            Issue.record("an uncompressed tarball was accepted")
        } catch {
            #expect(error.description.contains("is not bzip2 data"))
        }
    }

    /// The real tarballs, when a copy is at hand in ../shared/data: every part decodes and
    /// matches its pins (content always; the archive's bytes where pinned).
    @Test(.enabled(if: Self.realTarballsPresent, "the SpamAssassin corpus tarballs are not in ../shared/data"))
    func theRealTarballsDecodeAndMatchTheirPins() throws {
        for part in SpamAssassinCorpus.parts {
            let url = ProjectPaths.sharedFile("data/\(part.archiveName)")
            let bytes = [UInt8](try Data(contentsOf: url))
            if let size = part.pinnedSize { #expect(Int64(bytes.count) == size, "\(part.archiveName)") }
            if let sha256 = part.pinnedSHA256 { #expect(SHA256.hexDigest(bytes) == sha256, "\(part.archiveName)") }
            let messages = try SpamAssassinCorpus.messages(inArchive: bytes, source: url.path)
            #expect(messages.count == part.pinnedMessageCount, "\(part.archiveName): \(messages.count) messages")
            #expect(throws: Never.self) { try SpamAssassinCorpus.verify(messages, of: part, source: url.path) }
            #expect(messages.allSatisfy { $0.name.hasPrefix("\(part.name)/") }, "\(part.archiveName)")
        }
    }

    static var realTarballsPresent: Bool {
        SpamAssassinCorpus.parts.allSatisfy { FileManager.default.fileExists(atPath: ProjectPaths.sharedFile("data/\($0.archiveName)").path) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpamtuneSupport
import SpamtuneTestSupport
@testable import SpamtuneTrain
import Testing

/// The downloader against a real HTTP server on loopback: resuming, retries, faults.
@Suite struct DownloaderTests {
    static let zipPath = "/static/public/228/sms+spam+collection.zip"
    let zipBytes: [UInt8]

    init() throws {
        zipBytes = SMSArchive.bytes
    }

    private func options(attempts: Int = 3, timeout: Double = 5, offline: Bool = false) -> DownloadOptions {
        DownloadOptions(offline: offline, attempts: attempts, baseDelay: 0.01, maximumDelay: 0.05, timeout: timeout, progress: .logLines(interval: 60))
    }

    private func remote(_ server: LoopbackHTTPServer, _ path: String = zipPath, size: Int64? = nil, sha256: String? = nil) -> RemoteFile {
        RemoteFile(name: "sms+spam+collection.zip", urls: [server.url(path)], expectedSize: size, expectedSHA256: sha256)
    }

    private func fetchError(_ body: () async throws -> Void) async -> DownloadError? {
        do {
            try await body()
            return nil
        } catch let error as DownloadError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func downloadsTheSharedArchiveThenSkipsIt() async throws {
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        let capture = LogCapture()
        let downloader = Downloader(cacheRoot: cache.url, options: options(), log: capture.log)
        let plan = ModelCatalog.smsSpamCollection.applying(URLOverrides(mirror: server.baseURL))

        let first = try await downloader.fetch(plan)
        #expect(first.map(\.origin) == [.downloaded(from: server.url(Self.zipPath))])
        #expect(first[0].sha256 == SHA256.hexDigest(zipBytes))
        #expect(try Data(contentsOf: cache.path("data/sms+spam+collection.zip")) == Data(zipBytes))
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.path("data").path).sorted()
            == [".sms+spam+collection.zip.complete", "sms+spam+collection.zip"])

        let second = try await downloader.fetch(plan)
        #expect(second.map(\.origin) == [.cache])
        #expect(second[0].sha256 == first[0].sha256)
        #expect(server.requests.count == 1)
        #expect(capture.contains("complete in the cache"))
    }

    @Test func aTruncatedDownloadResumesWithARangeRequest() async throws {
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        server.inject(.truncate(afterBytes: 50_000, times: 1), at: Self.zipPath)
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        let capture = LogCapture()
        let downloader = Downloader(cacheRoot: cache.url, options: options(), log: capture.log)

        let fetched = try await downloader.fetch(remote(server, sha256: SHA256.hexDigest(zipBytes)), into: cache.url)
        #expect(fetched.size == Int64(zipBytes.count))
        let ranges = server.requests(for: Self.zipPath).map(\.range)
        #expect(ranges == [nil, "bytes=50000-"])
        #expect(capture.contains("stopped at 50000 of \(zipBytes.count) bytes; retrying"))
        #expect(capture.contains("resuming at 50.0 kB"))
    }

    @Test func anInterruptedRunIsResumedByTheNext() async throws {
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        // What a killed run leaves: the first bytes, and where they came from.
        try Data(zipBytes.prefix(100_000)).write(to: cache.path("sms+spam+collection.zip.partial"))
        let record = #"{"url":"\#(server.url(Self.zipPath).absoluteString)"}"#
        try Data(record.utf8).write(to: cache.path(".sms+spam+collection.zip.partial.json"))

        let downloader = Downloader(cacheRoot: cache.url, options: options(), log: .silent)
        let fetched = try await downloader.fetch(remote(server), into: cache.url)
        #expect(fetched.sha256 == SHA256.hexDigest(zipBytes))
        #expect(server.requests.map(\.range) == ["bytes=100000-"])
        #expect(!FileManager.default.fileExists(atPath: cache.path("sms+spam+collection.zip.partial").path))
        #expect(!FileManager.default.fileExists(atPath: cache.path(".sms+spam+collection.zip.partial.json").path))
    }

    @Test func aChangedFileOnTheServerRestartsTheDownload() async throws {
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        // The partial bytes came with another entity tag: If-Range makes the server send it all.
        try Data(repeating: 0x55, count: 1000).write(to: cache.path("sms+spam+collection.zip.partial"))
        let record = #"{"url":"\#(server.url(Self.zipPath).absoluteString)","entityTag":"\"stale\""}"#
        try Data(record.utf8).write(to: cache.path(".sms+spam+collection.zip.partial.json"))
        let capture = LogCapture()
        let downloader = Downloader(cacheRoot: cache.url, options: options(), log: capture.log)

        let fetched = try await downloader.fetch(remote(server), into: cache.url)
        #expect(fetched.sha256 == SHA256.hexDigest(zipBytes))
        #expect(server.requests.first?.headers["if-range"] == "\"stale\"")
        #expect(capture.contains("sent the whole file instead of the rest; starting over"))
    }

    @Test func aPartialFileThatIsAlreadyWholeIsInstalled() async throws {
        // A run killed between the last byte and the rename; the size was not known.
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        try Data(zipBytes).write(to: cache.path("sms+spam+collection.zip.partial"))
        let record = #"{"url":"\#(server.url(Self.zipPath).absoluteString)"}"#
        try Data(record.utf8).write(to: cache.path(".sms+spam+collection.zip.partial.json"))
        let downloader = Downloader(cacheRoot: cache.url, options: options(), log: .silent)
        let fetched = try await downloader.fetch(remote(server), into: cache.url)
        #expect(fetched.sha256 == SHA256.hexDigest(zipBytes))
        #expect(server.requests.map(\.range) == ["bytes=\(zipBytes.count)-"])
    }

    @Test func aPartialFileLongerThanTheServersIsStartedOver() async throws {
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        try Data(zipBytes + [1, 2, 3]).write(to: cache.path("sms+spam+collection.zip.partial"))
        let record = #"{"url":"\#(server.url(Self.zipPath).absoluteString)"}"#
        try Data(record.utf8).write(to: cache.path(".sms+spam+collection.zip.partial.json"))
        let capture = LogCapture()
        let downloader = Downloader(cacheRoot: cache.url, options: options(), log: capture.log)
        let fetched = try await downloader.fetch(remote(server), into: cache.url)
        #expect(fetched.sha256 == SHA256.hexDigest(zipBytes))
        #expect(server.requests.map(\.range) == ["bytes=\(zipBytes.count + 3)-", nil])
        #expect(capture.contains("the server has \(zipBytes.count) bytes but \(zipBytes.count + 3) were already downloaded; starting over"))
    }

    @Test func aServerThatIgnoresRangesIsHandledByStartingOver() async throws {
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        server.inject(.ignoreRange, at: Self.zipPath)
        server.inject(.truncate(afterBytes: 30_000, times: 1), at: Self.zipPath)
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        let downloader = Downloader(cacheRoot: cache.url, options: options(), log: .silent)
        let fetched = try await downloader.fetch(remote(server), into: cache.url)
        #expect(fetched.sha256 == SHA256.hexDigest(zipBytes))
        #expect(server.requests.map(\.range) == [nil, "bytes=30000-"])
    }

    @Test func aRedirectKeepsTheRangeHeader() async throws {
        let server = try LoopbackHTTPServer(files: ["/real.zip": zipBytes])
        defer { server.stop() }
        server.inject(.redirect(to: "/real.zip"), at: "/alias.zip")
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        try Data(zipBytes.prefix(4096)).write(to: cache.path("sms+spam+collection.zip.partial"))
        let record = #"{"url":"\#(server.url("/alias.zip").absoluteString)"}"#
        try Data(record.utf8).write(to: cache.path(".sms+spam+collection.zip.partial.json"))
        let downloader = Downloader(cacheRoot: cache.url, options: options(), log: .silent)
        let fetched = try await downloader.fetch(remote(server, "/alias.zip"), into: cache.url)
        #expect(fetched.sha256 == SHA256.hexDigest(zipBytes))
        #expect(server.requests(for: "/real.zip").map(\.range) == ["bytes=4096-"])
    }

    @Test func aWrongHashIsRefusedAndTheFileDeleted() async throws {
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        let downloader = Downloader(cacheRoot: cache.url, options: options(), log: .silent)
        let wrong = String(repeating: "0", count: 64)
        let error = await fetchError { _ = try await downloader.fetch(remote(server, sha256: wrong), into: cache.url) }
        #expect(error?.reason == .hashMismatch(expected: wrong, actual: SHA256.hexDigest(zipBytes)))
        #expect(error?.description.contains("it was deleted") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.url.path) == [])
        #expect(server.requests.count == 1)
    }

    @Test func aWrongSizeIsRefused() async throws {
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        server.inject(.wrongBody(Array("<html>maintenance</html>".utf8)), at: Self.zipPath)
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        let downloader = Downloader(cacheRoot: cache.url, options: options(), log: .silent)
        let error = await fetchError { _ = try await downloader.fetch(remote(server, size: Int64(zipBytes.count)), into: cache.url) }
        #expect(error?.reason == .announcedSizeMismatch(expected: Int64(zipBytes.count), announced: 24))
    }

    /// A server announcing another size than the pinned one is refused on its headers: the
    /// client hangs up before most of a slow body is sent, and no byte of it is kept.
    @Test func anAnnouncedSizeThatIsNotThePinnedOneIsRefusedBeforeTheBody() async throws {
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        server.inject(.slowBody(chunk: 4096, interval: 0.5), at: Self.zipPath)
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        let downloader = Downloader(cacheRoot: cache.url, options: options(), log: .silent)
        let pinned = Int64(zipBytes.count) + 1000
        let error = try #require(await fetchError { _ = try await downloader.fetch(remote(server, size: pinned), into: cache.url) })
        // (Not timed: under the whole suite an async test may wait minutes for a thread.)
        #expect(server.bodyBytesSent(for: Self.zipPath) < zipBytes.count / 4)
        #expect(error.reason == .announcedSizeMismatch(expected: pinned, announced: Int64(zipBytes.count)))
        #expect(error.isBadData && !error.isUnreachable && !error.isRetryable)
        #expect(error.description.contains("announces \(zipBytes.count) bytes for sms+spam+collection.zip, expected \(pinned); refused before downloading it"))
        #expect(FileSystem.size(cache.path("sms+spam+collection.zip.partial").path) ?? 0 == 0)
        #expect(server.requests.count == 1)
    }

    @Test func notFoundIsNotRetriedAndSaysWhatToDo() async throws {
        let server = try LoopbackHTTPServer(files: [:])
        defer { server.stop() }
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        let downloader = Downloader(cacheRoot: cache.url, options: options(attempts: 5), log: .silent)
        let error = try #require(await fetchError { _ = try await downloader.fetch(remote(server), into: cache.url) })
        #expect(error.reason == .notFound(status: 404))
        #expect(server.requests.count == 1)
        #expect(error.description.contains("answers 404 Not Found. The URL is wrong or the file has moved; give another source with --mirror URL"))
    }

    @Test func serverErrorsAreRetriedWithBackoff() async throws {
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        server.inject(.serverError(times: 2), at: Self.zipPath)
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        let capture = LogCapture()
        let downloader = Downloader(cacheRoot: cache.url, options: options(attempts: 3), log: capture.log)
        let fetched = try await downloader.fetch(remote(server), into: cache.url)
        #expect(fetched.sha256 == SHA256.hexDigest(zipBytes))
        #expect(server.requests.count == 3)
        #expect(capture.lines.filter { $0.contains("the server answered HTTP 500; retrying") }.count == 2)
        #expect(capture.contains("(attempt 3 of 3)"))
    }

    @Test func persistentServerErrorsGiveUpAfterTheAttempts() async throws {
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        server.inject(.status(503, times: 100), at: Self.zipPath)
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        let downloader = Downloader(cacheRoot: cache.url, options: options(attempts: 3), log: .silent)
        let error = try #require(await fetchError { _ = try await downloader.fetch(remote(server), into: cache.url) })
        #expect(error.reason == .httpStatus(503) && error.attempts == 3)
        #expect(error.description.contains("answers HTTP 503 (3 attempts)"))
        #expect(server.requests.count == 3)
    }

    @Test func aRefusedConnectionIsOneTryWithAClearMessage() async throws {
        let port = try LoopbackHTTPServer.closedPort()
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        let capture = LogCapture()
        // A backoff long enough that a retry would be felt; the log and the count show there is none.
        let downloader = Downloader(
            cacheRoot: cache.url, options: DownloadOptions(attempts: 4, baseDelay: 5, timeout: 5, progress: .logLines(interval: 60)),
            log: capture.log)
        let file = RemoteFile(name: "model.safetensors", urls: [URL(string: "http://127.0.0.1:\(port)/model.safetensors")!])
        let error = try #require(await fetchError { _ = try await downloader.fetch(file, into: cache.url) })
        #expect(error.reason == .unreachable("the connection was refused"))
        #expect(error.attempts == 1)
        #expect(error.isUnreachable && !error.isRetryable)
        #expect(error.description == "cannot download model.safetensors: cannot reach 127.0.0.1: the connection was refused. Check the network, use --mirror URL, or --offline with a filled cache")
        #expect(!capture.contains("retrying"))
    }

    @Test func anUnresolvableNameIsOneTryThenTheNextSource() async throws {
        let server = try LoopbackHTTPServer(files: ["/backup/vocab.bpe": zipBytes])
        defer { server.stop() }
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        let capture = LogCapture()
        let downloader = Downloader(
            cacheRoot: cache.url, options: DownloadOptions(attempts: 4, baseDelay: 5, timeout: 5, progress: .logLines(interval: 60)),
            log: capture.log)
        let unresolvable = URL(string: "http://spamtune-test.invalid/vocab.bpe")!
        let file = RemoteFile(name: "vocab.bpe", urls: [unresolvable, server.url("/backup/vocab.bpe")])
        let fetched = try await downloader.fetch(file, into: cache.url)
        #expect(fetched.origin == .downloaded(from: server.url("/backup/vocab.bpe")))
        #expect(capture.contains("cannot download vocab.bpe: cannot reach spamtune-test.invalid: the host name does not resolve. Check the network"))
        #expect(capture.contains("trying the next source: \(server.url("/backup/vocab.bpe").absoluteString)"))
        #expect(!capture.contains("retrying"))
    }

    @Test func aSilentServerTimesOut() async throws {
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        server.inject(.delay(seconds: 2.5), at: Self.zipPath)
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        let downloader = Downloader(cacheRoot: cache.url, options: options(attempts: 2, timeout: 1), log: .silent)
        let error = await fetchError { _ = try await downloader.fetch(remote(server), into: cache.url) }
        #expect(error?.reason == .connection("no data arrived within the timeout"))
        #expect(error?.attempts == 2)
    }

    @Test func theBackupSourceIsTriedWhenThePrimaryFails() async throws {
        let server = try LoopbackHTTPServer(files: ["/backup/124M/vocab.bpe": zipBytes])
        defer { server.stop() }
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        let capture = LogCapture()
        let downloader = Downloader(cacheRoot: cache.url, options: options(), log: capture.log)
        let file = RemoteFile(name: "vocab.bpe", urls: [server.url("/primary/124M/vocab.bpe"), server.url("/backup/124M/vocab.bpe")])
        let fetched = try await downloader.fetch(file, into: cache.url)
        #expect(fetched.origin == .downloaded(from: server.url("/backup/124M/vocab.bpe")))
        #expect(capture.contains("trying the next source: \(server.url("/backup/124M/vocab.bpe").absoluteString)"))

        let bothMissing = RemoteFile(name: "x", urls: [server.url("/a"), server.url("/b")])
        let error = try #require(await fetchError { _ = try await downloader.fetch(bothMissing, into: cache.url) })
        guard case .everySourceFailed(let errors) = error.reason else {
            Issue.record("expected every source to fail, got \(error)")
            return
        }
        #expect(errors.map(\.reason) == [.notFound(status: 404), .notFound(status: 404)])
        #expect(error.description.hasPrefix("cannot download x from any source:\n  - cannot download x: http://127.0.0.1"))
    }

    @Test func offlineUsesTheCacheOnlyAndNamesAMissingFile() async throws {
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        let offline = Downloader(cacheRoot: cache.url, options: options(offline: true), log: .silent)
        let plan = ModelCatalog.smsSpamCollection.applying(URLOverrides(mirror: server.baseURL))
        let error = try #require(await fetchError { _ = try await offline.fetch(plan) })
        #expect(error.reason == .offlineMissing)
        #expect(error.description == "offline: sms+spam+collection.zip is not in the cache (\(cache.path("data/sms+spam+collection.zip").path)); run once without --offline to download it, or copy the file there")
        #expect(server.requests.isEmpty)

        _ = try await Downloader(cacheRoot: cache.url, options: options(), log: .silent).fetch(plan)
        #expect(try await offline.fetch(plan).map(\.origin) == [.cache])
        #expect(server.requests.count == 1)
    }

    @Test func aDamagedCachedFileIsFetchedAgain() async throws {
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        let capture = LogCapture()
        let downloader = Downloader(cacheRoot: cache.url, options: options(), log: capture.log)
        let file = remote(server)
        _ = try await downloader.fetch(file, into: cache.url)
        try Data(zipBytes.prefix(1000)).write(to: cache.path(file.name))

        let offlineError = await fetchError {
            _ = try await Downloader(cacheRoot: cache.url, options: options(offline: true), log: .silent).fetch(file, into: cache.url)
        }
        #expect(offlineError?.reason == .offlineDamaged("1000 bytes, but \(zipBytes.count) were downloaded"))

        let again = try await downloader.fetch(file, into: cache.url)
        #expect(again.origin == .downloaded(from: server.url(Self.zipPath)) && again.sha256 == SHA256.hexDigest(zipBytes))
        #expect(capture.contains("is damaged (1000 bytes, but \(zipBytes.count) were downloaded); downloading it again"))
    }

    @Test func aFileWithAKnownHashPlacedByHandIsAccepted() async throws {
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        try Data(zipBytes).write(to: cache.path("sms+spam+collection.zip"))
        let file = RemoteFile(
            name: "sms+spam+collection.zip", urls: [URL(string: "http://127.0.0.1:9/unused")!],
            expectedSize: Int64(zipBytes.count), expectedSHA256: SHA256.hexDigest(zipBytes))
        let fetched = try await Downloader(cacheRoot: cache.url, options: options(offline: true), log: .silent).fetch(file, into: cache.url)
        #expect(fetched.origin == .cache)
    }

    @Test func aReadOnlyDestinationFailsClearly() async throws {
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let mount = try ScratchMount.readOnly(at: directory.url)
        defer { mount.release() }
        let downloader = Downloader(cacheRoot: directory.url, options: options(), log: .silent)
        let error = try #require(await fetchError { _ = try await downloader.fetch(ModelCatalog.smsSpamCollection.applying(URLOverrides(mirror: server.baseURL))) })
        guard case .storage(let detail) = error.reason else {
            Issue.record("expected a storage error, got \(error)")
            return
        }
        #expect(detail.contains("Read-only file system") || detail.contains("Permission denied"))
        #expect(error.description.contains("Free space there or choose another cache directory"))
        #expect(server.requests.isEmpty)
    }

    @Test func aFullDiskFailsClearlyWithoutRetrying() async throws {
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let mount = try ScratchMount.tiny(at: directory.url, bytes: 64 * 1024)
        defer { mount.release() }
        let downloader = Downloader(cacheRoot: directory.url, options: options(attempts: 4), log: .silent)
        let error = try #require(await fetchError { _ = try await downloader.fetch(remote(server), into: directory.url) })
        #expect(error.reason == .storage("cannot write: No space left on device"))
        #expect(error.description.hasPrefix("cannot write \(directory.path("sms+spam+collection.zip").path): cannot write: No space left on device."))
        #expect(server.requests.count == 1)
    }

    @Test func theTestServerServesADirectoryAndStaysInIt() async throws {
        let resources = ProjectPaths.tokenizerDirectory.deletingLastPathComponent()
        let server = try LoopbackHTTPServer(root: resources)
        defer { server.stop() }
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        let downloader = Downloader(cacheRoot: cache.url, options: options(), log: .silent)
        let plan = ModelCatalog.plan(for: .gpt2, from: .openAICheckpoint)
        let vocabulary = try #require(plan.file(named: "vocab.bpe"))
        let mirrored = RemoteFile(
            name: "vocab.bpe", urls: [server.url("/gpt2-tokenizer/vocab.bpe")], expectedSize: vocabulary.expectedSize, expectedSHA256: vocabulary.expectedSHA256)
        #expect(try await downloader.fetch(mirrored, into: cache.url).size == 456_318)
        // HTTP clients remove dot segments themselves, so the request is sent raw.
        #expect(try rawStatusLine(port: server.port, target: "/../\(resources.lastPathComponent)/gpt2-tokenizer/vocab.bpe") == "HTTP/1.1 404 Not Found")
        #expect(try rawStatusLine(port: server.port, target: "/gpt2-tokenizer/vocab.bpe") == "HTTP/1.1 200 OK")
    }

    @Test func catalogURLsAreTheBooksAndHuggingFacesAndMirrorsReplaceTheHost() throws {
        let huggingFace = ModelCatalog.plan(for: .gpt2, from: .huggingFace)
        #expect(huggingFace.directory == "models/openai-community--gpt2")
        #expect(huggingFace.files.map(\.name) == ["model.safetensors", "config.json", "vocab.json", "merges.txt"])
        #expect(huggingFace.file(named: "model.safetensors")?.urls == [URL(string: "https://huggingface.co/openai-community/gpt2/resolve/main/model.safetensors")!])
        #expect(huggingFace.file(named: "model.safetensors")?.expectedSize == 548_105_171)
        #expect(ModelCatalog.plan(for: .xl, from: .huggingFace).file(named: "config.json")?.urls.first?.absoluteString
            == "https://huggingface.co/openai-community/gpt2-xl/resolve/main/config.json")

        let openAI = ModelCatalog.plan(for: .medium, from: .openAICheckpoint)
        #expect(openAI.directory == "models/openai-gpt2-tf/355M")
        #expect(openAI.file(named: "model.ckpt.data-00000-of-00001")?.urls.map(\.absoluteString) == [
            "https://openaipublic.blob.core.windows.net/gpt-2/models/355M/model.ckpt.data-00000-of-00001",
            "https://f001.backblazeb2.com/file/LLMs-from-scratch/gpt2/355M/model.ckpt.data-00000-of-00001",
        ])
        #expect(openAI.file(named: "model.ckpt.data-00000-of-00001")?.expectedSize == 1_419_292_672)

        let mirrored = openAI.applying(URLOverrides(mirror: URL(string: "http://127.0.0.1:8080/cache/")!, files: [
            "vocab.bpe": URL(string: "http://elsewhere.example/v.bpe")!,
        ]))
        #expect(mirrored.file(named: "hparams.json")?.urls.map(\.absoluteString) == ["http://127.0.0.1:8080/cache/gpt-2/models/355M/hparams.json"])
        #expect(mirrored.file(named: "vocab.bpe")?.urls.map(\.absoluteString) == ["http://elsewhere.example/v.bpe"])
        #expect(ModelCatalog.smsSpamCollection.applying(URLOverrides(mirror: URL(string: "http://127.0.0.1:1")!)).files[0].urls[0].absoluteString
            == "http://127.0.0.1:1/static/public/228/sms+spam+collection.zip")
    }

    @Test func theReleaseFilesAtHandHaveTheCataloguedHashes() throws {
        let files: [(String, [UInt8])] = [
            ("encoder.json", [UInt8](try Data(contentsOf: ProjectPaths.encoderJSON))),
            ("vocab.bpe", [UInt8](try Data(contentsOf: ProjectPaths.vocabBPE))),
            ("hparams.json", Array(OpenAIGPT2Release.hparams.utf8)),
            ("checkpoint", Array(OpenAIGPT2Release.checkpoint.utf8)),
        ]
        try expectCataloguedHashes(files)
    }

    @Test(.enabled(if: OpenAIGPT2Release.indexPresent, "../shared/gpt2/model.ckpt.index (OpenAI's 124M index) is absent"))
    func theReleasesIndexHasTheCataloguedHash() throws {
        try expectCataloguedHashes([("model.ckpt.index", [UInt8](try Data(contentsOf: ProjectPaths.sharedFile(OpenAIGPT2Release.indexFile))))])
    }

    private func expectCataloguedHashes(_ files: [(name: String, bytes: [UInt8])]) throws {
        let plan = ModelCatalog.plan(for: .gpt2, from: .openAICheckpoint)
        for (name, bytes) in files {
            let file = try #require(plan.file(named: name))
            #expect(Int64(bytes.count) == file.expectedSize, "\(name)")
            #expect(SHA256.hexDigest(bytes) == file.expectedSHA256, "\(name)")
        }
    }
}

/// Sends `GET target` as written and returns the response's status line.
private func rawStatusLine(port: UInt16, target: String) throws -> String {
    let connection = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(connection) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(connection, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    try #require(connected == 0)
    let request = Array("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, 0) }
    var buffer = [UInt8](repeating: 0, count: 256)
    let count = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
    return String(decoding: buffer.prefix(max(0, count)), as: UTF8.self).components(separatedBy: "\r\n")[0]
}

/// A small tmpfs mounted over a test directory, for full-disk and read-only tests.
/// Mounting needs root; elsewhere the test is cancelled with a note (read-only falls
/// back to a mode-0555 directory when not root, where permissions are enforced).
struct ScratchMount {
    let url: URL
    let mounted: Bool

    static func tiny(at url: URL, bytes: Int) throws -> ScratchMount {
        guard getuid() == 0, run(["mount", "-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", url.path]) else {
            try Test.cancel("mounting a \(bytes)-byte tmpfs needs root and mount permission; the full-disk test did not run")
        }
        return ScratchMount(url: url, mounted: true)
    }

    static func readOnly(at url: URL) throws -> ScratchMount {
        if getuid() != 0 {
            chmod(url.path, 0o555)
            return ScratchMount(url: url, mounted: false)
        }
        // Root ignores file modes, so only a read-only mount stops its writes.
        guard run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", url.path]) else {
            try Test.cancel("mounting a read-only tmpfs is not permitted here; the read-only test did not run")
        }
        return ScratchMount(url: url, mounted: true)
    }

    func release() {
        if mounted { _ = Self.run(["umount", url.path]) } else { chmod(url.path, 0o755) }
    }

    private static func run(_ arguments: [String]) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}

/// Interrupting a transfer midway, as a kill or Ctrl-C does, and picking it up again.
@Suite struct InterruptedDownloadTests {
    @Test func aCancelledTransferKeepsItsBytesAndTheNextRunResumes() async throws {
        let body = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        let server = try LoopbackHTTPServer(files: ["/model.safetensors": body])
        defer { server.stop() }
        // 300,000 bytes arrive slowly, then the server goes quiet: the transfer is surely
        // midway when cancelled, however busy the machine.
        server.inject(.slowBody(chunk: 30000, interval: 0.05), at: "/model.safetensors")
        server.inject(.stall(afterBytes: 300_000, times: 1), at: "/model.safetensors")
        let cache = try TemporaryDirectory()
        defer { cache.remove() }
        let capture = LogCapture()
        let downloader = Downloader(
            cacheRoot: cache.url, options: DownloadOptions(attempts: 1, timeout: 60, progress: .logLines(interval: 0.1)), log: capture.log)
        let file = RemoteFile(name: "model.safetensors", urls: [server.url("/model.safetensors")], expectedSHA256: SHA256.hexDigest(body))
        let partial = cache.path("model.safetensors.partial").path

        let transfer = Task { try await downloader.fetch(file, into: cache.url) }
        // Generous: the whole suite runs in parallel on two cores, and end-to-end tests
        // that wait on child processes can hold both of the pool's threads for minutes
        // before the transfer's task gets one.
        let deadline = ContinuousClock.now + .seconds(600)
        while (FileManager.default.fileSize(partial) ?? 0) < 300_000 && ContinuousClock.now < deadline {
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        transfer.cancel()
        do {
            _ = try await transfer.value
            Issue.record("the cancelled transfer completed")
        } catch let error as DownloadError {
            #expect(error.reason == .cancelled)
        }
        let kept = try #require(FileManager.default.fileSize(partial))
        #expect(kept == 300_000)
        #expect(capture.lines.contains { $0.hasPrefix("model.safetensors: ") && $0.contains("% (") && $0.contains("left") })

        server.clearFaults()
        let fetched = try await downloader.fetch(file, into: cache.url)
        #expect(fetched.sha256 == SHA256.hexDigest(body))
        #expect(server.requests.last?.range == "bytes=\(kept)-")
    }

    @Test func aPerFileURLDropsTheCataloguedSizeAndHashButAMirrorKeepsThem() {
        let plan = ModelCatalog.plan(for: .gpt2, from: .huggingFace)
        let tiny = URL(string: "http://127.0.0.1:1/tiny/model.safetensors")!
        let overridden = plan.applying(URLOverrides(mirror: URL(string: "http://127.0.0.1:1")!, files: ["model.safetensors": tiny]))
        #expect(overridden.file(named: "model.safetensors") == RemoteFile(name: "model.safetensors", urls: [tiny]))
        #expect(overridden.file(named: "vocab.json")?.expectedSHA256 == plan.file(named: "vocab.json")?.expectedSHA256)
        #expect(plan.withoutKnownContent().files.allSatisfy { $0.expectedSize == nil && $0.expectedSHA256 == nil })
    }
}

extension FileManager {
    fileprivate func fileSize(_ path: String) -> Int? {
        (try? attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
    }
}

import Foundation
import SpamtuneSupport
import SpamtuneTestSupport
@testable import SpamtuneTrain
import Testing

/// The data step end to end: over HTTP from the loopback server, from the cache, from
/// the shipped copy, and what it does with faults.
@Suite struct SMSDatasetTests {
    static let zipPath = "/static/public/228/sms+spam+collection.zip"
    // pandas' to_csv bytes for the book's procedure on the exactly parsed collection.
    static let trainSHA256 = "60084ae839ea08fc2e8de9e5a999c10e48fcb31d1efc2477d6f93782746a492b"
    let zipBytes: [UInt8]

    init() throws {
        zipBytes = SMSArchive.bytes
    }

    private func downloader(_ cache: TemporaryDirectory, _ capture: LogCapture, offline: Bool = false) -> Downloader {
        Downloader(
            cacheRoot: cache.url,
            options: DownloadOptions(offline: offline, attempts: 2, baseDelay: 0.01, maximumDelay: 0.02, timeout: 5, progress: .logLines(interval: 60)),
            log: capture.log)
    }

    @Test func downloadUnzipVerifyParseBalanceSplitAndWrite() async throws {
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        let work = try TemporaryDirectory()
        defer { work.remove() }
        let capture = LogCapture()
        let configuration = SMSDataset.Configuration(outputDirectory: work.path("dataset"), overrides: URLOverrides(mirror: server.baseURL))

        let prepared = try await SMSDataset.prepare(configuration, downloader: downloader(work, capture))
        #expect(prepared.origin == .downloaded(from: server.url(Self.zipPath)))
        #expect((prepared.split.train.count, prepared.split.validation.count, prepared.split.test.count) == (1045, 149, 300))
        #expect(SHA256.hexDigest(try Data(contentsOf: prepared.trainFile)) == Self.trainSHA256)
        #expect(try LabelledCSV.read(contentsOf: prepared.trainFile) == prepared.split.train)
        #expect(try LabelledCSV.read(contentsOf: prepared.validationFile) == prepared.split.validation)
        #expect(try LabelledCSV.read(contentsOf: prepared.testFile) == prepared.split.test)
        #expect(capture.contains("SMS Spam Collection: 5574 messages, sha256 verified"))
        #expect(capture.contains("1494 balanced examples (747 spam, 747 ham), seed 123: train 1045, validation 149, test 300"))

        // A second run finds the step complete and reads the files back.
        let again = try await SMSDataset.prepare(configuration, downloader: downloader(work, capture))
        #expect(again.origin == .earlierRun)
        #expect(again.split == prepared.split)
        #expect(server.requests.count == 1)

        // A damaged CSV or another seed makes the step run again, from the cache.
        try Data("Label,Text\n0,tampered\n".utf8).write(to: prepared.testFile)
        let repaired = try await SMSDataset.prepare(configuration, downloader: downloader(work, capture))
        #expect(repaired.origin == .cache && repaired.split == prepared.split)
        var reseeded = configuration
        reseeded.seed = 7
        let other = try await SMSDataset.prepare(reseeded, downloader: downloader(work, capture))
        #expect(other.origin == .cache && other.split != prepared.split && other.split.train.count == 1045)
        #expect(server.requests.count == 1)
    }

    @Test func withNoServerTheShippedCopyIsUsedAndTheLogSaysSo() async throws {
        let port = try LoopbackHTTPServer.closedPort()
        let work = try TemporaryDirectory()
        defer { work.remove() }
        let capture = LogCapture()
        let configuration = SMSDataset.Configuration(
            outputDirectory: work.path("dataset"), overrides: URLOverrides(mirror: URL(string: "http://127.0.0.1:\(port)")!))
        let prepared = try await SMSDataset.prepare(configuration, downloader: downloader(work, capture))
        guard case .shipped(let copy) = prepared.origin else {
            Issue.record("expected the shipped copy, got \(prepared.origin)")
            return
        }
        #expect(copy == ShippedCollection.locate())
        #expect(SHA256.hexDigest(try Data(contentsOf: prepared.trainFile)) == Self.trainSHA256)
        #expect(capture.contains("WARNING: could not get the SMS Spam Collection from http://127.0.0.1:\(port)/static/public/228/sms+spam+collection.zip: cannot download sms+spam+collection.zip: cannot reach 127.0.0.1: the connection was refused. Check the network"))
        #expect(capture.contains("WARNING: using the copy shipped with spamtune instead: \(copy.path)"))
    }

    @Test func offlineWithAnEmptyCacheUsesTheShippedCopy() async throws {
        let work = try TemporaryDirectory()
        defer { work.remove() }
        let capture = LogCapture()
        let prepared = try await SMSDataset.prepare(
            SMSDataset.Configuration(outputDirectory: work.path("dataset")), downloader: downloader(work, capture, offline: true))
        #expect(prepared.split.train.count == 1045)
        #expect(capture.contains("offline: sms+spam+collection.zip is not in the cache"))
    }

    @Test func aCorruptArchiveIsDeletedAndTheShippedCopyUsedOrTheRunFails() async throws {
        let server = try LoopbackHTTPServer(files: [Self.zipPath: zipBytes])
        defer { server.stop() }
        server.inject(.wrongBody(Array(zipBytes.prefix(120_000))), at: Self.zipPath)
        let work = try TemporaryDirectory()
        defer { work.remove() }
        let capture = LogCapture()
        var configuration = SMSDataset.Configuration(outputDirectory: work.path("dataset"), overrides: URLOverrides(mirror: server.baseURL))

        let prepared = try await SMSDataset.prepare(configuration, downloader: downloader(work, capture))
        #expect(prepared.origin == .shipped(try #require(ShippedCollection.locate())))
        #expect(capture.contains("sms+spam+collection.zip is unusable and was deleted: \(work.path("data/sms+spam+collection.zip").path) is truncated"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: work.path("data").path) == [])

        configuration.fallbackToShippedCopy = false
        configuration.outputDirectory = work.path("other")
        do {
            _ = try await SMSDataset.prepare(configuration, downloader: downloader(work, capture))
            Issue.record("a corrupt archive went unnoticed")
        } catch let error as ZipError {
            #expect(error.reason == .truncated)
        }
    }

    @Test func anArchiveWithTheWrongCollectionIsRefused() async throws {
        let archive = [UInt8](try Data(contentsOf: ProjectPaths.fixture("zip/stored.zip")))
        let server = try LoopbackHTTPServer(files: [Self.zipPath: archive])
        defer { server.stop() }
        let work = try TemporaryDirectory()
        defer { work.remove() }
        let configuration = SMSDataset.Configuration(
            outputDirectory: work.path("dataset"), overrides: URLOverrides(mirror: server.baseURL), fallbackToShippedCopy: false)
        do {
            _ = try await SMSDataset.prepare(configuration, downloader: downloader(work, LogCapture()))
            Issue.record("an archive without the collection was accepted")
        } catch {
            #expect("\(error)".contains("has no entry named SMSSpamCollection (it holds: hello.txt, empty.txt, folder/, folder/nested.txt)"))
        }
    }

    @Test func withoutDownloadOrShippedCopyTheErrorSaysBoth() async throws {
        let work = try TemporaryDirectory()
        defer { work.remove() }
        let configuration = SMSDataset.Configuration(outputDirectory: work.path("dataset"), shippedCopy: nil)
        do {
            _ = try await SMSDataset.prepare(configuration, downloader: downloader(work, LogCapture(), offline: true))
            Issue.record("no data, yet no error")
        } catch {
            let message = "\(error)"
            #expect(message.hasPrefix("cannot get the SMS Spam Collection: offline: sms+spam+collection.zip is not in the cache"))
            #expect(message.contains("and no copy shipped with spamtune was found (looked in "))
        }
    }

    @Test func anUnwritableOutputDirectoryFailsClearly() async throws {
        let work = try TemporaryDirectory()
        defer { work.remove() }
        let output = work.path("dataset")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let mount = try ScratchMount.readOnly(at: output)
        defer { mount.release() }
        do {
            _ = try await SMSDataset.prepare(SMSDataset.Configuration(outputDirectory: output), downloader: downloader(work, LogCapture(), offline: true))
            Issue.record("wrote into a read-only directory")
        } catch let error as DatasetError {
            #expect(error.file == output.appendingPathComponent("train.csv").path)
            #expect("\(error)".contains("Read-only file system") || "\(error)".contains("Permission denied"))
        }
    }
}

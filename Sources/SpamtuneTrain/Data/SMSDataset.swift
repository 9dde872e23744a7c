import Foundation
import SpamtuneClassifier
import SpamtuneSupport

/// The pipeline's data step: the SMS Spam Collection downloaded (or taken from the
/// cache, or from the copy shipped with spamtune when neither works), checked against
/// its published hash, parsed, balanced and split as the book does, and written as
/// `train.csv`, `validation.csv` and `test.csv`.
///
/// The step is skipped when its output is complete: `dataset.json`, written last,
/// records the collection's hash, the seed and each CSV's hash, and a later run that
/// finds them all unchanged reads the CSVs back instead of starting over.
public enum SMSDataset {
    public static let trainFile = "train.csv"
    public static let validationFile = "validation.csv"
    public static let testFile = "test.csv"
    /// The ham that balancing set aside, minus exact copies of any balanced message: more
    /// text for the scratch model's next-token pretraining (never validation or test).
    public static let unusedHamFile = "unused-ham.csv"
    public static let manifestFile = "dataset.json"
    /// The collection is 478 kB; an archive entry claiming more is refused unread.
    static let maximumCollectionSize = 16 << 20

    public struct Configuration: Sendable {
        /// Where the CSVs and `dataset.json` go.
        public var outputDirectory: URL
        public var seed: UInt32
        public var overrides: URLOverrides
        /// Use the shipped copy when the download fails or is unusable; otherwise fail.
        public var fallbackToShippedCopy: Bool
        /// The shipped `SMSSpamCollection`; found with `ShippedCollection.locate()` by default.
        public var shippedCopy: URL?

        public init(
            outputDirectory: URL, seed: UInt32 = DatasetPreparation.bookSeed, overrides: URLOverrides = .none,
            fallbackToShippedCopy: Bool = true, shippedCopy: URL? = ShippedCollection.locate()
        ) {
            self.outputDirectory = outputDirectory
            self.seed = seed
            self.overrides = overrides
            self.fallbackToShippedCopy = fallbackToShippedCopy
            self.shippedCopy = shippedCopy
        }
    }

    public enum Origin: Sendable, Equatable {
        case downloaded(from: URL)
        case cache
        case shipped(URL)
        /// The CSVs of an earlier run were complete and were read back.
        case earlierRun

        /// For reports: where this run's SMS came from.
        public var summary: String {
            switch self {
            case let .downloaded(url): "downloaded from \(url.absoluteString)"
            case .cache: "the download cache"
            case let .shipped(url): "the copy shipped with spamtune (\(url.path))"
            case .earlierRun: "an earlier run's CSVs"
            }
        }
    }

    public struct Prepared: Sendable {
        public let split: DatasetSplit
        public let unusedHam: [LabelledText]
        public let origin: Origin
        public let trainFile: URL
        public let validationFile: URL
        public let testFile: URL
    }

    private struct Manifest: Codable, Equatable {
        struct FileEntry: Codable, Equatable {
            var rows: Int
            var sha256: String
        }

        var dataset: String
        var collectionSHA256: String
        var seed: UInt32
        var procedure: String
        var origin: String
        var files: [String: FileEntry]

        enum CodingKeys: String, CodingKey {
            case dataset, seed, procedure, origin, files
            case collectionSHA256 = "collection_sha256"
        }
    }

    private static let procedure = "all spam + as much ham drawn with pandas' sample(random_state=seed); shuffled the same way; 70/10/20"

    public static func prepare(_ configuration: Configuration, downloader: Downloader) async throws -> Prepared {
        let log = downloader.log
        let output = configuration.outputDirectory
        let urls = [trainFile, validationFile, testFile, unusedHamFile].map { output.appendingPathComponent($0) }
        if let parts = reuse(configuration, files: urls) {
            let split = DatasetSplit(train: parts[0], validation: parts[1], test: parts[2])
            log("dataset: \(output.path) is complete (train \(split.train.count), validation \(split.validation.count), test \(split.test.count)); skipping this step")
            return Prepared(
                split: split, unusedHam: parts[3], origin: .earlierRun, trainFile: urls[0], validationFile: urls[1], testFile: urls[2])
        }

        let (examples, origin) = try await collection(configuration, downloader: downloader)
        let balanced = try DatasetPreparation.balance(examples, seed: configuration.seed, source: SMSSpamCollection.fileName)
        let split = DatasetPreparation.split(balanced, seed: configuration.seed)
        let balancedTexts = Set(balanced.map(\.text))
        let unusedHam = examples.filter { $0.label == .ham && !balancedTexts.contains($0.text) }

        do {
            try FileSystem.createDirectory(output.path)
        } catch {
            throw DatasetError(file: output.path, reason: .unwritable(error.reason))
        }
        var entries = [String: Manifest.FileEntry]()
        for (url, part) in zip(urls, [split.train, split.validation, split.test, unusedHam]) {
            let bytes = LabelledCSV.encode(part)
            try writeAtomically(bytes, to: url)
            entries[url.lastPathComponent] = Manifest.FileEntry(rows: part.count, sha256: SHA256.hexDigest(bytes))
        }
        let manifest = Manifest(
            dataset: "SMS Spam Collection", collectionSHA256: SMSSpamCollection.sha256, seed: configuration.seed, procedure: procedure,
            origin: describe(origin), files: entries)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try writeAtomically([UInt8](try encoder.encode(manifest)) + [10], to: output.appendingPathComponent(manifestFile))
        let spam = balanced.count { $0.label == .spam }
        log("dataset: \(balanced.count) balanced examples (\(spam) spam, \(balanced.count - spam) ham), seed \(configuration.seed): train \(split.train.count), validation \(split.validation.count), test \(split.test.count) in \(output.path)")
        return Prepared(
            split: split, unusedHam: unusedHam, origin: origin, trainFile: urls[0], validationFile: urls[1], testFile: urls[2])
    }

    /// The parsed collection and where it came from.
    private static func collection(_ configuration: Configuration, downloader: Downloader) async throws -> ([LabelledText], Origin) {
        let log = downloader.log
        let plan = ModelCatalog.smsSpamCollection.applying(configuration.overrides)
        let archiveName = plan.files[0].name
        let failure: Error
        do {
            let cached = try await downloader.fetch(plan)[0]
            do {
                let archive = try ZipArchive(contentsOf: cached.location)
                let bytes = try archive.contents(ofEntryNamed: SMSSpamCollection.archiveEntry, maximumSize: maximumCollectionSize)
                let examples = try SMSSpamCollection.load(bytes, source: "\(cached.location.path) (\(SMSSpamCollection.archiveEntry))")
                log("SMS Spam Collection: \(examples.count) messages, sha256 verified, from \(cached.location.path)")
                switch cached.origin {
                case .cache: return (examples, .cache)
                case .downloaded(let url): return (examples, .downloaded(from: url))
                }
            } catch {
                // A bad archive stays bad in the cache: drop it so the next run fetches it anew.
                downloader.evict(archiveName, of: plan)
                log.warning("the downloaded \(cached.location.path) is unusable and was deleted: \(error)")
                failure = error
            }
        } catch {
            if error.reason == .cancelled { throw error }
            failure = error
        }

        guard configuration.fallbackToShippedCopy else { throw failure }
        guard let shipped = configuration.shippedCopy else {
            let searched = ShippedCollection.searchPath().map(\.path).joined(separator: ", ")
            throw DatasetError(file: "the SMS Spam Collection", reason: .unavailable(
                "\(failure)\nand no copy shipped with spamtune was found (looked in \(searched))"))
        }
        log.warning("could not get the SMS Spam Collection from \(plan.files[0].urls.first?.absoluteString ?? "its source"): \(failure)")
        log.warning("using the copy shipped with spamtune instead: \(shipped.path)")
        let examples = try SMSSpamCollection.load(contentsOf: shipped)
        log("SMS Spam Collection: \(examples.count) messages, sha256 verified, from \(shipped.path)")
        return (examples, .shipped(shipped))
    }

    /// The earlier run's split when its manifest and all three files are intact and were
    /// made from the same collection with the same seed.
    private static func reuse(_ configuration: Configuration, files: [URL]) -> [[LabelledText]]? {
        let manifestURL = configuration.outputDirectory.appendingPathComponent(manifestFile)
        let decoder = JSONDecoder()
        guard let bytes = try? FileSystem.readFile(manifestURL.path),
            let manifest = try? decoder.decode(Manifest.self, from: Data(bytes)),
            manifest.collectionSHA256 == SMSSpamCollection.sha256, manifest.seed == configuration.seed, manifest.procedure == procedure
        else { return nil }
        var parts = [[LabelledText]]()
        for url in files {
            guard let entry = manifest.files[url.lastPathComponent], let bytes = try? FileSystem.readFile(url.path),
                SHA256.hexDigest(bytes) == entry.sha256, let examples = try? LabelledCSV.decode(bytes, source: url.path),
                examples.count == entry.rows
            else { return nil }
            parts.append(examples)
        }
        return parts
    }

    private static func describe(_ origin: Origin) -> String {
        switch origin {
        case .downloaded(let url): "downloaded from \(url.absoluteString)"
        case .cache: "download cache"
        case .shipped(let url): "shipped copy \(url.path)"
        case .earlierRun: "earlier run"
        }
    }
}

import Foundation
import SpamtuneClassifier
import SpamtuneSupport

/// One source of a run's examples, as the report and spamtune.json record it.
public struct DataSourceRecord: Codable, Equatable, Sendable {
    /// `sms`, `spamassassin`, or `labelled-mail` (the admin's folders and the feedback store).
    public var name: String
    public var origin: String
    /// Examples this source put into the train, validation and test splits together.
    public var ham: Int
    public var spam: Int
    /// sha256 of each file the examples came from, by name, where there are such files.
    public var files: [String: String]?
    /// For the mail corpus: each part's messages and how many were kept after deduplication.
    public var parts: [SpamAssassinCorpus.PartCount]?
}

/// The pipeline's data step: the public data sets `--data` names and the admin's labelled
/// mail, split into training, validation and test examples.
///
/// The SMS collection is split as the book does (balanced, then 70/10/20 with the seed);
/// mail, from the corpus or the admin, goes to a split by its content hash, so a message
/// stays in its split from one run to the next and the held-out set is never trained on.
struct TrainingData {
    var split: ExampleSplit
    /// The prepared SMS collection, when `--data` names it.
    var sms: SMSDataset.Prepared?
    var sources: [DataSourceRecord]

    static func gather(_ options: TrainingOptions, downloader: Downloader, log: TrainingLog) async throws -> TrainingData {
        let overrides = URLOverrides(mirror: options.mirror, files: options.fileURLs)
        var split = ExampleSplit()
        var sms: SMSDataset.Prepared?
        var sources = [DataSourceRecord]()

        if options.data.sources.contains(.sms) {
            let prepared = try await SMSDataset.prepare(
                SMSDataset.Configuration(
                    outputDirectory: options.workDirectory.appendingPathComponent("data"), seed: options.hyperparameters.seed,
                    overrides: overrides),
                downloader: downloader)
            split = ExampleSplit(prepared.split)
            sms = prepared
            let all = prepared.split.train + prepared.split.validation + prepared.split.test
            let spam = all.count { $0.label == .spam }
            sources.append(DataSourceRecord(
                name: TrainingDataSource.sms.rawValue, origin: prepared.origin.summary, ham: all.count - spam, spam: spam,
                files: ["SMSSpamCollection": SMSSpamCollection.sha256]))
        }

        let mail = try LabelledMail.collect(ham: options.hamMail, spam: options.spamMail, feedback: options.feedbackDirectory, log: log)

        if options.data.sources.contains(.spamassassin) {
            do {
                let corpus = try await SpamAssassinCorpus.load(overrides: overrides, downloader: downloader)
                // The admin's own label wins over the corpus's for a message in both.
                let labelledByAdmin = Set(mail.map(\.hash))
                let messages = corpus.messages.filter { !labelledByAdmin.contains($0.hash) }
                split.add(messages)
                let spam = messages.count { $0.label == .spam }
                sources.append(DataSourceRecord(
                    name: TrainingDataSource.spamassassin.rawValue, origin: corpus.origin, ham: messages.count - spam, spam: spam,
                    files: corpus.archives, parts: corpus.parts))
            } catch {
                let explicitly = options.data.isExplicit
                switch error {
                case let .unreachable(download) where !explicitly:
                    log("SpamAssassin public corpus: skipped: offline and not in the cache (\(download.file) is missing from \(URL(fileURLWithPath: download.destination).deletingLastPathComponent().path)); the mail corpus is downloaded, not shipped with spamtune, so a run with network access fetches it")
                case .unusable where !explicitly:
                    log.warning("SpamAssassin public corpus: skipped, it cannot be used: \(error)")
                default:
                    throw TrainingError.data("the SpamAssassin public corpus was asked for (--data \(options.data)) but cannot be had: \(error)")
                }
            }
        }

        if !mail.isEmpty {
            split.add(mail)
            let spam = mail.count { $0.label == .spam }
            sources.append(DataSourceRecord(name: "labelled-mail", origin: "the admin's folders and the feedback store", ham: mail.count - spam, spam: spam))
        }

        let used = sources.map { "\($0.name) (\($0.ham) ham, \($0.spam) spam)" }
        log("training data: \(used.isEmpty ? "none" : used.joined(separator: ", ")); train \(split.train.count), validation \(split.validation.count), test \(split.test.count)")
        for label in Label.allCases where !split.train.contains(where: { $0.label == label }) {
            throw TrainingError.data("the training examples hold no \(label.name) (data: \(options.data)); a classifier needs both: give labelled \(label.name) mail with --\(label.name) PATH, or name a data set with --data")
        }
        return TrainingData(split: split, sms: sms, sources: sources)
    }
}

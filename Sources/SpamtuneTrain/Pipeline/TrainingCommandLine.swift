import Foundation
import SpamtuneClassifier
import SpamtuneMail
import SpamtuneModel
import SpamtuneSupport

/// `spamtune-train`'s options (`table`) turned into TrainingOptions.
public enum TrainingCommandLine {
    /// What a configuration file sets; command-line options override it.
    public struct Defaults: Sendable {
        public var stateDirectory: String
        public var cacheDirectory: String?
        /// `train_base`; nil when the file names none.
        public var base: String?
        /// `train_fallback`: first-run, scratch or fail.
        public var fallback: String?
        /// `train_recipe`; nil for `Recipe.default`.
        public var recipe: String?
        /// `train_data`: the `--data` list; nil for the recipe's default.
        public var data: String?
        public var ham: [String]
        public var spam: [String]
        public var unlabelled: [String]
        public var threads: Int?

        public init(
            stateDirectory: String = SpamtunePaths.stateDirectory, cacheDirectory: String? = nil, base: String? = nil,
            fallback: String? = nil, recipe: String? = nil, data: String? = nil, ham: [String] = [], spam: [String] = [],
            unlabelled: [String] = [], threads: Int? = nil
        ) {
            self.stateDirectory = stateDirectory
            self.cacheDirectory = cacheDirectory
            self.base = base
            self.fallback = fallback
            self.recipe = recipe
            self.data = data
            self.ham = ham
            self.spam = spam
            self.unlabelled = unlabelled
            self.threads = threads
        }
    }

    public static func options(from parsed: ParsedArguments, defaults: Defaults = Defaults()) throws -> TrainingOptions {
        let state = URL(fileURLWithPath: parsed.value("state-dir") ?? defaults.stateDirectory)
        let recipe = try (parsed.value("recipe") ?? defaults.recipe)?.nonEmpty.map { name -> Recipe in
            guard let recipe = Recipe(rawValue: name) else { throw ArgumentError.conflicting("--recipe must be book or spamtune, not '\(name)'") }
            return recipe
        } ?? .default
        var options = TrainingOptions(
            workDirectory: state.appendingPathComponent("train"),
            modelsDirectory: URL(fileURLWithPath: parsed.value("models-dir") ?? state.appendingPathComponent("models").path),
            cacheDirectory: (parsed.value("cache-dir") ?? defaults.cacheDirectory).map { URL(fileURLWithPath: $0) } ?? Downloader.defaultCacheRoot(),
            recipe: recipe)
        if let base = parsed.value("base") ?? defaults.base {
            options.base = try baseModel(base)
            options.baseIsExplicit = true
        }
        if let fallback = parsed.value("fallback") ?? defaults.fallback {
            guard let choice = BaseFallback(rawValue: fallback) else {
                throw ArgumentError.conflicting("--fallback must be first-run, scratch or fail, not '\(fallback)'")
            }
            options.fallback = choice
        }
        if let source = parsed.value("source") {
            guard let choice = TrainingOptions.ModelSourceChoice(rawValue: source) else {
                throw ArgumentError.conflicting("--source must be automatic, huggingface or openai, not '\(source)'")
            }
            options.source = choice
        }
        if let mirror = parsed.value("mirror") {
            guard let url = URL(string: mirror), url.scheme != nil else { throw ArgumentError.conflicting("--mirror needs a URL, not '\(mirror)'") }
            options.mirror = url
        }
        for item in parsed.all("file-url") {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let url = URL(string: parts[1]), url.scheme != nil else {
                throw ArgumentError.conflicting("--file-url needs NAME=URL, not '\(item)'")
            }
            options.fileURLs[parts[0]] = url
        }
        options.offline = parsed.has("offline")
        options.downloadAttempts = try parsed.integer("retries", default: options.downloadAttempts - 1, range: 0...100)! + 1
        options.downloadRetryDelay = try parsed.atLeastZero("retry-delay", default: options.downloadRetryDelay)
        options.neverPromote = parsed.has("no-promote")
        if let finalFit = parsed.value("final-fit") {
            guard ["yes", "no"].contains(finalFit) else { throw ArgumentError.conflicting("--final-fit must be yes or no, not '\(finalFit)'") }
            options.finalFit = finalFit == "yes"
        }
        var h = options.hyperparameters
        h.epochs = try parsed.integer("epochs", default: h.epochs, range: 0...10_000)!
        h.batchSize = try parsed.integer("batch-size", default: h.batchSize, range: 1...65_536)!
        h.learningRate = Float(try parsed.positive("lr", default: Double(h.learningRate)))
        h.weightDecay = Float(try parsed.atLeastZero("weight-decay", default: Double(h.weightDecay)))
        h.trainableBlocks = try parsed.integer("trainable-blocks", default: h.trainableBlocks, range: 0...1000)!
        h.maxTokens = try parsed.integer("max-tokens", default: h.maxTokens, range: 1...1_000_000)!
        if parsed.has("max-tokens") { options.scratch.maxTokens = h.maxTokens }
        h.seed = UInt32(try parsed.integer("seed", default: Int(h.seed), range: 0...Int(UInt32.max))!)
        h.padding = try parsed.choice("padding", default: h.padding, among: "none or longest")
        if let layout = parsed.value("text-layout") {
            guard InputSettings.layoutNames.contains(layout) else {
                throw ArgumentError.conflicting("--text-layout must be \(InputSettings.layoutNames.joined(separator: ", ")), not '\(layout)'")
            }
            h.textLayout = layout
            options.scratch.textLayout = layout
        }
        if let headerWords = parsed.value("header-words") {
            guard ["yes", "no"].contains(headerWords) else {
                throw ArgumentError.conflicting("--header-words must be yes or no, not '\(headerWords)'")
            }
            options.scratch.headerWords = headerWords == "yes"
        }
        if let tokens = try parsed.integer("evidence-tokens", default: nil, range: 0...65_536) {
            h.evidence = tokens == 0
                ? nil
                : InputSettings.EvidenceSettings(buckets: Recipe.evidenceBuckets, tokens: tokens, headerWords: options.scratch.headerWords)
            options.scratch.evidenceTokens = tokens
        }
        options.hyperparameters = h
        let target = try parsed.fraction("target-fpr", default: ThresholdPolicy.defaultTargetFalsePositiveRate)
        options.thresholdPolicy = .targetFalsePositiveRate(target)
        if let threshold = try parsed.double("threshold") {
            guard threshold > 0 && threshold < 1 else { throw ArgumentError.conflicting("--threshold must be between 0 and 1") }
            options.thresholdPolicy = .fixed(threshold)
        }
        var scratch = options.scratch
        scratch.layers = try parsed.integer("scratch-layers", default: scratch.layers, range: 1...96)!
        scratch.embeddingSize = try parsed.integer("scratch-dim", default: scratch.embeddingSize, range: 8...8192)!
        scratch.heads = try parsed.integer("scratch-heads", default: scratch.heads, range: 1...128)!
        scratch.epochs = try parsed.integer("scratch-epochs", default: scratch.epochs, range: 0...10_000)!
        scratch.learningRate = Float(try parsed.positive("scratch-lr", default: Double(scratch.learningRate)))
        scratch.pretrainEpochs = try parsed.integer("scratch-pretrain-epochs", default: scratch.pretrainEpochs, range: 0...10_000)!
        scratch.pretrainLearningRate = Float(try parsed.positive("scratch-pretrain-lr", default: Double(scratch.pretrainLearningRate)))
        scratch.soup = try parsed.integer("scratch-soup", default: scratch.soup, range: 1...64)!
        scratch.pretrainText = try parsed.choice("scratch-pretrain-text", default: scratch.pretrainText, among: "training or unused-ham")
        guard scratch.embeddingSize % scratch.heads == 0 else {
            throw ArgumentError.conflicting("--scratch-dim must be divisible by --scratch-heads")
        }
        options.scratch = scratch
        options.threads = try parsed.integer("threads", default: defaults.threads ?? options.threads, range: 1...1024)!
        options.keepVersions = try parsed.integer("keep", default: options.keepVersions, range: 1...1000)!
        options.hamMail = parsed.all("ham").isEmpty ? defaults.ham : parsed.all("ham")
        options.spamMail = parsed.all("spam").isEmpty ? defaults.spam : parsed.all("spam")
        options.unlabelledMail = parsed.all("unlabelled").isEmpty ? defaults.unlabelled : parsed.all("unlabelled")
        options.unlabelledEpochs = try parsed.integer("unlabelled-epochs", default: options.unlabelledEpochs, range: 1...100)!
        let feedback = parsed.value("feedback") ?? state.appendingPathComponent("feedback").path
        options.feedbackDirectory = FileManager.default.fileExists(atPath: feedback) ? feedback : nil
        if let list = parsed.value("data") ?? defaults.data {
            options.data = try DataSelection.parse(list)
        }
        if options.data.sources.isEmpty && options.hamMail.isEmpty && options.spamMail.isEmpty && options.feedbackDirectory == nil {
            throw ArgumentError.conflicting("--data none (train_data = none) trains on labelled mail only, and none is given: add --ham PATH and --spam PATH (or --feedback DIR), or name a data set")
        }
        return options
    }

    /// The names `--base` knows; anything else must be a path that exists. Checked before
    /// anything is downloaded, so a typo costs no time.
    public static let baseModelNames = GPT2Size.allCases.map(\.rawValue) + ["scratch"]

    static func baseModel(_ base: String) throws -> String {
        if baseModelNames.contains(base) || FileManager.default.fileExists(atPath: base) { return base }
        let nearest = Suggestion.nearest(to: base, among: baseModelNames).map { " (did you mean \($0)?)" } ?? ""
        throw ArgumentError.conflicting(
            "--base \(base) is neither a model name nor an existing path\(nearest): the names are \(baseModelNames.joined(separator: ", "))")
    }

    /// `--every`: how long from one run's start to the next.
    public static func interval(_ text: String) throws -> Double {
        guard let seconds = DurationText.seconds(text), seconds > 0 else {
            throw ArgumentError.conflicting("--every needs a duration like 24h or 30m, not '\(text)'")
        }
        return seconds
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}

extension ParsedArguments {
    /// An option that is a share of something: at least 0 and below 1.
    fileprivate func fraction(_ name: String, default fallback: Double) throws -> Double {
        let value = try double(name, default: fallback)!
        guard (0..<1).contains(value) else { throw ArgumentError.conflicting("--\(name) must be at least 0 and below 1") }
        return value
    }

    /// A rate or a size that must be above 0.
    fileprivate func positive(_ name: String, default fallback: Double) throws -> Double {
        let value = try double(name, default: fallback)!
        guard value > 0 else { throw ArgumentError.conflicting("--\(name) must be above 0, not \(value)") }
        return value
    }

    /// A delay or a weight that may be 0.
    fileprivate func atLeastZero(_ name: String, default fallback: Double) throws -> Double {
        let value = try double(name, default: fallback)!
        guard value >= 0 else { throw ArgumentError.conflicting("--\(name) must be at least 0, not \(value)") }
        return value
    }

    /// An option naming one case of `Choice`; `among` lists them for the error.
    fileprivate func choice<Choice: RawRepresentable>(_ name: String, default fallback: Choice, among: String) throws -> Choice
    where Choice.RawValue == String {
        guard let text = value(name) else { return fallback }
        guard let choice = Choice(rawValue: text) else { throw ArgumentError.conflicting("--\(name) must be \(among), not '\(text)'") }
        return choice
    }
}

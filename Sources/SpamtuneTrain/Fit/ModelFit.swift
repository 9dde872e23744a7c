import Foundation
import SpamtuneClassifier
import SpamtuneKernels
import SpamtuneModel
import SpamtuneSupport

/// The model being fitted, through its steps: the frozen layers' features computed once,
/// next-token pretraining (the scratch model), the fine-tune (a soup of them for the
/// scratch model), and after evaluation the final fit on every example.
final class ModelFit {
    let classifier: TrainableClassifier
    /// The fine-tune on the training examples; it also evaluates the model.
    let tuner: FineTuner
    private let settings: FineTuneSettings
    private let setup: ModelSetup
    private let log: TrainingLog
    /// The parameters every fine-tune of a soup, and the final fit, start from: after
    /// pretraining, before any fine-tune.
    private var fineTuneStart: [Float] = []
    /// Fine-tunes averaged into the model: several for the scratch model, one otherwise.
    private let soupSize: Int
    private var lastLine = Date.distantPast

    init(setup: ModelSetup, encoded: EncodedSplit, options: TrainingOptions, log: TrainingLog) throws {
        self.setup = setup
        self.log = log
        soupSize = setup.scope.embeddings ? max(1, options.scratch.soup) : 1
        let h = setup.hyperparameters
        let kernels = Kernels(threads: options.threads)
        classifier = try TrainableClassifier(
            config: setup.config, classes: 2, scope: setup.scope, base: setup.initialTensors, kernels: kernels,
            evidenceBuckets: encoded.input.evidence?.buckets ?? 0)
        var settings = FineTuneSettings()
        settings.epochs = h.epochs
        settings.batchSize = h.batchSize
        settings.optimizer = AdamWSettings(learningRate: h.learningRate, weightDecay: h.weightDecay)
        if encoded.input.evidence != nil { settings.learningRateScales = [EvidenceParameters.tensorName: Recipe.evidenceLearningRateScale] }
        settings.seed = UInt64(h.seed)
        settings.evaluationInterval = h.evaluationInterval
        settings.evaluationBatches = h.evaluationBatches
        self.settings = settings
        let scope = setup.scope
        log("fine-tuning \(scope.embeddings ? "every layer" : "the head, the final LayerNorm and the last \(scope.blocks) block(s)") of \(setup.config) on \(encoded.train.count) examples (\(kernels.threads) threads, \(kernels.instructionSet.rawValue))")
        tuner = FineTuner(classifier: classifier, train: encoded.train, validation: encoded.validation, settings: settings)
        if !scope.embeddings {
            log(String(format: "frozen layers: output computed once for %d examples (%.1f MB kept)", encoded.train.count + encoded.validation.count,
                       Double(tuner.trainCache.bytes + tuner.validationCache.bytes) / 1e6))
        }
    }

    /// Next-token pretraining on message text (nil when this run has none): for a model
    /// that starts from nothing, the training messages, the ham balancing set aside and
    /// the site's unlabelled mail; for a pretrained GPT-2, its trainable blocks on the
    /// site's unlabelled mail only (it knows English already; it has not read this
    /// site's mail). Never a held-out message.
    func pretrain(_ encoded: EncodedSplit, data: TrainingData, options: TrainingOptions) throws -> [PretrainingEpoch]? {
        let scratch = options.scratch
        let h = setup.hyperparameters
        var pretrainSettings = PretrainingSettings()
        pretrainSettings.batchSize = h.batchSize
        pretrainSettings.seed = UInt64(h.seed)
        var corpus: [[Int]] = []
        if setup.scope.embeddings {
            guard scratch.pretrainEpochs > 0 else {
                if !options.unlabelledMail.isEmpty {
                    log.warning("--unlabelled: --scratch-pretrain-epochs 0 turns off the next-token pretraining that reads it, so it is not read")
                }
                return nil
            }
            corpus = encoded.train.map(\.ids)
            if scratch.pretrainText == .trainingAndUnusedHam, let sms = data.sms {
                corpus += sms.unusedHam.map { encoded.tokenIDs(TrainingExample(content: .text($0.text), label: .ham)) }
            }
            pretrainSettings.epochs = scratch.pretrainEpochs
            pretrainSettings.optimizer = AdamWSettings(learningRate: scratch.pretrainLearningRate, weightDecay: h.weightDecay)
        } else {
            guard !options.unlabelledMail.isEmpty else { return nil }
            guard setup.scope.blocks > 0 else {
                log.warning("--unlabelled: no transformer block is trained (--trainable-blocks 0), so there is nothing to adapt to the site's mail; it is not read")
                return nil
            }
            pretrainSettings.epochs = options.unlabelledEpochs
            pretrainSettings.optimizer = AdamWSettings(learningRate: h.learningRate, weightDecay: h.weightDecay)
        }
        if !options.unlabelledMail.isEmpty {
            var heldOut = Set<[UInt8]>()
            for example in data.split.validation + data.split.test {
                if case let .mail(bytes) = example.content { heldOut.insert(SHA256.hash(bytes)) }
            }
            let unlabelled = try UnlabelledMail.read(options.unlabelledMail, excluding: heldOut, log: log)
            corpus += unlabelled.map { encoded.tokenIDs(TrainingExample(content: .mail($0), label: .ham)) }
            log("pretraining also reads \(unlabelled.count) unlabelled message(s) of the site's own mail")
        }
        let pretrainer = LanguageModelPretrainer(classifier: classifier, sequences: corpus, settings: pretrainSettings)
        if setup.scope.embeddings {
            log("pretraining on the text of \(corpus.count) messages (next-token prediction, \(pretrainSettings.epochs) epochs; \(scratch.pretrainText == .training ? "the training messages" : "the training messages and the ham balancing set aside"), no validation or test message)")
        } else {
            log("adapting the last \(setup.scope.blocks) block(s) and the final LayerNorm to the site's mail: next-token prediction on \(corpus.count) unlabelled messages, \(pretrainSettings.epochs) epoch(s), the embeddings and the frozen blocks as they are")
        }
        let records = try pretrainer.run { progress in
            guard Date().timeIntervalSince(self.lastLine) >= 2 else { return }
            self.lastLine = Date()
            self.log(String(format: "pretraining epoch %d/%d step %d/%d loss %.4f, %.1f messages/s, %@ left",
                            progress.epoch, progress.epochs, progress.step, progress.stepsPerEpoch, progress.loss,
                            progress.examplesPerSecond, formatDuration(progress.secondsLeft)))
        }
        for record in records {
            log(String(format: "pretraining epoch %d: next-token loss %.4f (%d tokens, %.1f s)", record.epoch, record.loss, record.tokens, record.seconds))
        }
        return records
    }

    /// The fine-tune: one on the training examples, or for the scratch model a soup
    /// fitted across folds (`crossFittedSoup`), which also gives the out-of-fold scores.
    func fineTune(_ encoded: EncodedSplit) throws -> (history: TrainingHistory, outOfFold: Evaluation?) {
        fineTuneStart = Array(UnsafeBufferPointer(start: classifier.parameters.pointer, count: classifier.parameters.count))
        var history: TrainingHistory
        var outOfFold: Evaluation?
        if soupSize > 1 {
            (history, outOfFold) = try crossFittedSoup(encoded.train + encoded.validation)
            history.soupSize = soupSize
        } else {
            history = try tuner.run(progress: progressLine)
        }
        for epoch in history.epochs {
            log(String(format: "epoch %d: training accuracy %.2f%% (on %d batches), validation accuracy %.2f%% (the whole %@)", epoch.epoch,
                       epoch.trainAccuracy * 100, setup.hyperparameters.evaluationBatches, epoch.validationAccuracy * 100,
                       soupSize > 1 ? "fold held out of this fine-tune" : "split"))
        }
        return (history, outOfFold)
    }

    /// A soup whose fine-tunes each leave out one fold of the training and validation
    /// examples and score it. Every one of those examples is then scored once by a model
    /// that did not learn it: several times more held-out ham to choose the threshold on
    /// than the validation split alone has, so a target false-positive rate can be met
    /// instead of landing above every validation ham. The fine-tunes start from the same
    /// point and share three quarters of their examples, so they stay in one basin and
    /// their average is a model, which has learnt from all of them; the test split,
    /// never in a fold, measures that average at the threshold the folds chose.
    private func crossFittedSoup(_ pool: [EncodedExample]) throws -> (TrainingHistory, Evaluation) {
        let folds = Self.folds(labels: pool.map(\.label), count: soupSize, seed: settings.seed)
        var scores = [Evaluation.Scored?](repeating: nil, count: pool.count)
        var firstHistory = TrainingHistory()
        try averagedFineTunes(soupSize) { member, memberSettings in
            let heldOut = Set(folds[member])
            let train = pool.indices.filter { !heldOut.contains($0) }.map { pool[$0] }
            log("soup: fine-tune \(member + 1) of \(soupSize) on \(train.count) examples, scoring the \(heldOut.count) held out of it")
            return FineTuner(classifier: classifier, train: train, validation: folds[member].map { pool[$0] }, settings: memberSettings)
        } finished: { member, memberTuner, history in
            if member == 0 { firstHistory = history }
            for (scored, index) in zip(memberTuner.evaluateValidation().scored, folds[member]) { scores[index] = scored }
        }
        log("weights averaged over \(soupSize) fine-tunes from the same start (a soup); each of the \(pool.count) training and validation examples scored by the fine-tune that left it out")
        return (firstHistory, Evaluation(scores.map { $0! }))
    }

    /// `count` disjoint folds covering every index, each with its share of ham and of
    /// spam (a fold without ham could not measure a false-positive rate), in a shuffled
    /// order fixed by `seed`.
    static func folds(labels: [Label], count: Int, seed: UInt64) -> [[Int]] {
        var random = SplitMix64(seed: seed)
        var folds = [[Int]](repeating: [], count: count)
        for label in [Label.ham, .spam] {
            var indices = labels.indices.filter { labels[$0] == label }
            indices.shuffle(using: &random)
            // Each label continues where the other left off, so no fold is always the smallest.
            let offset = label == .ham ? 0 : folds.map(\.count).enumerated().min { $0.element < $1.element }!.offset
            for (position, index) in indices.enumerated() { folds[(offset + position) % count].append(index) }
        }
        return folds.map { $0.sorted() }
    }

    /// The examples held out to choose the threshold and to measure the recipe are
    /// labelled mail the served model should learn from too, as a Bayesian filter learns
    /// from every message: the same fine-tune again, from the same start, on all of them.
    func finalFit(_ encoded: EncodedSplit) throws {
        let everything = encoded.train + encoded.validation + encoded.test
        log("final fit: the same fine-tune on all \(everything.count) examples (train, validation and test), served at the threshold chosen above; the figures above measure this recipe on examples it had not seen")
        try averagedFineTunes(soupSize) { member, memberSettings in
            if soupSize > 1 { log("final fit: fine-tune \(member + 1) of \(soupSize), from the same start in another order") }
            return FineTuner(classifier: classifier, train: everything, validation: encoded.validation, settings: memberSettings)
        }
    }

    /// `members` fine-tunes, each from `fineTuneStart` with its own seed, their weights
    /// averaged into the classifier; `finished` sees each before the next one starts.
    private func averagedFineTunes(
        _ members: Int, _ makeTuner: (_ member: Int, _ settings: FineTuneSettings) -> FineTuner,
        finished: (_ member: Int, _ tuner: FineTuner, _ history: TrainingHistory) -> Void = { _, _, _ in }
    ) throws {
        let count = classifier.parameters.count
        var sum = [Float](repeating: 0, count: count)
        for member in 0..<members {
            classifier.parameters.pointer.update(from: fineTuneStart, count: count)
            var memberSettings = settings
            memberSettings.seed = settings.seed &+ UInt64(member)
            let tuner = makeTuner(member, memberSettings)
            let history = try tuner.run(progress: member == 0 ? progressLine : { _ in })
            finished(member, tuner, history)
            for i in 0..<count { sum[i] += classifier.parameters.pointer[i] }
        }
        for i in 0..<count { classifier.parameters.pointer[i] = sum[i] / Float(members) }
    }

    private func progressLine(_ progress: TrainingProgress) {
        guard Date().timeIntervalSince(lastLine) >= 2 || (progress.epoch == progress.epochs && progress.step == progress.stepsPerEpoch) else { return }
        lastLine = Date()
        log(String(format: "epoch %d/%d step %d/%d loss %.4f, %.1f examples/s, %@ left",
                   progress.epoch, progress.epochs, progress.step, progress.stepsPerEpoch, progress.loss,
                   progress.examplesPerSecond, formatDuration(progress.secondsLeft)))
    }
}

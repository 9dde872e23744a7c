import Foundation
import SpamtuneClassifier
import SpamtuneConfiguration
import SpamtuneSupport
import Synchronization

/// The one model in the daemon and the queue in front of it.
///
/// Every way in calls `score(_:)` from its own connection thread, through `Policy`, with
/// the message it parsed (`IncomingMessage`). The model's text is taken and tokenized there (in parallel across connections); the token
/// ids then wait in a bounded queue for the single scoring thread, which runs them
/// in batches so the matrix kernels work on many rows at once. Identical texts hit a
/// bounded cache. A full queue makes callers wait (back-pressure); a message that
/// waits past its deadline gets the configured failure verdict. `reload` loads a new
/// checkpoint beside the old one and swaps it in between batches: no request is
/// dropped, and a checkpoint that fails to load leaves the old model serving.
// @unchecked Sendable: the model, the queue and `stopping` are only touched under `lock`; reloads are serialised by `reloadLock`.
public final class ScoringService: @unchecked Sendable {
    struct Settings: Sendable {
        var queueLimit = 256
        /// Queue places only the milter may take: mail keeps flowing through Postfix
        /// while spamc clients fill the rest.
        var milterReserve = 64
        var batchMaxMessages = 16
        var batchMaxTokens = 4096
        var deadline = 30.0
        var failureAction = DaemonConfiguration.FailureAction.accept
        var cacheEntries = 10_000
        /// Overrides the checkpoint's threshold when set.
        var spamThreshold: Double?

        init() {}

        init(_ configuration: DaemonConfiguration) {
            queueLimit = configuration.queueLimit
            // Without a milter there is nobody to reserve for.
            milterReserve = configuration.servesMilter ? configuration.milterQueueReserve : 0
            batchMaxMessages = configuration.batchMaxMessages
            batchMaxTokens = configuration.batchMaxTokens
            deadline = configuration.messageDeadline
            failureAction = configuration.failureAction
            cacheEntries = configuration.cacheEntries
            spamThreshold = configuration.spamThreshold
        }
    }

    /// The loaded model and what identifies it.
    public final class LoadedModel: Sendable {
        let classifier: SpamClassifier
        public let version: String
        let loadedAt: Date
        init(classifier: SpamClassifier, version: String) {
            self.classifier = classifier
            self.version = version
            loadedAt = Date()
        }
    }

    let settings: Settings
    let statistics = ServiceStatistics()
    private let log: Logger
    private let loader: () throws -> LoadedModel
    private let lock = NSCondition()
    private var model: LoadedModel
    private var queue: [Request] = []
    private var stopping = false
    private var scorer: Thread?
    private let cache: VerdictCache
    private let reloadLock = NSLock()

    /// `loader` loads the current checkpoint; it is called now and on every reload.
    init(settings: Settings, log: Logger, loader: @escaping () throws -> LoadedModel) throws {
        self.settings = settings
        self.log = log
        self.loader = loader
        model = try loader()
        cache = VerdictCache(capacity: settings.cacheEntries)
        let thread = Thread { [unowned self] in self.scoringLoop() }
        thread.name = "spamtune-scorer"
        thread.stackSize = 4 << 20
        scorer = thread
        thread.start()
    }

    public var currentModel: LoadedModel {
        lock.lock()
        defer { lock.unlock() }
        return model
    }

    var queueDepth: Int {
        lock.lock()
        defer { lock.unlock() }
        return queue.count
    }

    /// Scores a message's `scoredPart`. Blocks until the verdict or the deadline. The
    /// ways in reach it through `Policy`, which decides first.
    func score(_ message: IncomingMessage) -> Verdict {
        let started = DispatchTime.now()
        let deadline = started + settings.deadline
        let model = currentModel
        let channel = message.envelope.channel
        let verdict = scoreInput(
            model.classifier.input(forMail: message.scoredPart), channel: channel, model: model, deadline: deadline, started: started)
        statistics.record(verdict, channel: channel)
        return verdict
    }

    /// Scores plain text: no way in sends any, only the tests.
    func score(text: String, channel: Channel) -> Verdict {
        let started = DispatchTime.now()
        let model = currentModel
        let verdict = scoreInput(
            model.classifier.input(for: text), channel: channel, model: model, deadline: started + settings.deadline, started: started)
        statistics.record(verdict, channel: channel)
        return verdict
    }

    /// The verdict of a policy rule, on the scale of the model serving now: P(spam) 1
    /// for the deny list, 0 for the others.
    func verdict(by match: Policy.Match, channel: Channel) -> Verdict {
        let model = currentModel
        let verdict = Verdict(
            outcome: .policy(rule: match.rule, entry: match.entry),
            decision: Decision(spamProbability: match.rule.isSpam ? 1 : 0, threshold: threshold(model)), tokens: 0,
            modelVersion: model.version, milliseconds: 0)
        statistics.record(verdict, channel: channel)
        return verdict
    }

    private func threshold(_ model: LoadedModel) -> Double { settings.spamThreshold ?? model.classifier.threshold }

    private func scoreInput(
        _ input: ModelInput, channel: Channel, model: LoadedModel, deadline: DispatchTime, started: DispatchTime
    ) -> Verdict {
        let tokens = input.ids.count
        let key = VerdictCache.Key(version: model.version, input: input)
        if let probability = cache.lookup(key) {
            return makeVerdict(.cached, probability: probability, tokens: tokens, model: model, started: started)
        }
        let request = Request(input: input, model: model, isMail: channel == .milter)
        let limit = request.isMail ? settings.queueLimit : max(1, settings.queueLimit - settings.milterReserve)
        lock.lock()
        while queue.count >= limit && !stopping {
            if !lock.wait(until: Date(timeIntervalSinceNow: seconds(until: deadline))) { break }
        }
        guard queue.count < limit, !stopping else {
            lock.unlock()
            return failure(stopping ? "shutting down" : "queue full past the deadline", tokens: tokens, model: model, started: started)
        }
        queue.append(request)
        lock.signal()
        lock.unlock()
        statistics.noteQueueDepth(queueDepth)

        if request.done.wait(timeout: deadline) == .timedOut {
            request.abandon()
            return failure("not scored within \(settings.deadline)s", tokens: tokens, model: model, started: started)
        }
        // `done` is signalled only by `finish(probability:)`.
        guard let probability = request.probability else {
            return failure("scoring failed", tokens: tokens, model: model, started: started)
        }
        cache.store(key, probability)
        return makeVerdict(.scored, probability: probability, tokens: tokens, model: model, started: started)
    }

    private func makeVerdict(_ outcome: Verdict.Outcome, probability: Double, tokens: Int, model: LoadedModel, started: DispatchTime) -> Verdict {
        Verdict(
            outcome: outcome, decision: Decision(spamProbability: probability, threshold: threshold(model)),
            tokens: tokens, modelVersion: model.version, milliseconds: milliseconds(since: started))
    }

    private func failure(_ reason: String, tokens: Int, model: LoadedModel, started: DispatchTime) -> Verdict {
        let outcome: Verdict.Outcome =
            settings.failureAction == .accept ? .failedOpen(reason: reason) : .temporaryFailure(reason: reason)
        return Verdict(
            outcome: outcome, decision: Decision(spamProbability: 0, threshold: threshold(model)), tokens: tokens,
            modelVersion: model.version, milliseconds: milliseconds(since: started))
    }

    // MARK: The scoring thread

    private func scoringLoop() {
        while true {
            lock.lock()
            while queue.isEmpty && !stopping { lock.wait() }
            if queue.isEmpty && stopping {
                lock.unlock()
                return
            }
            // One batch: same model, within the message and token limits; the milter's
            // messages first (an SMTP session is waiting on each).
            let order = queue.indices.filter { queue[$0].isMail } + queue.indices.filter { !queue[$0].isMail }
            let first = queue[order[0]].model
            var batch: [Request] = []
            var taken: [Int] = []
            var tokens = 0
            for index in order where batch.count < settings.batchMaxMessages {
                let candidate = queue[index]
                if candidate.model !== first || (!batch.isEmpty && tokens + candidate.input.ids.count > settings.batchMaxTokens) {
                    continue
                }
                batch.append(candidate)
                taken.append(index)
                tokens += candidate.input.ids.count
            }
            for index in taken.sorted(by: >) { queue.remove(at: index) }
            lock.broadcast()  // room in the queue
            lock.unlock()

            let live = batch.filter { !$0.isAbandoned }
            guard !live.isEmpty else { continue }
            let started = DispatchTime.now()
            let verdicts = first.classifier.classify(live.map(\.input))
            statistics.recordBatch(size: live.count, tokens: tokens, milliseconds: milliseconds(since: started))
            for (request, verdict) in zip(live, verdicts) {
                request.finish(probability: verdict.spamProbability)
            }
        }
    }

    // MARK: Reload and shutdown

    /// Loads the checkpoint again (a new `current` version, say) and swaps it in. On
    /// failure the old model keeps serving and the error is returned.
    @discardableResult
    func reload() -> Result<LoadedModel, Error> {
        reloadLock.lock()
        defer { reloadLock.unlock() }
        do {
            let fresh = try loader()
            lock.lock()
            let old = model
            model = fresh
            lock.unlock()
            log.info("reloaded model \(fresh.version) (was \(old.version)) from \(fresh.classifier.origin)")
            statistics.noteReload(succeeded: true)
            return .success(fresh)
        } catch {
            log.error("reload refused, still serving \(currentModel.version): \(error)")
            statistics.noteReload(succeeded: false)
            return .failure(error)
        }
    }

    /// Scores what is queued, then stops the scoring thread. Later requests fail as configured.
    func drainAndStop() {
        lock.lock()
        stopping = true
        lock.broadcast()
        lock.unlock()
        while let thread = scorer, !thread.isFinished { usleep(1000) }
    }

    private func seconds(until deadline: DispatchTime) -> Double {
        let now = DispatchTime.now().uptimeNanoseconds
        return deadline.uptimeNanoseconds > now ? Double(deadline.uptimeNanoseconds - now) / 1e9 : 0
    }
}

func milliseconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}

/// One message waiting for the scoring thread.
// @unchecked Sendable: `abandoned` is guarded by `lock`; `probability` is written by the scoring thread before `done` is signalled and read only after it.
private final class Request: @unchecked Sendable {
    let input: ModelInput
    let model: ScoringService.LoadedModel
    /// From the milter: served first, and may use the reserved places.
    let isMail: Bool
    let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var abandoned = false
    private(set) var probability: Double?

    init(input: ModelInput, model: ScoringService.LoadedModel, isMail: Bool) {
        self.input = input
        self.model = model
        self.isMail = isMail
    }

    var isAbandoned: Bool {
        lock.lock()
        defer { lock.unlock() }
        return abandoned
    }

    func abandon() {
        lock.lock()
        abandoned = true
        lock.unlock()
    }

    func finish(probability: Double) {
        self.probability = probability
        done.signal()
    }
}

/// Verdicts by model version and token ids, bounded: the oldest entry goes first.
final class VerdictCache: Sendable {
    struct Key: Hashable {
        let version: String
        let input: ModelInput
    }

    private struct Entries {
        var values: [Key: Double] = [:]
        var order: [Key] = []
        var head = 0
    }

    private let capacity: Int
    private let entries = Mutex(Entries())

    init(capacity: Int) {
        self.capacity = capacity
    }

    func lookup(_ key: Key) -> Double? {
        guard capacity > 0 else { return nil }
        return entries.withLock { $0.values[key] }
    }

    func store(_ key: Key, _ probability: Double) {
        guard capacity > 0 else { return }
        entries.withLock { entries in
            if entries.values.updateValue(probability, forKey: key) != nil { return }
            if entries.order.count < capacity {
                entries.order.append(key)
            } else {
                entries.values.removeValue(forKey: entries.order[entries.head])
                entries.order[entries.head] = key
                entries.head = (entries.head + 1) % capacity
            }
        }
    }
}

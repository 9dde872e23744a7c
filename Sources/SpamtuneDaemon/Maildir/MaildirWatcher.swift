import Foundation
import SpamtuneConfiguration

#if canImport(Glibc)
import Glibc
#endif

/// The Maildir way in: watches each configured Maildir with inotify, scores what arrives
/// in `new/` (and what is there at start), adds the headers, moves spam to the Junk
/// folder, and records the user's moves into and out of Junk as feedback.
///
/// One thread reads inotify events and queues work; a few workers do it (several, so
/// the scoring service can batch their messages). Messages are never held in memory
/// between threads: a job is a file name, and the file on disk is the truth.
// @unchecked Sendable: `stopping` and `retries` are guarded by `stateLock`; the watch tables are owned by the watcher thread.
final class MaildirWatcher: WayIn, @unchecked Sendable {
    let name: String

    /// Time between attempts at a message the scoring service gave no verdict for.
    static let retryDelay = 30.0
    /// Longest wait between attempts at a message that keeps failing with an error.
    static let longestErrorDelay = 3600.0
    /// How often the watcher looks for Maildirs (or Junk folders) that appeared or
    /// vanished, and for retries that are due.
    static let tick = 0.5

    private let deliveries: [MaildirDelivery]
    private let log: Logger
    private let inotify: MaildirInotify
    private let queue = MaildirJobQueue()
    private let workerCount: Int
    private var watcherThread: Thread?
    private let watcherDone = DispatchSemaphore(value: 0)
    private let workersDone = DispatchGroup()
    private let stateLock = NSLock()
    private var stopping = false
    private var retries: [MaildirJob: (due: DispatchTime, attempts: Int)] = [:]

    // Owned by the watcher thread.
    private var watches: [Int32: MaildirWatchedDirectory] = [:]
    private var established: [Bool]
    /// Recovery runs once per Maildir and process: it is about what an earlier process
    /// left in tmp/, and run again it would take the files of deliveries under way.
    private var recovered: [Bool]
    private var reportedMissing: [Bool]
    private var movedFrom = MaildirMoveCookies()

    /// The way-in factory: nil when no Maildir is configured.
    static func make(_ context: DaemonContext) throws -> WayIn? {
        let configuration = context.configuration
        guard !configuration.maildirs.isEmpty else { return nil }
        let feedback = try FeedbackStore(
            configuration: configuration, verdictHeaders: context.verdictHeaders, log: context.log, statistics: context.service.statistics)
        let watcher = try MaildirWatcher(
            configuration: configuration, verdictHeaders: context.verdictHeaders, policy: context.policy, feedback: feedback, log: context.log)
        watcher.start()
        return watcher
    }

    /// Reads the Maildir secret (creating it), checks nothing else yet: Maildirs that do
    /// not exist are waited for. Call `start()` to begin.
    init(
        configuration: DaemonConfiguration, verdictHeaders: VerdictHeaders, policy: Policy, feedback: FeedbackStore, log: Logger, workers: Int? = nil
    ) throws {
        self.log = log
        let signer = try MaildirMarkSigner.loadOrCreate(stateDirectory: configuration.stateDirectory)
        let ownWrites = MaildirOwnWrites()
        let settings = MaildirDelivery.Settings(configuration, headers: verdictHeaders)
        var seen = Set<String>()
        deliveries = configuration.maildirs.map { MaildirMailbox(root: $0, junkFolder: configuration.junkFolder) }
            .filter { seen.insert($0.root).inserted }
            .map { MaildirDelivery(mailbox: $0, settings: settings, policy: policy, signer: signer, ownWrites: ownWrites, feedback: feedback, log: log) }
        established = Array(repeating: false, count: deliveries.count)
        recovered = Array(repeating: false, count: deliveries.count)
        reportedMissing = Array(repeating: false, count: deliveries.count)
        inotify = try MaildirInotify()
        name = "maildir " + deliveries.map(\.mailbox.root).joined(separator: ", ")
        workerCount = workers ?? max(2, min(configuration.batchMaxMessages, 8))
    }

    /// Starts the watcher thread (which recovers and scans each Maildir) and the workers.
    func start() {
        for index in 0..<workerCount {
            workersDone.enter()
            let worker = Thread { [self] in
                defer { workersDone.leave() }
                while let job = queue.next() {
                    perform(job)
                    queue.finished(job)
                }
            }
            worker.name = "spamtune-maildir-\(index)"
            worker.start()
        }
        let thread = Thread { [self] in
            defer { watcherDone.signal() }
            watchLoop()
        }
        thread.name = "spamtune-maildir-watch"
        watcherThread = thread
        thread.start()
    }

    /// Graceful: the messages being scored are finished and the feedback already
    /// noticed is recorded; messages still waiting stay in new/ for the next start.
    func stop(graceful: Bool) {
        stateLock.lock()
        let alreadyStopping = stopping
        stopping = true
        stateLock.unlock()
        guard !alreadyStopping else { return }
        queue.stop(keepingFeedback: graceful)
        if watcherThread != nil { watcherDone.wait() }
        if graceful { workersDone.wait() }
    }

    private var isStopping: Bool {
        stateLock.lock()
        defer { stateLock.unlock() }
        return stopping
    }

    // MARK: The watcher thread

    private func watchLoop() {
        while !isStopping {
            for index in deliveries.indices where !established[index] { establish(index) }
            for event in inotify.events(timeout: Self.tick) { handle(event) }
            queueDueRetries()
        }
        for watch in watches.keys { inotify.removeWatch(watch) }
    }

    /// Watches a Maildir, finishes what a killed run left half done, and queues what is
    /// waiting in new/. Watches come first, so nothing arriving meanwhile is missed.
    private func establish(_ index: Int) {
        let delivery = deliveries[index]
        let mailbox = delivery.mailbox
        guard mailbox.inboxExists else {
            if !reportedMissing[index] {
                log.warning("maildir \(mailbox.root): no new/, cur/ and tmp/ there yet; waiting for the Maildir to be created")
                reportedMissing[index] = true
            }
            return
        }
        do {
            try mailbox.createJunkFolder()
            let mask = MaildirInotify.movedTo | MaildirInotify.movedFrom | MaildirInotify.closeWrite | MaildirInotify.create | MaildirInotify.selfGone
            for folder in [MaildirMailbox.Folder.inbox, .junk] {
                for subdirectory in [MaildirMailbox.Subdirectory.new, .cur] {
                    let watch = try inotify.watch(mailbox.path(folder, subdirectory), mask: mask)
                    watches[watch] = MaildirWatchedDirectory(mailbox: index, folder: folder, subdirectory: subdirectory)
                }
            }
            if !recovered[index] {
                let recovery = try delivery.recover()
                recovered[index] = true
                if recovery != MaildirDelivery.Recovery() {
                    log.info("maildir \(mailbox.root): recovered after an interruption: \(recovery.delivered) deliveries finished, \(recovery.alreadyDelivered) already delivered, \(recovery.discardedCopies) unfinished copies removed")
                }
            }
            let waiting = try queueAll(index)
            established[index] = true
            reportedMissing[index] = false
            log.info("maildir \(mailbox.root): watching; \(waiting) messages in new/ to check; spam goes to \(mailbox.folderPath(.junk))")
        } catch {
            log.error("maildir \(mailbox.root): \(error); trying again shortly")
            unwatch(index)
        }
    }

    private func unwatch(_ index: Int) {
        for (watch, directory) in watches where directory.mailbox == index {
            inotify.removeWatch(watch)
            watches[watch] = nil
        }
        established[index] = false
    }

    @discardableResult
    private func queueAll(_ index: Int) throws -> Int {
        let names = try MaildirFileSystem.names(in: deliveries[index].mailbox.path(.inbox, .new)).sorted()
        for name in names where !name.hasPrefix(".") {
            queue.add(MaildirJob(mailbox: index, folder: .inbox, subdirectory: .new, name: name))
        }
        return names.count
    }

    private func handle(_ event: MaildirInotify.Event) {
        if event.has(MaildirInotify.overflow) {
            log.warning("maildir: inotify queue overflowed; rescanning every new/ (Junk moves made meanwhile are not counted as feedback)")
            for index in deliveries.indices where established[index] { _ = try? queueAll(index) }
            return
        }
        guard let directory = watches[event.watch] else { return }
        if event.has(MaildirInotify.ignored) || event.has(MaildirInotify.selfGone) {
            // A watched directory was deleted or moved (a Junk folder removed in the mail
            // client, say): watch the Maildir afresh once it is whole again.
            log.info("maildir \(deliveries[directory.mailbox].mailbox.path(directory.folder, directory.subdirectory)) went away; watching the Maildir again")
            unwatch(directory.mailbox)
            return
        }
        guard !event.has(MaildirInotify.isDirectory), !event.name.isEmpty, !event.name.hasPrefix(".") else { return }
        if event.has(MaildirInotify.movedFrom) {
            movedFrom.remember(event.cookie, directory.mailbox, directory.folder)
            return
        }
        let path = deliveries[directory.mailbox].mailbox.path(directory.folder, directory.subdirectory, event.name)
        if event.has(MaildirInotify.create) {
            // Created here: being written (IN_CLOSE_WRITE follows) unless it is a hard
            // link of a finished file (qmail-style delivery, an IMAP server's copy).
            guard let info = MaildirFileSystem.status(path), info.st_nlink > 1 else { return }
        }
        if event.has(MaildirInotify.movedTo), let origin = movedFrom.take(event.cookie), origin == (directory.mailbox, directory.folder) {
            return  // within one folder (new/ to cur/, a flag change): nothing arrived
        }
        queue.add(MaildirJob(mailbox: directory.mailbox, folder: directory.folder, subdirectory: directory.subdirectory, name: event.name))
    }

    // MARK: Retries

    private func retry(_ job: MaildirJob, afterError: Bool) {
        stateLock.lock()
        defer { stateLock.unlock() }
        guard !stopping else { return }
        let attempts = (retries[job]?.attempts ?? 0) + 1
        let delay = afterError ? min(Self.longestErrorDelay, Self.retryDelay * pow(2, Double(attempts - 1))) : Self.retryDelay
        retries[job] = (.now() + delay, attempts)
    }

    private func queueDueRetries() {
        stateLock.lock()
        let now = DispatchTime.now()
        let due = retries.filter { $0.value.due <= now }.map(\.key)
        stateLock.unlock()
        for job in due where queue.add(job) {
            // Attempts are kept until the job succeeds, so errors back off.
            stateLock.lock()
            retries[job]?.due = .distantFuture
            stateLock.unlock()
        }
    }

    private func succeeded(_ job: MaildirJob) {
        stateLock.lock()
        retries[job] = nil
        stateLock.unlock()
    }

    // MARK: The workers

    private func perform(_ job: MaildirJob) {
        let delivery = deliveries[job.mailbox]
        do {
            if job.folder == .inbox && job.subdirectory == .new {
                switch try delivery.scan(job.name) {
                case let .notScored(reason):
                    if !isStopping {
                        log.warning("maildir \(delivery.mailbox.path(.inbox, .new, job.name)): not scored (\(reason)); trying again in \(Int(Self.retryDelay))s")
                    }
                    retry(job, afterError: false)
                    return
                case .taken:
                    log.debug("maildir \(delivery.mailbox.path(.inbox, .new, job.name)): a mail client took it before spamtuned was done; left as the client has it")
                case .ham, .spam, .alreadyScanned, .movedOutOfJunk, .gone, .ignored:
                    break
                }
            } else {
                try delivery.checkFeedback(folder: job.folder, subdirectory: job.subdirectory, name: job.name)
            }
            succeeded(job)
        } catch {
            log.error("maildir: \(error)")
            retry(job, afterError: true)
        }
    }
}

/// A watched directory: which Maildir, which folder, new/ or cur/.
struct MaildirWatchedDirectory: Hashable {
    let mailbox: Int
    let folder: MaildirMailbox.Folder
    let subdirectory: MaildirMailbox.Subdirectory
}

/// Something to do about one file: score `new/<name>` of the inbox, or look at an
/// arrival elsewhere for feedback.
struct MaildirJob: Hashable {
    let mailbox: Int
    let folder: MaildirMailbox.Folder
    let subdirectory: MaildirMailbox.Subdirectory
    let name: String

    var isScan: Bool { folder == .inbox && subdirectory == .new }
}

/// The IN_MOVED_FROM cookies seen lately, to tell a move within a folder (a mail client
/// marking a message read moves it from new/ to cur/) from an arrival. Bounded.
struct MaildirMoveCookies {
    private var folders: [UInt32: (Int, MaildirMailbox.Folder)] = [:]
    private var order: [UInt32] = []

    mutating func remember(_ cookie: UInt32, _ mailbox: Int, _ folder: MaildirMailbox.Folder) {
        if folders.updateValue((mailbox, folder), forKey: cookie) == nil { order.append(cookie) }
        if order.count > 4096 {
            for old in order.prefix(1024) { folders[old] = nil }
            order.removeFirst(1024)
        }
    }

    mutating func take(_ cookie: UInt32) -> (Int, MaildirMailbox.Folder)? {
        folders.removeValue(forKey: cookie)
    }
}

/// The jobs waiting and running. A job already waiting or running is not added twice
/// (the events of one delivery, or of spamtuned's own renames, collapse into one).
// @unchecked Sendable: all of its state is guarded by `condition`.
final class MaildirJobQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var waiting: [MaildirJob] = []
    private var head = 0
    private var present = Set<MaildirJob>()
    private var stopping = false

    /// False when the job is already waiting or running, or the queue is stopping.
    @discardableResult
    func add(_ job: MaildirJob) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping, present.insert(job).inserted else { return false }
        waiting.append(job)
        condition.signal()
        return true
    }

    /// The next job; nil once stopping and nothing is left to do.
    func next() -> MaildirJob? {
        condition.lock()
        defer { condition.unlock() }
        while head == waiting.count && !stopping { condition.wait() }
        guard head < waiting.count else { return nil }
        let job = waiting[head]
        head += 1
        if head > 1024 && head * 2 > waiting.count {
            waiting.removeFirst(head)
            head = 0
        }
        return job
    }

    func finished(_ job: MaildirJob) {
        condition.lock()
        present.remove(job)
        condition.unlock()
    }

    /// Drops waiting scans (they stay in new/ for the next start); keeps waiting
    /// feedback when asked to, which the workers then finish.
    func stop(keepingFeedback: Bool) {
        condition.lock()
        stopping = true
        let kept = keepingFeedback ? waiting[head...].filter { !$0.isScan } : []
        waiting = kept
        head = 0
        condition.broadcast()
        condition.unlock()
    }
}

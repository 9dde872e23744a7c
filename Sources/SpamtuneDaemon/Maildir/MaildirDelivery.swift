import Foundation
import SpamtuneClassifier
import SpamtuneConfiguration
import SpamtuneMail
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Scoring one Maildir's new messages exactly once, without a database, surviving a
/// kill at any instant. The Maildir itself is the state; spamtuned's files in `tmp/`
/// say how far an interrupted delivery got.
///
/// A message `new/N` is done when its first line is a valid scan mark
/// (`MaildirScanMark`). Otherwise it is scored and its scanned copy written whole and
/// synced as `tmp/N.spamtune-part`, then renamed `N.spamtune-ready` (in the inbox's
/// `tmp/` for ham, in the Junk folder's `tmp/` for spam). Then:
///
/// - Ham: the ready copy and `new/N` swap names in one renameat2(RENAME_EXCHANGE). The
///   scanned copy is now `new/N`; the original, now under the ready name, is removed.
///   If `new/N` is gone (a mail client moved it to `cur/`), the swap fails and nothing
///   changes: the client has the message.
/// - Spam: claim the original, `new/N` → `tmp/N.spamtune-original` (gone: a client took
///   it; drop the copy); commit, `.Junk/tmp/N.spamtune-ready` → `.Junk/new/N'` without
///   replacing anything; sync `.Junk/new`; remove the claimed original.
///   Ham goes this way too, into `new/N'`, on a file system that cannot swap names, or
///   when the name changes: N' is N with its `,S=` and `,W=` sizes (Dovecot's) made
///   those of the copy. Recovery measures the ready copy to name it the same way.
///
/// Killed anywhere, the next start recovers before it scans (`recover()`):
///
/// | what is in tmp/                | meaning                              | recovery                    |
/// |--------------------------------|--------------------------------------|-----------------------------|
/// | `-part`                        | copy not finished; `new/N` untouched | remove; N is scanned again  |
/// | `-ready`, no `-original`       | not claimed, or the ham swap is done | remove; `new/N` is scanned again, or is marked and skipped |
/// | `-original` and `-ready`       | claimed, not committed               | commit the ready copy, remove the original |
/// | `-original` alone              | committed                            | remove the original         |
///
/// So each message is in exactly one place a mail client sees (new/, cur/ or the Junk
/// folder) except between claim and commit, when it is in tmp/ and recovery delivers it.
final class MaildirDelivery: Sendable {
    struct Settings: Sendable {
        var maxMessageBytes: Int
        var headers: VerdictHeaders

        init(_ configuration: DaemonConfiguration, headers: VerdictHeaders) {
            maxMessageBytes = configuration.maxMessageBytes
            self.headers = headers
        }
    }

    enum Outcome: Equatable {
        case ham
        case spam
        /// Its first line is a valid scan mark.
        case alreadyScanned
        /// A valid spam mark in the inbox: the user moved it out of Junk (ham feedback).
        case movedOutOfJunk
        /// Not there (or not a regular file) when spamtuned looked: moved on already.
        case gone
        /// A mail client moved it from new/ while spamtuned was scoring it or writing its
        /// copy; the client keeps it as it was.
        case taken
        /// The scoring service gave no verdict (deadline, shutdown): left untouched, to retry.
        case notScored(reason: String)
        /// Not a message spamtuned handles (a dot file, a name too long to extend).
        case ignored
    }

    static let partSuffix = ".spamtune-part"
    static let readySuffix = ".spamtune-ready"
    static let originalSuffix = ".spamtune-original"
    /// NAME_MAX, less the longest suffix.
    static let longestName = 255 - originalSuffix.utf8.count

    let mailbox: MaildirMailbox
    private let settings: Settings
    private let policy: Policy
    private let signer: MaildirMarkSigner
    private let rewrite: MaildirRewrite
    private let ownWrites: MaildirOwnWrites
    private let feedback: FeedbackStore
    private let log: Logger

    init(
        mailbox: MaildirMailbox, settings: Settings, policy: Policy, signer: MaildirMarkSigner,
        ownWrites: MaildirOwnWrites, feedback: FeedbackStore, log: Logger
    ) {
        self.mailbox = mailbox
        self.settings = settings
        self.policy = policy
        self.signer = signer
        rewrite = MaildirRewrite(signer: signer, headerNames: settings.headers.names)
        self.ownWrites = ownWrites
        self.feedback = feedback
        self.log = log
    }

    var feedbackSource: String { "maildir:\(mailbox.root)" }

    /// Who a Junk move in this Maildir comes from: its owner (the admin listed the
    /// Maildir, which makes its owner a reporter; the store's quota bounds them).
    var feedbackReporter: String {
        MaildirFileSystem.status(mailbox.root).map { PeerIdentity.reporter(uid: $0.st_uid) } ?? "unknown"
    }

    // MARK: Scanning

    /// Scores `new/<name>` and delivers it: headers added, spam to the Junk folder.
    func scan(_ name: String) throws -> Outcome {
        guard !name.hasPrefix("."), !name.isEmpty else { return .ignored }
        let path = mailbox.path(.inbox, .new, name)
        guard let original = try MaildirMessageFile(path: path) else { return .gone }
        if ownWrites.contains(path, inode: original.inode) { return .alreadyScanned }
        if let mark = signer.validMark(in: original.descriptor, size: original.size) {
            guard mark.verdict == .spam else { return .alreadyScanned }
            return try recordIfContradicting(original, movedInto: .inbox) == nil ? .alreadyScanned : .movedOutOfJunk
        }
        guard name.utf8.count <= Self.longestName else {
            log.warning("\(path): not scanned, the name is too long to stage under tmp/")
            return .ignored
        }
        var incoming = IncomingMessage(
            try original.prefix(settings.maxMessageBytes), receivedBytes: original.size, maxMessageBytes: settings.maxMessageBytes,
            envelope: MessageEnvelope(channel: .maildir, identifier: name))
        incoming.envelope.sender = incoming.headerSender
        incoming.envelope.recipients = [mailbox.root]
        let verdict = policy.verdict(on: incoming)
        guard verdict.isDecided else {
            log.message(incoming.envelope, verdict: verdict, action: .retry, bytes: incoming.scoredBytes)
            switch verdict.outcome {
            case let .failedOpen(reason), let .temporaryFailure(reason): return .notScored(reason: reason)
            case .scored, .cached, .policy: return .notScored(reason: "-")
            }
        }
        let outcome = try deliver(name, original: original, verdict: verdict)
        let action: MessageAction = outcome == .spam ? .junk : outcome == .ham ? .headers : .accept
        log.message(incoming.envelope, verdict: verdict, action: action, bytes: incoming.scoredBytes)
        return outcome
    }

    /// Writes the scanned copy of `new/<name>` and puts it where the verdict says.
    private func deliver(_ name: String, original: MaildirMessageFile, verdict: Verdict) throws -> Outcome {
        let path = mailbox.path(.inbox, .new, name)
        let mark = MaildirScanMark(verdict: verdict.decision.label, model: VerdictHeaders.token(verdict.modelVersion))
        let fields = headerFields(verdict)
        let folder: MaildirMailbox.Folder = verdict.isSpam ? .junk : .inbox
        if verdict.isSpam && !MaildirFileSystem.isDirectory(mailbox.path(.junk, .tmp)) { try mailbox.createJunkFolder() }
        let part = mailbox.path(folder, .tmp, name + Self.partSuffix)
        let ready = mailbox.path(folder, .tmp, name + Self.readySuffix)
        let copySize: MaildirMessageSize
        do {
            copySize = try rewrite.write(original, mark: mark, fields: fields, to: part)
            guard try MaildirFileSystem.rename(part, to: ready) else {
                throw MaildirError(part, "stage the scanned copy", code: ENOENT, detail: "it was removed from tmp/ while being written")
            }
        } catch {
            try? MaildirFileSystem.remove(part)
            throw error
        }
        guard let staged = MaildirFileSystem.status(ready) else {
            throw MaildirError(ready, "stage the scanned copy", code: ENOENT, detail: "it was removed from tmp/")
        }
        let inode = UInt64(staged.st_ino)

        // Dovecot names its deliveries with their size (`,S=`, `,W=`); the copy is larger.
        let deliveredName = copySize.applied(to: name)
        if !verdict.isSpam && deliveredName == name {
            ownWrites.insert(path, inode: inode)
            switch try MaildirFileSystem.exchange(ready, path) {
            case .exchanged:
                try MaildirFileSystem.syncDirectory(mailbox.path(.inbox, .new))
                try MaildirFileSystem.remove(ready)  // the original, now under the ready name
                return .ham
            case .secondMissing:
                try MaildirFileSystem.remove(ready)
                return .taken
            case .unsupported:
                break
            }
        }
        let committed = try claimAndCommit(name, ready: ready, inode: inode, into: folder, as: deliveredName)
        return committed ? (verdict.isSpam ? .spam : .ham) : .taken
    }

    /// Claims `new/<name>` into tmp/ and moves the ready copy into `folder`'s new/. False
    /// when a mail client took the original first (the copy is dropped).
    private func claimAndCommit(_ name: String, ready: String, inode: UInt64, into folder: MaildirMailbox.Folder, as deliveredName: String) throws -> Bool {
        let source = mailbox.path(.inbox, .new, name)
        let claimed = mailbox.path(.inbox, .tmp, name + Self.originalSuffix)
        guard try MaildirFileSystem.rename(source, to: claimed) else {
            try MaildirFileSystem.remove(ready)
            return false
        }
        do {
            try commit(ready, inode: inode, into: folder, name: deliveredName)
        } catch {
            // Put the original back, so the message stays where the client sees it.
            if (try? MaildirFileSystem.moveWithoutReplacing(claimed, to: source)) == .moved {
                try? MaildirFileSystem.remove(ready)
            }
            throw error
        }
        try MaildirFileSystem.remove(claimed)
        return true
    }

    /// Moves a ready copy into `folder`/new under `name`, or a fresh unique name when
    /// that is taken; never over another message. Synced before it returns.
    private func commit(_ ready: String, inode: UInt64, into folder: MaildirMailbox.Folder, name: String) throws {
        let directory = mailbox.path(folder, .new)
        var target = name
        for _ in 0..<8 {
            ownWrites.insert(directory + "/" + target, inode: inode)
            switch try MaildirFileSystem.moveWithoutReplacing(ready, to: directory + "/" + target) {
            case .moved:
                try MaildirFileSystem.syncDirectory(directory)
                if target != name { log.info("maildir \(directory)/\(name) was taken by another message; delivered as \(target)") }
                return
            case .destinationExists:
                target = MaildirFileSystem.uniqueName()
            case .sourceMissing:
                throw MaildirError(ready, "deliver the scanned copy", code: ENOENT, detail: "it was removed from tmp/")
            }
        }
        throw MaildirError(directory, "deliver \(name)", code: EEXIST)
    }

    // MARK: Recovery

    struct Recovery: Equatable {
        /// Claimed messages whose delivery was finished now.
        var delivered = 0
        /// Claimed messages already delivered; their originals removed.
        var alreadyDelivered = 0
        /// Unfinished or superseded copies removed.
        var discardedCopies = 0
    }

    /// Finishes what a killed spamtuned left half done (see the table above). Run before
    /// the first scan.
    func recover() throws -> Recovery {
        var recovery = Recovery()
        let inboxTmp = try MaildirFileSystem.names(in: mailbox.path(.inbox, .tmp))
        for claimedName in inboxTmp where claimedName.hasSuffix(Self.originalSuffix) {
            let name = String(claimedName.dropLast(Self.originalSuffix.count))
            let claimed = mailbox.path(.inbox, .tmp, claimedName)
            let candidates: [(MaildirMailbox.Folder, String)] = [
                (.inbox, mailbox.path(.inbox, .tmp, name + Self.readySuffix)),
                (.junk, mailbox.path(.junk, .tmp, name + Self.readySuffix)),
            ]
            if let (folder, ready) = candidates.first(where: { MaildirFileSystem.exists($0.1) }), let info = MaildirFileSystem.status(ready) {
                if info.st_nlink > 1 {
                    // A link + unlink move was cut between the two: already delivered.
                    try MaildirFileSystem.remove(ready)
                    recovery.alreadyDelivered += 1
                } else {
                    let deliveredName = try MaildirMessageSize.measure(ready).applied(to: name)
                    try commit(ready, inode: UInt64(info.st_ino), into: folder, name: deliveredName)
                    recovery.delivered += 1
                }
            } else {
                recovery.alreadyDelivered += 1
            }
            try MaildirFileSystem.remove(claimed)
        }
        var staging = inboxTmp.map { (MaildirMailbox.Folder.inbox, $0) }
        if MaildirFileSystem.isDirectory(mailbox.path(.junk, .tmp)) {
            staging += try MaildirFileSystem.names(in: mailbox.path(.junk, .tmp)).map { (.junk, $0) }
        }
        for (folder, name) in staging where name.hasSuffix(Self.partSuffix) || name.hasSuffix(Self.readySuffix) {
            if MaildirFileSystem.exists(mailbox.path(folder, .tmp, name)) {
                try MaildirFileSystem.remove(mailbox.path(folder, .tmp, name))
                recovery.discardedCopies += 1
            }
        }
        return recovery
    }

    // MARK: Feedback

    /// A message that arrived in a watched folder other than the inbox's new/, by the
    /// user's hand. Into Junk it says spam; into the inbox it says ham. It is feedback
    /// when it contradicts what the message counts as now: the user's earlier label in
    /// the feedback store, else spamtuned's verdict (a valid spam mark). So spamtuned's
    /// own deliveries to Junk are not feedback, an old unscanned message moved into Junk
    /// is, and a message moved out of Junk and back again is labelled both times.
    /// Returns the label recorded, if any.
    @discardableResult
    func checkFeedback(folder: MaildirMailbox.Folder, subdirectory: MaildirMailbox.Subdirectory, name: String) throws -> Label? {
        guard !name.hasPrefix("."), !name.isEmpty else { return nil }
        let path = mailbox.path(folder, subdirectory, name)
        guard let message = try MaildirMessageFile(path: path) else { return nil }
        if ownWrites.contains(path, inode: message.inode) { return nil }
        return try recordIfContradicting(message, movedInto: folder)
    }

    private func recordIfContradicting(_ message: MaildirMessageFile, movedInto folder: MaildirMailbox.Folder) throws -> Label? {
        // Only a line that claims a spam verdict needs its check computed.
        let claimsSpam = MaildirMarkSigner.parseFirstLine(message.descriptor, size: message.size)?.0.verdict == .spam
        let isOurSpam = claimsSpam && signer.validMark(in: message.descriptor, size: message.size)?.verdict == .spam
        // spamtuned's lines come off first; the margin lets a message just over the store's
        // limit with them be kept without them.
        let bytes = message.size <= feedback.maxMessageBytes + 4096 ? rewrite.unscanned(try message.contents()) : nil
        guard let bytes, bytes.count <= feedback.maxMessageBytes, !bytes.isEmpty else {
            log.info("maildir feedback: \(message.path) not considered: \(message.size) bytes, the feedback store keeps 1 to \(feedback.maxMessageBytes)")
            return nil
        }
        let parsed = MailMessage(bytes: bytes)
        let current = try feedback.entry(for: parsed)?.label ?? (isOurSpam ? .spam : nil)
        let label: Label = folder == .junk ? .spam : .ham
        guard folder == .junk ? current != .spam : current == .spam else { return nil }
        let reporter = feedbackReporter
        let change = try feedback.record(parsed, label: label, source: feedbackSource, reporter: reporter)
        log.info("maildir feedback: \(message.path) is \(label.name) by the user's move (\(change)) reporter=\(reporter)")
        return label
    }

    // MARK: Header fields

    /// The same fields and values as the milter and the spamd socket add.
    func headerFields(_ verdict: Verdict) -> [(name: String, value: String)] { settings.headers.fields(for: verdict) }

}

/// The files spamtuned itself just put into watched directories, by path and inode, so
/// the inotify events its own renames cause are recognised without reading the file.
/// Bounded: only the last few thousand are kept (an older event just costs a read).
final class MaildirOwnWrites: Sendable {
    private struct Entry: Hashable {
        let path: String
        let inode: UInt64
    }

    private struct Recent {
        var entries = Set<Entry>()
        var order: [Entry] = []
        var next = 0
    }

    private let recent = Mutex(Recent())
    private let capacity: Int

    init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    func insert(_ path: String, inode: UInt64) {
        let entry = Entry(path: path, inode: inode)
        recent.withLock { recent in
            guard recent.entries.insert(entry).inserted else { return }
            if recent.order.count < capacity {
                recent.order.append(entry)
            } else {
                recent.entries.remove(recent.order[recent.next])
                recent.order[recent.next] = entry
                recent.next = (recent.next + 1) % capacity
            }
        }
    }

    func contains(_ path: String, inode: UInt64) -> Bool {
        recent.withLock { $0.entries.contains(Entry(path: path, inode: inode)) }
    }
}

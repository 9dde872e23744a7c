import Foundation
import Synchronization
import SpamtuneClassifier
import SpamtuneConfiguration
import SpamtuneControl
import SpamtuneMail
import SpamtuneSupport

#if canImport(Glibc)
import Glibc
#endif

/// One message in the feedback store.
struct FeedbackEntry: Sendable, Equatable {
    /// The message file, in the label's Maildir.
    let url: URL
    let label: Label
    /// When it was last labelled.
    let date: Date
    /// SHA-256 of the message bytes (hex): the entry's identity.
    let digest: String
    /// Which way the label came (`spamd-tell`, `maildir-junk`, ...).
    let source: String
    /// Who sent it (`user-alice`, `uid-1001`, `ip-192.0.2.7`); `unknown` for entries
    /// stored before reporters were recorded.
    let reporter: String
    /// The message file's size.
    let bytes: Int
}

/// How much the feedback store keeps. When a new entry goes past a bound, the oldest
/// entries make room: first the reporter's own (its quota), then anyone's.
struct FeedbackLimits: Sendable, Equatable {
    var maxMessages: Int
    var maxBytes: Int
    var maxPerReporter: Int

    init(maxMessages: Int = Int.max, maxBytes: Int = Int.max, maxPerReporter: Int = Int.max) {
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
        self.maxPerReporter = maxPerReporter
    }

    init(_ configuration: DaemonConfiguration) {
        self.init(
            maxMessages: configuration.feedbackMaxMessages, maxBytes: configuration.feedbackMaxBytes,
            maxPerReporter: configuration.feedbackMaxPerReporter)
    }
}

/// What `record` did.
enum FeedbackChange: Sendable, Equatable {
    /// The message was not in the store.
    case added
    /// The message was stored under the other label; it now has this one.
    case relabelled(from: Label)
    /// The message already had this label; only its date moved.
    case unchanged
}

enum FeedbackError: Error, Equatable, CustomStringConvertible {
    case messageTooLarge(bytes: Int, limit: Int)
    case emptyMessage
    case cannotWrite(path: String, reason: String)
    case cannotRead(path: String, reason: String)

    var description: String {
        switch self {
        case let .messageTooLarge(bytes, limit):
            "the message has \(bytes) bytes; the feedback store keeps messages of at most \(limit) bytes"
        case .emptyMessage: "the message is empty; there is nothing to learn from"
        case let .cannotWrite(path, reason): "cannot write the feedback store at \(path): \(reason)"
        case let .cannotRead(path, reason): "cannot read the feedback store at \(path): \(reason)"
        }
    }
}

/// Messages users have labelled spam or ham, kept for `spamtune-train` to learn from.
///
/// On disk it is two Maildirs, `<directory>/spam` and `<directory>/ham`, so the trainer
/// (and any mail tool) reads them as ordinary mailboxes. A message is written to `tmp/`,
/// synced, and renamed into `new/`, so a reader never sees half a message and a crash
/// loses at most the message being written. Its file is named after the SHA-256 of its
/// bytes (`<digest>.<source>`): the same message labelled twice is one entry, and
/// labelling it the other way moves it, so the newest label wins. The date of an entry is
/// its file's modification time. The name also records who sent the label:
/// `<digest>.<source>.<reporter>`.
///
/// The store is bounded (FeedbackLimits): a full store drops its oldest entries, each
/// with a log line, so no reporter can grow it without end or push everyone else out.
///
/// The verdict header fields spamtune adds (`strippedFieldNames`) are removed before a
/// message is stored or looked up: a message labelled as delivered (with them) and as
/// first seen (without) is the same entry, and training never reads a verdict.
///
/// Writers in one process are serialised; spamtuned is the only writer (the trainer only
/// reads), so no lock across processes is needed.
final class FeedbackStore: Sendable {
    static let defaultMaxMessageBytes = 10 << 20

    let directory: URL
    let maxMessageBytes: Int
    let limits: FeedbackLimits
    /// Header fields removed from messages before they are stored (lower case).
    let strippedFieldNames: Set<String>
    private let log: Logger?
    /// Counts what the store takes, for the metrics.
    private let statistics: ServiceStatistics?

    /// Opens the store, creating its directories when missing.
    init(
        directory: URL, maxMessageBytes: Int = FeedbackStore.defaultMaxMessageBytes, strippedFieldNames: [String] = [],
        limits: FeedbackLimits = FeedbackLimits(), log: Logger? = nil, statistics: ServiceStatistics? = nil
    ) throws {
        self.directory = directory.standardizedFileURL
        self.statistics = statistics
        self.maxMessageBytes = min(maxMessageBytes, limits.maxBytes)
        self.limits = limits
        self.log = log
        self.strippedFieldNames = Set(strippedFieldNames.map { $0.lowercased() })
        for label in Label.allCases {
            for sub in ["tmp", "new", "cur"] {
                let path = maildir(for: label).appendingPathComponent(sub).path
                do {
                    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
                } catch {
                    throw FeedbackError.cannotWrite(path: path, reason: Self.reason(error))
                }
            }
        }
    }

    /// The store the configuration names, `<state_directory>/feedback`, stripping the
    /// verdict header fields, within the configured bounds.
    convenience init(
        configuration: DaemonConfiguration, verdictHeaders: VerdictHeaders, log: Logger? = nil, statistics: ServiceStatistics? = nil
    ) throws {
        try self.init(
            directory: URL(fileURLWithPath: configuration.feedbackDirectory), strippedFieldNames: verdictHeaders.names,
            limits: FeedbackLimits(configuration), log: log, statistics: statistics)
    }

    /// The Maildir holding the messages with `label`.
    func maildir(for label: Label) -> URL { directory.appendingPathComponent(label.name) }

    /// Stores `message` as `label`, sent by `reporter` the way `source`; a message stored
    /// with the other label is moved. Past a bound, the oldest entries are dropped.
    /// The caller's parse of the message is reused: the verdict fields come off by it.
    @discardableResult
    func record(_ message: MailMessage, label: Label, source: String, reporter: String = "unknown") throws -> FeedbackChange {
        guard !message.bytes.isEmpty else { throw FeedbackError.emptyMessage }
        guard message.bytes.count <= maxMessageBytes else {
            throw FeedbackError.messageTooLarge(bytes: message.bytes.count, limit: maxMessageBytes)
        }
        let bytes = stripped(message)
        guard !bytes.isEmpty else { throw FeedbackError.emptyMessage }
        let digest = SHA256.hexDigest(bytes)
        writeLock.lock()
        defer { writeLock.unlock() }
        let existing = try files(digest: digest)
        var change = FeedbackChange.added
        if let same = existing.first(where: { $0.label == label }) {
            // Already there: the label is newer now.
            try stamp(same.url.path)
            change = .unchanged
        } else {
            let name = "\(digest).\(Self.sanitized(source)).\(Self.sanitized(reporter, keeping: "-_.@"))"
            let destination = maildir(for: label).appendingPathComponent("new/\(name)")
            try write(bytes, to: destination)
            try stamp(destination.path)
        }
        for stale in existing where stale.label != label {
            try unlinkSynced(stale.url)
            if change == .added { change = .relabelled(from: stale.label) }
        }
        if change != .unchanged { try enforceLimits(keeping: digest) }
        statistics?.noteFeedback(label, change: change)
        return change
    }

    /// The time of the entry written last.
    private let lastStamp = Mutex<Double>(0)

    /// An entry's age is its file's time, which the kernel keeps only to its clock tick:
    /// entries written within one tick would tie and "oldest first" would go by digest.
    /// Each entry gets a time of its own, later than the one before.
    private func stamp(_ path: String) throws {
        let stamp = lastStamp.withLock { last in
            last = max(Date().timeIntervalSince1970, last + 1e-6)
            return last
        }
        let seconds = stamp.rounded(.down)
        let time = timeval(tv_sec: Int(seconds), tv_usec: Int((stamp - seconds) * 1e6))
        var times = [time, time]
        guard utimes(path, &times) == 0 else {
            throw FeedbackError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// Drops the oldest entries until the store is within its limits: a reporter past its
    /// quota loses its own oldest first, then the whole store its oldest. The entry just
    /// written (`keeping`) stays.
    private func enforceLimits(keeping digest: String) throws {
        guard limits != FeedbackLimits() else { return }
        var all = try entries()  // oldest first
        var dropped: [(FeedbackEntry, String)] = []
        var perReporter: [String: Int] = [:]
        for entry in all { perReporter[entry.reporter, default: 0] += 1 }
        for (reporter, count) in perReporter where count > limits.maxPerReporter {
            let own = all.filter { $0.reporter == reporter && $0.digest != digest }
            for entry in own.prefix(count - limits.maxPerReporter) {
                dropped.append((entry, "\(reporter) is past feedback_max_per_reporter (\(limits.maxPerReporter))"))
            }
        }
        let droppedDigests = Set(dropped.map(\.0.digest))
        all.removeAll { droppedDigests.contains($0.digest) }
        var count = all.count
        var total = all.reduce(0) { $0 + $1.bytes }
        for entry in all where entry.digest != digest && (count > limits.maxMessages || total > limits.maxBytes) {
            let reason =
                count > limits.maxMessages
                ? "the store is past feedback_max_messages (\(limits.maxMessages))" : "the store is past feedback_max_bytes (\(limits.maxBytes))"
            dropped.append((entry, reason))
            count -= 1
            total -= entry.bytes
        }
        for (entry, reason) in dropped {
            try unlinkSynced(entry.url)
            log?.warning(
                "feedback: dropped the oldest entry, \(entry.label.name) from \(entry.reporter) by \(entry.source) "
                    + "(\(entry.digest.prefix(12)), \(ISO8601DateFormatter().string(from: entry.date))): \(reason)",
                throttle: "feedback entries dropped")
        }
    }

    /// Removes the message from the store (from `label` only, when given). Returns
    /// whether there was anything to remove.
    @discardableResult
    func remove(_ message: MailMessage, label: Label? = nil) throws -> Bool {
        let digest = SHA256.hexDigest(stripped(message))
        writeLock.lock()
        defer { writeLock.unlock() }
        let matches = try files(digest: digest).filter { label == nil || $0.label == label }
        for match in matches { try unlinkSynced(match.url) }
        return !matches.isEmpty
    }

    /// The entry for this message, if it is in the store.
    func entry(for message: MailMessage) throws -> FeedbackEntry? {
        try files(digest: SHA256.hexDigest(stripped(message))).first.flatMap { try entry(at: $0.url, label: $0.label) }
    }

    /// Every entry, oldest first.
    func entries() throws -> [FeedbackEntry] {
        var result: [FeedbackEntry] = []
        for label in Label.allCases {
            for url in try messageFiles(of: label) {
                if let entry = try entry(at: url, label: label) { result.append(entry) }
            }
        }
        return result.sorted { ($0.date, $0.digest) < ($1.date, $1.digest) }
    }

    func counts() throws -> FeedbackCounts {
        FeedbackCounts(spam: try messageFiles(of: .spam).count, ham: try messageFiles(of: .ham).count)
    }

    /// The message without the stripped header fields; other bytes are kept as they are.
    func stripped(_ parsed: MailMessage) -> [UInt8] {
        let message = parsed.bytes
        guard !strippedFieldNames.isEmpty else { return message }
        let removed = parsed.fields.filter { strippedFieldNames.contains($0.name.lowercased()) }.map(\.byteRange)
        guard !removed.isEmpty else { return message }
        var output: [UInt8] = []
        output.reserveCapacity(message.count)
        var position = 0
        for range in removed {
            output += message[position..<range.lowerBound]
            position = range.upperBound
        }
        output += message[position...]
        return output
    }

    // MARK: Files

    private func messageFiles(of label: Label) throws -> [URL] {
        var urls: [URL] = []
        for sub in ["new", "cur"] {
            let folder = maildir(for: label).appendingPathComponent(sub)
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            } catch {
                throw FeedbackError.cannotRead(path: folder.path, reason: Self.reason(error))
            }
            urls += names.filter { !$0.hasPrefix(".") }.sorted().map { folder.appendingPathComponent($0) }
        }
        return urls
    }

    /// The files holding the message with this digest, under either label. A file
    /// moved to `cur/` by a mail client keeps its name up to the `:2,` flags.
    private func files(digest: String) throws -> [(url: URL, label: Label)] {
        var found: [(URL, Label)] = []
        for label in Label.allCases {
            for url in try messageFiles(of: label) where url.lastPathComponent.hasPrefix(digest + ".") {
                found.append((url, label))
            }
        }
        return found
    }

    private func entry(at url: URL, label: Label) throws -> FeedbackEntry? {
        let name = url.lastPathComponent
        let parts = name.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, parts[0].count == 64, parts[0].allSatisfy(\.isHexDigit) else { return nil }
        var info = stat()
        guard stat(url.path, &info) == 0 else {
            if errno == ENOENT { return nil }  // relabelled or removed meanwhile
            throw FeedbackError.cannotRead(path: url.path, reason: String(cString: strerror(errno)))
        }
        let date = Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
        // `<source>.<reporter>`, up to the `:2,` flags a mail client may add.
        let rest = parts[1].split(separator: ":", maxSplits: 1).first ?? ""
        let fields = rest.split(separator: ".", maxSplits: 1).map(String.init)
        return FeedbackEntry(
            url: url, label: label, date: date, digest: String(parts[0]), source: fields.first ?? "",
            reporter: fields.count == 2 ? fields[1] : "unknown", bytes: Int(info.st_size))
    }

    /// tmp/ -> fsync -> rename into new/ -> fsync new/: the Maildir delivery order.
    private func write(_ bytes: [UInt8], to destination: URL) throws {
        let maildir = destination.deletingLastPathComponent().deletingLastPathComponent()
        let temporary = maildir.appendingPathComponent("tmp/\(Self.uniqueName())")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw FeedbackError.cannotWrite(path: temporary.path, reason: String(cString: strerror(errno))) }
        var failure: String?
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                offset += written
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil && rename(temporary.path, destination.path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary.path)
            throw FeedbackError.cannotWrite(path: destination.path, reason: failure)
        }
        Self.syncDirectory(destination.deletingLastPathComponent())
    }

    private func unlinkSynced(_ url: URL) throws {
        guard unlink(url.path) == 0 || errno == ENOENT else {
            throw FeedbackError.cannotWrite(path: url.path, reason: String(cString: strerror(errno)))
        }
        Self.syncDirectory(url.deletingLastPathComponent())
    }

    private static func syncDirectory(_ url: URL) {
        let fd = open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    private static let counter = Atomic<Int>(0)

    /// `time.PpidQn.host`, as Maildir deliveries name their files.
    private static func uniqueName() -> String {
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let hostName = String(cString: host).replacingOccurrences(of: "/", with: "\\057").replacingOccurrences(of: ":", with: "\\072")
        return "\(Int(Date().timeIntervalSince1970)).P\(getpid())Q\(counter.wrappingAdd(1, ordering: .relaxed).newValue).\(hostName)"
    }

    /// A name safe in a file name: letters, digits, '-', '_' and what `keeping` adds.
    static func sanitized(_ source: String, keeping: String = "-_") -> String {
        let extra = Set(keeping.unicodeScalars)
        let kept = source.unicodeScalars.prefix(40).map { scalar -> Character in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || extra.contains(scalar)) ? Character(scalar) : "_"
        }
        return kept.isEmpty ? "unknown" : String(kept)
    }

    private static func reason(_ error: Error) -> String {
        (error as NSError).localizedFailureReason ?? error.localizedDescription
    }
}

/// Serialises the writers of every store in the process: labels arrive rarely (a user
/// action), and one lock keeps a relabel from racing another on the same message.
private let writeLock = NSLock()

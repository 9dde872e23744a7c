import Foundation
import SpamtuneClassifier
import SpamtuneConfiguration
import SpamtuneTestSupport
import Testing

@testable import SpamtuneDaemon

#if canImport(Glibc)
import Glibc
#endif

/// A real Maildir in a fresh directory under /tmp, a real checkpoint, and a real
/// watcher scoring with a real ScoringService. Verdicts are forced through the
/// checkpoint's threshold: 0.01 makes everything spam, 0.99 everything ham.
final class MaildirTestBed: @unchecked Sendable {
    let directory: URL
    let maildir: String
    let modelsRoot: URL
    var configuration: DaemonConfiguration
    let logLines = LockedLines()
    private(set) var daemon: Daemon?
    private(set) var watcher: MaildirWatcher?

    init(threshold: Double, createMaildir: Bool = true, tweak: (inout DaemonConfiguration) -> Void = { _ in }) throws {
        directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("spamtune-maildir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        maildir = directory.appendingPathComponent("Maildir").path
        if createMaildir { try Self.makeMaildir(maildir) }
        modelsRoot = directory.appendingPathComponent("models")
        try TinyCheckpoint.write(to: modelsRoot, threshold: threshold)
        configuration = DaemonConfiguration()
        configuration.checkpoint = modelsRoot.appendingPathComponent("current").path
        configuration.threads = 1
        configuration.stateDirectory = directory.appendingPathComponent("state").path
        configuration.maildirs = [maildir]
        configuration.milterListen = nil
        configuration.spamdListen = nil
        configuration.controlSocket = directory.appendingPathComponent("control.sock").path
        tweak(&configuration)
    }

    static func makeMaildir(_ root: String) throws {
        for sub in ["new", "cur", "tmp"] {
            try FileManager.default.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true)
        }
    }

    var feedbackStore: FeedbackStore { get throws { try FeedbackStore(configuration: configuration, verdictHeaders: VerdictHeaders(configuration)) } }

    /// Loads the model and starts the watcher.
    func start() throws {
        let log = Logger(level: .debug, scoreScale: configuration.scoreScale) { [logLines] in logLines.append($0) }
        let daemon = try Daemon(configuration: configuration, log: log)
        let watcher = try MaildirWatcher(
            configuration: configuration, verdictHeaders: daemon.verdictHeaders, policy: daemon.policy, feedback: try feedbackStore, log: log)
        watcher.start()
        self.daemon = daemon
        self.watcher = watcher
    }

    func stop() {
        watcher?.stop(graceful: true)
        daemon?.service.drainAndStop()
        watcher = nil
        daemon = nil
    }

    /// Stops everything and removes the directory.
    func tearDown() {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    func path(_ relative: String) -> String { maildir + "/" + relative }

    /// Delivers as an MDA does: written whole into tmp/, then renamed into new/.
    @discardableResult
    func deliver(_ bytes: [UInt8], name: String? = nil, folder: String = "") throws -> String {
        let name = name ?? uniqueMaildirName()
        let base = folder.isEmpty ? maildir : maildir + "/" + folder
        let temporary = base + "/tmp/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, base + "/new/" + name) == 0 else { throw POSIXError(.init(rawValue: errno)!) }
        return name
    }

    func names(_ relative: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path(relative))) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    func contents(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(relative))))
    }

    func move(_ from: String, _ to: String) throws {
        guard rename(path(from), path(to)) == 0 else { throw POSIXError(.init(rawValue: errno)!) }
    }
}

private let nameCounter = LockedCounter()

/// `time.PpidQn.host`, as an MDA names a delivery.
func uniqueMaildirName() -> String {
    "\(Int(Date().timeIntervalSince1970)).P\(getpid())Q\(nameCounter.next()).testhost"
}

/// A plain test message with this Message-ID and subject.
func testMessage(id: String, subject: String = "Hello", body: String = "Just checking in about tomorrow.\n", extraHeaders: String = "", lineEnding: String = "\n") -> [UInt8] {
    var text = extraHeaders
    text += "Return-Path: <alice@example.test>\n"
    text += "From: Alice <alice@example.test>\nTo: bob@example.test\nSubject: \(subject)\nMessage-ID: <\(id)@example.test>\n"
    text += "Date: Mon, 23 Nov 2026 10:00:00 +0000\nContent-Type: text/plain; charset=utf-8\n\n" + body
    return Array(text.replacingOccurrences(of: "\n", with: lineEnding).utf8)
}

/// The header fields of a message, in order (names as written, values unfolded).
func headerFields(_ bytes: [UInt8]) -> [(name: String, value: String)] {
    var fields: [(name: String, value: String)] = []
    let text = String(decoding: bytes, as: UTF8.self)
    for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
        let line = rawLine.hasSuffix("\r") ? String(rawLine.dropLast()) : String(rawLine)
        if line.isEmpty { break }
        if line.first == " " || line.first == "\t" {
            if !fields.isEmpty { fields[fields.count - 1].value += " " + line.trimmingCharacters(in: .whitespaces) }
            continue
        }
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
    }
    return fields
}

func fieldValues(_ bytes: [UInt8], _ name: String) -> [String] {
    headerFields(bytes).filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Double = 20, _ condition: () throws -> Bool) rethrows -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}

final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.withLock { value += 1; return value } }
}

/// The median P(spam) the checkpoint gives these messages: as spam_threshold it sends
/// about half to Junk.
func medianSpamProbability(_ messages: [[UInt8]], checkpoint: URL) throws -> Double {
    let classifier = try SpamClassifier.load(checkpoint: checkpoint.resolvingSymlinksInPath(), threads: 1)
    let probabilities = classifier.classify(messages.map { classifier.input(forMail: $0) }).map(\.spamProbability).sorted()
    let median = probabilities[probabilities.count / 2]
    return min(max(median, 1e-6), 1 - 1e-6)
}

import Foundation
import SpamtuneConfiguration
@testable import SpamtuneDaemon
import SpamtuneTestClients
import SpamtuneTestSupport

/// A real milter server in this process: the real daemon (checkpoint loaded through
/// the CheckpointStore, real ScoringService) and a MilterServer on a Unix socket in a
/// directory of its own. Log lines are kept for the tests to read.
final class MilterFixture: @unchecked Sendable {
    let directory: URL
    let daemon: Daemon
    let server: MilterServer
    let socketPath: String
    private let lines = MilterLogLines()

    /// `threshold`: the checkpoint's spam threshold (0.01: everything is spam; 0.99:
    /// everything is ham, for the tiny random model).
    init(threshold: Double = 0.99, tcp: Bool = false, configure: (inout DaemonConfiguration) -> Void = { _ in }) throws {
        directory = try makeMilterTestDirectory("milter")
        let models = directory.appendingPathComponent("models")
        try TinyCheckpoint.write(to: models, threshold: threshold)
        socketPath = directory.appendingPathComponent("milter.sock").path
        var configuration = DaemonConfiguration()
        configuration.checkpoint = models.appendingPathComponent("current").path
        configuration.threads = 1
        configuration.milterListen = .unix(path: socketPath)
        configuration.milterSocketMode = 0o600
        configuration.milterSocketGroup = nil
        configuration.milterTCPListen = tcp ? .tcp(host: "127.0.0.1", port: 0) : nil
        configuration.spamdListen = nil
        configuration.stateDirectory = directory.appendingPathComponent("state").path
        configure(&configuration)
        let lines = self.lines
        let log = Logger(level: .debug, scoreScale: configuration.scoreScale) { line in lines.append(line) }
        daemon = try Daemon(configuration: configuration, log: log)
        server = try MilterServer(context: daemon.context)
    }

    var logLines: [String] { lines.values }

    func client(timeout: Double = 30) throws -> MilterClient {
        try MilterClient(unixSocket: socketPath, timeout: timeout)
    }

    /// A client that has negotiated like Postfix.
    func postfixClient(timeout: Double = 30) throws -> MilterClient {
        let client = try client(timeout: timeout)
        try client.negotiate()
        return client
    }

    /// Waits up to `seconds` for `condition`.
    func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date(timeIntervalSinceNow: seconds)
        while Date() < end {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    func stop() {
        server.stop(graceful: false)
        daemon.service.drainAndStop()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A fresh directory under /tmp (short enough for Unix socket paths, and searchable by
/// other users, which Postfix needs).
func makeMilterTestDirectory(_ label: String) throws -> URL {
    let url = URL(fileURLWithPath: "/tmp/spamtune-\(label)-\(UUID().uuidString.prefix(8).lowercased())")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    chmod(url.path, 0o755)
    return url
}

/// A small message with the given header fields, written "Name: value" with CR LF, as a
/// milter rebuilds it.
func milterTestMessage(subject: String, body: String, extraHeaders: [(String, String)] = [], messageID: String? = nil) -> [UInt8] {
    var text = "From: Sender <sender@example.test>\r\nTo: user@example.test\r\nSubject: \(subject)\r\n"
    text += "Message-ID: <\(messageID ?? UUID().uuidString)@example.test>\r\n"
    for (name, value) in extraHeaders { text += "\(name): \(value)\r\n" }
    text += "\r\n" + body.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n")
    return Array(text.utf8)
}

let milterHamBody = """
    Hi Anna,

    the minutes of Tuesday's meeting are attached. Could you check the figures for the
    second quarter before Friday? Thanks, and see you at lunch.

    Ben
    """

let milterSpamBody = """
    CONGRATULATIONS!!! You have been selected to receive a FREE $1000 gift card.
    Click http://win.example.invalid/claim now to claim your prize before it expires.
    Text WIN to 80082 for your free entry. Unsubscribe: reply STOP.
    """

final class MilterLogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ line: String) { lock.withLock { stored.append(line) } }
    var values: [String] { lock.withLock { stored } }
}

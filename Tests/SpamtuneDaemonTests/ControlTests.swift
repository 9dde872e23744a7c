import Foundation
import SpamtuneClassifier
import SpamtuneConfiguration
import SpamtuneControl
import SpamtuneTestClients
import SpamtuneTestSupport
import SpamtuneWeights
import Testing

@testable import SpamtuneDaemon

#if canImport(Glibc)
import Glibc
#endif

/// `spamtune status|reload|retrain` against the real spamtuned, and its signals.
@Suite("control socket and spamtune status/reload/retrain", .serialized)
struct ControlTests {
    let spamtune = ProjectPaths.builtProduct("spamtune")

    init() throws {
        try Spamc.ensureInstalled()
    }

    func status(_ bed: SpamdTestBed) throws -> DaemonStatus {
        try #require(try ControlClient(socketPath: bed.controlSocket, timeout: 30).send(.status).status)
    }

    @Test func statusShowsTheModelCountsAndLatency() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        let configuration = try bed.writeConfiguration()
        try bed.startExecutable(configuration: configuration)
        for index in 0..<3 {
            let result = try Spamc.run(["-U", bed.spamdSocket, "-c"], input: SpamdTestBed.message("status \(index)"))
            #expect(result.status == 0 || result.status == 1)
        }

        let text = try runProcess(spamtune, ["status", "--socket", bed.controlSocket])
        #expect(text.status == 0, "\(text.standardError)")
        #expect(text.standardOutput.contains("model      v1-50, threshold 0.50"))
        #expect(text.standardOutput.contains("way in         spam      ham unscored tempfail"))
        #expect(text.standardOutput.range(of: #"spamd +\d+ +\d+ +0 +0"#, options: .regularExpression) != nil, "\(text.standardOutput)")
        #expect(text.standardOutput.contains("latency    p50 "))
        #expect(text.standardOutput.contains("listening  spamd unix:\(bed.spamdSocket)"))
        // precision = auto (the default), and the test checkpoint records no check of int8.
        #expect(text.standardOutput.contains("precision  auto: fp32, as "), "\(text.standardOutput)")

        // --config finds the socket the same way; --json is the daemon's answer.
        let json = try runProcess(spamtune, ["status", "--config", configuration.path, "--json"])
        #expect(json.status == 0, "\(json.standardError)")
        let response = try JSONDecoder().decode(ControlResponse.self, from: Data(json.standardOutput.utf8))
        let status = try #require(response.status)
        #expect(status.model.version == "v1-50")
        #expect(status.verdicts["spamd"].map { $0.values.reduce(0, +) } == 3)
        #expect(status.verdicts["total"].map { $0.values.reduce(0, +) } == 3)
        #expect(status.latency.p50 != nil && status.latency.p99 != nil)
        #expect(status.queueLimit == 256)
        #expect(status.feedback == FeedbackCounts(spam: 0, ham: 0))
        #expect(status.uptimeSeconds > 0)
        #expect(status.model.precision == "fp32" && status.model.precisionReason?.hasPrefix("auto: fp32") == true)
        #expect(bed.daemonLog.contains("model v1-50 computes in fp32: auto: fp32, as "))

        // The socket has the configured mode.
        var info = stat()
        #expect(stat(bed.controlSocket, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
    }

    @Test func aStoppedDaemonIsReportedInOneLine() throws {
        let missing = "/tmp/st-nothing-\(UUID().uuidString.prefix(8))/control.sock"
        for command in ["status", "reload", "retrain"] {
            let result = try runProcess(spamtune, [command, "--socket", missing])
            #expect(result.status == 3)
            #expect(result.standardError == "spamtune \(command): spamtuned is not running (no socket at \(missing))\n")
        }
        let usage = try runProcess(spamtune, ["status", "--socket", missing, "--config", "/x"])
        #expect(usage.status == 2)
    }

    @Test func reloadSwapsTheModelWithoutDroppingAConnection() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        try bed.startExecutable(configuration: try bed.writeConfiguration())

        // spamc keeps asking while the checkpoint changes under it.
        let stop = StopFlag()
        let failures = ResultBox()
        let loop = Thread {
            var index = 0
            while !stop.isSet {
                index += 1
                do {
                    let result = try Spamc.run(["-U", bed.spamdSocket, "-c"], input: SpamdTestBed.message("loop \(index)"))
                    if (result.status == 0 || result.status == 1) && result.standardOutput != "0/0\n" {
                        failures.success()
                    } else {
                        failures.failure("spamc exit \(result.status): \(result.standardOutput) \(result.standardError)")
                    }
                } catch {
                    failures.failure("\(error)")
                }
            }
            failures.finish()
        }
        loop.start()
        defer {
            stop.set()
            failures.waitUntilFinished()
        }

        usleep(300_000)
        try TinyCheckpoint.write(to: bed.models, threshold: 0.5, version: "v2")
        let reload = try runProcess(spamtune, ["reload", "--socket", bed.controlSocket])
        #expect(reload.status == 0, "\(reload.standardError)")
        #expect(reload.standardOutput == "reloaded: now serving model v2 (was v1-50)\n")
        #expect(try status(bed).model.version == "v2")

        // A checkpoint that does not load is refused; v2 keeps serving.
        let broken = try TinyCheckpoint.write(to: bed.models, threshold: 0.5, version: "v3")
        try Data("not safetensors".utf8).write(to: broken.appendingPathComponent(CheckpointManifest.weightsFileName))
        let refused = try runProcess(spamtune, ["reload", "--socket", bed.controlSocket])
        #expect(refused.status == 1)
        #expect(refused.standardError.hasPrefix("spamtune reload: reload refused, still serving v2: "), "\(refused.standardError)")
        #expect(try status(bed).model.version == "v2")

        // One whose weights load but are NaN scores nothing: refused before it serves.
        let poisoned = try TinyCheckpoint.write(to: bed.models, threshold: 0.5, version: "v3-nan")
        let head = try SafetensorsFile(path: ProjectPaths.fixture("model/tiny/head.safetensors").path)
        let nanTensors = try head.names.map { name in
            let tensor = try head.tensor(named: name)
            return TensorView(name: name, shape: tensor.shape, values: [Float](repeating: .nan, count: tensor.count))
        }
        try SafetensorsWriter.writeAtomically(nanTensors, to: poisoned.appendingPathComponent(CheckpointManifest.weightsFileName).path)
        let refusedNaN = try runProcess(spamtune, ["reload", "--socket", bed.controlSocket])
        #expect(refusedNaN.status == 1)
        #expect(refusedNaN.standardError.contains("no finite score"), "\(refusedNaN.standardError)")
        #expect(try status(bed).model.version == "v2")

        // SIGHUP reloads too. v4 learned from no email (as the offline default does when
        // the mail corpus cannot be had), and the log and status say what that means.
        let smsOnly = TrainingRecord(values: ["data": .object(["mail": .number(0), "train": .number(1045)])])
        try TinyCheckpoint.write(to: bed.models, threshold: 0.5, version: "v4", training: smsOnly)
        kill(bed.processes[0].processIdentifier, SIGHUP)
        let deadline = Date(timeIntervalSinceNow: 30)
        while try status(bed).model.version != "v4" && Date() < deadline { usleep(50_000) }
        let final = try status(bed)
        #expect(final.model.version == "v4")
        #expect(final.reloads == 2)

        usleep(300_000)
        stop.set()
        failures.waitUntilFinished()
        #expect(failures.successes > 3)
        #expect(failures.failures.isEmpty, "\(failures.failures.prefix(3))")
        #expect(bed.daemonLog.contains("reload refused, still serving v2"))
        // Each load says which precision it chose and why.
        #expect(bed.daemonLog.contains("model v2 computes in fp32: auto: fp32"))
        #expect(bed.daemonLog.contains("model v4 computes in fp32: auto: fp32"))
        #expect(bed.daemonLog.contains("warning: model v4: the model learned from no email (SMS only)"))
        #expect(!bed.daemonLog.contains("model v2: the model learned from no email"))
        let shown = try runProcess(spamtune, ["status", "--socket", bed.controlSocket])
        #expect(shown.standardOutput.contains("warning    the model learned from no email (SMS only)"), "\(shown.standardOutput)")
    }

    /// precision = int8 serves int8 whatever the checkpoint recorded, and says so.
    @Test func aConfiguredPrecisionIsServedLoggedAndShown() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        try bed.startExecutable(configuration: try bed.writeConfiguration(["precision = int8"]))
        let result = try Spamc.run(["-U", bed.spamdSocket, "-c"], input: SpamdTestBed.message("int8"))
        #expect(result.status == 0 || result.status == 1, "\(result.standardError)")
        let model = try status(bed).model
        #expect(model.precision == "int8" && model.precisionReason?.hasPrefix("int8 as configured") == true, "\(model)")
        #expect(bed.daemonLog.contains("model v1-50 computes in int8: int8 as configured"))
        let text = try runProcess(spamtune, ["status", "--socket", bed.controlSocket])
        #expect(text.standardOutput.contains("precision  int8 as configured"), "\(text.standardOutput)")
    }

    @Test func sigtermLetsTheRequestInFlightFinishAndExitsZero() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        let process = try bed.startExecutable(configuration: try bed.writeConfiguration())
        let message = SpamdTestBed.message("In flight")
        let request = SpamdClient.request(.check, message: message)
        let socket = try ClientSocket(connectingTo: .unix(path: bed.spamdSocket), timeout: 30)
        defer { socket.close() }
        // Half the request, then the signal, then the rest.
        try socket.write(Array(request.prefix(request.count / 2)))
        usleep(200_000)
        kill(process.processIdentifier, SIGTERM)
        usleep(500_000)
        #expect(process.isRunning)
        try socket.write(Array(request.suffix(from: request.count / 2)))
        socket.finishWriting()
        let answer = try SpamdClient.parseCheckAnswer(try socket.readToEnd())
        #expect(answer.threshold == 5.0)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(process.terminationReason == .exit)
        // New connections are no longer taken.
        #expect(throws: (any Error).self) { try SpamdClient(address: .unix(path: bed.spamdSocket), timeout: 5).check(message) }
    }

    @Test func retrainRunsTheConfiguredCommandInTheBackground() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        let script = bed.root.appendingPathComponent("train.sh")
        try Data("#!/bin/sh\necho \"training with $* at nice $(nice)\"\nsleep 1\nexit 3\n".utf8).write(to: script)
        chmod(script.path, 0o755)
        try bed.startExecutable(configuration: try bed.writeConfiguration(["retrain_command = \(script.path) --config /etc/x.conf"]))

        let started = try runProcess(spamtune, ["retrain", "--socket", bed.controlSocket])
        #expect(started.status == 0, "\(started.standardError)")
        #expect(started.standardOutput.hasPrefix("retrain started: \(script.path) --config /etc/x.conf\npid "))
        let again = try runProcess(spamtune, ["retrain", "--socket", bed.controlSocket])
        #expect(again.status == 1)
        #expect(again.standardError.contains("a retrain is already running"))

        let deadline = Date(timeIntervalSinceNow: 30)
        while try status(bed).retrain?.running == true && Date() < deadline { usleep(100_000) }
        let retrain = try #require(try status(bed).retrain)
        #expect(!retrain.running)
        #expect(retrain.exitStatus == 3)
        let log = try String(contentsOfFile: retrain.log, encoding: .utf8)
        // At the timer unit's priority (or the daemon's own, when that is lower already).
        let niceness = max(10, getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))
        #expect(log.contains("training with --config /etc/x.conf at nice \(niceness)"), "\(log)")
        let text = try runProcess(spamtune, ["status", "--socket", bed.controlSocket])
        #expect(text.standardOutput.contains("failed with exit status 3; output in \(retrain.log)"))
    }

    @Test func retrainDefaultsToTheTrainerBesideTheDaemon() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        let configuration = try bed.writeConfiguration()
        try bed.startExecutable(configuration: configuration)
        let response = try ControlClient(socketPath: bed.controlSocket).send(.retrain)
        let retrain = try #require(response.retrain, "\(response.error ?? "")")
        #expect(retrain.command == [ProjectPaths.builtProduct("spamtune-train").path, "--config", configuration.path])
        // A real training run takes minutes: see it start and log, then stop it.
        let started = Date(timeIntervalSinceNow: 30)
        while (try? String(contentsOfFile: retrain.log, encoding: .utf8))?.contains("dataset") != true && Date() < started {
            usleep(100_000)
        }
        #expect((try? String(contentsOfFile: retrain.log, encoding: .utf8))?.contains("dataset") == true)
        kill(retrain.pid, SIGTERM)
        let deadline = Date(timeIntervalSinceNow: 30)
        while try status(bed).retrain?.running == true && Date() < deadline { usleep(100_000) }
        #expect(try status(bed).retrain?.exitStatus == 128 + SIGTERM)
    }

    @Test func retrainCommandsResolveBesideTheDaemon() {
        var configuration = DaemonConfiguration()
        let defaultCommand = Retrainer.command(for: configuration, arguments: ["spamtuned", "--config", "/etc/a.conf"])
        #expect(defaultCommand == [ProjectPaths.builtProduct("spamtune-train").path, "--config", "/etc/a.conf"])
        #expect(Retrainer.configurationPath(in: ["spamtuned", "--config=/x.conf"]) == "/x.conf")
        #expect(Retrainer.configurationPath(in: ["spamtuned"]) == "/etc/spamtune/spamtune.conf")
        configuration.retrainCommand = ["/usr/local/bin/train", "--fast"]
        #expect(Retrainer.command(for: configuration) == ["/usr/local/bin/train", "--fast"])
        configuration.retrainCommand = ["sh", "-c", "true"]
        #expect(Retrainer.command(for: configuration).first == "/usr/bin/sh" || Retrainer.command(for: configuration).first == "/bin/sh")
    }

    @Test func retrainCommandIsReadFromTheConfiguration() throws {
        let file = try ConfigurationFile(path: "test.conf", text: "retrain_command = /opt/train  --config /etc/b.conf\n")
        #expect(try DaemonConfiguration(file: file).retrainCommand == ["/opt/train", "--config", "/etc/b.conf"])
        let body = try ConfigurationFile(path: "test.conf", text: "spamd_max_body_size = 8M\n")
        #expect(try DaemonConfiguration(file: body).spamdMaxBodyBytes == 8 << 20)
    }

    @Test func garbageOnTheControlSocketGetsAnError() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        let daemon = try bed.daemon()
        defer { daemon.service.drainAndStop() }
        let server = try ControlServer(context: daemon.context)
        defer { server.stop(graceful: false) }
        let socket = try ClientSocket(connectingTo: .unix(path: bed.controlSocket), timeout: 10)
        defer { socket.close() }
        try socket.write(Array("hello\n{\"command\":\"explode\"}\n{\"command\":\"status\"}\n".utf8))
        let first = try JSONDecoder().decode(ControlResponse.self, from: Data(try #require(try socket.readLine())))
        #expect(!first.ok && first.error?.contains("commands: status, reload, retrain") == true)
        let second = try JSONDecoder().decode(ControlResponse.self, from: Data(try #require(try socket.readLine())))
        #expect(!second.ok)
        let third = try JSONDecoder().decode(ControlResponse.self, from: Data(try #require(try socket.readLine())))
        #expect(third.ok && third.status?.model.version == "v1-50")
    }
}

final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }
}

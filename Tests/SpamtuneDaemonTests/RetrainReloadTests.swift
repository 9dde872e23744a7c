import Foundation
import SpamtuneClassifier
import SpamtuneControl
import SpamtuneDaemon
import SpamtuneTestSupport
import Testing

/// The whole loop an admin relies on: spamtuned serves a model, spamtune-train trains a
/// better one into the same store, promotes it and tells spamtuned, which serves it.
@Suite struct RetrainReloadTests {
    @Test func aPromotedModelIsServedWithoutARestart() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        let configuration = try bed.writeConfiguration()
        try bed.startExecutable(configuration: configuration)
        let before = try ControlClient(socketPath: bed.controlSocket).send(.status).status?.model.version
        #expect(before != nil)

        let result = try runProcess(
            ProjectPaths.builtProduct("spamtune-train"),
            ["--state-dir", bed.stateDirectory.path, "--models-dir", bed.models.path, "--cache-dir", bed.root.appendingPathComponent("cache").path,
             "--offline", "--base", "scratch", "--scratch-layers", "1", "--scratch-dim", "32", "--scratch-heads", "2",
             "--scratch-epochs", "1", "--scratch-pretrain-epochs", "0", "--scratch-soup", "1", "--threads", "2", "--control-socket", bed.controlSocket])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("promoted"), "\(result.standardOutput)")
        #expect(result.standardError.contains("spamtuned reloaded: now serving"), "\(result.standardError)")
        let after = try ControlClient(socketPath: bed.controlSocket).send(.status).status?.model.version
        #expect(after != before)
        #expect(after == CheckpointStore(root: bed.models).currentVersion)
    }

    /// The daily retrain during an outage of the model host: the served model was
    /// fine-tuned from a pretrained GPT-2, so the run stops (75) instead of training
    /// scratch, and spamtuned keeps serving the same model.
    @Test func aRetrainDuringAnOutageLeavesTheServedModelAlone() throws {
        let bed = try SpamdTestBed()
        defer { bed.tearDown() }
        try bed.startExecutable(configuration: try bed.writeConfiguration())
        let before = try ControlClient(socketPath: bed.controlSocket).send(.status).status?.model.version
        let closed = try LoopbackHTTPServer.closedPort()
        let result = try runProcess(
            ProjectPaths.builtProduct("spamtune-train"),
            ["--state-dir", bed.stateDirectory.path, "--models-dir", bed.models.path, "--cache-dir", bed.root.appendingPathComponent("cache").path,
             "--mirror", "http://127.0.0.1:\(closed)", "--retries", "0", "--data", "sms", "--threads", "2", "--control-socket", bed.controlSocket])
        #expect(result.status == 75, "\(result.standardError)")
        #expect(result.standardError.contains("the current model was fine-tuned from tiny, and a retrain never changes its base"))
        #expect(!result.standardError.contains("spamtuned reloaded"))
        #expect(CheckpointStore(root: bed.models).versions().count == 1)
        let after = try ControlClient(socketPath: bed.controlSocket).send(.status).status?.model.version
        #expect(after == before)
        let scored = try runProcess(URL(fileURLWithPath: "/usr/bin/spamc"), ["-x", "-U", bed.spamdSocket, "-c"], input: Data(SpamdTestBed.message("Still here")))
        #expect(scored.status == 0 || scored.status == 1, "\(scored)")
    }
}

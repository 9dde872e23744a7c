import Foundation
import SpamtuneClassifier
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
}

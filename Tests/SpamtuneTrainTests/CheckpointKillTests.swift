import Foundation
import SpamtuneClassifier
import SpamtuneTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// spamtune-train killed with SIGKILL while it writes a checkpoint: the previous one
/// stays current and whole, and the next run clears what the killed one left.
@Suite struct CheckpointKillTests {
    let trainer = ProjectPaths.builtProduct("spamtune-train")

    func train(_ state: URL, seed: Int) throws -> Process {
        let process = Process()
        process.executableURL = trainer
        process.arguments = [
            "--state-dir", state.path, "--cache-dir", state.appendingPathComponent("cache").path, "--offline",
            "--base", "scratch", "--scratch-layers", "1", "--scratch-dim", "32", "--scratch-heads", "2",
            "--scratch-epochs", "1", "--scratch-pretrain-epochs", "0", "--scratch-soup", "1", "--threads", "1", "--seed", "\(seed)",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    @Test func aKillDuringTheCheckpointWriteLeavesThePreviousOneServing() throws {
        let state = URL(fileURLWithPath: "/tmp/spamtune-kill-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: state) }
        let models = state.appendingPathComponent("models")
        let first = try train(state, seed: 123)
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
        let store = CheckpointStore(root: models)
        let previous = try #require(store.currentVersion)

        // Runs until one is caught with its staging directory present (it exists for a
        // few tens of milliseconds), then SIGKILL.
        var caught = false
        for attempt in 0..<8 where !caught {
            let run = try train(state, seed: 200 + attempt)
            while run.isRunning {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: models.path)) ?? []
                if names.contains(where: { $0.hasPrefix(".staging-") }) {
                    kill(run.processIdentifier, SIGKILL)
                    caught = true
                    break
                }
                usleep(500)
            }
            run.waitUntilExit()
        }
        try #require(caught, "never caught a checkpoint being written in 8 runs")
        #expect(store.currentVersion == previous)
        let classifier = try SpamClassifier.load(checkpoint: store.currentLink, threads: 1)
        #expect(classifier.manifest?.version == previous)
        // What the kill left: a staging directory, or (killed just after its rename) a
        // complete version that never became current. Never a half-written current one.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: models.path).filter { $0.hasPrefix(".staging-") }
        #expect(!leftovers.isEmpty || store.versions().count == 2)

        // The next run finishes and removes the dead writer's staging directory.
        let next = try train(state, seed: 300)
        next.waitUntilExit()
        #expect(next.terminationStatus == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: models.path).filter { $0.hasPrefix(".staging-") }.isEmpty)
        _ = try SpamClassifier.load(checkpoint: store.currentLink, threads: 1)
    }
}

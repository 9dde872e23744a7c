import Foundation
import SpamtuneClassifier
import SpamtuneModel
import SpamtuneTestSupport
import SpamtuneWeights
import Testing

@Suite struct CheckpointStoreTests {
    func temporaryRoot() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("spamtune-store-\(UUID())")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func writesVersionsSwitchesCurrentAndRollsBack() throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let store = CheckpointStore(root: root, keep: 2)
        let first = try TinyCheckpoint.write(to: root, version: "2026-11-20T00-00-00Z")
        #expect(store.currentVersion == "2026-11-20T00-00-00Z")
        let classifier = try SpamClassifier.load(checkpoint: store.currentLink, threads: 1)
        #expect(classifier.manifest?.version == "2026-11-20T00-00-00Z")
        #expect(FileManager.default.fileExists(atPath: first.appendingPathComponent("report.md").path))

        try TinyCheckpoint.write(to: root, version: "2026-11-21T00-00-00Z", makeCurrent: false, keep: 2)
        #expect(store.currentVersion == "2026-11-20T00-00-00Z")
        try store.setCurrent("2026-11-21T00-00-00Z")
        try TinyCheckpoint.write(to: root, version: "2026-11-22T00-00-00Z", keep: 2)
        // keep 2: the oldest goes.
        #expect(store.versions() == ["2026-11-21T00-00-00Z", "2026-11-22T00-00-00Z"])
        #expect(try store.rollback() == "2026-11-21T00-00-00Z")
        #expect(store.currentVersion == "2026-11-21T00-00-00Z")
        #expect(throws: ClassifierError.self) { try store.rollback() }
    }

    @Test func aDeadWritersStagingIsIgnoredAndCleaned() throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        try TinyCheckpoint.write(to: root, version: "2026-11-20T00-00-00Z")
        // What a writer killed mid-way leaves: a staging directory without a manifest.
        let stale = root.appendingPathComponent(".staging-2026-11-21T00-00-00Z-999999")
        try FileManager.default.createDirectory(at: stale, withIntermediateDirectories: true)
        try Data("partial".utf8).write(to: stale.appendingPathComponent("model.safetensors"))
        let store = CheckpointStore(root: root)
        #expect(store.versions() == ["2026-11-20T00-00-00Z"])
        _ = try SpamClassifier.load(checkpoint: store.currentLink, threads: 1)
        try TinyCheckpoint.write(to: root, version: "2026-11-22T00-00-00Z")
        #expect(!FileManager.default.fileExists(atPath: stale.path))
    }

    @Test func aDamagedCheckpointIsRefusedWithAMessage() throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = try TinyCheckpoint.write(to: root)
        let weights = directory.appendingPathComponent("model.safetensors")
        let data = try Data(contentsOf: weights)
        try data.prefix(data.count / 2).write(to: weights)
        do {
            _ = try SpamClassifier.load(checkpoint: directory, threads: 1)
            Issue.record("a truncated checkpoint loaded")
        } catch {
            let text = "\(error)"
            #expect(text.contains(directory.path))
            #expect(text.contains("truncated"))
        }
        try Data("{".utf8).write(to: directory.appendingPathComponent("spamtune.json"))
        #expect(throws: ClassifierError.self) { try SpamClassifier.load(checkpoint: directory, threads: 1) }
    }

    /// Checkpoints record `"pooling": "last"` from before mean pooling was removed: those
    /// still load; one trained with mean pooling is refused, saying why and what to do.
    @Test func aCheckpointOfARemovedModeIsRefused() throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = try TinyCheckpoint.write(to: root)
        let manifestFile = directory.appendingPathComponent(CheckpointManifest.fileName)
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: manifestFile)) as! [String: Any]
        json["pooling"] = "last"
        try JSONSerialization.data(withJSONObject: json).write(to: manifestFile)
        _ = try SpamClassifier.load(checkpoint: directory, threads: 1)
        json["pooling"] = "mean"
        try JSONSerialization.data(withJSONObject: json).write(to: manifestFile)
        do {
            _ = try SpamClassifier.load(checkpoint: directory, threads: 1)
            Issue.record("a mean-pooled checkpoint loaded")
        } catch {
            let text = "\(error)"
            #expect(text.contains(directory.path))
            #expect(text.contains("'mean' pooling"), "\(text)")
            #expect(text.contains("retrain"))
        }
    }
}

import Foundation
import SpamtuneTestSupport
import Testing

/// The shipped units pass `systemd-analyze verify` (with ExecStart pointed at the built
/// binaries, since verify checks that they exist).
@Suite struct SystemdUnitTests {
    @Test func unitsVerify() throws {
        let analyzer = URL(fileURLWithPath: "/usr/bin/systemd-analyze")
        guard FileManager.default.isExecutableFile(atPath: analyzer.path) else {
            Issue.record("systemd-analyze is missing: install systemd to check the units")
            return
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spamtune-units-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let binaries = ProjectPaths.builtProduct("spamtuned").deletingLastPathComponent().path
        let units = ["spamtuned.service", "spamtune-train.service", "spamtune-train.timer"]
        for unit in units {
            let text = try String(contentsOf: ProjectPaths.root.appendingPathComponent("systemd/\(unit)"), encoding: .utf8)
            try text.replacingOccurrences(of: "/usr/local/bin", with: binaries)
                .write(to: directory.appendingPathComponent(unit), atomically: true, encoding: .utf8)
        }
        let result = try runProcess(analyzer, ["verify"] + units.map { directory.appendingPathComponent($0).path })
        #expect(result.status == 0, "\(result.standardOutput)\(result.standardError)")
        #expect(!result.standardError.contains(directory.path), "\(result.standardError)")
    }
}

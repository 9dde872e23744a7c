import Foundation
import SpamtuneTestSupport
import Testing

/// The shipped units pass `systemd-analyze verify` (with ExecStart pointed at the built
/// binaries, since verify checks that they exist; the /usr/local layout of scripts/install).
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
        let units = [
            "spamtuned.service", "spamtuned-milter.socket", "spamtuned-spamd.socket", "spamtuned-control.socket", "spamtune-train.service",
            "spamtune-train.timer",
        ]
        for unit in units {
            let text = try String(contentsOf: ProjectPaths.root.appendingPathComponent("systemd/\(unit)"), encoding: .utf8)
            try text.replacingOccurrences(of: "/usr/local/bin", with: binaries).replacingOccurrences(of: "/usr/local/sbin", with: binaries)
                .write(to: directory.appendingPathComponent(unit), atomically: true, encoding: .utf8)
        }
        // --man=no: Documentation= names the man pages an install puts in place, not
        // installed on this machine (scripts/man-pages has its own test).
        let result = try runProcess(analyzer, ["verify", "--man=no"] + units.map { directory.appendingPathComponent($0).path })
        #expect(result.status == 0, "\(result.standardOutput)\(result.standardError)")
        #expect(!result.standardError.contains(directory.path), "\(result.standardError)")
    }
}

/// The shipped units started by a real systemd: `scripts/systemd-boot-test` boots a
/// minimal Debian tree with `systemd-nspawn --boot`, installs spamtune as README says,
/// and scores mail through each socket (spamc as an unprivileged user, swaks through
/// Postfix's smtpd and the milter, a Maildir, `spamtune status`), across a reload and a
/// restart, under the unit's seccomp filter and sandbox.
@Suite struct SystemdBootTests {
    @Test(.enabled(if: getuid() == 0, "systemd-nspawn needs root: run the tests as root (CI does)"))
    func unitsStartUnderSystemd() throws {
        let directory = URL(fileURLWithPath: "/tmp/spamtune-boot-\(UUID().uuidString.prefix(8).lowercased())")
        let models = directory.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // The container sees its own /tmp: the checkpoint must not name a base model by a
        // path on the host.
        try TinyCheckpoint.write(to: models, threshold: 0.5, version: "boot-test", baseBeside: true)
        let binaries = ProjectPaths.builtProduct("spamtuned").deletingLastPathComponent()
        let result = try runProcess(
            URL(fileURLWithPath: "/bin/bash"),
            [ProjectPaths.root.appendingPathComponent("scripts/systemd-boot-test").path, binaries.path, models.path])
        let transcript = result.standardOutput + result.standardError
        #expect(result.status == 0, "\(transcript)")
        for check in [
            "spamtuned --check-config as user spamtune", "socket files as the units make them", "spamtuned not started before its first connection",
            "spamc as user nobody through the spamd socket", "the first connection started spamtuned.service",
            "spamtune status through the control socket", "user nobody is refused by the control socket",
            "delivered with the milter's headers", "a Maildir message scored", "spamc after the restart",
            "the socket files survive the restart", "nothing killed or refused by the sandbox", "systemd-analyze security exposure",
        ] {
            #expect(transcript.contains("PASS: \(check)"), "\(check): \(transcript)")
        }
    }
}

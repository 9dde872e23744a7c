import Foundation
import SpamtuneTestSupport
import Testing

/// The Debian package as an admin meets it: `scripts/package` builds it (release binaries
/// with the static Swift runtime, in this test's own directory), and `scripts/package-test`
/// installs it on a clean Debian tree booted under a real systemd, trains the first model
/// offline, scores a message with spamc, removes and purges it, and compares the file
/// system with the one before the install; then the same with `scripts/install` and
/// `scripts/install --uninstall` from the same build.
@Suite struct PackageTests {
    static let tools = ["/usr/bin/dpkg-deb", "/usr/bin/dpkg-shlibdeps"]

    @Test(
        .enabled(if: getuid() == 0, "systemd-nspawn and dpkg inside the tree need root: run the tests as root (CI does)"),
        .enabled(
            if: tools.allSatisfy { FileManager.default.isExecutableFile(atPath: $0) },
            "scripts/package needs dpkg-dev (dpkg-shlibdeps): apt-get install dpkg-dev (.ci/run does)"))
    func packageInstallsRunsAndPurgesCleanly() throws {
        let directory = URL(fileURLWithPath: "/tmp/spamtune-package-\(UUID().uuidString.prefix(8).lowercased())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        // SwiftPM keeps its build locks in the temporary directory: this test's own.
        let temporary = directory.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        let package = try runProcess(
            URL(fileURLWithPath: "/usr/bin/nice"),
            [
                "/bin/bash", ProjectPaths.root.appendingPathComponent("scripts/package").path, "--output", directory.path, "--scratch-path",
                directory.appendingPathComponent("build").path,
            ], environment: ["TMPDIR": temporary.path])
        try #require(package.status == 0, "scripts/package: \(package.standardError)")
        let deb = package.standardOutput.split(separator: "\n").last.map(String.init) ?? ""
        try #require(deb.hasSuffix(".deb") && FileManager.default.fileExists(atPath: deb), "no package: \(package.standardOutput)")
        #expect(!package.standardError.contains("\nE: "), "lintian errors: \(package.standardError)")

        // SwiftPM's link to the configuration's binaries in its scratch path.
        let built = directory.appendingPathComponent("build/release").path
        let result = try runProcess(
            URL(fileURLWithPath: "/bin/bash"), [ProjectPaths.root.appendingPathComponent("scripts/package-test").path, deb, built])
        let transcript = result.standardOutput + result.standardError
        #expect(result.status == 0, "\(transcript)")
        for check in [
            "dpkg -i", "postinst says what to enable", "user spamtune made", "nothing enabled or started", "binaries need only the system's libraries",
            "--version names the commit", "units verify at their installed paths", "spamtune-train --base scratch --offline", "a current model",
            "spamc as user nobody got a verdict", "dpkg --remove spamtune", "spamtuned stopped by the removal", "binaries gone after remove",
            "the configuration kept after remove", "dpkg --purge spamtune", "/etc/spamtune gone after purge", "the cache gone after purge",
            "the trained models kept after purge", "the user spamtune kept after purge", "after purge nothing is left but the admin's data",
            "scripts/install BUILT_DIR", "the installed --version names the commit", "units from /usr/local/lib/systemd/system verify",
            "spamc through the installed daemon", "scripts/install --uninstall", "after scripts/install --uninstall nothing is left",
        ] {
            #expect(transcript.contains("PASS: \(check)"), "\(check): \(transcript)")
        }
    }
}

import Foundation

/// What `--version` says. The release is set here by hand at each release; the commit
/// is what `scripts/stamp-commit` recorded beside the binaries right after building them
/// (SwiftPM runs no code at build time without plugins), read at run time.
public enum SpamtuneVersion {
    public static let release = "0.1.0"

    /// The name of the record: beside the executable in a build directory, or in
    /// `../share/spamtune/` from an installed `bin/`.
    public static let commitFileName = "spamtune.commit"

    /// The commit recorded for this executable (`-dirty` when built from modified files),
    /// or nil when there is no record or the executable is newer than it, since a record
    /// older than the binary describes an earlier build.
    public static let commit: String? = {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let directory = executable.deletingLastPathComponent()
        let candidates = [
            directory.appendingPathComponent(commitFileName),
            directory.deletingLastPathComponent().appendingPathComponent("share/spamtune/\(commitFileName)"),
        ]
        guard let built = modificationTime(executable.path) else { return nil }
        for record in candidates {
            guard let recorded = modificationTime(record.path), recorded >= built,
                let text = try? String(contentsOf: record, encoding: .utf8)
            else { continue }
            let commit = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !commit.isEmpty, commit.count <= 80, !commit.contains("\n") { return commit }
        }
        return nil
    }()

    private static func modificationTime(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }
}

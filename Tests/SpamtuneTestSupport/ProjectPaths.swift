import Foundation

/// Where tests find the project's own fixtures and the shared material (`../shared`
/// from the project root, present on every developer machine and in CI).
public enum ProjectPaths {
    public static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        // Tests/SpamtuneTestSupport/ProjectPaths.swift -> project root
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    public static let fixtures = root.appendingPathComponent("Tests/Fixtures")
    public static let shared = root.deletingLastPathComponent().appendingPathComponent("shared")

    public static func fixture(_ relative: String) -> URL { fixtures.appendingPathComponent(relative) }
    public static func sharedFile(_ relative: String) -> URL { shared.appendingPathComponent(relative) }
}

import Foundation

/// Where `spamtune-train`'s messages go: one line per call, standard error by default.
/// Tests and the pipeline pass their own to capture or forward the lines.
public struct TrainingLog: Sendable {
    private let write: @Sendable (String) -> Void

    public init(_ write: @escaping @Sendable (String) -> Void) { self.write = write }

    public func callAsFunction(_ message: String) { write(message) }

    /// Something went wrong and spamtune carries on another way: said loudly.
    public func warning(_ message: String) { write("WARNING: \(message)") }

    public static let standardError = TrainingLog { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    public static let silent = TrainingLog { _ in }
}

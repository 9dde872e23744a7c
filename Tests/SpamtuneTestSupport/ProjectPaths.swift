import Foundation

/// Where tests find the project's own fixtures and files. Everything a test needs is in
/// the repository; `../shared` (the reference material on developer machines and in CI)
/// only enables a few extra checks, each skipped with a reason when it is absent.
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
    /// Whether `../shared` holds every one of `relative`: the condition of an optional check.
    public static func sharedFilesPresent(_ relative: String...) -> Bool {
        relative.allSatisfy { FileManager.default.fileExists(atPath: sharedFile($0).path) }
    }

    /// The GPT-2 tokenizer files (encoder.json, vocab.bpe) spamtune ships.
    public static let tokenizerDirectory = root.appendingPathComponent("Sources/SpamtuneTrain/Resources/gpt2-tokenizer")
    public static let encoderJSON = tokenizerDirectory.appendingPathComponent("encoder.json")
    public static let vocabBPE = tokenizerDirectory.appendingPathComponent("vocab.bpe")
    /// The SMS Spam Collection spamtune ships (the published file, unmodified).
    public static let smsCollection = root.appendingPathComponent("Sources/SpamtuneTrain/Resources/sms-spam-collection/SMSSpamCollection")
    /// The Postfix/spamd/swaks test harness (Tests/harness, see its README).
    public static func harness(_ script: String) -> URL { root.appendingPathComponent("Tests/harness/\(script)") }
}

extension ProjectPaths {
    /// An executable built beside the test bundle (`swift build --build-tests` builds
    /// every product into the same directory).
    public static func builtProduct(_ name: String) -> URL {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        // swift-testing on Linux runs the .xctest executable itself; step out of a bundle if any.
        while directory.pathExtension == "xctest" || directory.lastPathComponent == "MacOS" || directory.lastPathComponent == "Contents" {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent(name)
    }
}

/// The result of running a program to completion.
public struct ProcessResult {
    public var status: Int32
    public var standardOutput: String
    public var standardError: String
    /// Standard output as bytes, for programs that write binary (tar, bzip2).
    public var standardOutputData = Data()
}

/// Runs `executable` with `arguments`, feeding `input` on stdin, and waits.
public func runProcess(_ executable: URL, _ arguments: [String], input: Data? = nil, environment: [String: String]? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let output = Pipe(), error = Pipe(), stdin = Pipe()
    process.standardOutput = output
    process.standardError = error
    process.standardInput = stdin
    try process.run()
    // Read both pipes while the process runs so neither fills up and blocks it.
    final class Collected: @unchecked Sendable { var data = Data() }
    let outputData = Collected(), errorData = Collected()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        outputData.data = output.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    group.enter()
    DispatchQueue.global().async {
        errorData.data = error.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    if let input { stdin.fileHandleForWriting.write(input) }
    try? stdin.fileHandleForWriting.close()
    process.waitUntilExit()
    group.wait()
    return ProcessResult(
        status: process.terminationStatus, standardOutput: String(decoding: outputData.data, as: UTF8.self),
        standardError: String(decoding: errorData.data, as: UTF8.self), standardOutputData: outputData.data)
}

/// The two small text files of OpenAI's GPT-2 124M release, byte for byte (their sizes
/// and hashes are in ModelCatalog), so tests need not download them. The release's
/// `model.ckpt.index` is in ../shared only: the tests that read it are optional.
public enum OpenAIGPT2Release {
    public static let hparams = "{\n  \"n_vocab\": 50257,\n  \"n_ctx\": 1024,\n  \"n_embd\": 768,\n  \"n_head\": 12,\n  \"n_layer\": 12\n}\n"
    public static let checkpoint = "model_checkpoint_path: \"model.ckpt\"\nall_model_checkpoint_paths: \"model.ckpt\"\n"
    public static let indexFile = "gpt2/model.ckpt.index"
    public static var indexPresent: Bool { ProjectPaths.sharedFilesPresent(indexFile) }
}

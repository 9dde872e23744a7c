import Foundation

/// A file to fetch: its name in the cache directory, where it can be had (tried in
/// order: the primary source, then backups), and what it must be when known.
public struct RemoteFile: Sendable, Equatable {
    public var name: String
    public var urls: [URL]
    public var expectedSize: Int64?
    /// Lower-case hex. Only hashes confirmed from public sources are given; without one,
    /// the hash of what was downloaded is recorded instead.
    public var expectedSHA256: String?

    public init(name: String, urls: [URL], expectedSize: Int64? = nil, expectedSHA256: String? = nil) {
        self.name = name
        self.urls = urls
        self.expectedSize = expectedSize
        self.expectedSHA256 = expectedSHA256
    }
}

/// Files that belong together in one cache directory (a model, the SMS data).
public struct DownloadPlan: Sendable, Equatable {
    /// What is being fetched, for log lines: "GPT-2 124M (openai-community/gpt2, Hugging Face)".
    public var title: String
    /// The directory under the cache root, e.g. `models/openai-community--gpt2`.
    public var directory: String
    public var files: [RemoteFile]

    public init(title: String, directory: String, files: [RemoteFile]) {
        self.title = title
        self.directory = directory
        self.files = files
    }

    public func file(named name: String) -> RemoteFile? { files.first { $0.name == name } }

    /// The plan without known sizes and hashes, for serving other files under the same
    /// names (a tiny test model behind `--mirror`).
    public func withoutKnownContent() -> DownloadPlan {
        var plan = self
        plan.files = files.map { RemoteFile(name: $0.name, urls: $0.urls) }
        return plan
    }

    /// The plan with `overrides` applied. A mirror replaces each file's sources with the
    /// primary URL's path on the mirror and keeps the known size and hash: a mirror serves
    /// the same files. A per-file URL replaces that file's sources and drops its known
    /// size and hash, since it names a file of the admin's choosing (a re-export, a test
    /// model); the hash of what arrives is recorded as for any unknown file.
    public func applying(_ overrides: URLOverrides) -> DownloadPlan {
        var plan = self
        for index in plan.files.indices {
            let name = plan.files[index].name
            if let url = overrides.files[name] {
                plan.files[index] = RemoteFile(name: name, urls: [url])
            } else if let mirror = overrides.mirror, let primary = plan.files[index].urls.first {
                plan.files[index].urls = [URLOverrides.url(primary, on: mirror)]
            }
        }
        return plan
    }
}

/// Where to fetch from instead of the default sources (`--mirror URL` and per-file URLs).
public struct URLOverrides: Sendable, Equatable {
    /// A base URL standing in for every default host: `https://huggingface.co/a/b` becomes
    /// `<mirror>/a/b`. A path in the mirror is kept as a prefix.
    public var mirror: URL?
    /// Full URLs by file name (`model.safetensors`, `sms+spam+collection.zip`).
    public var files: [String: URL]

    public init(mirror: URL? = nil, files: [String: URL] = [:]) {
        self.mirror = mirror
        self.files = files
    }

    public static let none = URLOverrides()

    static func url(_ original: URL, on mirror: URL) -> URL {
        guard var components = URLComponents(url: mirror, resolvingAgainstBaseURL: false),
            let originalComponents = URLComponents(url: original, resolvingAgainstBaseURL: false)
        else { return original }
        var prefix = components.percentEncodedPath
        while prefix.hasSuffix("/") { prefix.removeLast() }
        components.percentEncodedPath = prefix + originalComponents.percentEncodedPath
        components.percentEncodedQuery = originalComponents.percentEncodedQuery
        return components.url ?? original
    }
}

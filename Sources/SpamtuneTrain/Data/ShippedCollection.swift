import Foundation

/// The copy of the SMS Spam Collection that ships with spamtune (with its readme and
/// CC BY 4.0 licence), used when the download cannot be made.
///
/// SwiftPM puts it in the resource bundle `spamtune_SpamtuneTrain.resources` beside the
/// executable. `Bundle.module` is not used to find it: on Linux its accessor stops the
/// process with a fatal error when the bundle is in neither of the two places it knows,
/// which is exactly the case for an installed binary. The places searched, in order:
///
/// 1. `<directory of the executable>/spamtune_SpamtuneTrain.resources/sms-spam-collection`
///    (a SwiftPM build, and the test runner);
/// 2. `<directory of the executable>/../share/spamtune/sms-spam-collection`
///    (an install under a prefix, e.g. /usr/local/bin + /usr/local/share);
/// 3. `/usr/local/share/spamtune/sms-spam-collection`;
/// 4. `/usr/share/spamtune/sms-spam-collection` (a distribution package);
/// 5. the source tree this module was built from (`Sources/SpamtuneTrain/Resources/...`),
///    for a development build run from elsewhere.
///
/// Packagers: install `Sources/SpamtuneTrain/Resources/sms-spam-collection/` as
/// `<prefix>/share/spamtune/sms-spam-collection/`.
public enum ShippedCollection {
    public static let bundleName = ShippedResources.bundleName
    public static let directoryName = "sms-spam-collection"

    /// The directories searched, in order.
    public static func searchPath(executable: URL? = Bundle.main.executableURL) -> [URL] {
        ShippedResources.searchPath(for: directoryName, executable: executable)
    }

    /// `SMSSpamCollection` in the first place of `searchPath` that has one.
    public static func locate(searchPath: [URL] = searchPath()) -> URL? {
        searchPath.lazy.map { $0.appendingPathComponent(SMSSpamCollection.fileName) }.first { FileSystem.size($0.path) != nil }
    }
}

/// The resource folders spamtune ships (the SMS collection, the GPT-2 tokenizer), found
/// in the places `ShippedCollection` documents.
public enum ShippedResources {
    public static let bundleName = "spamtune_SpamtuneTrain.resources"

    public static func searchPath(for directoryName: String, executable: URL? = Bundle.main.executableURL) -> [URL] {
        var places = [URL]()
        if let executable {
            let directory = executable.resolvingSymlinksInPath().deletingLastPathComponent()
            places.append(directory.appendingPathComponent(bundleName).appendingPathComponent(directoryName))
            // (SwiftPM's bundle; then an install under a prefix)
            places.append(directory.deletingLastPathComponent().appendingPathComponent("share/spamtune/\(directoryName)").standardizedFileURL)
        }
        places.append(URL(fileURLWithPath: "/usr/local/share/spamtune/\(directoryName)"))
        places.append(URL(fileURLWithPath: "/usr/share/spamtune/\(directoryName)"))
        // The source tree this module was built from (Sources/SpamtuneTrain/Data/ShippedCollection.swift).
        places.append(
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Resources").appendingPathComponent(directoryName))
        return places
    }

    /// The first directory of the search path that holds `file`.
    public static func locate(_ directoryName: String, holding file: String) -> URL? {
        searchPath(for: directoryName).first { FileSystem.size($0.appendingPathComponent(file).path) != nil }
    }

    /// GPT-2's tokenizer files, shipped for training a scratch model with no network.
    public static var tokenizerDirectory: URL? { locate("gpt2-tokenizer", holding: "encoder.json") }
}

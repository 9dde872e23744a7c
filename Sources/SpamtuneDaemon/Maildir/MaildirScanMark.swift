import Foundation
import SpamtuneClassifier
import SpamtuneSupport

#if canImport(Glibc)
import Glibc
#endif

/// The first line spamtuned writes into every message it has scanned:
///
///     X-Spamtune-Scanned: verdict=spam; model=2026-11-23T04-00-00Z; check=5f0c…
///
/// It is how a message is known to be done without a database, so a sender must not be
/// able to forge it: `check` is a keyed hash (a secret kept in the state directory) of
/// the verdict, the model, the length of the rest of the file and its first 64 KiB. A
/// copied or hand-written line fails the check and the message is scanned like any
/// other (and the forged line removed).
struct MaildirScanMark: Equatable {
    static let headerName = "X-Spamtune-Scanned"
    static let checkedPrefixLength = 64 << 10

    var verdict: Label
    var model: String

    /// The signed part of the line.
    var fields: String { "verdict=\(verdict.name); model=\(model)" }
}

/// Signs and checks scan marks with the Maildir secret.
struct MaildirMarkSigner {
    let key: [UInt8]

    static let keyFileName = "maildir.key"

    /// The secret in `stateDirectory`, created (32 random bytes, mode 0600) the first time.
    static func loadOrCreate(stateDirectory: String) throws -> MaildirMarkSigner {
        let path = (stateDirectory as NSString).appendingPathComponent(keyFileName)
        if let key = try readKey(path) { return MaildirMarkSigner(key: key) }
        do {
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        } catch {
            throw MaildirError(stateDirectory, "create the state directory", code: 0, detail: (error as NSError).localizedFailureReason ?? "\(error)")
        }
        var generator = SystemRandomNumberGenerator()
        let key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let text = Array((key.map { String(format: "%02x", $0) }.joined() + "\n").utf8)
        // Written whole under a private name, then linked into place: a crash leaves no
        // half-written key, and of two racing first starts one key wins.
        let staging = path + ".new-\(getpid())"
        let fd = open(staging, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw MaildirError(staging, "create the Maildir key") }
        let written = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        defer { unlink(staging) }
        guard written == text.count, synced else { throw MaildirError(staging, "write the Maildir key") }
        if link(staging, path) != 0 && errno != EEXIST { throw MaildirError(path, "create the Maildir key") }
        guard let stored = try readKey(path) else { throw MaildirError(path, "read the Maildir key", code: 0, detail: "it is empty") }
        return MaildirMarkSigner(key: stored)
    }

    private static func readKey(_ path: String) throws -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: path) else {
            if MaildirFileSystem.exists(path) { throw MaildirError(path, "read the Maildir key", code: EACCES) }
            return nil
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let bytes = Array(text.utf8)
        guard bytes.count == 64, let key = hexBytes(bytes) else {
            throw MaildirError(
                path, "use the Maildir key", code: 0,
                detail: "it is not 64 hexadecimal digits; delete it and spamtuned makes a new one (scanned messages then count as unscanned)")
        }
        return key
    }

    private static func hexBytes(_ digits: [UInt8]) -> [UInt8]? {
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    /// The check for a mark over a rest of `restLength` bytes that starts with `restPrefix`
    /// (its first `checkedPrefixLength` bytes, or all of it when shorter).
    func check(_ mark: MaildirScanMark, restLength: Int, restPrefix: some Collection<UInt8>) -> String {
        var hash = SHA256()
        hash.update(key)
        hash.update([0])
        hash.update(Array(mark.fields.utf8))
        hash.update([0])
        hash.update(Array(String(restLength).utf8))
        hash.update([0])
        hash.update(restPrefix)
        return String(hash.finalize().prefix(16).map { String(format: "%02x", $0) }.joined())
    }

    /// The marker line (with its line ending) for a message whose remaining bytes are
    /// `restLength` long and begin with `restPrefix`.
    func line(for mark: MaildirScanMark, restLength: Int, restPrefix: some Collection<UInt8>, lineEnding: [UInt8]) -> [UInt8] {
        let text = "\(MaildirScanMark.headerName): \(mark.fields); check=\(check(mark, restLength: restLength, restPrefix: restPrefix))"
        return Array(text.utf8) + lineEnding
    }

    /// The file's valid mark, or nil when its first line is no mark or fails the check.
    func validMark(in fd: Int32, size: Int) -> MaildirScanMark? {
        guard let (mark, claimedCheck, restStart) = Self.parseFirstLine(fd, size: size) else { return nil }
        let restLength = size - restStart
        let prefixLength = min(restLength, MaildirScanMark.checkedPrefixLength)
        var prefix = [UInt8](repeating: 0, count: prefixLength)
        guard MaildirMessageFile.readFully(fd, into: &prefix, at: restStart) else { return nil }
        return check(mark, restLength: restLength, restPrefix: prefix) == claimedCheck ? mark : nil
    }

    /// Whether the first line is a scan mark at all (valid or not), and where the rest begins.
    static func parseFirstLine(_ fd: Int32, size: Int) -> (MaildirScanMark, check: String, restStart: Int)? {
        var head = [UInt8](repeating: 0, count: min(size, 512))
        guard MaildirMessageFile.readFully(fd, into: &head, at: 0), let newline = head.firstIndex(of: UInt8(ascii: "\n")) else {
            return nil
        }
        var line = String(decoding: head[..<newline], as: UTF8.self)
        if line.hasSuffix("\r") { line.removeLast() }
        let prefix = MaildirScanMark.headerName + ":"
        guard line.count > prefix.count, line.prefix(prefix.count).lowercased() == prefix.lowercased() else { return nil }
        let value = line.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
        var verdict: Label?
        var model: String?
        var check: String?
        for field in value.split(separator: ";") {
            let parts = field.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            switch parts[0] {
            case "verdict": verdict = Label(name: String(parts[1]))
            case "model": model = String(parts[1])
            case "check": check = String(parts[1])
            default: return nil
            }
        }
        guard let verdict, let model, let check else { return nil }
        return (MaildirScanMark(verdict: verdict, model: model), check, newline + 1)
    }
}

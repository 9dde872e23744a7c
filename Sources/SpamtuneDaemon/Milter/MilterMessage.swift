/// One message as the MTA hands it over, rebuilt for scoring: the header fields as
/// received (`Name: value`), a blank line, the body. Only the first `limit` bytes are
/// kept (a larger message is scored on its first part, as the scoring service would
/// cut it anyway); the rest is counted and dropped, so a huge message costs no memory.
struct MilterMessage {
    let limit: Int
    private(set) var bytes: [UInt8] = []
    /// The size of the whole rebuilt message, kept or not.
    private(set) var receivedBytes = 0
    private var bodyStarted = false
    /// Lower-case names of the fields whose copies are counted (see `occurrences`).
    private let watchedNames: [[UInt8]]
    private var watchedCounts: [Int]

    /// `watching`: header names whose occurrences are counted in the whole header,
    /// also beyond the kept part, so that every forged copy can be removed.
    init(limit: Int, watching names: [String]) {
        self.limit = max(0, limit)
        watchedNames = names.map { Array($0.utf8).map(lowercasedASCII) }
        watchedCounts = Array(repeating: 0, count: names.count)
        bytes.reserveCapacity(min(self.limit, 64 * 1024))
    }

    var isEmpty: Bool { receivedBytes == 0 && !bodyStarted }
    var isFull: Bool { bytes.count >= limit }

    /// How many header fields named `name` (any case) the message has.
    func occurrences(of name: String) -> Int {
        let key = Array(name.utf8).map(lowercasedASCII)
        return watchedNames.firstIndex(of: key).map { watchedCounts[$0] } ?? 0
    }

    mutating func addHeader(name: [UInt8], value: [UInt8]) {
        let key = name.map(lowercasedASCII)
        if let index = watchedNames.firstIndex(of: key) { watchedCounts[index] += 1 }
        var line = name
        line += [UInt8(ascii: ":"), UInt8(ascii: " ")]
        // A folded value arrives with bare LFs between its lines; the message uses CR LF.
        var previous: UInt8 = 0
        for byte in value {
            if byte == UInt8(ascii: "\n") && previous != UInt8(ascii: "\r") { line.append(UInt8(ascii: "\r")) }
            line.append(byte)
            previous = byte
        }
        line += [UInt8(ascii: "\r"), UInt8(ascii: "\n")]
        keep(line[...])
    }

    /// The blank line between header and body (once, however it is reached).
    mutating func endHeaders() {
        guard !bodyStarted else { return }
        bodyStarted = true
        keep([UInt8(ascii: "\r"), UInt8(ascii: "\n")][...])
    }

    mutating func addBody(_ chunk: [UInt8]) {
        endHeaders()
        keep(chunk[...])
    }

    private mutating func keep(_ piece: ArraySlice<UInt8>) {
        receivedBytes += piece.count
        let room = limit - bytes.count
        guard room > 0 else { return }
        bytes += piece.prefix(room)
    }
}

@inline(__always) private func lowercasedASCII(_ byte: UInt8) -> UInt8 {
    byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
}

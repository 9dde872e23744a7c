/// The words of a message's header fields, each tagged with its field's name: what a
/// Bayesian filter learns a site's mail by (the relays in Received, the Message-ID's
/// form, the mailer, the charset), given to the model's token evidence as hashed keys.
///
/// Left out: another filter's verdict (X-Spam-*, X-Barracuda-*: a model would learn to
/// copy it), the recipients and the date (they say who received the mail and when, not
/// what it is, and would tie a model to the mailbox it was trained on), and a mail
/// store's own bookkeeping (Status, X-UID, ...).
public enum HeaderWords {
    /// Fields read, from the top; words read per field; a word's length range in bytes.
    public static let maximumFields = 64
    public static let maximumWordsPerField = 32
    static let wordLengths = 2...40

    /// One key per distinct (field name, word), FNV-1a over `name:word` lowercased.
    public static func keys(of message: MailMessage) -> [UInt64] {
        var keys = Set<UInt64>()
        for field in message.fields.prefix(maximumFields) where isRead(field.lowercasedName) {
            let prefix = fnv1a(field.lowercasedName.utf8, seed: fnvOffset) ^ 0x3A  // ':'
            var count = 0
            forEachWord(in: field.rawValue) { word in
                guard count < maximumWordsPerField else { return }
                keys.insert(fnv1a(word, seed: prefix &* fnvPrime))
                count += 1
            }
        }
        return keys.sorted()
    }

    static func isRead(_ lowercasedName: String) -> Bool {
        if lowercasedName.hasPrefix("x-spam") || lowercasedName.hasPrefix("x-barracuda") { return false }
        return !unread.contains(lowercasedName)
    }

    private static let unread: Set<String> = [
        "to", "cc", "bcc", "date", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "apparently-to",
        "status", "x-status", "x-keywords", "x-uid", "content-length", "lines",
    ]

    /// Runs of letters, digits and `.-_@$!'`, lowercased, with dots and dashes trimmed
    /// from their ends: host names, addresses and IP addresses stay whole.
    static func forEachWord(in value: String, _ body: ([UInt8]) -> Void) {
        var word: [UInt8] = []
        func flush() {
            while let last = word.last, last == UInt8(ascii: ".") || last == UInt8(ascii: "-") { word.removeLast() }
            while let first = word.first, first == UInt8(ascii: ".") || first == UInt8(ascii: "-") { word.removeFirst() }
            if wordLengths.contains(word.count) { body(word) }
            word.removeAll(keepingCapacity: true)
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): word.append(byte | 0x20)
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), 0x80...:
                word.append(byte)
            case UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "@"), UInt8(ascii: "$"),
                UInt8(ascii: "!"), UInt8(ascii: "'"):
                word.append(byte)
            default: flush()
            }
        }
        flush()
    }

    private static let fnvOffset: UInt64 = 0xCBF2_9CE4_8422_2325
    private static let fnvPrime: UInt64 = 0x0000_0100_0000_01B3

    private static func fnv1a<S: Sequence>(_ bytes: S, seed: UInt64) -> UInt64 where S.Element == UInt8 {
        var hash = seed
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* fnvPrime }
        return hash
    }
}

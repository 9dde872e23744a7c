/// Bounds on the work and memory that one message may cost.
///
/// Mail is hostile input: a message can nest multiparts ten thousand deep, carry a
/// million header fields or a 50 MB line. Parsing never fails on such a message;
/// it keeps what fits within these limits, scores that, and records which limits
/// were reached (`MailLimit`). Every limit applies per message.
public struct MailParsingLimits: Sendable, Hashable, Codable {
    /// Header fields kept from one header block (the message's or a MIME part's).
    /// The end of the block is still found beyond this, so the body starts where it should.
    public var maxHeaderFields: Int
    /// Bytes of one header block that are read into fields; also the most bytes of
    /// one field's value that are kept.
    public var maxHeaderBytes: Int
    /// How deep multiparts and embedded messages are descended into. The message
    /// itself is depth 0; a part below the limit is skipped. At most
    /// `mimeDepthCeiling`, because the tree is walked recursively and a daemon's
    /// worker threads have small stacks.
    public var maxMIMEDepth: Int {
        get { storedMIMEDepth }
        set { storedMIMEDepth = min(max(0, newValue), MailParsingLimits.mimeDepthCeiling) }
    }
    private var storedMIMEDepth: Int

    /// The largest `maxMIMEDepth` there can be; real mail nests a handful of levels.
    public static let mimeDepthCeiling = 100
    /// MIME parts (containers and leaves) taken from one message, in order.
    public var maxParts: Int
    /// Bytes of text-part content decoded (base64, quoted-printable, or copied when
    /// not encoded), summed over the message. Attachments are never decoded.
    public var maxDecodedBytes: Int
    /// Unicode scalars of body text kept, after HTML conversion and normalisation.
    /// A model reads at most 1024 tokens, so the default is generous.
    public var maxTextCharacters: Int
    /// Unicode scalars kept of each text taken from a header: the subject, the
    /// sender's display name, an attachment's file name.
    public var maxHeaderTextCharacters: Int
    /// Attachment file names kept.
    public var maxAttachmentNames: Int

    public init(
        maxHeaderFields: Int = 2_000,
        maxHeaderBytes: Int = 256 * 1024,
        maxMIMEDepth: Int = 24,
        maxParts: Int = 500,
        maxDecodedBytes: Int = 4 * 1024 * 1024,
        maxTextCharacters: Int = 64 * 1024,
        maxHeaderTextCharacters: Int = 998,
        maxAttachmentNames: Int = 64
    ) {
        self.maxHeaderFields = max(0, maxHeaderFields)
        self.maxHeaderBytes = max(0, maxHeaderBytes)
        self.storedMIMEDepth = min(max(0, maxMIMEDepth), MailParsingLimits.mimeDepthCeiling)
        self.maxParts = max(1, maxParts)
        self.maxDecodedBytes = max(0, maxDecodedBytes)
        self.maxTextCharacters = max(0, maxTextCharacters)
        self.maxHeaderTextCharacters = max(0, maxHeaderTextCharacters)
        self.maxAttachmentNames = max(0, maxAttachmentNames)
    }

    public static let `default` = MailParsingLimits()

    private enum CodingKeys: String, CodingKey {
        case maxHeaderFields, maxHeaderBytes, maxMIMEDepth, maxParts, maxDecodedBytes, maxTextCharacters
        case maxHeaderTextCharacters, maxAttachmentNames
    }

    /// Reads limits from configuration: a missing key keeps its default, and values
    /// are clamped as by `init`.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = MailParsingLimits()
        func value(_ key: CodingKeys, _ fallback: Int) throws -> Int {
            try container.decodeIfPresent(Int.self, forKey: key) ?? fallback
        }
        self.init(
            maxHeaderFields: try value(.maxHeaderFields, defaults.maxHeaderFields),
            maxHeaderBytes: try value(.maxHeaderBytes, defaults.maxHeaderBytes),
            maxMIMEDepth: try value(.maxMIMEDepth, defaults.maxMIMEDepth),
            maxParts: try value(.maxParts, defaults.maxParts),
            maxDecodedBytes: try value(.maxDecodedBytes, defaults.maxDecodedBytes),
            maxTextCharacters: try value(.maxTextCharacters, defaults.maxTextCharacters),
            maxHeaderTextCharacters: try value(.maxHeaderTextCharacters, defaults.maxHeaderTextCharacters),
            maxAttachmentNames: try value(.maxAttachmentNames, defaults.maxAttachmentNames))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(maxHeaderFields, forKey: .maxHeaderFields)
        try container.encode(maxHeaderBytes, forKey: .maxHeaderBytes)
        try container.encode(maxMIMEDepth, forKey: .maxMIMEDepth)
        try container.encode(maxParts, forKey: .maxParts)
        try container.encode(maxDecodedBytes, forKey: .maxDecodedBytes)
        try container.encode(maxTextCharacters, forKey: .maxTextCharacters)
        try container.encode(maxHeaderTextCharacters, forKey: .maxHeaderTextCharacters)
        try container.encode(maxAttachmentNames, forKey: .maxAttachmentNames)
    }
}

/// A limit of `MailParsingLimits` that a message reached: what was beyond it was
/// left out, and the message was read from what fits.
public enum MailLimit: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case headerFields
    case headerBytes
    case mimeDepth
    case parts
    case decodedBytes
    case textCharacters
    case headerTextCharacters
    case attachmentNames

    public static func < (lhs: MailLimit, rhs: MailLimit) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

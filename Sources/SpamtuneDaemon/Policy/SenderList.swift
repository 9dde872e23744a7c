import Foundation

/// One entry of `allow_senders` or `deny_senders`.
public enum SenderListEntry: Equatable, Sendable, CustomStringConvertible {
    /// `alice@example.org`: this address (compared without regard to case).
    case address(String)
    /// `@example.org`: any address at this domain.
    case domain(String)
    /// `@.example.org`: any address at a subdomain of this domain (not the domain itself).
    case subdomains(String)
    /// `192.0.2.0/24` (deny_senders only): any message whose SMTP client is in it.
    case network(ClientNetwork)
    /// `file:/etc/spamtune/deny-senders`: the entries of this file, one a line, read at
    /// start and on every reload.
    case file(String)

    /// An entry as the configuration or a list file writes it.
    public init(parsing text: String, allowingNetworks: Bool, allowingFiles: Bool) throws {
        if text.hasPrefix("file:") {
            let path = String(text.dropFirst(5))
            guard allowingFiles else { throw ValueError("a list file cannot name another ('\(text)')") }
            guard path.hasPrefix("/") else { throw ValueError("a list file needs an absolute path, not '\(path)'") }
            self = .file(path)
        } else if text.hasPrefix("@.") {
            self = .subdomains(try Self.domainName(String(text.dropFirst(2)), in: text))
        } else if text.hasPrefix("@") {
            self = .domain(try Self.domainName(String(text.dropFirst()), in: text))
        } else if let at = text.lastIndex(of: "@") {
            let local = text[..<at]
            guard !local.isEmpty, !local.contains(where: { $0 == "<" || $0 == ">" || $0.isWhitespace }) else {
                throw ValueError("'\(text)' is not an address like alice@example.org")
            }
            _ = try Self.domainName(String(text[text.index(after: at)...]), in: text)
            self = .address(text.lowercased())
        } else if let network = try? ClientNetwork(parsing: text) {
            guard allowingNetworks else {
                throw ValueError("'\(text)' is a network: allow_senders lists senders; trust a network with trusted_networks")
            }
            self = .network(network)
        } else {
            throw ValueError("'\(text)' is not an address (alice@example.org), a domain (@example.org, @.example.org), a network or file:/path")
        }
    }

    private static func domainName(_ name: String, in entry: String) throws -> String {
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard !name.isEmpty, labels.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" } }) else {
            throw ValueError("'\(entry)' does not name a domain like example.org")
        }
        return name.lowercased()
    }

    public var description: String {
        switch self {
        case let .address(address): address
        case let .domain(domain): "@" + domain
        case let .subdomains(domain): "@." + domain
        case let .network(network): network.description
        case let .file(path): "file:" + path
        }
    }
}

/// The entries of one list with its files read: what a message is checked against.
struct SenderList: Sendable {
    private(set) var addresses: Set<String> = []
    private(set) var domains: Set<String> = []
    private(set) var parentDomains: Set<String> = []
    private(set) var networks: [ClientNetwork] = []

    var isEmpty: Bool { addresses.isEmpty && domains.isEmpty && parentDomains.isEmpty && networks.isEmpty }
    var count: Int { addresses.count + domains.count + parentDomains.count + networks.count }

    /// Reads the files the entries name; `key` names the list in errors.
    init(_ entries: [SenderListEntry], key: String, allowingNetworks: Bool) throws {
        for entry in entries {
            if case let .file(path) = entry {
                for fileEntry in try Self.read(path, key: key, allowingNetworks: allowingNetworks) { add(fileEntry) }
            } else {
                add(entry)
            }
        }
    }

    private mutating func add(_ entry: SenderListEntry) {
        switch entry {
        case let .address(address): addresses.insert(address)
        case let .domain(domain): domains.insert(domain)
        case let .subdomains(domain): parentDomains.insert(domain)
        case let .network(network): networks.append(network)
        case .file: preconditionFailure("files are read, not added")
        }
    }

    /// The entry that matches a message from `sender` (an address, or nil when the way in
    /// does not know it) through a client at `client`, as it is written in the list.
    func match(sender: String?, client: [UInt8]?) -> String? {
        if let client, let network = networks.first(where: { $0.contains(client) }) { return network.description }
        guard let sender = sender?.lowercased(), let at = sender.lastIndex(of: "@") else { return nil }
        if addresses.contains(sender) { return sender }
        var domain = sender[sender.index(after: at)...]
        if domains.contains(String(domain)) { return "@" + domain }
        while let dot = domain.firstIndex(of: ".") {
            domain = domain[domain.index(after: dot)...]
            if parentDomains.contains(String(domain)) { return "@." + domain }
        }
        return nil
    }

    /// A list file: one entry a line, `#` comments, blank lines ignored.
    private static func read(_ path: String, key: String, allowingNetworks: Bool) throws -> [SenderListEntry] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(path: path, line: nil, message: "\(key) names this file, which cannot be read: \(error.localizedDescription)")
        }
        var entries: [SenderListEntry] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
            if line.isEmpty || line.hasPrefix("#") { continue }
            do {
                entries.append(try SenderListEntry(parsing: line, allowingNetworks: allowingNetworks, allowingFiles: false))
            } catch let error as ValueError {
                throw ConfigurationError(path: path, line: index + 1, message: "\(key): \(error.message)")
            }
        }
        return entries
    }
}

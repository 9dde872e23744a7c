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

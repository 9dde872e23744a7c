import Foundation
import SpamtuneConfiguration

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

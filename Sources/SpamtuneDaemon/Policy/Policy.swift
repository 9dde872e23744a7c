import Foundation
import SpamtuneConfiguration
import Synchronization

/// Why a message was not given to the model: the rule that decided it.
enum PolicyRule: String, Sendable, Equatable, CaseIterable {
    /// The client authenticated (SASL) and `skip_authenticated = yes`.
    case authenticated
    /// The client's address is in `trusted_networks`.
    case trustedNetwork = "trusted-network"
    /// The sender is in `allow_senders`.
    case allowList = "allow-list"
    /// The sender or the client's network is in `deny_senders`: spam, whatever the model says.
    case denyList = "deny-list"

    var isSpam: Bool { self == .denyList }
}

/// The gate in front of the model, which every way in (milter, spamd, Maildir) passes
/// a message through: the admin's rules decide first, in this order, and the model
/// reads only what none of them decides:
///
/// 1. `deny_senders` (sender address or domain, or the client's network): spam;
/// 2. `skip_authenticated = yes` and the client authenticated: ham;
/// 3. `trusted_networks` and the client's address: ham;
/// 4. `allow_senders` (sender address or domain): ham.
///
/// The deny list comes first so that no other rule lets a sender the admin refused
/// through. A rule can only use what the way in knows (`MessageEnvelope`): over spamd
/// and in Maildirs, only the sender from the message's header.
final class Policy: Sendable {
    /// The rules as configured; the list files are read from them at start and on reload.
    struct Rules: Sendable {
        var skipAuthenticated: Bool
        var trustedNetworks: [ClientNetwork]
        var allowSenders: SenderList
        var denySenders: SenderList

        init(_ configuration: DaemonConfiguration) throws {
            skipAuthenticated = configuration.skipAuthenticated
            trustedNetworks = configuration.trustedNetworks
            allowSenders = try SenderList(configuration.allowSenders, key: "allow_senders", allowingNetworks: false)
            denySenders = try SenderList(configuration.denySenders, key: "deny_senders", allowingNetworks: true)
        }
    }

    /// The rule that decided a message, and the list entry that matched, if any.
    struct Match: Sendable, Equatable {
        var rule: PolicyRule
        var entry: String?
    }

    private let configuration: DaemonConfiguration
    private let service: ScoringService
    private let log: Logger
    private let rules: Mutex<Rules>

    /// `rules`: the configuration's, read with `Rules(configuration)` (which throws when a
    /// list file cannot be read or has a bad line).
    init(configuration: DaemonConfiguration, rules: Rules, service: ScoringService, log: Logger) {
        self.configuration = configuration
        self.rules = Mutex(rules)
        self.service = service
        self.log = log
    }

    /// Reads the list files again (SIGHUP, `spamtune reload`). A file that cannot be read
    /// now keeps the lists as they were, with an error in the log.
    func reload() {
        do {
            let fresh = try Rules(configuration)
            rules.withLock { $0 = fresh }
            if configuration.allowSenders.contains(where: Self.isFile) || configuration.denySenders.contains(where: Self.isFile) {
                log.info("policy: sender lists read again: allow_senders \(fresh.allowSenders.count) entries, deny_senders \(fresh.denySenders.count)")
            }
        } catch {
            log.error("policy: sender lists not reloaded, the old ones stay: \(error)")
        }
    }

    private static func isFile(_ entry: SenderListEntry) -> Bool {
        if case .file = entry { return true }
        return false
    }

    /// The rule that decides a message with this envelope; nil: the model decides.
    func match(_ envelope: MessageEnvelope) -> Match? {
        let rules = self.rules.withLock { $0 }
        let client = envelope.clientAddressBytes
        if let entry = rules.denySenders.match(sender: envelope.sender, client: client) { return Match(rule: .denyList, entry: entry) }
        if rules.skipAuthenticated, let user = envelope.authenticatedUser, !user.isEmpty { return Match(rule: .authenticated, entry: nil) }
        if let client, let network = rules.trustedNetworks.first(where: { $0.contains(client) }) {
            return Match(rule: .trustedNetwork, entry: network.description)
        }
        if let entry = rules.allowSenders.match(sender: envelope.sender, client: nil) { return Match(rule: .allowList, entry: entry) }
        return nil
    }

    /// The verdict on one message: the policy's, or the model's. Blocks until the
    /// verdict or the deadline.
    func verdict(on message: IncomingMessage) -> Verdict {
        guard let match = match(message.envelope) else {
            return service.score(message)
        }
        return service.verdict(by: match, channel: message.envelope.channel)
    }
}

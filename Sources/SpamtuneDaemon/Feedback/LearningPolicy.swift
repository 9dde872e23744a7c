import Foundation
import SpamtuneConfiguration

#if canImport(Glibc)
import Glibc
#endif

/// Who may teach the model (spamd TELL: `spamc -L spam|ham|forget`). Scoring is open to
/// whoever may connect, as with spamd; teaching changes what the next model believes,
/// so it is a privilege the admin grants by name:
/// - on a Unix socket, root, spamtuned's own user, `learn_allowed_users` and members of
///   `learn_allowed_groups`, from the peer's credentials (SO_PEERCRED);
/// - on TCP, clients in `learn_allowed_networks` (none by default, like spamd without
///   `--allow-tell`).
/// Junk moves in a configured Maildir are the admin's choice already (they named the
/// Maildir), and are bounded by the feedback store's per-reporter quota.
struct LearningPolicy: Sendable {
    let uids: Set<UInt32>
    let gids: Set<UInt32>
    let networks: [ClientNetwork]

    /// Resolves the configured names; a name that does not resolve is left out (the
    /// system check refuses such a configuration before the daemon starts).
    init(_ configuration: DaemonConfiguration) {
        uids = Set([0, geteuid()] + configuration.learnAllowedUsers.compactMap(Self.uid(of:)))
        gids = Set(configuration.learnAllowedGroups.compactMap(Self.gid(of:)))
        networks = configuration.learnAllowedNetworks
    }

    /// nil when `peer` may teach; else why not, for the refusal and the log line.
    func refusal(for peer: PeerIdentity) -> String? {
        switch peer.origin {
        case let .localUser(uid, gid, _):
            if uids.contains(uid) { return nil }
            if !gids.isEmpty, !gids.isDisjoint(with: Self.groups(of: uid, primary: gid)) { return nil }
            return "\(peer) is not in learn_allowed_users or learn_allowed_groups"
        case let .address(bytes):
            if networks.contains(where: { $0.contains(bytes) }) { return nil }
            return "\(peer) is not in learn_allowed_networks"
        case .unknown:
            return "the peer's credentials cannot be read"
        }
    }

    /// A user name or a numeric uid.
    static func uid(of user: String) -> UInt32? {
        if let number = UInt32(user) { return number }
        return getpwnam(user).map { $0.pointee.pw_uid }
    }

    static func gid(of group: String) -> UInt32? {
        if let number = UInt32(group) { return number }
        return getgrnam(group).map { $0.pointee.gr_gid }
    }

    /// The user's primary group (as the peer runs it) and its supplementary groups (as
    /// /etc/group lists them).
    static func groups(of uid: UInt32, primary: UInt32) -> Set<UInt32> {
        var result: Set<UInt32> = [primary]
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return result }
        var count: Int32 = 64
        var list = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, primary, &list, &count) < 0 {
            list = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(name, primary, &list, &count) >= 0 else { return result }
        }
        result.formUnion(list.prefix(Int(count)))
        return result
    }
}

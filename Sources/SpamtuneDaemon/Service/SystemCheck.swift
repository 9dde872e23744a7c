import Foundation
import SpamtuneConfiguration

#if canImport(Glibc)
import Glibc
#endif

/// What a configuration names on this machine, checked by `spamtuned --check-config` and
/// before every start: a group or user that does not exist stops spamtuned with EX_CONFIG
/// before it creates any socket, rather than half-way through.
extension DaemonConfiguration {
    /// Postfix's `milter_content_timeout` default: a longer message deadline makes Postfix
    /// give up on the milter (and apply `milter_default_action`) first.
    static let postfixContentTimeout = 300.0

    /// Names that do not resolve here; empty when all do.
    public func systemProblems() -> [String] {
        var problems: [String] = []
        if milterListen.map(Self.isUnix) == true, let group = milterSocketGroup, getgrnam(group) == nil {
            problems.append("milter_socket_group: group '\(group)' does not exist (name an existing group, or none)")
        }
        if let group = controlSocketGroup, getgrnam(group) == nil {
            problems.append("control_socket_group: group '\(group)' does not exist (name an existing group, or none)")
        }
        for user in learnAllowedUsers where LearningPolicy.uid(of: user) == nil {
            problems.append("learn_allowed_users: user '\(user)' does not exist")
        }
        for group in learnAllowedGroups where LearningPolicy.gid(of: group) == nil {
            problems.append("learn_allowed_groups: group '\(group)' does not exist")
        }
        return problems
    }

    /// Settings that work but probably not as meant.
    public var warnings: [String] {
        var warnings: [String] = []
        if servesMilter, messageDeadline >= Self.postfixContentTimeout {
            warnings.append(
                "message_deadline \(Int(messageDeadline))s is not below Postfix's default milter_content_timeout (300s): "
                    + "Postfix stops waiting for the verdict first and applies milter_default_action. "
                    + "Lower message_deadline, or raise milter_content_timeout in main.cf above it.")
        }
        if let tcp = spamdTCPListen, !learnAllowedNetworks.isEmpty {
            let outside = learnAllowedNetworks.filter { network in !spamdAllowedNetworks.contains { $0.contains(network.address) } }
            if !outside.isEmpty {
                warnings.append(
                    "learn_allowed_networks \(outside.map(\.description).joined(separator: ", ")) is outside spamd_allowed_networks: "
                        + "those clients cannot connect to \(tcp) at all")
            }
        }
        return warnings
    }

    private static func isUnix(_ address: ListenAddress) -> Bool {
        if case .unix = address { return true }
        return false
    }
}

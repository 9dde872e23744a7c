import Foundation
import SpamtuneConfiguration

/// etc/spamtune.conf read as documentation: its comments, in its sections, and the keys
/// each one explains. The file is where a key's meaning and default are written, once;
/// spamtune.conf(5) is made from it, and reading it checks that it documents exactly the
/// keys spamtuned knows (DaemonConfiguration's table).
package struct ConfigurationDocumentation {
    /// A key as the file shows it: `key = value`, or `# key = value` for one that is not
    /// set unless the admin sets it (the value is an example or the default it stands for).
    package struct Setting: Equatable {
        package let name: String
        package let value: String
        package let isSet: Bool
    }

    package enum Item {
        /// Comment lines about no key in particular.
        case prose([String])
        /// Keys shown together, and the comment lines around them.
        case entry([Setting], [String])
    }

    package struct Section {
        package let title: String
        package var items: [Item] = []
    }

    /// The comment lines before the first section.
    package private(set) var introduction: [String] = []
    package private(set) var sections: [Section] = []

    package var settings: [Setting] {
        sections.flatMap(\.items).flatMap { item -> [Setting] in
            if case let .entry(settings, _) = item { return settings }
            return []
        }
    }

    package struct Mismatch: Error, CustomStringConvertible {
        package let undocumented: [String]
        package let unknown: [String]
        package var description: String {
            var parts: [String] = []
            if !undocumented.isEmpty { parts.append("does not document \(undocumented.joined(separator: ", "))") }
            if !unknown.isEmpty { parts.append("documents keys spamtuned does not know: \(unknown.joined(separator: ", "))") }
            return "etc/spamtune.conf " + parts.joined(separator: "; ")
        }
    }

    /// Reads the file's text; throws when its keys are not exactly `keys`.
    package init(text: String, keys: [String] = DaemonConfiguration.keyNames) throws {
        var pending: [String] = []
        // Whether the lines since the last blank line began with an entry's keys, so a
        // comment right below them (no blank line between) is about them too.
        var afterEntry = false
        var lastWasKey = false

        func flush() {
            defer { pending = [] }
            guard !pending.isEmpty else { return }
            if sections.isEmpty {
                introduction += (introduction.isEmpty ? [] : [""]) + pending
            } else if afterEntry, case let .entry(settings, prose)? = sections[sections.count - 1].items.last {
                sections[sections.count - 1].items[sections[sections.count - 1].items.count - 1] = .entry(settings, prose + [""] + pending)
            } else {
                sections[sections.count - 1].items.append(.prose(pending))
            }
        }

        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("# ---") {
                flush()
                afterEntry = false
                lastWasKey = false
                sections.append(Section(title: line.drop { $0 == "#" || $0 == " " || $0 == "-" }.trimmingCharacters(in: .whitespaces)))
                continue
            }
            if line.isEmpty {
                flush()
                afterEntry = false
                lastWasKey = false
                continue
            }
            if let setting = Self.setting(line) {
                if !pending.isEmpty || !lastWasKey || sections.isEmpty {
                    if sections.isEmpty { sections.append(Section(title: "")) }
                    sections[sections.count - 1].items.append(.entry([setting], pending))
                    pending = []
                } else if case let .entry(settings, prose)? = sections[sections.count - 1].items.last {
                    sections[sections.count - 1].items[sections[sections.count - 1].items.count - 1] = .entry(settings + [setting], prose)
                }
                afterEntry = true
                lastWasKey = true
                continue
            }
            lastWasKey = false
            // A bare `#` ends a paragraph that is about no key (the one above a section's keys).
            if line == "#" {
                if sections.isEmpty {
                    pending.append("")
                } else {
                    afterEntry = false
                    flush()
                }
                continue
            }
            pending.append(line.hasPrefix("# ") ? String(line.dropFirst(2)) : String(line.dropFirst()))
        }
        flush()

        let documented = settings.map(\.name)
        let mismatch = Mismatch(
            undocumented: keys.filter { !documented.contains($0) },
            unknown: Array(Set(documented).subtracting(keys)).sorted())
        if !mismatch.undocumented.isEmpty || !mismatch.unknown.isEmpty { throw mismatch }
    }

    /// `key = value` or `# key = value`: a key, as opposed to prose that mentions one.
    static func setting(_ line: String) -> Setting? {
        let isSet = !line.hasPrefix("#")
        let body = isSet ? line[...] : line.dropFirst(2)
        guard isSet || line.hasPrefix("# "), let equals = body.range(of: " = ") else { return nil }
        let name = body[..<equals.lowerBound]
        guard let first = name.first, first.isLowercase,
            name.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" }) && name.unicodeScalars.allSatisfy(\.isASCII)
        else { return nil }
        return Setting(name: String(name), value: String(body[equals.upperBound...]), isSet: isSet)
    }
}

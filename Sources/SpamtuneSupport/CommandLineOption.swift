/// One option a tool accepts and what its usage text says about it. A tool lists its
/// options once, in a table of these: the parser's accepted names and the usage text
/// both come from it, so an option cannot be accepted and undocumented or the reverse.
public struct CommandLineOption: Sendable {
    public let name: String
    /// What the usage text calls its value (`N`, `DIR`, `book|spamtune`); nil for a flag.
    public let valueName: String?
    public let help: String
    /// The heading it is listed under; options of one section are listed together, in
    /// the table's order, and sections in the order they first appear.
    public let section: String

    public init(_ name: String, _ valueName: String?, _ help: String, section: String) {
        self.name = name
        self.valueName = valueName
        self.help = help
        self.section = section
    }

    /// `--name VALUE` as the usage text shows it.
    public var synopsis: String { "--\(name)" + (valueName.map { " " + $0 } ?? "") }

    /// What every tool answers besides its own options (CommandLineTool does).
    public static let everyTool: [CommandLineOption] = [
        .init("version", nil, "the version, the commit it was built from, the checkpoint format", section: ""),
        .init("help", nil, "print the usage and exit, doing nothing else (-h too)", section: ""),
    ]
}

extension ArgumentSpecification {
    /// Accepts exactly the options of `table`: those with a value name take a value, the
    /// others are flags.
    public init(_ table: [CommandLineOption]) {
        self.init(
            options: Set(table.filter { $0.valueName != nil }.map(\.name)),
            flags: Set(table.filter { $0.valueName == nil }.map(\.name)))
    }
}

extension [CommandLineOption] {
    /// The options as a usage text lists them: by section, each option's synopsis and its
    /// help beside it (below it when the synopsis is wide), help wrapped at `width`.
    /// Options of a section are indented under its heading; those of no section are
    /// indented by `unsectionedIndent`.
    public func usageText(width: Int = 104, helpColumn: Int = 27, unsectionedIndent: Int = 0) -> String {
        var sections: [String] = []
        for option in self where !sections.contains(option.section) { sections.append(option.section) }
        var lines: [String] = []
        for section in sections {
            let indent = String(repeating: " ", count: section.isEmpty ? unsectionedIndent : 2)
            if !section.isEmpty { lines.append(section) }
            for option in self where option.section == section {
                let head = indent + option.synopsis
                let wrapped = TextWrapping.lines(option.help, width: width - helpColumn)
                if head.count + 2 <= helpColumn {
                    lines.append(head.padding(toLength: helpColumn, withPad: " ", startingAt: 0) + (wrapped.first ?? ""))
                    lines += wrapped.dropFirst().map { String(repeating: " ", count: helpColumn) + $0 }
                } else {
                    lines.append(head)
                    lines += wrapped.map { String(repeating: " ", count: helpColumn) + $0 }
                }
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// Words filled into lines of at most `width` characters (a longer word has a line of its own).
public enum TextWrapping {
    public static func lines(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }
}

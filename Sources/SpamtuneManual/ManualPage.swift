import Foundation
import SpamtuneSupport

/// One man page as man(7) source: its title line, then its sections in order.
struct ManualPage {
    let name: String
    let section: Int
    /// What the NAME line says after the dash.
    let summary: String
    private(set) var sections: [(heading: String, lines: [String])] = []

    init(name: String, section: Int, summary: String) {
        self.name = name
        self.section = section
        self.summary = summary
    }

    var fileName: String { "\(name).\(section)" }

    mutating func add(_ heading: String, _ lines: [String]) {
        sections.append((heading, lines))
    }

    /// The page; no date, so the same sources give the same bytes.
    func roff() -> String {
        let manual = [1: "User Commands", 5: "File Formats", 8: "System Administration"][section] ?? "spamtune"
        var lines = [
            ".\\\" Written by spamtune-man from the tables the tools use; edit those, not this file.",
            ".TH \(Roff.argument(name.uppercased())) \(section) \"\" \(Roff.argument("spamtune \(SpamtuneVersion.release)")) \(Roff.argument(manual))",
            // No hyphenation, ragged right: names, keys and options stay whole.
            ".nh",
            ".ad l",
            ".SH NAME",
            Roff.escape(name) + " \\- " + Roff.escape(summary),
        ]
        for (heading, body) in sections {
            lines.append(".SH " + Roff.argument(heading))
            lines += body
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The project's plain prose (README's, etc/spamtune.conf's comments, the usage texts')
/// as roff: blank lines between paragraphs, lines indented by two spaces or more shown
/// as they are (commands, examples, aligned lists), `code` in bold.
enum Prose {
    /// `paragraph` starts each paragraph after the first: `.PP` in a section, `.IP` in the
    /// body of a tagged paragraph (it keeps the indent).
    static func roff(_ text: String, paragraph: String = ".PP") -> [String] {
        roff(lines: text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init), paragraph: paragraph)
    }

    static func roff(lines: [String], paragraph: String = ".PP") -> [String] {
        var out: [String] = []
        var words: [String] = []
        var verbatim: [String] = []
        var paragraphs = 0
        func startParagraphIfNeeded() {
            if words.isEmpty && verbatim.isEmpty {
                if paragraphs > 0 { out.append(paragraph) }
                paragraphs += 1
            }
        }
        func flushWords() {
            if !words.isEmpty { out.append(Roff.text(words.joined(separator: " "))) }
            words = []
        }
        func flushVerbatim() {
            guard !verbatim.isEmpty else { return }
            // Indented by spaces rather than .RS: in a tagged paragraph's body .RS would
            // move to the section's margin, and the text after it would lose the body's.
            let indent = verbatim.map { $0.prefix { $0 == " " }.count }.min() ?? 0
            out.append(".nf")
            for line in verbatim { out.append("    " + Roff.escape(String(line.dropFirst(indent)))) }
            out.append(".fi")
            verbatim = []
        }
        for line in lines {
            if line.trimmingCharacters(in: .whitespaces).isEmpty {
                flushWords()
                flushVerbatim()
                continue
            }
            let isVerbatim = line.hasPrefix("  ")
            if isVerbatim {
                if words.isEmpty && verbatim.isEmpty { startParagraphIfNeeded() }
                flushWords()
                verbatim.append(line)
            } else {
                if words.isEmpty && verbatim.isEmpty { startParagraphIfNeeded() }
                flushVerbatim()
                words.append(line.trimmingCharacters(in: .whitespaces))
            }
        }
        flushWords()
        flushVerbatim()
        return out
    }
}

extension ManualPage {
    /// A table's options as tagged paragraphs, under a subsection per table section.
    static func options(_ table: [CommandLineOption]) -> [String] {
        var sections: [String] = []
        for option in table where !sections.contains(option.section) { sections.append(option.section) }
        var lines: [String] = []
        for section in sections {
            if !section.isEmpty {
                let title = section.hasSuffix(":") ? String(section.dropLast()) : section
                lines += [".SS " + Roff.argument(title)]
            }
            for option in table where option.section == section {
                lines += [".TP", tag(option)] + Prose.roff(option.help, paragraph: ".IP")
            }
        }
        return lines
    }

    static func tag(_ option: CommandLineOption) -> String {
        let name = option.name == "help" ? Roff.bold("-h") + ", " + Roff.bold("--help") : Roff.bold("--" + option.name)
        return name + (option.valueName.map { " " + Roff.italic($0) } ?? "")
    }

    /// Several tags over one body: each on its own line.
    static func tags(_ tags: [String]) -> [String] {
        guard let first = tags.first else { return [] }
        var lines = [".TP", first]
        for tag in tags.dropFirst() { lines += [".PD 0", ".TP", tag] }
        return tags.count > 1 ? lines + [".PD"] : lines
    }
}

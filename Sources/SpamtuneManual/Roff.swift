import Foundation

/// Plain text as man(7) source: what roff would otherwise take for requests, escapes or
/// typography made literal, and the little markup the project's prose uses (`code`
/// spans, as in README and etc/spamtune.conf) turned into fonts.
enum Roff {
    /// `text` printed as it is: `\` as `\e`, `-` as `\-` (a minus, so options and names
    /// copy and paste as typed), characters beyond ASCII as `\[uXXXX]` (any groff reads
    /// them, with or without preconv).
    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\e"
            case "-": out += "\\-"
            case "\t": out += " "
            case _ where scalar.value >= 0x80:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                out += "\\[u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex + "]"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Running text: escaped, `code` in bold, ready to be one input line.
    static func text(_ text: String) -> String {
        let parts = text.split(separator: "`", omittingEmptySubsequences: false)
        // An unpaired backquote is printed as one.
        guard parts.count % 2 == 1 else { return line(escape(text)) }
        var out = ""
        for (index, part) in parts.enumerated() {
            out += index % 2 == 0 ? escape(String(part)) : bold(String(part))
        }
        return line(out)
    }

    static func bold(_ text: String) -> String { "\\fB" + escape(text) + "\\fR" }
    static func italic(_ text: String) -> String { "\\fI" + escape(text) + "\\fR" }

    /// An input line that starts with `.` or `'` would be a request: `\&` keeps it text.
    static func line(_ escaped: String) -> String {
        let trimmed = escaped.drop { $0 == " " }
        return trimmed.hasPrefix(".") || trimmed.hasPrefix("'") ? "\\&" + trimmed : String(trimmed)
    }

    /// A macro's argument, quoted.
    static func argument(_ text: String) -> String {
        "\"" + escape(text).replacingOccurrences(of: "\"", with: "\\(dq") + "\""
    }

    /// A command line as a synopsis shows it: options and the command's own words in bold,
    /// placeholders (FILE, DIR, 'message') in italics, brackets and bars as they are.
    static func synopsis(_ line: String, commandWords: Int) -> String {
        var out = ""
        for (index, word) in line.split(separator: " ").enumerated() {
            if index > 0 { out += " " }
            if index < commandWords {
                out += bold(String(word))
                continue
            }
            // Split at the punctuation of the notation; each run styled alone.
            var run = ""
            func flush() {
                guard !run.isEmpty else { return }
                let isOption = run.hasPrefix("-") && run != "-"
                let stem = run.split(separator: ".").first ?? ""
                let isPlaceholder = run.hasPrefix("'") || stem.contains { $0.isUppercase } && !stem.contains { $0.isLowercase }
                out += isOption ? bold(run) : isPlaceholder ? italic(run) : escape(run)
                run = ""
            }
            for character in word {
                if "[]|".contains(character) {
                    flush()
                    out += String(character)
                } else {
                    run.append(character)
                }
            }
            flush()
        }
        return Self.line(out)
    }
}

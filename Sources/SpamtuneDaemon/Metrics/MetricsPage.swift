import Foundation

/// A page in the Prometheus text exposition format, version 0.0.4: each family once, its
/// `# HELP` and `# TYPE` lines first, then its samples. Names and label names are fixed
/// in code; label values are escaped, so a model version with a quote cannot break a line.
struct MetricsPage {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    enum Kind: String {
        case counter, gauge, histogram
    }

    private(set) var text = ""

    /// One family with its samples: `(labels, value)`, one line each. A counter's name
    /// ends in `_total`, as the format's conventions ask.
    mutating func family(_ name: String, _ kind: Kind, _ help: String, _ samples: [([(String, String)], Double)]) {
        precondition(kind != .counter || name.hasSuffix("_total"), "a counter's name ends in _total: \(name)")
        header(name, kind, help)
        for (labels, value) in samples { sample(name, labels, value) }
    }

    /// One family with a single unlabelled sample.
    mutating func family(_ name: String, _ kind: Kind, _ help: String, _ value: Double) {
        family(name, kind, help, [([], value)])
    }

    /// A histogram per label set: `_bucket` lines with cumulative counts up to `le="+Inf"`,
    /// then `_sum` and `_count`.
    mutating func histogram(_ name: String, _ help: String, _ series: [([(String, String)], Histogram)]) {
        header(name, .histogram, help)
        for (labels, histogram) in series {
            for (bound, count) in histogram.cumulative {
                sample(name + "_bucket", labels + [("le", Self.number(bound))], Double(count))
            }
            sample(name + "_sum", labels, histogram.sum)
            sample(name + "_count", labels, Double(histogram.count))
        }
    }

    private mutating func header(_ name: String, _ kind: Kind, _ help: String) {
        text += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) \(kind.rawValue)\n"
    }

    private mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(Self.escapeLabelValue($0.1))\"" }.joined(separator: ",") + "}"
        }
        text += " " + Self.number(value) + "\n"
    }

    /// Whole numbers without a fraction; infinities and NaN as the format spells them.
    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    static func escapeLabelValue(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func escapeHelp(_ help: String) -> String {
        help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// Durations as an admin writes them, in a configuration file or on a command line:
/// 30 (seconds), 30s, 5m, 2h, 1d, 250ms.
public enum DurationText {
    /// The seconds `text` names, or nil when it is not a duration or is negative.
    public static func seconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let number = Double(text.dropLast(suffix.count)), number >= 0, number.isFinite { return number * scale }
        }
        if let number = Double(text), number >= 0, number.isFinite { return number }
        return nil
    }
}

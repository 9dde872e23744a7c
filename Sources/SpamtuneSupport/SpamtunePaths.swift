/// Where spamtune keeps things unless its configuration or a command line says otherwise.
public enum SpamtunePaths {
    /// Training data and run records (`train`), checkpoints (`models`), feedback.
    public static let stateDirectory = "/var/lib/spamtune"
    /// The configuration spamtuned reads, and spamtune finds the control socket in.
    public static let configurationFile = "/etc/spamtune/spamtune.conf"
}

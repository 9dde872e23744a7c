/// Errors loading or running a classifier, worded for the admin who must act on them.
public enum ClassifierError: Error, CustomStringConvertible, Equatable {
    /// A checkpoint (directory or file) that cannot be used, and why.
    case checkpoint(String, String)
    /// A base model or head file that cannot be used.
    case model(String, String)
    case tokenizer(String)
    case input(String, String)

    public var description: String {
        switch self {
        case let .checkpoint(path, why): "checkpoint \(path) \(why)"
        case let .model(path, why): "\(path): \(why)"
        case let .tokenizer(why): why
        case let .input(source, why): "\(source): \(why)"
        }
    }
}

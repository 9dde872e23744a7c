/// Why a GPT-2 tokenizer could not be loaded. Every case names the file at fault, and
/// `description` is written for the mail admin who has to fix the installation.
public enum TokenizerLoadError: Error, Equatable, CustomStringConvertible {
    /// The directory has neither OpenAI's pair of files nor Hugging Face's.
    case filesNotFound(directory: String)
    case missingFile(path: String)
    case unreadableFile(path: String, reason: String)
    /// encoder.json / vocab.json is not a JSON object mapping byte-level token strings to ids.
    case invalidVocabulary(path: String, reason: String)
    /// A line of vocab.bpe / merges.txt is not two byte-level tokens separated by a space.
    case malformedMerge(path: String, line: Int, reason: String)
    /// Both files parse, but do not describe the same tokenizer.
    case inconsistentFiles(vocabularyPath: String, mergesPath: String, reason: String)

    public var description: String {
        switch self {
        case .filesNotFound(let directory):
            return "no GPT-2 tokenizer in \(directory): expected encoder.json and vocab.bpe (OpenAI's names) or vocab.json and merges.txt (Hugging Face's)"
        case .missingFile(let path):
            return "GPT-2 tokenizer file \(path) does not exist"
        case .unreadableFile(let path, let reason):
            return "cannot read GPT-2 tokenizer file \(path): \(reason)"
        case .invalidVocabulary(let path, let reason):
            return "GPT-2 vocabulary \(path) is not usable: \(reason)"
        case .malformedMerge(let path, let line, let reason):
            return "GPT-2 merges file \(path), line \(line): \(reason)"
        case .inconsistentFiles(let vocabularyPath, let mergesPath, let reason):
            return "GPT-2 tokenizer files \(vocabularyPath) and \(mergesPath) do not belong together: \(reason)"
        }
    }
}

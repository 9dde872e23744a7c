import Foundation

/// The pretrained GPT-2 sizes `--base` accepts.
public enum GPT2Size: String, CaseIterable, Sendable {
    case gpt2 = "gpt2"
    case medium = "gpt2-medium"
    case large = "gpt2-large"
    case xl = "gpt2-xl"

    /// OpenAI's name for the size, used in its checkpoint URLs and the book.
    public var openAIName: String {
        switch self {
        case .gpt2: "124M"
        case .medium: "355M"
        case .large: "774M"
        case .xl: "1558M"
        }
    }

    public var huggingFaceRepository: String { "openai-community/\(rawValue)" }
}

/// Where a pretrained GPT-2 comes from.
public enum ModelSource: String, CaseIterable, Sendable {
    /// Hugging Face's safetensors and tokenizer files.
    case huggingFace = "huggingface"
    /// OpenAI's original TensorFlow checkpoint, as the book downloads it, with the
    /// book's backup mirror.
    case openAICheckpoint = "openai"
}

/// Every download spamtune knows, as data: URLs, cache directories, and the sizes and
/// hashes that public sources confirm.
///
/// Provenance of the known values:
/// - Hugging Face openai-community/gpt2 (revision 607a30d): model.safetensors 548,105,171
///   bytes sha256 248dfc39…, config.json 665 bytes 0daed774…, vocab.json 1,042,301 bytes
///   196139…, merges.txt 456,318 bytes 1ce16647… (the Hub's LFS pointer and manifests
///   published by several projects; vocab.json and merges.txt are tiktoken's pinned
///   encoder.json and vocab.bpe).
/// - OpenAI 124M and 355M: the sizes the book's own tests check (rasbt/LLMs-from-scratch
///   ch05/01_main-chapter-code/tests.py). 124M hashes: encoder.json and vocab.bpe as
///   tiktoken pins them; checkpoint, hparams.json and model.ckpt.index from the public
///   copies of the release in ../shared (their sizes match the book's).
/// - Everything else is unconfirmed and left open: the size is taken from the server and
///   the downloaded file's hash is recorded.
public enum ModelCatalog {
    public static let huggingFaceBase = URL(string: "https://huggingface.co")!
    public static let openAIBase = URL(string: "https://openaipublic.blob.core.windows.net/gpt-2/models")!
    /// The book's backup for OpenAI's files (gpt_download.py's `backup_base_url`).
    public static let bookBackupBase = URL(string: "https://f001.backblazeb2.com/file/LLMs-from-scratch/gpt2")!

    public static let huggingFaceFileNames = ["model.safetensors", "config.json", "vocab.json", "merges.txt"]
    public static let openAIFileNames = [
        "checkpoint", "encoder.json", "hparams.json", "model.ckpt.data-00000-of-00001", "model.ckpt.index", "model.ckpt.meta", "vocab.bpe",
    ]

    private static let encoderJSON = Known(1_042_301, "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783")
    private static let vocabBPE = Known(456_318, "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5")

    private struct Known {
        let size: Int64?
        let sha256: String?
        init(_ size: Int64?, _ sha256: String? = nil) {
            self.size = size
            self.sha256 = sha256
        }
    }

    private static func known(_ size: GPT2Size, _ source: ModelSource, _ name: String) -> Known? {
        switch (source, size, name) {
        case (.huggingFace, .gpt2, "model.safetensors"): Known(548_105_171, "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707")
        case (.huggingFace, .gpt2, "config.json"): Known(665, "0daed7749b4f02b8f76240d5444551d7b08712dab4d0adb8239c56ba823bb7b4")
        case (.huggingFace, .gpt2, "vocab.json"): encoderJSON
        case (.huggingFace, .gpt2, "merges.txt"): vocabBPE
        case (.openAICheckpoint, .gpt2, "checkpoint"): Known(77, "dd1b025d2e155283f5e300ce95bf6d5b6bc0f7fe010db73daa6975eb896ab9cb")
        case (.openAICheckpoint, .gpt2, "encoder.json"): encoderJSON
        case (.openAICheckpoint, .gpt2, "hparams.json"): Known(90, "d9d56e4121c427164e0c55c6f03c08e1daf9002b9b672825112d19097b680318")
        case (.openAICheckpoint, .gpt2, "model.ckpt.data-00000-of-00001"): Known(497_759_232)
        case (.openAICheckpoint, .gpt2, "model.ckpt.index"): Known(5215, "71916f763f9746f9b2a06b12d91996cf1084ae008d0424543d39391c5f2dc687")
        case (.openAICheckpoint, .gpt2, "model.ckpt.meta"): Known(471_155)
        case (.openAICheckpoint, .gpt2, "vocab.bpe"): vocabBPE
        case (.openAICheckpoint, .medium, "checkpoint"): Known(77)
        case (.openAICheckpoint, .medium, "encoder.json"): Known(1_042_301)
        case (.openAICheckpoint, .medium, "hparams.json"): Known(91)
        case (.openAICheckpoint, .medium, "model.ckpt.data-00000-of-00001"): Known(1_419_292_672)
        case (.openAICheckpoint, .medium, "model.ckpt.index"): Known(10399)
        case (.openAICheckpoint, .medium, "model.ckpt.meta"): Known(926_519)
        case (.openAICheckpoint, .medium, "vocab.bpe"): Known(456_318)
        default: nil
        }
    }

    /// The files of a pretrained GPT-2 and where they go in the cache:
    /// `models/openai-community--<size>/` for Hugging Face, `models/openai-gpt2-tf/<124M…>/`
    /// for OpenAI's checkpoint.
    public static func plan(for size: GPT2Size, from source: ModelSource) -> DownloadPlan {
        switch source {
        case .huggingFace:
            let files = huggingFaceFileNames.map { name in
                let url = huggingFaceBase.appendingPathComponent("\(size.huggingFaceRepository)/resolve/main/\(name)")
                let facts = known(size, source, name)
                return RemoteFile(name: name, urls: [url], expectedSize: facts?.size, expectedSHA256: facts?.sha256)
            }
            return DownloadPlan(
                title: "GPT-2 \(size.openAIName) (\(size.huggingFaceRepository), Hugging Face)",
                directory: "models/\(size.huggingFaceRepository.replacingOccurrences(of: "/", with: "--"))", files: files)
        case .openAICheckpoint:
            let files = openAIFileNames.map { name in
                let primary = openAIBase.appendingPathComponent("\(size.openAIName)/\(name)")
                let backup = bookBackupBase.appendingPathComponent("\(size.openAIName)/\(name)")
                let facts = known(size, source, name)
                return RemoteFile(name: name, urls: [primary, backup], expectedSize: facts?.size, expectedSHA256: facts?.sha256)
            }
            return DownloadPlan(
                title: "GPT-2 \(size.openAIName) (OpenAI's TensorFlow checkpoint)",
                directory: "models/openai-gpt2-tf/\(size.openAIName)", files: files)
        }
    }

    /// The SMS Spam Collection as UCI serves it, cached as `data/sms+spam+collection.zip`.
    /// The archive's own hash is not published (the collection inside it is checked).
    public static let smsSpamCollection = DownloadPlan(
        title: "the SMS Spam Collection (UCI)", directory: "data",
        files: [RemoteFile(name: "sms+spam+collection.zip", urls: [SMSSpamCollection.archiveURL])])
}

extension ModelCatalog {
    /// The SpamAssassin public corpus as Apache serves it, cached in
    /// `data/spamassassin-publiccorpus/`, each tarball under its published name (the name
    /// `--file-url` takes). Its content is pinned in `SpamAssassinCorpus.parts`.
    public static let spamAssassinCorpus = DownloadPlan(
        title: "the SpamAssassin public corpus (Apache)", directory: "data/spamassassin-publiccorpus",
        files: SpamAssassinCorpus.parts.map { part in
            RemoteFile(
                name: part.archiveName, urls: [SpamAssassinCorpus.baseURL.appendingPathComponent(part.archiveName)],
                expectedSize: part.pinnedSize, expectedSHA256: part.pinnedSHA256)
        })
}

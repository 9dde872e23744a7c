import Foundation
import SpamtuneClassifier
import SpamtuneModel
import SpamtuneSupport
import SpamtuneTokenizer
import SpamtuneWeights

/// The model a run starts from: a pretrained GPT-2 (downloaded, cached or local) or,
/// when none can be had, a small one initialised at random.
enum BaseModel {
    case pretrained(Pretrained)
    case scratch(GPT2Config)

    struct Pretrained {
        let name: String
        /// huggingface, openai-tensorflow or local.
        let source: String
        let weights: GPT2Weights
        /// The file the checkpoint will refer to (model.safetensors or the TF checkpoint's index).
        let weightsFile: URL
        let bytes: Int
        let sha256: String
        let tokenizer: TokenizerFiles
    }

    var tokenizerFiles: TokenizerFiles? {
        if case let .pretrained(pretrained) = self { return pretrained.tokenizer }
        return nil
    }

    /// Resolves `options.base`. When a pretrained GPT-2 cannot be had, `options.fallback`
    /// decides whether the run trains scratch instead (saying exactly why) or stops with
    /// `BaseModelUnavailable`; a local path must exist.
    static func resolve(_ options: TrainingOptions, downloader: Downloader, log: TrainingLog) async throws -> BaseModel {
        let base = options.base
        if base == "scratch" {
            log("base model: scratch (\(options.scratch.layers) layers, \(options.scratch.embeddingSize) wide), trained from random weights as asked")
            return .scratch(try options.scratch.config)
        }
        guard let size = GPT2Size(rawValue: base) else { return .pretrained(try local(URL(fileURLWithPath: base), log: log)) }
        let failure: DownloadError
        switch await download(size, options: options, downloader: downloader, log: log) {
        case .success(let fetched): return .pretrained(try fetched.load(size, log: log))
        case .failure(let error): failure = error
        }
        let current = try? CheckpointManifest.read(from: CheckpointStore(root: options.modelsDirectory).currentLink)
        if let refusal = options.fallback.refusal(for: failure, baseIsExplicit: options.baseIsExplicit, currentBase: current?.base) {
            throw BaseModelUnavailable(name: base, failure: failure, refusal: refusal)
        }
        log.warning("NO PRETRAINED GPT-2 COULD BE HAD: \(failure)")
        log.warning("Training the small 'scratch' model from random weights instead (\(options.fallback == .scratch ? "--fallback scratch" : "a first run of the default base, with nothing fetched")): it still makes a working filter,")
        log.warning("but a pretrained one is more accurate. Run again with network access, --mirror URL, or --base PATH.")
        return .scratch(try options.scratch.config)
    }

    /// A pretrained GPT-2's files, complete in the cache.
    private struct Fetched {
        let source: ModelSource
        let directory: URL
        let files: [CachedFile]

        func load(_ size: GPT2Size, log: TrainingLog) throws -> Pretrained {
            let weights = try GPT2Weights.load(from: directory.path)
            let main = files.first { $0.name == "model.safetensors" || $0.name == "model.ckpt.data-00000-of-00001" }
            let weightsFile = source == .huggingFace ? directory.appendingPathComponent("model.safetensors") : directory
            log("base model: \(size.rawValue) from \(source == .huggingFace ? "Hugging Face" : "OpenAI's checkpoint") in \(directory.path)")
            return Pretrained(
                name: size.rawValue, source: source == .huggingFace ? "huggingface" : "openai-tensorflow",
                weights: weights, weightsFile: weightsFile, bytes: Int(main?.size ?? 0), sha256: main?.sha256 ?? "",
                tokenizer: try TokenizerFiles(directory: directory))
        }
    }

    /// The first source that serves the whole model, or why none did.
    private static func download(
        _ size: GPT2Size, options: TrainingOptions, downloader: Downloader, log: TrainingLog
    ) async -> Result<Fetched, DownloadError> {
        let sources: [ModelSource] =
            switch options.source {
            case .huggingface: [.huggingFace]
            case .openai: [.openAICheckpoint]
            case .automatic: [.huggingFace, .openAICheckpoint]
            }
        let overrides = URLOverrides(mirror: options.mirror, files: options.fileURLs)
        var errors = [DownloadError]()
        for source in sources {
            let plan = ModelCatalog.plan(for: size, from: source).applying(overrides)
            do {
                let files = try await downloader.fetch(plan)
                return .success(Fetched(source: source, directory: downloader.directory(for: plan), files: files))
            } catch {
                log.warning("\(plan.title): \(error)")
                errors.append(error)
            }
        }
        if errors.count == 1 { return .failure(errors[0]) }
        return .failure(DownloadError(
            file: "GPT-2 \(size.openAIName)", destination: downloader.cacheRoot.path, url: nil, reason: .everySourceFailed(errors)))
    }

    /// A GPT-2 on disk: model.safetensors (or a directory holding it, or a TensorFlow
    /// checkpoint), with the tokenizer files beside it.
    private static func local(_ url: URL, log: TrainingLog) throws -> Pretrained {
        let weights: GPT2Weights
        do {
            weights = try GPT2Weights.load(from: url.path)
        } catch {
            throw TrainingError.baseModel(url.path, "\(error)")
        }
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        let directory = isDirectory.boolValue ? url : url.deletingLastPathComponent()
        let file = isDirectory.boolValue && FileManager.default.fileExists(atPath: url.appendingPathComponent("model.safetensors").path)
            ? url.appendingPathComponent("model.safetensors") : url
        let tokenizer: TokenizerFiles
        do {
            tokenizer = try TokenizerFiles(directory: directory)
        } catch {
            throw TrainingError.baseModel(url.path, "has no tokenizer files beside it (encoder.json + vocab.bpe, or vocab.json + merges.txt)")
        }
        let hash = try hashFile(file)
        log("base model: \(url.path) (\(weights.config))")
        return Pretrained(
            name: url.lastPathComponent, source: "local", weights: weights, weightsFile: file, bytes: hash.bytes,
            sha256: hash.sha256, tokenizer: tokenizer)
    }

    static func hashFile(_ url: URL) throws -> (bytes: Int, sha256: String) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            return (0, "")
        }
        let mapped = try MappedFile(path: url.path)
        var hasher = SHA256()
        hasher.update(mapped.bytes)
        return (mapped.count, hasher.finalize().hexString)
    }
}

public enum TrainingError: Error, CustomStringConvertible {
    case baseModel(String, String)
    case data(String)
    case checkpoint(String)

    public var description: String {
        switch self {
        case let .baseModel(path, why): "base model \(path): \(why)"
        case let .data(why): why
        case let .checkpoint(why): why
        }
    }
}

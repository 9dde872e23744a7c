import Foundation

/// A GPT-2's configuration and its tensors under canonical Hugging Face names, checked
/// for presence and shape. Loading maps the files and reads headers only: F32 data is
/// used in place, so a 500 MB model costs page cache, not a copy.
public struct GPT2Weights: Sendable {
    public let config: GPT2Config
    private let layers: [Layer]
    private let parameters: [GPT2Parameter: TensorView]

    /// A store and its names without `transformer.` prefixes (canonical -> stored).
    private struct Layer: @unchecked Sendable {
        let store: any TensorStore
        let storedNames: [String: String]
    }

    /// Where tensors come from, the one laid over the others first (see `overlaid(with:)`).
    public var stores: [any TensorStore] { layers.map(\.store) }

    /// Names that GPT-2 files carry besides the model and that are not part of it: the
    /// LM head (tied to wte) and the attention-mask buffers some exports include.
    static func isIgnoredBuffer(_ name: String) -> Bool {
        name == "lm_head.weight" || name.hasSuffix(".attn.bias") || name.hasSuffix(".attn.masked_bias")
    }

    static let huggingFacePrefix = "transformer."

    /// Loads from any of:
    /// - a `.safetensors` file (configuration from `config.json` or `hparams.json` beside
    ///   it, else from its `__metadata__` and tensor shapes);
    /// - a directory holding `model.safetensors`, or `model.ckpt.index` and its data file;
    /// - a TensorFlow checkpoint prefix (`.../model.ckpt`) or its `.index` file
    ///   (configuration from `hparams.json` or `config.json` beside it).
    /// `config`, when given, is used instead of any configuration found with the files.
    /// `verifyChecksums` checks a TensorFlow checkpoint's CRC32Cs (safetensors has none).
    public static func load(from path: String, config: GPT2Config? = nil, verifyChecksums: Bool = false) throws -> GPT2Weights {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        let exists = fileManager.fileExists(atPath: path, isDirectory: &isDirectory)
        func sibling(_ directory: String, _ names: [String]) -> String? {
            names.map { (directory as NSString).appendingPathComponent($0) }.first { fileManager.fileExists(atPath: $0) }
        }
        func tensorFlow(prefix: String) throws -> GPT2Weights {
            let checkpoint = try TensorFlowCheckpoint(prefix: prefix, verifyChecksums: verifyChecksums)
            let directory = (prefix as NSString).deletingLastPathComponent
            return try GPT2Weights(store: TensorFlowGPT2Store(checkpoint), config: config, configFile: sibling(directory, ["hparams.json", "config.json"]))
        }
        func safetensors(_ file: String) throws -> GPT2Weights {
            let store = try SafetensorsFile(path: file)
            let directory = (file as NSString).deletingLastPathComponent
            return try GPT2Weights(store: store, config: config, configFile: sibling(directory, ["config.json", "hparams.json"]))
        }

        if exists && isDirectory.boolValue {
            if let file = sibling(path, ["model.safetensors"]) { return try safetensors(file) }
            if sibling(path, ["model.ckpt.index"]) != nil { return try tensorFlow(prefix: (path as NSString).appendingPathComponent("model.ckpt")) }
            throw WeightsError(.fileAccess, file: path, "holds neither model.safetensors nor model.ckpt.index: no GPT-2 weights here")
        }
        if exists && path.hasSuffix(".index") { return try tensorFlow(prefix: String(path.dropLast(".index".count))) }
        if exists { return try safetensors(path) }
        if fileManager.fileExists(atPath: path + ".index") { return try tensorFlow(prefix: path) }
        throw WeightsError(.fileAccess, file: path, "no such file, directory or checkpoint prefix")
    }

    /// Checks `store` against a configuration: `config` if given, else `configFile`, else
    /// the store's own metadata and tensor shapes.
    public init(store: any TensorStore, config: GPT2Config? = nil, configFile: String? = nil) throws {
        let names = try Self.canonicalNames(in: store)
        let config = try config ?? Self.resolveConfig(store: store, names: names, configFile: configFile)
        try Self.checkNoLayersBeyond(config, store: store)
        var parameters: [GPT2Parameter: TensorView] = [:]
        for parameter in GPT2Parameter.all(in: config) {
            guard let stored = names[parameter.name] else {
                let tensorFlowName = store is TensorFlowGPT2Store ? TensorFlowGPT2Naming.tensorFlowName(forCanonicalName: parameter.name).map { " as '\($0)'" } ?? "" : ""
                throw WeightsError(
                    .missingTensor, file: store.path, tensor: parameter.name,
                    "missing: a \(config) needs it\(tensorFlowName) with shape \(describeShape(parameter.shape(in: config)))")
            }
            parameters[parameter] = try Self.checkedView(of: parameter, storedAs: stored, in: store, config: config)
        }
        self.config = config
        self.layers = [Layer(store: store, storedNames: names)]
        self.parameters = parameters
    }

    private init(config: GPT2Config, layers: [Layer], parameters: [GPT2Parameter: TensorView]) {
        self.config = config
        self.layers = layers
        self.parameters = parameters
    }

    /// A parameter of the model; always present (checked at load).
    public func tensor(_ parameter: GPT2Parameter) -> TensorView {
        guard let view = parameters[parameter] else {
            preconditionFailure("\(parameter.name) is not a parameter of a \(config)")
        }
        return view
    }

    /// Any tensor by name: a model parameter (with or without `transformer.`), or another
    /// tensor of the files such as a classification head's `score.weight`.
    public func tensor(named name: String) throws -> TensorView {
        let canonical = Self.canonicalName(name)
        if let parameter = GPT2Parameter(name: canonical), let view = parameters[parameter] { return view }
        for layer in layers {
            if let stored = layer.storedNames[canonical] { return try layer.store.tensor(named: stored).renamed(canonical) }
        }
        throw WeightsError(.missingTensor, file: stores.map(\.path).joined(separator: " + "), tensor: name, "no such tensor")
    }

    public func contains(_ name: String) -> Bool {
        let canonical = Self.canonicalName(name)
        if let parameter = GPT2Parameter(name: canonical), parameters[parameter] != nil { return true }
        return layers.contains { $0.storedNames[canonical] != nil }
    }

    /// Tensors in the files that are not GPT-2 parameters nor ignorable buffers (for
    /// example `score.weight`, `score.bias`), without `transformer.` prefixes, sorted.
    public var extraTensorNames: [String] {
        var names = Set<String>()
        for layer in layers {
            for canonical in layer.storedNames.keys where GPT2Parameter(name: canonical) == nil && !Self.isIgnoredBuffer(canonical) {
                names.insert(canonical)
            }
        }
        return names.sorted()
    }

    /// These weights with `store`'s tensors laid over them: model parameters it holds
    /// replace the current ones (same shapes required), and its other tensors (a
    /// classification head) become reachable by `tensor(named:)`.
    public func overlaid(with store: any TensorStore) throws -> GPT2Weights {
        let names = try Self.canonicalNames(in: store)
        try Self.checkNoLayersBeyond(config, store: store)
        var parameters = self.parameters
        for parameter in GPT2Parameter.all(in: config) {
            if let stored = names[parameter.name] {
                parameters[parameter] = try Self.checkedView(of: parameter, storedAs: stored, in: store, config: config)
            }
        }
        return GPT2Weights(config: config, layers: [Layer(store: store, storedNames: names)] + layers, parameters: parameters)
    }

    // MARK: - Checks

    static func canonicalName(_ name: String) -> String {
        name.hasPrefix(huggingFacePrefix) ? String(name.dropFirst(huggingFacePrefix.count)) : name
    }

    /// canonical name -> name in the store. A file holding a tensor both with and without
    /// the `transformer.` prefix is ambiguous and refused.
    static func canonicalNames(in store: any TensorStore) throws -> [String: String] {
        var result: [String: String] = [:]
        for name in store.names {
            let canonical = canonicalName(name)
            if let other = result[canonical] {
                throw WeightsError(.corruptFile, file: store.path, tensor: canonical, "present twice, as '\(other)' and '\(name)': cannot tell which to use")
            }
            result[canonical] = name
        }
        return result
    }

    private static func checkedView(of parameter: GPT2Parameter, storedAs stored: String, in store: any TensorStore, config: GPT2Config) throws -> TensorView {
        let expected = parameter.shape(in: config)
        let found = store.shape(of: stored) ?? []
        guard found == expected else {
            throw WeightsError(
                .shapeMismatch, file: store.path, tensor: stored,
                "\(storedAsNote(parameter.name, stored, store))has shape \(describeShape(found)) but a \(config) needs \(describeShape(expected))")
        }
        return try store.tensor(named: stored).renamed(parameter.name)
    }

    /// TensorFlow names differ from the canonical ones: say both.
    private static func storedAsNote(_ canonical: String, _ stored: String, _ store: any TensorStore) -> String {
        if let tensorFlow = store as? TensorFlowGPT2Store, let original = tensorFlow.storedName(of: stored), original != canonical {
            return "(stored as '\(original)') "
        }
        return ""
    }

    /// A file with blocks the configuration does not have would be silently cut short.
    private static func checkNoLayersBeyond(_ config: GPT2Config, store: any TensorStore) throws {
        // In the store's order, so the same file always names the same tensor.
        for stored in store.names {
            if case .block(let layer, _)? = GPT2Parameter(name: canonicalName(stored)), layer >= config.layerCount {
                throw WeightsError(
                    .shapeMismatch, file: store.path, tensor: stored,
                    "belongs to block \(layer) but the configuration has \(config.layerCount) layers: the configuration does not match the weights")
            }
        }
    }

    // MARK: - Configuration

    static func resolveConfig(store: any TensorStore, names: [String: String], configFile: String?) throws -> GPT2Config {
        let metadata = try (store as? SafetensorsFile).map { try GPT2Config.fields(fromMetadata: $0.metadata, file: $0.path) } ?? PartialGPT2Config()
        if let configFile {
            let config = try GPT2Config.read(from: configFile)
            for (key, fromFile, fromMetadata) in PartialGPT2Config(config).pairs(with: metadata) {
                if let fromMetadata, let fromFile, fromMetadata != fromFile {
                    throw WeightsError(.invalidConfig, file: configFile, "says \(key) = \(fromFile) but the __metadata__ of \(store.path) says \(fromMetadata)")
                }
            }
            return config
        }
        let combined = metadata.filled(from: try inferredShape(store: store, names: names))
        guard let headCount = combined.headCount else {
            throw WeightsError(
                .invalidConfig, file: store.path,
                "has no configuration: the number of attention heads cannot be inferred from tensor shapes; put a config.json (with n_head) beside it")
        }
        guard let layers = combined.layerCount, let embedding = combined.embeddingSize, let context = combined.contextLength, let vocabulary = combined.vocabularySize else {
            throw WeightsError(.invalidConfig, file: store.path, "has no configuration and its tensors do not show the model's shape (no wte.weight, wpe.weight or h.0 block)")
        }
        return try GPT2Config(layerCount: layers, embeddingSize: embedding, headCount: headCount, contextLength: context, vocabularySize: vocabulary, source: store.path)
    }

    /// What the tensors themselves say: wte is [vocabulary, embedding], wpe [context,
    /// embedding], and blocks h.0 ... h.(L-1) exist.
    static func inferredShape(store: any TensorStore, names: [String: String]) throws -> PartialGPT2Config {
        var result = PartialGPT2Config()
        if let stored = names["wte.weight"], let shape = store.shape(of: stored), shape.count == 2 {
            result.vocabularySize = shape[0]
            result.embeddingSize = shape[1]
        }
        if let stored = names["wpe.weight"], let shape = store.shape(of: stored), shape.count == 2 {
            result.contextLength = shape[0]
        }
        var layers = 0
        while names["h.\(layers).ln_1.weight"] != nil { layers += 1 }
        if layers > 0 { result.layerCount = layers }
        return result
    }
}

/// One of a GPT-2's parameter tensors, named as Hugging Face's GPT2Model names them
/// (`wte.weight`, `h.3.attn.c_attn.weight`, ...). Linear weights are stored [in, out]
/// (GPT-2's Conv1D), as in both the HF and the OpenAI files.
public enum GPT2Parameter: Hashable, Sendable, CustomStringConvertible {
    case tokenEmbedding
    case positionEmbedding
    case block(Int, GPT2BlockParameter)
    case finalNormWeight
    case finalNormBias

    public var name: String {
        switch self {
        case .tokenEmbedding: "wte.weight"
        case .positionEmbedding: "wpe.weight"
        case .block(let layer, let parameter): "h.\(layer).\(parameter.rawValue)"
        case .finalNormWeight: "ln_f.weight"
        case .finalNormBias: "ln_f.bias"
        }
    }

    public var description: String { name }

    /// The shape this tensor must have in a model of `config`.
    public func shape(in config: GPT2Config) -> [Int] {
        let c = config.embeddingSize
        switch self {
        case .tokenEmbedding: return [config.vocabularySize, c]
        case .positionEmbedding: return [config.contextLength, c]
        case .finalNormWeight, .finalNormBias: return [c]
        case .block(_, let parameter):
            switch parameter {
            case .norm1Weight, .norm1Bias, .norm2Weight, .norm2Bias, .attentionProjectionBias, .feedForwardProjectionBias: return [c]
            case .qkvWeight: return [c, 3 * c]
            case .qkvBias: return [3 * c]
            case .attentionProjectionWeight: return [c, c]
            case .feedForwardWeight: return [c, 4 * c]
            case .feedForwardBias: return [4 * c]
            case .feedForwardProjectionWeight: return [4 * c, c]
            }
        }
    }

    /// Every parameter of a model of `config`, in the order llm.c lays them out: embeddings,
    /// then per kind across all layers (all ln_1 weights, then all ln_1 biases, ...), then ln_f.
    public static func all(in config: GPT2Config) -> [GPT2Parameter] {
        var result: [GPT2Parameter] = [.tokenEmbedding, .positionEmbedding]
        for parameter in GPT2BlockParameter.allCases {
            for layer in 0..<config.layerCount { result.append(.block(layer, parameter)) }
        }
        return result + [.finalNormWeight, .finalNormBias]
    }

    /// Parses a canonical name (without any `transformer.` prefix).
    public init?(name: String) {
        switch name {
        case "wte.weight": self = .tokenEmbedding
        case "wpe.weight": self = .positionEmbedding
        case "ln_f.weight": self = .finalNormWeight
        case "ln_f.bias": self = .finalNormBias
        default:
            guard name.hasPrefix("h.") else { return nil }
            let rest = name.dropFirst(2)
            guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]), layer >= 0,
                  String(layer) == rest[..<dot],
                  let parameter = GPT2BlockParameter(rawValue: String(rest[rest.index(after: dot)...]))
            else { return nil }
            self = .block(layer, parameter)
        }
    }
}

/// The tensors of one transformer block, by their name inside the block.
public enum GPT2BlockParameter: String, CaseIterable, Hashable, Sendable {
    case norm1Weight = "ln_1.weight"
    case norm1Bias = "ln_1.bias"
    case qkvWeight = "attn.c_attn.weight"
    case qkvBias = "attn.c_attn.bias"
    case attentionProjectionWeight = "attn.c_proj.weight"
    case attentionProjectionBias = "attn.c_proj.bias"
    case norm2Weight = "ln_2.weight"
    case norm2Bias = "ln_2.bias"
    case feedForwardWeight = "mlp.c_fc.weight"
    case feedForwardBias = "mlp.c_fc.bias"
    case feedForwardProjectionWeight = "mlp.c_proj.weight"
    case feedForwardProjectionBias = "mlp.c_proj.bias"
}

/// OpenAI's TensorFlow names -> Hugging Face names: `model/h0/ln_1/g` -> `h.0.ln_1.weight`,
/// `/b` -> `.bias`, `/w` -> `.weight`, `model/wte` -> `wte.weight`.
public enum TensorFlowGPT2Naming {
    public static func canonicalName(forTensorFlowName name: String) -> String? {
        var components = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard components.count >= 2, components.removeFirst() == "model" else { return nil }
        if components == ["wte"] || components == ["wpe"] { return components[0] + ".weight" }
        guard let last = components.popLast() else { return nil }
        let suffix: String
        switch last {
        case "g", "w": suffix = "weight"
        case "b": suffix = "bias"
        default: return nil
        }
        if let block = components.first, block.hasPrefix("h"), let layer = Int(block.dropFirst()), layer >= 0 {
            components[0] = "h.\(layer)"
        }
        return (components + [suffix]).joined(separator: ".")
    }

    /// The inverse, for error messages about a tensor a TensorFlow checkpoint lacks.
    public static func tensorFlowName(forCanonicalName name: String) -> String? {
        if name == "wte.weight" || name == "wpe.weight" { return "model/" + name.dropLast(".weight".count) }
        var components = name.split(separator: ".").map(String.init)
        guard components.count >= 2, let last = components.popLast() else { return nil }
        if components.count >= 2, components[0] == "h", Int(components[1]) != nil {
            components[0] = "h" + components.remove(at: 1)
        }
        let isNorm = components.last?.hasPrefix("ln_") ?? false
        switch last {
        case "weight": components.append(isNorm ? "g" : "w")
        case "bias": components.append("b")
        default: return nil
        }
        return "model/" + components.joined(separator: "/")
    }
}

/// A TensorFlow GPT-2 checkpoint seen under Hugging Face names, with the Conv1D weights'
/// leading 1 dimension ([1, in, out] -> [in, out]) dropped. Tensors outside `model/` keep
/// their own names.
public final class TensorFlowGPT2Store: TensorStore, @unchecked Sendable {
    public let checkpoint: TensorFlowCheckpoint
    public let names: [String]
    private let storedNameByName: [String: String]

    public init(_ checkpoint: TensorFlowCheckpoint) {
        self.checkpoint = checkpoint
        var storedNameByName: [String: String] = [:]
        var names: [String] = []
        for stored in checkpoint.names {
            var name = TensorFlowGPT2Naming.canonicalName(forTensorFlowName: stored) ?? stored
            // A name taken already (only in a strange checkpoint) stays as TensorFlow wrote it.
            if storedNameByName[name] != nil { name = stored }
            storedNameByName[name] = stored
            names.append(name)
        }
        self.names = names
        self.storedNameByName = storedNameByName
    }

    public var path: String { checkpoint.indexPath }

    /// The name the checkpoint itself uses for `name`.
    public func storedName(of name: String) -> String? { storedNameByName[name] }

    public func shape(of name: String) -> [Int]? {
        guard let stored = storedNameByName[name], let shape = checkpoint.shape(of: stored) else { return nil }
        return squeezed(shape, storedName: stored)
    }

    public func tensor(named name: String) throws -> TensorView {
        guard let stored = storedNameByName[name] else {
            throw WeightsError(.missingTensor, file: path, tensor: name, "no such tensor in the checkpoint")
        }
        let view = try checkpoint.tensor(named: stored)
        return view.renamed(name, shape: squeezed(view.shape, storedName: stored))
    }

    private func squeezed(_ shape: [Int], storedName: String) -> [Int] {
        storedName.hasPrefix("model/") && storedName.hasSuffix("/w") && shape.count == 3 && shape[0] == 1 ? Array(shape.dropFirst()) : shape
    }
}

import SpamtuneKernels
import SpamtuneSupport

/// The number format of the four linear layers of each block (QKV, attention
/// projection, MLP expansion and contraction) when the model serves. Everything else
/// (embeddings, LayerNorm, attention, softmax, GELU, the head, the token evidence)
/// stays FP32, and training is FP32 only.
public enum Precision: String, CaseIterable, Sendable, Codable {
    case fp32, bf16, int8
}

/// A linear layer's weights in the form its matmul reads when serving in BF16 or
/// int8: converted once from the FP32 weights and packed for the kernels.
public enum ConvertedWeights: @unchecked Sendable {
    case bf16(BF16Weights)
    case int8(Int8Weights)

    init(_ layer: LinearParameters, precision: Precision) {
        switch precision {
        case .bf16: self = .bf16(BF16Weights(weights: layer.weight, k: layer.inputs, n: layer.outputs, ldb: layer.outputs))
        case .int8: self = .int8(Int8Weights(weights: layer.weight, k: layer.inputs, n: layer.outputs, ldb: layer.outputs))
        case .fp32: preconditionFailure("FP32 weights are read as they are, not converted")
        }
    }
}

extension BlockParameters {
    /// The four linear layers, for what is done to each alike.
    var linearLayers: [WritableKeyPath<BlockParameters, LinearParameters>] {
        [\.attention, \.attentionProjection, \.expansion, \.contraction]
    }
}

extension GPT2Parameters {
    /// These parameters serving in `precision`: each block's linear layers carry their
    /// weights converted (`ConvertedWeights`), which their matmul then reads instead of
    /// the FP32 ones. The FP32 views stay valid (the trainer's backward pass and other
    /// models may read them). A server, which never reads them again, passes
    /// `releasingFP32Pages`: each layer's FP32 pages go back to the kernel as soon as
    /// it is converted (in the 124M model they are 340 MB), so that they are never all
    /// resident beside the converted copies. They stay mapped, read back from their
    /// file if touched, so this changes memory, not results.
    public func converted(to precision: Precision, releasingFP32Pages release: Bool = false) -> GPT2Parameters {
        var result = self
        result.precision = precision
        for index in result.blocks.indices {
            for layer in result.blocks[index].linearLayers {
                let fp32 = blocks[index][keyPath: layer]
                result.blocks[index][keyPath: layer].converted = precision == .fp32 ? nil : ConvertedWeights(fp32, precision: precision)
                if release && precision != .fp32 {
                    ResidentPages.release(UnsafeRawPointer(fp32.weight), byteCount: fp32.inputs * fp32.outputs * MemoryLayout<Float>.stride)
                }
            }
        }
        return result
    }
}

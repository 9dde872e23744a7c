import SpamtuneWeights

/// Named tensors in one contiguous allocation: the trainable part of a model, its
/// gradients, and AdamW's moments all share this layout, so the optimizer is one loop
/// and a checkpoint writes the tensors by name.
public final class ParameterBuffer: @unchecked Sendable {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
    }

    public let entries: [Entry]
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    private let index: [String: Int]

    /// Zero-filled tensors of the given names and shapes, in that order.
    public init(layout: [(name: String, shape: [Int])]) {
        var offset = 0
        var entries: [Entry] = []
        for item in layout {
            entries.append(Entry(name: item.name, shape: item.shape, offset: offset))
            offset += item.shape.reduce(1, *)
        }
        self.entries = entries
        count = offset
        pointer = .allocate(capacity: max(offset, 1))
        pointer.update(repeating: 0, count: offset)
        index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
    }

    /// A buffer with the same layout, zero-filled (for gradients).
    public convenience init(sameLayoutAs other: ParameterBuffer) {
        self.init(layout: other.entries.map { ($0.name, $0.shape) })
    }

    deinit { pointer.deallocate() }

    public func contains(_ name: String) -> Bool { index[name] != nil }

    public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    /// The tensor's storage; the name must be in the layout.
    public func tensor(_ name: String) -> UnsafeMutablePointer<Float> {
        guard let i = index[name] else { preconditionFailure("no tensor \(name) in this parameter buffer") }
        return pointer + entries[i].offset
    }

    public func zero() { pointer.update(repeating: 0, count: count) }

    /// Copies each tensor's values from `source`; those named in `optional` that the
    /// source lacks stay zero.
    public func load(from source: some TensorSource, optional: Set<String> = []) throws {
        for entry in entries {
            let values: UnsafePointer<Float>
            do {
                values = try source.floats(named: entry.name, shape: entry.shape)
            } catch where optional.contains(entry.name) {
                continue
            }
            (pointer + entry.offset).update(from: values, count: entry.count)
        }
    }

    public func values(_ name: String) -> [Float] {
        guard let entry = entry(name) else { return [] }
        return Array(UnsafeBufferPointer(start: pointer + entry.offset, count: entry.count))
    }
}

/// Tensors from a ParameterBuffer where it has them, and from a base source otherwise:
/// a model whose trainable part lives in the buffer.
public struct OverlayTensorSource<Base: TensorSource>: TensorSource {
    public let overlay: ParameterBuffer
    public let base: Base

    public init(overlay: ParameterBuffer, base: Base) {
        self.overlay = overlay
        self.base = base
    }

    public func floats(named name: String, shape: [Int]) throws -> UnsafePointer<Float> {
        if let entry = overlay.entry(name) {
            guard entry.shape == shape else {
                throw ModelError.shapeMismatch(tensor: name, expected: shape, found: entry.shape)
            }
            return UnsafePointer(overlay.pointer + entry.offset)
        }
        return try base.floats(named: name, shape: shape)
    }
}

public enum ModelError: Error, CustomStringConvertible, Equatable {
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    case invalidTrainableBlocks(requested: Int, layers: Int)
    case emptyBatch
    case labelOutOfRange(label: Int, classes: Int)
    case languageModelNeedsABlock
    case tokenOutsideVocabulary(Int)

    public var description: String {
        switch self {
        case let .shapeMismatch(tensor, expected, found):
            "tensor \(tensor) has shape \(found), expected \(expected)"
        case let .invalidTrainableBlocks(requested, layers):
            "cannot train the last \(requested) blocks of a model with \(layers)"
        case .emptyBatch:
            "a training batch needs at least one example"
        case let .labelOutOfRange(label, classes):
            "label \(label) is not one of the \(classes) classes"
        case .languageModelNeedsABlock:
            "language-model training needs a trainable block: with only the head and the final LayerNorm trained there is nothing to adapt"
        case let .tokenOutsideVocabulary(token):
            "token \(token) is not in the vocabulary the language-model head predicts"
        }
    }
}

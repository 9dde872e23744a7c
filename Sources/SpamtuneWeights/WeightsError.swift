/// Everything that can go wrong reading or writing model weights. One type with a `kind`
/// so callers can react to the category, and a message a mail admin can act on: it
/// always names the file, and the tensor when one is at fault.
public struct WeightsError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// The file cannot be opened, mapped or written.
        case fileAccess
        /// The container's own structure is damaged (header, index, footer, protobuf).
        case corruptFile
        /// The file ends before a tensor's data does.
        case truncated
        /// Two tensors claim the same bytes.
        case overlappingTensors
        /// An element type this reader does not convert to Float.
        case unsupportedDType
        /// A stored checksum does not match the bytes.
        case checksumMismatch
        /// The model configuration is missing, unreadable or inconsistent.
        case invalidConfig
        /// A tensor the model needs is absent.
        case missingTensor
        /// A tensor is present with the wrong shape.
        case shapeMismatch
        /// Asked to write something that cannot be written (duplicate name, count/shape mismatch).
        case invalidTensor
        /// The disk is full or over quota while writing.
        case diskFull
    }

    public let kind: Kind
    public let file: String
    public let tensor: String?
    public let detail: String

    public init(_ kind: Kind, file: String, tensor: String? = nil, _ detail: String) {
        self.kind = kind
        self.file = file
        self.tensor = tensor
        self.detail = detail
    }

    public var description: String {
        if let tensor { return "\(file): tensor '\(tensor)': \(detail)" }
        return "\(file): \(detail)"
    }
}

func describeShape(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }

/// Element count of a shape, or nil when a dimension is negative or the product overflows
/// (hostile headers can declare anything).
func elementCount(of shape: [Int]) -> Int? {
    var count = 1
    for dimension in shape {
        guard dimension >= 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
        if overflow { return nil }
        count = product
    }
    return count
}

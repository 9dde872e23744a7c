import Foundation
import SpamtuneSupport

/// Element types a safetensors header may name. Only the float ones become tensors; the
/// others are known so that their sizes can still be checked.
public enum SafetensorsDType: Equatable, Sendable, CustomStringConvertible {
    case float32, float16, bfloat16
    /// Any other type: its name as written in the header and its element size if known.
    case other(name: String, byteSize: Int?)

    init(headerName: String) {
        switch headerName {
        case "F32": self = .float32
        case "F16": self = .float16
        case "BF16": self = .bfloat16
        case "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3": self = .other(name: headerName, byteSize: 1)
        case "I16", "U16": self = .other(name: headerName, byteSize: 2)
        case "I32", "U32": self = .other(name: headerName, byteSize: 4)
        case "F64", "I64", "U64": self = .other(name: headerName, byteSize: 8)
        default: self = .other(name: headerName, byteSize: nil)
        }
    }

    public var byteSize: Int? {
        switch self {
        case .float32: 4
        case .float16, .bfloat16: 2
        case .other(_, let size): size
        }
    }

    public var description: String {
        switch self {
        case .float32: "F32"
        case .float16: "F16"
        case .bfloat16: "BF16"
        case .other(let name, _): name
        }
    }
}

/// A safetensors file, memory-mapped. Opening it validates the whole header against the
/// file (sizes, ranges, overlaps, truncation) without touching tensor data; F32 tensors
/// are then handed out as pointers into the mapping, F16/BF16 ones widened once on first
/// use and cached.
public final class SafetensorsFile: TensorStore, @unchecked Sendable {
    public struct TensorInfo: Equatable, Sendable {
        public let name: String
        public let dtype: SafetensorsDType
        public let shape: [Int]
        /// Byte range within the whole file (not relative to the data section).
        public let fileRange: Range<Int>
    }

    /// Headers larger than this are refused rather than parsed (the reference
    /// implementation's limit), so a hostile length cannot make us read gigabytes of JSON.
    public static let maximumHeaderSize = 100_000_000

    public let path: String
    public let metadata: [String: String]
    /// Tensor names in the order their data appears in the file.
    public let names: [String]
    private let infoByName: [String: TensorInfo]
    private let file: MappedFile
    private let views = FloatViews()

    public convenience init(url: URL) throws { try self.init(path: url.path) }

    public init(path: String) throws {
        self.path = path
        do {
            file = try MappedFile(path: path)
        } catch let error as FileAccessError {
            throw WeightsError(.fileAccess, file: path, "cannot open: \(error.reason)")
        }
        let bytes = file.bytes
        guard bytes.count >= 8 else {
            throw WeightsError(.truncated, file: path, "only \(bytes.count) bytes long, too short for a safetensors file: it looks truncated; download it again")
        }
        let declaredHeaderSize = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard declaredHeaderSize <= UInt64(Self.maximumHeaderSize) else {
            throw WeightsError(.corruptFile, file: path, "declares a \(declaredHeaderSize)-byte header: this is not a safetensors file")
        }
        let headerSize = Int(declaredHeaderSize)
        guard headerSize <= bytes.count - 8 else {
            throw WeightsError(.truncated, file: path, "declares a \(headerSize)-byte header but has only \(bytes.count - 8) bytes after the length: the file looks truncated; download it again")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerSize)])
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw WeightsError(.corruptFile, file: path, "the header does not start with '{': this is not a safetensors file")
        }
        let header: SafetensorsHeader
        do {
            header = try JSONDecoder().decode(SafetensorsHeader.self, from: Data(headerBytes))
        } catch let error as DecodingError {
            // The first coding key is the tensor whose entry is malformed.
            let tensor = error.context?.codingPath.first.map(\.stringValue).flatMap { $0 == "__metadata__" ? nil : $0 }
            throw WeightsError(.corruptFile, file: path, tensor: tensor, "the header is not valid safetensors JSON: \(describe(error))")
        } catch {
            throw WeightsError(.corruptFile, file: path, "the header is not valid safetensors JSON: \(error)")
        }
        metadata = header.metadata

        let dataStart = 8 + headerSize
        let dataSize = bytes.count - dataStart
        var infos: [TensorInfo] = []
        infos.reserveCapacity(header.tensors.count)
        for entry in header.tensors {
            infos.append(try Self.validate(entry, dataStart: dataStart, file: path))
        }
        infos.sort { ($0.fileRange.lowerBound, $0.fileRange.upperBound, $0.name) < ($1.fileRange.lowerBound, $1.fileRange.upperBound, $1.name) }
        for (previous, next) in zip(infos, infos.dropFirst()) where next.fileRange.lowerBound < previous.fileRange.upperBound {
            throw WeightsError(.overlappingTensors, file: path, tensor: next.name, "its data overlaps that of '\(previous.name)': the header is corrupt")
        }
        // Sorted by start, so the first tensor that runs past the end is where the cut is.
        if let cut = infos.first(where: { $0.fileRange.upperBound > bytes.count }) {
            throw WeightsError(
                .truncated, file: path, tensor: cut.name,
                "its data ends at byte \(cut.fileRange.upperBound) but the file has only \(bytes.count) bytes (\(dataSize) after the header): the file looks truncated; download it again")
        }
        names = infos.map(\.name)
        infoByName = Dictionary(uniqueKeysWithValues: infos.map { ($0.name, $0) })
    }

    private static func validate(_ entry: SafetensorsHeader.Entry, dataStart: Int, file: String) throws -> TensorInfo {
        let dtype = SafetensorsDType(headerName: entry.dtype)
        guard let elements = elementCount(of: entry.shape) else {
            throw WeightsError(.corruptFile, file: file, tensor: entry.name, "invalid shape \(describeShape(entry.shape)) in the header")
        }
        guard entry.dataOffsets.count == 2 else {
            throw WeightsError(.corruptFile, file: file, tensor: entry.name, "data_offsets must be [begin, end], found \(entry.dataOffsets)")
        }
        let begin = entry.dataOffsets[0], end = entry.dataOffsets[1]
        guard begin >= 0, begin <= end, end <= Int.max - dataStart else {
            throw WeightsError(.corruptFile, file: file, tensor: entry.name, "invalid data_offsets [\(begin), \(end)] in the header")
        }
        if let size = dtype.byteSize {
            let (needed, overflow) = elements.multipliedReportingOverflow(by: size)
            guard !overflow, needed == end - begin else {
                throw WeightsError(
                    .corruptFile, file: file, tensor: entry.name,
                    "data_offsets [\(begin), \(end)] span \(end - begin) bytes but shape \(describeShape(entry.shape)) of \(dtype) needs \(overflow ? "more than \(Int.max)" : String(needed)): the header is corrupt")
            }
        }
        return TensorInfo(name: entry.name, dtype: dtype, shape: entry.shape, fileRange: (dataStart + begin)..<(dataStart + end))
    }

    /// The whole mapped file: F32 tensors' pointers lie inside it.
    public var mappedBytes: UnsafeRawBufferPointer { file.bytes }

    public var tensors: [TensorInfo] { names.map { infoByName[$0]! } }

    public func info(_ name: String) -> TensorInfo? { infoByName[name] }

    public func shape(of name: String) -> [Int]? { infoByName[name]?.shape }

    public func tensor(named name: String) throws -> TensorView {
        guard let info = infoByName[name] else {
            throw WeightsError(.missingTensor, file: path, tensor: name, "no such tensor in the file")
        }
        let count = elementCount(of: info.shape)!
        let format: StoredFloatFormat
        switch info.dtype {
        case .float32: format = .float32
        case .float16: format = .float16
        case .bfloat16: format = .bfloat16
        case .other(let dtypeName, _):
            throw WeightsError(.unsupportedDType, file: path, tensor: name, "element type \(dtypeName) is not supported (only F32, F16 and BF16 can be loaded)")
        }
        let source = file.bytes.baseAddress.map { UnsafeRawPointer($0 + info.fileRange.lowerBound) }
        return views.view(name: name, shape: info.shape, count: count, source: source, format: format, mapping: self)
    }
}

/// The JSON header: tensor entries plus the optional string-to-string `__metadata__`.
struct SafetensorsHeader: Decodable {
    struct Entry {
        let name: String
        let dtype: String
        let shape: [Int]
        let dataOffsets: [Int]
    }

    private struct EntryFields: Decodable {
        let dtype: String
        let shape: [WholeNumber]
        let data_offsets: [WholeNumber]
    }

    /// Foundation's own message for a non-integer where an Int is expected is "not valid
    /// JSON", with no location; this says which number is wrong and where.
    private struct WholeNumber: Decodable {
        let value: Int
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Int.self) {
                self.value = value
            } else if let number = try? container.decode(Double.self) {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(number) is not a whole number of at most 64 bits")
            } else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a whole number")
            }
        }
    }

    private struct Key: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    let tensors: [Entry]
    let metadata: [String: String]

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        var tensors: [Entry] = []
        var metadata: [String: String] = [:]
        for key in container.allKeys {
            if key.stringValue == "__metadata__" {
                metadata = try container.decode([String: String].self, forKey: key)
            } else {
                let fields = try container.decode(EntryFields.self, forKey: key)
                tensors.append(Entry(name: key.stringValue, dtype: fields.dtype, shape: fields.shape.map(\.value), dataOffsets: fields.data_offsets.map(\.value)))
            }
        }
        self.tensors = tensors
        self.metadata = metadata
    }
}

extension DecodingError {
    var context: Context? {
        switch self {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context), .dataCorrupted(let context): context
        @unknown default: nil
        }
    }
}

/// A DecodingError in one line: where in the JSON and what was wrong.
func describe(_ error: DecodingError) -> String {
    func at(_ context: DecodingError.Context) -> String {
        var path = ""
        for key in context.codingPath {
            if let index = key.intValue { path += "[\(index)]" } else { path += (path.isEmpty ? "" : ".") + key.stringValue }
        }
        return path.isEmpty ? "" : " at '\(path)'"
    }
    switch error {
    case .typeMismatch(let type, let context): return "expected \(type)\(at(context)): \(context.debugDescription)"
    case .valueNotFound(let type, let context): return "missing \(type) value\(at(context)): \(context.debugDescription)"
    case .keyNotFound(let key, let context): return "missing key '\(key.stringValue)'\(at(context))"
    case .dataCorrupted(let context): return "\(context.debugDescription)\(at(context))"
    @unknown default: return "\(error)"
    }
}

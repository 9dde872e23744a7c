import Foundation
import SpamtuneSupport

/// TensorFlow's element types, as numbered in types.proto, for the ones a checkpoint of
/// a language model may hold. Only float types are loaded; the rest are named in errors.
public struct TensorFlowDType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let float = TensorFlowDType(rawValue: 1)
    public static let double = TensorFlowDType(rawValue: 2)
    public static let int32 = TensorFlowDType(rawValue: 3)
    public static let string = TensorFlowDType(rawValue: 7)
    public static let int64 = TensorFlowDType(rawValue: 9)
    public static let bool = TensorFlowDType(rawValue: 10)
    public static let bfloat16 = TensorFlowDType(rawValue: 14)
    public static let half = TensorFlowDType(rawValue: 19)

    var byteSize: Int? {
        switch self {
        case .float, .int32: 4
        case .double, .int64: 8
        case .bool: 1
        case .bfloat16, .half: 2
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .float: "DT_FLOAT"
        case .double: "DT_DOUBLE"
        case .int32: "DT_INT32"
        case .string: "DT_STRING"
        case .int64: "DT_INT64"
        case .bool: "DT_BOOL"
        case .bfloat16: "DT_BFLOAT16"
        case .half: "DT_HALF"
        default: "DataType \(rawValue)"
        }
    }
}

/// A TensorFlow "tensor bundle" checkpoint, the format of OpenAI's GPT-2 release:
/// `PREFIX.index` (an SSTable of BundleEntryProto, one per tensor) and
/// `PREFIX.data-00000-of-0000N` (the raw little-endian tensors). Data files are
/// memory-mapped; float tensors are handed out as pointers into them.
public final class TensorFlowCheckpoint: TensorStore, @unchecked Sendable {
    public struct Entry: Equatable, Sendable {
        public let name: String
        public let dtype: TensorFlowDType
        public let shape: [Int]
        public let shard: Int
        public let offset: Int
        public let size: Int
        /// Masked CRC32C of the tensor's bytes, as TensorFlow stores it.
        public let maskedChecksum: UInt32
        /// Partitioned variables keep their data in slices elsewhere; those are refused.
        public let isSliced: Bool
    }

    public struct Header: Equatable, Sendable {
        public let shardCount: Int
        public let isLittleEndian: Bool
        public let producerVersion: Int
    }

    /// The checkpoint prefix, e.g. `.../models/124M/model.ckpt`.
    public let path: String
    public let indexPath: String
    public let dataPaths: [String]
    public let header: Header
    /// Tensor names in index (sorted) order.
    public let names: [String]
    private let entryByName: [String: Entry]
    private let shards: [MappedFile]
    private let views = FloatViews()

    /// Opens `prefix.index` and its data files. With `verifyChecksums`, every tensor's
    /// bytes are checked against the CRC32C in the index (reads the whole data file once).
    public init(prefix: String, verifyChecksums: Bool = false) throws {
        path = prefix
        indexPath = prefix + ".index"
        let index = try Self.readIndex(at: prefix + ".index")
        (header, entryByName, names) = index
        let shardCount = index.header.shardCount
        dataPaths = (0..<shardCount).map { Self.dataFileName(prefix: prefix, shard: $0, of: shardCount) }
        var shards: [MappedFile] = []
        for dataPath in dataPaths {
            do {
                shards.append(try MappedFile(path: dataPath))
            } catch let error as FileAccessError {
                throw WeightsError(.fileAccess, file: dataPath, "cannot open the checkpoint's data file: \(error.reason)")
            }
        }
        self.shards = shards
        try checkDataFilesHoldEveryTensor()
        if verifyChecksums { try self.verifyChecksums() }
    }

    /// Reads only the index: names, types, shapes and where each tensor lies. Works
    /// without the data files (the shared material has the real 124M index alone).
    public static func readIndex(at indexPath: String) throws -> (header: Header, entries: [String: Entry], names: [String]) {
        let table: [UInt8]
        do {
            let mapped = try MappedFile(path: indexPath)
            table = Array(mapped.bytes)
        } catch let error as FileAccessError {
            throw WeightsError(.fileAccess, file: indexPath, "cannot open the checkpoint index: \(error.reason)")
        }
        var header: Header?
        var entries: [String: Entry] = [:]
        var names: [String] = []
        for item in try SSTable.entries(of: table, file: indexPath) {
            let name = String(decoding: item.key, as: UTF8.self)
            do {
                if item.key.isEmpty {
                    header = try decodeHeader(item.value)
                } else {
                    entries[name] = try decodeEntry(item.value, name: name)
                    names.append(name)
                }
            } catch let error as ProtobufError {
                throw WeightsError(.corruptFile, file: indexPath, tensor: item.key.isEmpty ? nil : name, "cannot decode its index entry (\(error.reason)); download the index again")
            }
        }
        guard let header else {
            throw WeightsError(.corruptFile, file: indexPath, "has no bundle header entry: not a TensorFlow checkpoint index")
        }
        guard header.isLittleEndian else {
            throw WeightsError(.corruptFile, file: indexPath, "was written on a big-endian machine; such checkpoints are not supported")
        }
        guard (1...100_000).contains(header.shardCount) else {
            throw WeightsError(.corruptFile, file: indexPath, "declares \(header.shardCount) data shards: the index is corrupt")
        }
        for name in names {
            let entry = entries[name]!
            guard entry.shard < header.shardCount else {
                throw WeightsError(.corruptFile, file: indexPath, tensor: name, "lies in shard \(entry.shard) of \(header.shardCount): the index is corrupt")
            }
        }
        return (header, entries, names)
    }

    static func dataFileName(prefix: String, shard: Int, of count: Int) -> String {
        func fiveDigits(_ number: Int) -> String {
            let digits = String(number)
            return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
        }
        return "\(prefix).data-\(fiveDigits(shard))-of-\(fiveDigits(count))"
    }

    /// BundleHeaderProto: 1 num_shards, 2 endianness (0 little), 3 VersionDef {1 producer}.
    private static func decodeHeader(_ bytes: ArraySlice<UInt8>) throws -> Header {
        var shardCount: Int64 = 0
        var endianness: UInt64 = 0
        var producer: Int64 = 0
        for field in try protobufFields(bytes) {
            switch field.number {
            case 1: shardCount = try field.signedInteger()
            case 2: endianness = try field.varint()
            case 3:
                for versionField in try protobufFields(try field.message()) where versionField.number == 1 {
                    producer = try versionField.signedInteger()
                }
            default: break
            }
        }
        guard shardCount >= 0, shardCount <= Int64(Int32.max) else { throw ProtobufError(reason: "num_shards \(shardCount)") }
        return Header(shardCount: Int(shardCount), isLittleEndian: endianness == 0, producerVersion: Int(clamping: producer))
    }

    /// BundleEntryProto: 1 dtype, 2 shape (TensorShapeProto: 2 dim {1 size}), 3 shard_id,
    /// 4 offset, 5 size, 6 crc32c (fixed32), 7 slices.
    private static func decodeEntry(_ bytes: ArraySlice<UInt8>, name: String) throws -> Entry {
        var dtype = 0
        var shape: [Int] = []
        var shard: Int64 = 0, offset: Int64 = 0, size: Int64 = 0
        var checksum: UInt32 = 0
        var sliced = false
        for field in try protobufFields(bytes) {
            switch field.number {
            case 1: dtype = Int(truncatingIfNeeded: try field.varint())
            case 2:
                for shapeField in try protobufFields(try field.message()) {
                    switch shapeField.number {
                    case 2:
                        var dimension: Int64 = 0
                        for dimensionField in try protobufFields(try shapeField.message()) where dimensionField.number == 1 {
                            dimension = try dimensionField.signedInteger()
                        }
                        guard dimension >= 0 else { throw ProtobufError(reason: "dimension \(dimension) in the shape") }
                        shape.append(Int(dimension))
                    case 3:
                        if try shapeField.varint() != 0 { throw ProtobufError(reason: "the shape has unknown rank") }
                    default: break
                    }
                }
            case 3: shard = try field.signedInteger()
            case 4: offset = try field.signedInteger()
            case 5: size = try field.signedInteger()
            case 6: checksum = try field.fixed32()
            case 7: sliced = true
            default: break
            }
        }
        guard shard >= 0, offset >= 0, size >= 0 else {
            throw ProtobufError(reason: "negative shard, offset or size (\(shard), \(offset), \(size))")
        }
        let type = TensorFlowDType(rawValue: dtype)
        if !sliced, let elementSize = type.byteSize {
            guard let count = elementCount(of: shape) else { throw ProtobufError(reason: "shape \(describeShape(shape)) is too large") }
            let expected = count.multipliedReportingOverflow(by: elementSize)
            guard !expected.overflow, expected.partialValue == Int(size) else {
                throw ProtobufError(reason: "\(size) bytes do not hold shape \(describeShape(shape)) of \(type)")
            }
        }
        return Entry(name: name, dtype: type, shape: shape, shard: Int(shard), offset: Int(offset), size: Int(size), maskedChecksum: checksum, isSliced: sliced)
    }

    private func checkDataFilesHoldEveryTensor() throws {
        for (shard, file) in shards.enumerated() {
            let inShard = names.compactMap { entryByName[$0] }.filter { $0.shard == shard }.sorted { ($0.offset, $0.size) < ($1.offset, $1.size) }
            if let cut = inShard.first(where: { $0.offset > file.count - $0.size }) {
                throw WeightsError(
                    .truncated, file: dataPaths[shard], tensor: cut.name,
                    "its data ends at byte \(cut.offset + cut.size) but the file has only \(file.count) bytes: the data file looks truncated; download it again")
            }
        }
    }

    public var entries: [Entry] { names.map { entryByName[$0]! } }

    public func entry(_ name: String) -> Entry? { entryByName[name] }

    public func shape(of name: String) -> [Int]? { entryByName[name]?.shape }

    /// The mapped data files: float tensors' pointers lie inside them.
    public var mappedDataFiles: [UnsafeRawBufferPointer] { shards.map(\.bytes) }

    private func bytes(of entry: Entry) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: shards[entry.shard].bytes[entry.offset..<(entry.offset + entry.size)])
    }

    /// Checks every tensor's CRC32C; the error names the first damaged tensor.
    public func verifyChecksums() throws {
        for name in names { try verifyChecksum(of: name) }
    }

    public func verifyChecksum(of name: String) throws {
        guard let entry = entryByName[name] else {
            throw WeightsError(.missingTensor, file: indexPath, tensor: name, "no such tensor in the checkpoint")
        }
        let actual = CRC32C.checksum(bytes(of: entry))
        guard CRC32C.mask(actual) == entry.maskedChecksum else {
            throw WeightsError(
                .checksumMismatch, file: dataPaths[entry.shard], tensor: name,
                "its bytes fail the CRC32C check recorded in the index: the data file is corrupt; download it again")
        }
    }

    public func tensor(named name: String) throws -> TensorView {
        guard let entry = entryByName[name] else {
            throw WeightsError(.missingTensor, file: indexPath, tensor: name, "no such tensor in the checkpoint")
        }
        guard !entry.isSliced else {
            throw WeightsError(.unsupportedDType, file: indexPath, tensor: name, "is stored as slices of a partitioned variable, which is not supported")
        }
        let count = elementCount(of: entry.shape)!
        let format: StoredFloatFormat
        switch entry.dtype {
        case .float: format = .float32
        case .half: format = .float16
        case .bfloat16: format = .bfloat16
        default:
            throw WeightsError(.unsupportedDType, file: indexPath, tensor: name, "element type \(entry.dtype) is not supported (only DT_FLOAT, DT_HALF and DT_BFLOAT16 can be loaded)")
        }
        return views.view(name: name, shape: entry.shape, count: count, source: bytes(of: entry).baseAddress, format: format, mapping: self)
    }
}

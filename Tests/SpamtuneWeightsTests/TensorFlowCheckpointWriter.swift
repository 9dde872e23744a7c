import Foundation
import SpamtuneWeights

/// Writes TensorFlow tensor-bundle checkpoints the way TensorFlow's BundleWriter does
/// (an SSTable index of BundleEntryProto + one data file), so that the reader can be
/// tested on checkpoints of any shape without TensorFlow. Knobs for small blocks and
/// restart intervals exercise the multi-block and prefix-compression paths.
struct TensorFlowCheckpointWriter {
    struct Tensor {
        var name: String
        var dtype: Int = 1
        var shape: [Int]
        var data: [UInt8]
    }

    var blockSize = 4096
    var restartInterval = 16

    /// Writes PREFIX.index and PREFIX.data-00000-of-00001; returns the entries' data offsets.
    @discardableResult
    func write(_ tensors: [Tensor], prefix: String) throws -> [String: Int] {
        let sorted = tensors.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
        var data: [UInt8] = []
        var offsets: [String: Int] = [:]
        var entries: [([UInt8], [UInt8])] = [([], Protobuf.message([.varint(1, 1), .bytes(3, Protobuf.message([.varint(1, 1)]))]))]
        for tensor in sorted {
            offsets[tensor.name] = data.count
            var shape = Protobuf.message([])
            for dimension in tensor.shape { shape += Protobuf.message([.bytes(2, Protobuf.message([.varint(1, UInt64(dimension))]))]) }
            var fields: [Protobuf.Field] = [.varint(1, UInt64(tensor.dtype)), .bytes(2, shape)]
            if data.count > 0 { fields.append(.varint(4, UInt64(data.count))) }
            fields.append(.varint(5, UInt64(tensor.data.count)))
            fields.append(.fixed32(6, CRC32C.mask(CRC32C.checksum(tensor.data))))
            entries.append((Array(tensor.name.utf8), Protobuf.message(fields)))
            data += tensor.data
        }
        try Data(table(entries)).write(to: URL(fileURLWithPath: prefix + ".index"))
        try Data(data).write(to: URL(fileURLWithPath: prefix + ".data-00000-of-00001"))
        return offsets
    }

    /// LevelDB table: data blocks, an empty metaindex block, the index block, the footer.
    func table(_ entries: [([UInt8], [UInt8])]) -> [UInt8] {
        var file: [UInt8] = []
        var indexEntries: [([UInt8], [UInt8])] = []
        var pending: [([UInt8], [UInt8])] = []
        func flush() {
            guard !pending.isEmpty else { return }
            let handle = appendBlock(buildBlock(pending), to: &file)
            // LevelDB shortens separators; the last key itself is a valid one.
            indexEntries.append((pending.last!.0, handle))
            pending.removeAll()
        }
        for entry in entries {
            pending.append(entry)
            if buildBlock(pending).count >= blockSize { flush() }
        }
        flush()
        let metaindex = appendBlock(buildBlock([]), to: &file)
        let index = appendBlock(buildBlock(indexEntries), to: &file)
        var footer = metaindex + index
        footer += [UInt8](repeating: 0, count: 40 - footer.count)
        withUnsafeBytes(of: UInt64(0xdb47_7524_8b80_fb57).littleEndian) { footer.append(contentsOf: $0) }
        return file + footer
    }

    func buildBlock(_ entries: [([UInt8], [UInt8])]) -> [UInt8] {
        var block: [UInt8] = []
        var restarts: [UInt32] = []
        var previous: [UInt8] = []
        for (index, (key, value)) in entries.enumerated() {
            var shared = 0
            if index % restartInterval == 0 {
                restarts.append(UInt32(block.count))
            } else {
                while shared < min(key.count, previous.count) && key[shared] == previous[shared] { shared += 1 }
            }
            block += Protobuf.varint(UInt64(shared)) + Protobuf.varint(UInt64(key.count - shared)) + Protobuf.varint(UInt64(value.count))
            block += key[shared...] + value
            previous = key
        }
        if restarts.isEmpty { restarts.append(0) }
        for restart in restarts + [UInt32(restarts.count)] { withUnsafeBytes(of: restart.littleEndian) { block.append(contentsOf: $0) } }
        return block
    }

    /// Appends contents + trailer (type 0, masked CRC of contents and type); returns the
    /// encoded BlockHandle.
    func appendBlock(_ contents: [UInt8], to file: inout [UInt8], compressionType: UInt8 = 0) -> [UInt8] {
        let handle = Protobuf.varint(UInt64(file.count)) + Protobuf.varint(UInt64(contents.count))
        file += contents
        file.append(compressionType)
        let crc = CRC32C.mask(CRC32C.checksum(contents + [compressionType]))
        withUnsafeBytes(of: crc.littleEndian) { file.append(contentsOf: $0) }
        return handle
    }
}

/// The protobuf encoder the writer needs: varint, length-delimited and fixed32 fields.
enum Protobuf {
    enum Field {
        case varint(Int, UInt64)
        case bytes(Int, [UInt8])
        case fixed32(Int, UInt32)
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        while value >= 0x80 {
            out.append(UInt8(value & 0x7f) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
        return out
    }

    static func message(_ fields: [Field]) -> [UInt8] {
        var out: [UInt8] = []
        for field in fields {
            switch field {
            case .varint(let number, let value): out += varint(UInt64(number << 3)) + varint(value)
            case .bytes(let number, let bytes): out += varint(UInt64(number << 3 | 2)) + varint(UInt64(bytes.count)) + bytes
            case .fixed32(let number, let value):
                out += varint(UInt64(number << 3 | 5))
                withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
            }
        }
        return out
    }
}

/// A GPT-2 of `config` under OpenAI's TensorFlow names and shapes ([1, in, out] weights).
func tensorFlowGPT2(_ config: GPT2Config, seed: UInt64 = 11) -> [TensorFlowCheckpointWriter.Tensor] {
    var values = SeededValues(seed: seed)
    let c = config.embeddingSize
    func tensor(_ name: String, _ shape: [Int]) -> TensorFlowCheckpointWriter.Tensor {
        TensorFlowCheckpointWriter.Tensor(name: name, shape: shape, data: littleEndianBytes(values.values(shape.reduce(1, *))))
    }
    var tensors = [tensor("model/wte", [config.vocabularySize, c]), tensor("model/wpe", [config.contextLength, c])]
    for layer in 0..<config.layerCount {
        let h = "model/h\(layer)/"
        tensors += [
            tensor(h + "ln_1/g", [c]), tensor(h + "ln_1/b", [c]),
            tensor(h + "attn/c_attn/w", [1, c, 3 * c]), tensor(h + "attn/c_attn/b", [3 * c]),
            tensor(h + "attn/c_proj/w", [1, c, c]), tensor(h + "attn/c_proj/b", [c]),
            tensor(h + "ln_2/g", [c]), tensor(h + "ln_2/b", [c]),
            tensor(h + "mlp/c_fc/w", [1, c, 4 * c]), tensor(h + "mlp/c_fc/b", [4 * c]),
            tensor(h + "mlp/c_proj/w", [1, 4 * c, c]), tensor(h + "mlp/c_proj/b", [c]),
        ]
    }
    return tensors + [tensor("model/ln_f/g", [c]), tensor("model/ln_f/b", [c])]
}

func floats(_ bytes: [UInt8]) -> [Float] {
    stride(from: 0, to: bytes.count, by: 4).map { i in
        Float(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
    }
}

/// Reader for the LevelDB table format that TensorFlow uses for checkpoint indexes
/// (`model.ckpt.index`): a footer pointing at an index block, whose entries point at data
/// blocks of prefix-compressed, sorted keys. Compressed blocks are refused: TensorFlow
/// writes bundle indexes uncompressed.
enum SSTable {
    static let footerSize = 48
    static let magic: UInt64 = 0xdb47_7524_8b80_fb57
    /// Compression type byte + masked CRC32C after every block.
    static let blockTrailerSize = 5

    struct BlockHandle {
        let offset: Int
        let size: Int

        init(offset: Int, size: Int) {
            self.offset = offset
            self.size = size
        }

        init(decoding reader: inout ByteReader) throws {
            offset = try reader.length()
            size = try reader.length()
        }
    }

    struct Entry {
        let key: [UInt8]
        let value: ArraySlice<UInt8>
    }

    /// Every key/value pair of the table in key order. Keys must be strictly increasing
    /// (a corrupt block that repeats or reorders keys is refused).
    static func entries(of table: [UInt8], file: String) throws -> [Entry] {
        func corrupt(_ reason: String) -> WeightsError {
            WeightsError(.corruptFile, file: file, "not a valid checkpoint index (\(reason)); download it again")
        }
        guard table.count >= footerSize else {
            throw corrupt("\(table.count) bytes, shorter than the \(footerSize)-byte footer")
        }
        var footer = ByteReader(table[(table.count - footerSize)...])
        do {
            _ = try BlockHandle(decoding: &footer)  // the metaindex block: unused by checkpoints
            let indexHandle = try BlockHandle(decoding: &footer)
            var magicReader = ByteReader(table[(table.count - 8)...])
            guard try magicReader.littleEndian64() == magic else { throw corrupt("wrong magic number in the footer") }

            var result: [Entry] = []
            for indexEntry in try blockEntries(try block(at: indexHandle, in: table, file: file), file: file) {
                var handleReader = ByteReader(indexEntry.value)
                let dataHandle = try BlockHandle(decoding: &handleReader)
                for entry in try blockEntries(try block(at: dataHandle, in: table, file: file), file: file) {
                    if let last = result.last, !last.key.lexicographicallyPrecedes(entry.key) {
                        throw corrupt("keys out of order at '\(String(decoding: entry.key, as: UTF8.self))'")
                    }
                    result.append(entry)
                }
            }
            return result
        } catch let error as ProtobufError {
            throw corrupt(error.reason)
        }
    }

    /// The contents of one block after checking its trailer's compression type and CRC.
    static func block(at handle: BlockHandle, in table: [UInt8], file: String) throws -> ArraySlice<UInt8> {
        let end = handle.offset.addingReportingOverflow(handle.size)
        guard !end.overflow, end.partialValue <= table.count - footerSize - blockTrailerSize else {
            throw WeightsError(.corruptFile, file: file, "not a valid checkpoint index (block at \(handle.offset)+\(handle.size) lies outside the file); download it again")
        }
        let contents = table[handle.offset..<end.partialValue]
        let compression = table[end.partialValue]
        guard compression == 0 else {
            let name = compression == 1 ? "Snappy" : compression == 2 ? "Zstandard" : "type \(compression)"
            throw WeightsError(.corruptFile, file: file, "index block at \(handle.offset) is compressed (\(name)); only uncompressed indexes, as TensorFlow writes them, are supported")
        }
        var trailer = ByteReader(table[(end.partialValue + 1)..<(end.partialValue + 5)])
        let stored = try trailer.littleEndian32()
        let actual = table.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[handle.offset...end.partialValue])) }
        guard CRC32C.unmask(stored) == actual else {
            throw WeightsError(.checksumMismatch, file: file, "index block at \(handle.offset) fails its CRC32C check: the index is corrupt; download it again")
        }
        return contents
    }

    /// Decodes a block: entries `shared, unshared, valueLength, keySuffix, value`, then
    /// the restart offsets and their count.
    static func blockEntries(_ block: ArraySlice<UInt8>, file: String) throws -> [Entry] {
        guard block.count >= 4 else { throw ProtobufError(reason: "block of \(block.count) bytes has no restart count") }
        var countReader = ByteReader(block[(block.endIndex - 4)...])
        let restartCount = Int(try countReader.littleEndian32())
        guard restartCount <= (block.count - 4) / 4 else { throw ProtobufError(reason: "restart array larger than its block") }
        let entriesEnd = block.endIndex - 4 - 4 * restartCount
        var reader = ByteReader(block[block.startIndex..<entriesEnd])
        var entries: [Entry] = []
        var key: [UInt8] = []
        while !reader.isAtEnd {
            let shared = try reader.length()
            let unshared = try reader.length()
            let valueLength = try reader.length()
            guard shared <= key.count else { throw ProtobufError(reason: "key shares \(shared) bytes with a \(key.count)-byte predecessor") }
            key.removeSubrange(shared...)
            key.append(contentsOf: try reader.take(unshared))
            entries.append(Entry(key: key, value: try reader.take(valueLength)))
        }
        return entries
    }
}

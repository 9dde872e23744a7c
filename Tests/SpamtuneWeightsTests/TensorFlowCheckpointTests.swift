import Foundation
import SpamtuneTestSupport
import SpamtuneWeights
import Testing

@Suite struct TensorFlowCheckpointTests {
    let realIndex = ProjectPaths.sharedFile(OpenAIGPT2Release.indexFile).path

    /// OpenAI's released 124M index: every tensor, and data laid out back to back.
    /// Optional: the index is a file of the release, in ../shared only; the tiny checkpoints
    /// written below exercise the same reader without it.
    @Test(.enabled(if: OpenAIGPT2Release.indexPresent, "../shared/gpt2/model.ckpt.index (OpenAI's 124M index) is absent"))
    func readsTheReal124MIndex() throws {
        let (header, entries, names) = try TensorFlowCheckpoint.readIndex(at: realIndex)
        #expect(header.shardCount == 1 && header.isLittleEndian)
        #expect(names.count == 148)
        #expect(names == names.sorted())
        #expect(entries.values.allSatisfy { $0.dtype == .float && $0.shard == 0 && !$0.isSliced })

        let cAttnBias = try #require(entries["model/h0/attn/c_attn/b"])
        #expect(cAttnBias.shape == [2304] && cAttnBias.offset == 0 && cAttnBias.size == 9216)
        #expect(cAttnBias.maskedChecksum == 0x8c27_3d74)
        let cAttnWeight = try #require(entries["model/h0/attn/c_attn/w"])
        #expect(cAttnWeight.shape == [1, 768, 2304] && cAttnWeight.offset == 9216 && cAttnWeight.size == 7_077_888)
        #expect(entries["model/h0/mlp/c_fc/w"]?.shape == [1, 768, 3072])
        #expect(entries["model/h0/mlp/c_fc/w"]?.offset == 9_474_048)
        #expect(entries["model/h0/ln_1/g"]?.shape == [768])
        #expect(entries["model/h11/mlp/c_proj/w"]?.shape == [1, 3072, 768])
        #expect(entries["model/ln_f/g"]?.shape == [768])
        #expect(entries["model/wpe"]?.shape == [1024, 768])
        let wte = try #require(entries["model/wte"])
        #expect(wte.shape == [50257, 768] && wte.offset == 343_369_728 && wte.size == 154_389_504)

        var end = 0
        for entry in entries.values.sorted(by: { $0.offset < $1.offset }) {
            #expect(entry.offset == end, "\(entry.name) follows its predecessor without a gap")
            end = entry.offset + entry.size
        }
        #expect(end == 497_759_232)
        #expect(entries.values.map { $0.shape.reduce(1, *) }.reduce(0, +) == GPT2Config.gpt2Small.parameterCount)
        #expect(GPT2Config.gpt2Small.parameterCount == 124_439_808)
    }

    /// The real index with a sparse stand-in for the 500 MB data file: the whole GPT-2
    /// loading path on OpenAI's real names, shapes and offsets.
    @Test(.enabled(if: OpenAIGPT2Release.indexPresent, "../shared/gpt2/model.ckpt.index (OpenAI's 124M index) is absent"))
    func loadsGPT2FromTheRealIndexWithoutCopying() throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.copyItem(atPath: realIndex, toPath: directory.file("model.ckpt.index"))
        _ = try directory.write("hparams.json", text: OpenAIGPT2Release.hparams)
        let data = directory.file("model.ckpt.data-00000-of-00001")
        #expect(FileManager.default.createFile(atPath: data, contents: nil))
        try FileHandle(forWritingTo: URL(fileURLWithPath: data)).truncate(atOffset: 497_759_232)

        let weights = try GPT2Weights.load(from: directory.path)
        #expect(weights.config == .gpt2Small)
        let checkpoint = try #require((weights.stores.first as? TensorFlowGPT2Store)?.checkpoint)
        for parameter in GPT2Parameter.all(in: .gpt2Small) {
            let view = weights.tensor(parameter)
            #expect(view.shape == parameter.shape(in: .gpt2Small) && view.name == parameter.name)
            #expect(pointer(view, liesIn: checkpoint.mappedDataFiles[0]))
        }
        let qkv = weights.tensor(.block(0, .qkvWeight))
        #expect(UnsafeRawPointer(qkv.pointer) == checkpoint.mappedDataFiles[0].baseAddress! + 9216)
        #expect(weights.extraTensorNames.isEmpty)
        // OpenAI's names and the canonical ones correspond one to one.
        #expect(Set(checkpoint.names.compactMap(TensorFlowGPT2Naming.canonicalName(forTensorFlowName:))) == Set(GPT2Parameter.all(in: .gpt2Small).map(\.name)))
        for parameter in GPT2Parameter.all(in: .gpt2Small) {
            let name = try #require(TensorFlowGPT2Naming.tensorFlowName(forCanonicalName: parameter.name))
            #expect(checkpoint.entry(name) != nil, "\(parameter.name) -> \(name)")
            #expect(TensorFlowGPT2Naming.canonicalName(forTensorFlowName: name) == parameter.name)
        }

        // One byte short: the last tensor in the file (wte) is cut.
        try FileHandle(forWritingTo: URL(fileURLWithPath: data)).truncate(atOffset: 497_759_231)
        let error = try #require(throws: WeightsError.self) { try GPT2Weights.load(from: directory.path) }
        #expect(error.kind == .truncated && error.tensor == "model/wte" && error.file == data)
    }

    private func writeTinyCheckpoint(in directory: TemporaryDirectory) throws -> (prefix: String, tensors: [TensorFlowCheckpointWriter.Tensor]) {
        let tensors = tensorFlowGPT2(tinyConfig)
        let prefix = directory.file("model.ckpt")
        // Small blocks and a short restart interval: several data blocks, shared key prefixes.
        try TensorFlowCheckpointWriter(blockSize: 200, restartInterval: 3).write(tensors, prefix: prefix)
        try directory.write("hparams.json", text: "{\"n_vocab\": 20, \"n_ctx\": 16, \"n_embd\": 8, \"n_head\": 2, \"n_layer\": 2}")
        return (prefix, tensors)
    }

    @Test func aCheckpointWrittenHereReadsBack() throws {
        let directory = try TemporaryDirectory()
        let (prefix, tensors) = try writeTinyCheckpoint(in: directory)
        let checkpoint = try TensorFlowCheckpoint(prefix: prefix, verifyChecksums: true)
        #expect(checkpoint.names == tensors.map(\.name).sorted())
        for tensor in tensors {
            let view = try checkpoint.tensor(named: tensor.name)
            #expect(view.shape == tensor.shape)
            #expect(view.toArray() == floats(tensor.data))
            #expect(pointer(view, liesIn: checkpoint.mappedDataFiles[0]))
        }

        // Through the GPT-2 loader by directory, prefix and index path alike.
        for path in [directory.path, prefix, prefix + ".index"] {
            let weights = try GPT2Weights.load(from: path, verifyChecksums: true)
            #expect(weights.config == tinyConfig)
            let qkv = weights.tensor(.block(1, .qkvWeight))
            #expect(qkv.shape == [8, 24] && qkv.name == "h.1.attn.c_attn.weight")
            #expect(qkv.toArray() == floats(tensors.first { $0.name == "model/h1/attn/c_attn/w" }!.data))
            #expect(weights.tensor(.block(0, .norm2Weight)).toArray() == floats(tensors.first { $0.name == "model/h0/ln_2/g" }!.data))
            #expect(weights.tensor(.finalNormBias).toArray() == floats(tensors.first { $0.name == "model/ln_f/b" }!.data))
            #expect(try weights.tensor(named: "wte.weight").shape == [20, 8])
        }
    }

    @Test func aCorruptedTensorFailsItsChecksum() throws {
        let directory = try TemporaryDirectory()
        let (prefix, _) = try writeTinyCheckpoint(in: directory)
        let dataPath = prefix + ".data-00000-of-00001"
        let entry = try #require(try TensorFlowCheckpoint(prefix: prefix).entry("model/h1/mlp/c_fc/w"))
        var data = try bytes(of: dataPath)
        data[entry.offset + 17] ^= 0x40
        try directory.write("model.ckpt.data-00000-of-00001", data)

        let error = try #require(throws: WeightsError.self) { try TensorFlowCheckpoint(prefix: prefix, verifyChecksums: true) }
        #expect(error.kind == .checksumMismatch && error.tensor == "model/h1/mlp/c_fc/w" && error.file == dataPath)
        #expect(error.description.contains("download it again"))
        // Unverified, it loads (the caller chose speed over the check).
        let checkpoint = try TensorFlowCheckpoint(prefix: prefix)
        #expect(throws: WeightsError.self) { try checkpoint.verifyChecksum(of: "model/h1/mlp/c_fc/w") }
        try checkpoint.verifyChecksum(of: "model/h1/mlp/c_fc/b")
        #expect(throws: WeightsError.self) { try GPT2Weights.load(from: directory.path, verifyChecksums: true) }
    }

    @Test func aTruncatedDataFileNamesTheFirstTensorBeyondItsEnd() throws {
        let directory = try TemporaryDirectory()
        let (prefix, _) = try writeTinyCheckpoint(in: directory)
        let entries = try TensorFlowCheckpoint(prefix: prefix).entries.sorted { $0.offset < $1.offset }
        let cut = entries[entries.count / 2]
        let data = try bytes(of: prefix + ".data-00000-of-00001")
        try directory.write("model.ckpt.data-00000-of-00001", Array(data[..<(cut.offset + 3)]))
        let error = try #require(throws: WeightsError.self) { try TensorFlowCheckpoint(prefix: prefix) }
        #expect(error.kind == .truncated && error.tensor == cut.name)
        #expect(error.description.contains("truncated") && error.description.contains("model.ckpt.data-00000-of-00001"))

        try FileManager.default.removeItem(atPath: prefix + ".data-00000-of-00001")
        let missing = try #require(throws: WeightsError.self) { try TensorFlowCheckpoint(prefix: prefix) }
        #expect(missing.kind == .fileAccess && missing.file.hasSuffix("model.ckpt.data-00000-of-00001"))
    }

    @Test func damagedIndexesAreRefused() throws {
        let directory = try TemporaryDirectory()
        let (prefix, _) = try writeTinyCheckpoint(in: directory)
        let indexPath = prefix + ".index"
        let index = try bytes(of: indexPath)
        func error(for damaged: [UInt8]) throws -> WeightsError {
            try directory.write("model.ckpt.index", damaged)
            let error = try #require(throws: WeightsError.self) { try TensorFlowCheckpoint(prefix: prefix) }
            #expect(error.file == indexPath)
            return error
        }
        var badMagic = index
        badMagic[badMagic.count - 1] ^= 1
        #expect(try error(for: badMagic).kind == .corruptFile)
        #expect(try error(for: Array(index[..<40])).kind == .corruptFile)
        #expect(try error(for: Array(index.suffix(48))).kind == .corruptFile)  // handles point outside
        var flipped = index
        flipped[30] ^= 0x10  // inside the first data block
        #expect(try error(for: flipped).kind == .checksumMismatch)
    }

    @Test func compressedBlocksAreRefusedByName() throws {
        let directory = try TemporaryDirectory()
        let writer = TensorFlowCheckpointWriter()
        var file: [UInt8] = []
        let block = writer.buildBlock([([], Protobuf.message([.varint(1, 1)]))])
        let data = writer.appendBlock(block, to: &file, compressionType: 1)
        let meta = writer.appendBlock(writer.buildBlock([]), to: &file)
        let index = writer.appendBlock(writer.buildBlock([([0x7f], data)]), to: &file)
        var footer = meta + index
        footer += [UInt8](repeating: 0, count: 40 - footer.count)
        withUnsafeBytes(of: UInt64(0xdb47_7524_8b80_fb57).littleEndian) { footer.append(contentsOf: $0) }
        let path = try directory.write("snappy.index", file + footer)
        let error = try #require(throws: WeightsError.self) { try TensorFlowCheckpoint.readIndex(at: path) }
        #expect(error.kind == .corruptFile && error.description.contains("Snappy"))
    }

    @Test func otherElementTypesAreNamedWhenLoaded() throws {
        let directory = try TemporaryDirectory()
        let prefix = directory.file("ckpt")
        try TensorFlowCheckpointWriter().write([
            .init(name: "global_step", dtype: 9, shape: [], data: [1, 0, 0, 0, 0, 0, 0, 0]),
            .init(name: "model/wte", shape: [2, 2], data: littleEndianBytes([1, 2, 3, 4])),
        ], prefix: prefix)
        let checkpoint = try TensorFlowCheckpoint(prefix: prefix, verifyChecksums: true)
        #expect(try checkpoint.tensor(named: "model/wte").toArray() == [1, 2, 3, 4])
        let error = try #require(throws: WeightsError.self) { try checkpoint.tensor(named: "global_step") }
        #expect(error.kind == .unsupportedDType && error.tensor == "global_step" && error.description.contains("DT_INT64"))
        // A size that does not fit the shape is a corrupt entry.
        try TensorFlowCheckpointWriter().write([.init(name: "w", shape: [3], data: littleEndianBytes([1, 2]))], prefix: prefix)
        let wrongSize = try #require(throws: WeightsError.self) { try TensorFlowCheckpoint(prefix: prefix) }
        #expect(wrongSize.kind == .corruptFile && wrongSize.tensor == "w")
    }
}

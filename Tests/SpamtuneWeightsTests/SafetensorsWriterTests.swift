import Foundation
import SpamtuneTestSupport
import SpamtuneWeights
import Testing

@Suite struct SafetensorsWriterTests {
    let tensors = [
        TensorView(name: "score.weight", shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
        TensorView(name: "a \"quoted\"\\name\n", shape: [1], values: [-0.5]),
        TensorView(name: "score.bias", shape: [2], values: [0.25, -1e-30]),
        TensorView(name: "scalar", shape: [], values: [42]),
        TensorView(name: "empty", shape: [0, 4], values: []),
    ]

    @Test func roundTripsThroughTheReader() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("head.safetensors")
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt", "n_head": "4"], to: path)
        let file = try SafetensorsFile(path: path)
        #expect(file.metadata == ["format": "pt", "n_head": "4"])
        #expect(file.names == tensors.map(\.name).sorted())
        for tensor in tensors {
            let read = try file.tensor(named: tensor.name)
            #expect(read.shape == tensor.shape)
            #expect(read.toArray() == tensor.toArray())
            #expect(tensor.count == 0 || pointer(read, liesIn: file.mappedBytes))
        }
        // Header padded with spaces to 8 bytes, as Hugging Face writes it.
        let raw = try bytes(of: path)
        let headerLength = raw[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        #expect(headerLength % 8 == 0)
        #expect(raw[8] == UInt8(ascii: "{"))
        #expect(String(decoding: raw[8..<(8 + headerLength)], as: UTF8.self).hasPrefix("{\"__metadata__\":{\"format\":\"pt\",\"n_head\":\"4\"},"))
    }

    /// Copying the oracle's model through the writer keeps every value; the result is
    /// readable without further help and byte-identical whatever the input order.
    @Test func rewritesTheOracleModelDeterministically() throws {
        let directory = try TemporaryDirectory()
        let source = try SafetensorsFile(path: ProjectPaths.fixture("weights/model.safetensors").path)
        let views = try source.names.map { try source.tensor(named: $0) }
        try SafetensorsWriter.write(views, metadata: source.metadata, to: directory.file("one.safetensors"))
        try SafetensorsWriter.write(views.reversed(), metadata: source.metadata, to: directory.file("two.safetensors"))
        #expect(try bytes(of: directory.file("one.safetensors")) == bytes(of: directory.file("two.safetensors")))
        let copy = try SafetensorsFile(path: directory.file("one.safetensors"))
        for name in source.names { #expect(try copy.tensor(named: name).toArray() == source.tensor(named: name).toArray()) }
    }

    @Test func duplicateOrReservedNamesAreRefused() throws {
        let directory = try TemporaryDirectory()
        let twice = [TensorView(name: "x", shape: [1], values: [1]), TensorView(name: "x", shape: [1], values: [2])]
        let error = try #require(throws: WeightsError.self) { try SafetensorsWriter.write(twice, to: directory.file("x.safetensors")) }
        #expect(error.kind == .invalidTensor && error.tensor == "x")
        let reserved = [TensorView(name: "__metadata__", shape: [1], values: [1])]
        #expect(throws: WeightsError.self) { try SafetensorsWriter.write(reserved, to: directory.file("y.safetensors")) }
    }

    @Test func atomicWriteReplacesTheFileAndLeavesNothingElse() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("model.safetensors")
        try directory.write("model.safetensors", text: "old contents")
        try SafetensorsWriter.writeAtomically(tensors, to: path)
        #expect(try SafetensorsFile(path: path).names.count == tensors.count)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["model.safetensors"])
    }

    @Test func aFailedAtomicWriteKeepsTheOldFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("model.safetensors")
        try directory.write("model.safetensors", text: "old contents")
        let twice = [TensorView(name: "x", shape: [1], values: [1]), TensorView(name: "x", shape: [1], values: [2])]
        #expect(throws: WeightsError.self) { try SafetensorsWriter.writeAtomically(twice, to: path) }
        let intoMissingDirectory = try #require(throws: WeightsError.self) {
            try SafetensorsWriter.writeAtomically(tensors, to: directory.file("no/such/dir/model.safetensors"))
        }
        #expect(intoMissingDirectory.kind == .fileAccess)
        #expect(try bytes(of: path) == Array("old contents".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["model.safetensors"])
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/dev/full"), "needs /dev/full"))
    func aFullDiskIsReportedAsSuch() throws {
        let big = TensorView(name: "big", shape: [1 << 16], values: [Float](repeating: 1, count: 1 << 16))
        let error = try #require(throws: WeightsError.self) { try SafetensorsWriter.write([big], to: "/dev/full") }
        #expect(error.kind == .diskFull)
        #expect(error.description.contains("/dev/full") && error.description.contains("disk is full"))
    }
}

import Foundation
import SpamtuneTestSupport
import SpamtuneWeights
import Testing

@Suite struct SafetensorsReaderTests {
    let fixture = ProjectPaths.fixture("weights/model.safetensors").path

    /// The oracle's `make-model --layers 2 --dim 32 --heads 4 --ctx 64 --vocab 300 --seed 3`;
    /// the expected numbers were printed by the oracle's own reader.
    @Test func readsTheOracleModelInPlace() throws {
        let file = try SafetensorsFile(path: fixture)
        #expect(file.names.count == 2 + 2 * 12 + 2)
        #expect(file.names.first == "wte.weight")
        #expect(file.metadata == ["n_layer": "2", "n_embd": "32", "n_head": "4", "n_ctx": "64", "n_vocab": "300"])
        #expect(file.info("h.0.mlp.c_fc.weight")?.shape == [32, 128])
        #expect(file.info("h.0.mlp.c_fc.weight")?.dtype == .float32)

        let wte = try file.tensor(named: "wte.weight")
        #expect(wte.shape == [300, 32] && wte.count == 9600)
        #expect(Array(wte.buffer[0..<3]) == [0.04081838205456734, -0.051113300025463104, 0.008361976593732834])
        #expect(wte.buffer[299 * 32 + 31] == 0.023361383005976677)
        let projection = try file.tensor(named: "h.1.mlp.c_proj.weight")
        #expect(Array(projection.buffer[(127 * 32 + 29)...]) == [-0.0018162803025916219, 0.0172186978161335, 0.005795878823846579])
        let finalBias = try file.tensor(named: "ln_f.bias")
        #expect(abs(Double(finalBias.buffer.reduce(0, +)) - -0.027943039895035326) < 1e-6)

        for name in file.names {
            #expect(pointer(try file.tensor(named: name), liesIn: file.mappedBytes), "\(name) must not be copied")
        }
    }

    @Test func halfPrecisionCopiesAgreeWithinTheirPrecision() throws {
        let reference = try SafetensorsFile(path: fixture)
        for (variant, unitRoundoff) in [("model-f16.safetensors", Float(0x1p-11)), ("model-bf16.safetensors", Float(0x1p-8))] {
            let file = try SafetensorsFile(path: ProjectPaths.fixture("weights/" + variant).path)
            #expect(Set(file.names) == Set(reference.names))
            #expect(file.metadata == reference.metadata)
            for name in reference.names {
                let expected = try reference.tensor(named: name), actual = try file.tensor(named: name)
                #expect(actual.shape == expected.shape)
                var worst: Float = 0
                for (a, e) in zip(actual.buffer, expected.buffer) {
                    // Relative rounding error for normals, half the smallest subnormal step below.
                    worst = max(worst, abs(a - e) / (abs(e) * unitRoundoff + 0x1p-25))
                }
                #expect(worst <= 1, "\(variant) \(name): error \(worst) times the format's rounding bound")
            }
        }
    }

    @Test func unalignedFloatDataIsCopiedNotMisread() throws {
        let directory = try TemporaryDirectory()
        let values: [Float] = [1.5, -2.25, 3e-38, .infinity]
        // A 61-byte header puts the data at file offset 69: not 4-byte aligned.
        var header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}"
        header += String(repeating: " ", count: 61 - header.utf8.count)
        let file = try SafetensorsFile(path: try directory.write("odd.safetensors", safetensorsBytes(header: header, data: littleEndianBytes(values))))
        let view = try file.tensor(named: "x")
        #expect(view.toArray() == values)
        #expect(!pointer(view, liesIn: file.mappedBytes))
    }

    @Test func emptyAndScalarTensorsAreFine() throws {
        let directory = try TemporaryDirectory()
        let header = "{\"empty\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}"
        let file = try SafetensorsFile(path: try directory.write("s.safetensors", safetensorsBytes(header: header, data: littleEndianBytes([7]))))
        #expect(try file.tensor(named: "empty").count == 0)
        #expect(try file.tensor(named: "scalar").toArray() == [7])
    }

    // MARK: - Damaged files

    private func openError(_ bytes: [UInt8], in directory: TemporaryDirectory, name: String = "bad.safetensors") throws -> WeightsError {
        let path = try directory.write(name, bytes)
        let error = try #require(throws: WeightsError.self) { try SafetensorsFile(path: path) }
        #expect(error.file == path)
        #expect(error.description.contains(path))
        return error
    }

    @Test func aTruncatedDownloadNamesTheCutTensor() throws {
        let directory = try TemporaryDirectory()
        let whole = try bytes(of: fixture)
        let original = try SafetensorsFile(path: fixture)
        let cutAt = 100_000
        let cutTensor = try #require(original.tensors.first { $0.fileRange.upperBound > cutAt })
        let error = try openError(Array(whole[..<cutAt]), in: directory)
        #expect(error.kind == .truncated)
        #expect(error.tensor == cutTensor.name)
        #expect(error.description.contains("truncated") && error.description.contains("download it again"))
        #expect(error.description.contains(cutTensor.name))
    }

    @Test func aFileCutInsideItsHeaderIsTruncated() throws {
        let directory = try TemporaryDirectory()
        let whole = try bytes(of: fixture)
        #expect(try openError(Array(whole[..<100]), in: directory).kind == .truncated)
        #expect(try openError(Array(whole[..<5]), in: directory).kind == .truncated)
        #expect(try openError([], in: directory).kind == .truncated)
    }

    @Test func absurdHeaderLengthsAreRefused() throws {
        let directory = try TemporaryDirectory()
        let header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"
        let hostile = safetensorsBytes(header: header, data: [0, 0, 0, 0], declaredHeaderLength: 1 << 62)
        #expect(try openError(hostile, in: directory).kind == .corruptFile)
        let maximal = safetensorsBytes(header: header, data: [0, 0, 0, 0], declaredHeaderLength: .max)
        #expect(try openError(maximal, in: directory).kind == .corruptFile)
    }

    @Test func badHeadersAreCorruptFiles() throws {
        let directory = try TemporaryDirectory()
        let cases: [(String, String?)] = [
            ("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]", nil),  // unterminated JSON
            ("[1,2,3]", nil),
            ("{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", "x"),  // no data_offsets
            ("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", "x"),
            ("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", "x"),
            ("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", "x"),
            ("{\"x\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", "x"),
            ("{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "x"),
            ("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", "x"),  // size does not match shape
            ("{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", "x"),  // overflow
            ("{\"__metadata__\":{\"n_head\":4},\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", nil),
        ]
        for (header, tensor) in cases {
            let error = try openError(safetensorsBytes(header: header, data: [0, 0, 0, 0]), in: directory)
            #expect(error.kind == .corruptFile, "\(header): \(error)")
            if let tensor { #expect(error.tensor == tensor || error.description.contains("'\(tensor)'"), "\(header): \(error)") }
        }
    }

    @Test func overlappingTensorsAreRefused() throws {
        let directory = try TemporaryDirectory()
        let header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}"
        let error = try openError(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 12)), in: directory)
        #expect(error.kind == .overlappingTensors)
        #expect(error.tensor == "b" && error.description.contains("'a'"))
    }

    @Test func otherElementTypesOpenButCannotBeLoaded() throws {
        let directory = try TemporaryDirectory()
        let header = "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},\"odd\":{\"dtype\":\"Q4\",\"shape\":[3],\"data_offsets\":[16,19]},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[19,23]}}"
        let path = try directory.write("mixed.safetensors", safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 23)))
        let file = try SafetensorsFile(path: path)
        #expect(try file.tensor(named: "w").toArray() == [0])
        for (name, dtype) in [("ids", "I64"), ("odd", "Q4")] {
            let error = try #require(throws: WeightsError.self) { try file.tensor(named: name) }
            #expect(error.kind == .unsupportedDType)
            #expect(error.description.contains(path) && error.description.contains(name) && error.description.contains(dtype))
        }
        // I64 has a known size: a wrong span is caught at open.
        let wrongSize = "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,8]}}"
        #expect(try openError(safetensorsBytes(header: wrongSize, data: [UInt8](repeating: 0, count: 8)), in: directory).kind == .corruptFile)
    }

    @Test func missingFilesAndTensorsAreNamed() throws {
        let error = try #require(throws: WeightsError.self) { try SafetensorsFile(path: "/nonexistent/model.safetensors") }
        #expect(error.kind == .fileAccess && error.description.contains("/nonexistent/model.safetensors"))
        let file = try SafetensorsFile(path: fixture)
        let missing = try #require(throws: WeightsError.self) { try file.tensor(named: "score.weight") }
        #expect(missing.kind == .missingTensor && missing.tensor == "score.weight" && missing.file == fixture)
    }

    @Test func viewsOutliveTheirFile() throws {
        var view: TensorView?
        do {
            let file = try SafetensorsFile(path: fixture)
            view = try file.tensor(named: "wte.weight")
        }
        #expect(view?.buffer[0] == 0.04081838205456734)
    }
}

import CBZip2

// bzip2 decompression through the system's libbz2, for the .tar.bz2 files spamtune
// downloads (the SpamAssassin public corpus). Memory to memory, with a bound on the
// output: a small hostile file can expand enormously, so the bound is checked as the
// output grows, not after.

public struct BZip2Error: Error, Equatable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        /// The data does not start with bzip2's `BZh` signature.
        case notBZip2
        /// libbz2 found the data damaged (a failed block or stream CRC, an impossible code).
        case corrupt
        /// The data ends inside a stream.
        case truncated
        /// Something that is not a bzip2 stream follows the last stream.
        case trailingData(offset: Int)
        case outputLimitExceeded(limit: Int)
        case outOfMemory
        /// libbz2 answered with a status this wrapper does not expect.
        case library(status: Int32)
    }

    /// The data, as named in messages (usually a file's path).
    public let source: String
    public let reason: Reason

    public init(source: String, reason: Reason) {
        self.source = source
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case .notBZip2:
            "\(source) is not bzip2 data (it does not start with the BZh signature)"
        case .corrupt:
            "\(source) is corrupt: its bzip2 data fails libbz2's integrity checks"
        case .truncated:
            "\(source) is truncated: its bzip2 data ends in the middle of a stream (was the download cut short?)"
        case .trailingData(let offset):
            "\(source) is corrupt: bytes that are not bzip2 data follow the last stream, at offset \(offset)"
        case .outputLimitExceeded(let limit):
            "\(source) expands to more than \(limit) bytes, beyond the limit; refusing it"
        case .outOfMemory:
            "not enough memory to decompress \(source)"
        case .library(let status):
            "libbz2 failed on \(source) with status \(status)"
        }
    }
}

public enum BZip2 {
    private static let signature: [UInt8] = Array("BZh".utf8)
    private static let chunkSize = 1 << 20
    /// libbz2 counts input in 32 bits; longer input is fed in pieces.
    private static let maximumFeed = 1 << 30

    /// The decompressed bytes of `bytes`: one bzip2 stream or several concatenated (as
    /// `cat a.bz2 b.bz2` and parallel compressors make), at most `limit` bytes of them.
    /// - Parameter source: what the data is, for error messages.
    public static func decompress(_ bytes: [UInt8], limit: Int, source: String = "the input") throws(BZip2Error) -> [UInt8] {
        let result: Result<[UInt8], BZip2Error> = bytes.withUnsafeBytes { input in
            Result { () throws(BZip2Error) in try decompress(input, limit: limit, source: source) }
        }
        return try result.get()
    }

    public static func decompress(_ input: UnsafeRawBufferPointer, limit: Int, source: String = "the input") throws(BZip2Error) -> [UInt8] {
        func fail(_ reason: BZip2Error.Reason) -> BZip2Error { BZip2Error(source: source, reason: reason) }
        var output = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        var offset = 0
        var streams = 0
        repeat {
            guard input.count - offset >= signature.count, signature.indices.allSatisfy({ input[offset + $0] == signature[$0] }) else {
                throw fail(streams == 0 ? .notBZip2 : .trailingData(offset: offset))
            }
            offset = try decompressStream(input, from: offset, into: &output, chunk: &chunk, limit: limit, fail: fail)
            streams += 1
        } while offset < input.count
        return output
    }

    /// Decompresses the stream starting at `start`, appending to `output`; returns where
    /// the input after it begins.
    private static func decompressStream(
        _ input: UnsafeRawBufferPointer, from start: Int, into output: inout [UInt8], chunk: inout [UInt8], limit: Int,
        fail: (BZip2Error.Reason) -> BZip2Error
    ) throws(BZip2Error) -> Int {
        var stream = bz_stream()
        let initialised = BZ2_bzDecompressInit(&stream, 0, 0)
        guard initialised == BZ_OK else { throw fail(initialised == BZ_MEM_ERROR ? .outOfMemory : .library(status: initialised)) }
        defer { BZ2_bzDecompressEnd(&stream) }
        var offset = start
        while true {
            let feed = min(input.count - offset, maximumFeed)
            let status = chunk.withUnsafeMutableBytes { out -> Int32 in
                stream.next_in = UnsafeMutablePointer(mutating: (input.baseAddress! + offset).assumingMemoryBound(to: CChar.self))
                stream.avail_in = UInt32(feed)
                stream.next_out = out.baseAddress!.assumingMemoryBound(to: CChar.self)
                stream.avail_out = UInt32(out.count)
                return BZ2_bzDecompress(&stream)
            }
            let consumed = feed - Int(stream.avail_in)
            let produced = chunk.count - Int(stream.avail_out)
            offset += consumed
            guard produced <= limit - output.count else { throw fail(.outputLimitExceeded(limit: limit)) }
            output.append(contentsOf: chunk[..<produced])
            switch status {
            case BZ_STREAM_END:
                return offset
            case BZ_OK:
                // No input left and nothing more to give: the stream stops before its end.
                if consumed == 0 && produced == 0 { throw fail(.truncated) }
            case BZ_DATA_ERROR:
                throw fail(.corrupt)
            case BZ_DATA_ERROR_MAGIC:
                throw fail(.notBZip2)
            case BZ_MEM_ERROR:
                throw fail(.outOfMemory)
            default:
                throw fail(.library(status: status))
            }
        }
    }
}

import Foundation
import SpamtuneSupport
import SpamtuneTestSupport
import Testing

@Suite struct SHA256Tests {
    @Test func knownVectors() {
        #expect(SHA256.hexDigest([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hexDigest(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(SHA256.hexDigest(long) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func incrementalUpdatesMatchOneShot() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var hasher = SHA256()
        hasher.update(data[0..<7])
        hasher.update(data[7..<300].lazy.map { $0 })
        data[300...].withUnsafeBytes { hasher.update($0) }
        #expect(hasher.finalize() == SHA256.hash(data))
    }

    @Test func theSMSCollectionHasItsPublishedHash() throws {
        let data = try Data(contentsOf: ProjectPaths.smsCollection)
        #expect(SHA256.hexDigest(data) == "7d039a24a6083ed9ef0f806ebad56bbb976e3aeb8de05669173bfdc4996c239d")
    }
}

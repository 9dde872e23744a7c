#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The lookup tables encoding reads for every word, as flat allocations made once at load
/// and never written again (hence safe to share between threads): the token bytes, a
/// hash table from byte strings to ids, and a hash table from adjacent token pairs to the
/// token they merge into.
final class TokenTables: @unchecked Sendable {
    let tokenCount: Int
    /// Token `id` is bytes `tokenOffsets[id]..<tokenOffsets[id + 1]` of `tokenBytes`.
    let tokenBytes: UnsafeMutablePointer<UInt8>
    let tokenOffsets: UnsafeMutablePointer<Int32>
    /// The id of each single byte's token.
    let byteTokens: UnsafeMutablePointer<UInt32>

    /// Open addressing, linear probing. A slot holds `hash >> 32 << 32 | (id + 1)`, 0 when
    /// empty, so that most mismatches are rejected without touching the token bytes.
    private let pieceSlots: UnsafeMutablePointer<UInt64>
    private let pieceSlotMask: Int

    /// Tokens of at most 8 bytes (most pieces of text) again, keyed by their bytes packed
    /// in a UInt64, so that finding one reads one slot and not the token bytes too.
    private let shortSlots: UnsafeMutablePointer<ShortTokenSlot>
    private let shortSlotShift: UInt64
    private let shortSlotMask: Int
    static let shortTokenLength = 8

    /// Open addressing, linear probing; key `left << 32 | right`, `emptyPairKey` when empty.
    private let pairKeys: UnsafeMutablePointer<UInt64>
    private let pairMergedTokens: UnsafeMutablePointer<UInt32>
    private let pairSlotShift: UInt64
    private let pairSlotMask: Int
    private static let emptyPairKey = UInt64.max
    /// What `mergedToken` gives for a pair that does not merge: above every id, so the
    /// merge loops can take the minimum without a special case.
    static let noMerge = UInt32.max

    /// Special tokens (<|endoftext|>) stay out of the lookup tables: text never becomes them.
    init(vocabulary: GPT2Vocabulary) {
        let count = vocabulary.tokenCount
        let tokenBytes = UnsafeMutablePointer<UInt8>.allocate(capacity: max(vocabulary.tokenBytes.count, 1))
        tokenBytes.initialize(from: vocabulary.tokenBytes, count: vocabulary.tokenBytes.count)
        let tokenOffsets = UnsafeMutablePointer<Int32>.allocate(capacity: count + 1)
        for id in 0...count { tokenOffsets[id] = Int32(vocabulary.tokenOffsets[id]) }
        let mergeable = (0..<count).filter { !vocabulary.specialTokenIDs.contains($0) }
        let length = { (id: Int) in Int(tokenOffsets[id + 1] - tokenOffsets[id]) }

        byteTokens = .allocate(capacity: 256)
        byteTokens.initialize(repeating: Self.noMerge, count: 256)
        for id in mergeable where length(id) == 1 { byteTokens[Int(tokenBytes[Int(tokenOffsets[id])])] = UInt32(id) }

        var pieceCapacity = 1024
        while pieceCapacity < 2 * count { pieceCapacity <<= 1 }
        let pieceSlotMask = pieceCapacity - 1
        let pieceSlots = UnsafeMutablePointer<UInt64>.allocate(capacity: pieceCapacity)
        pieceSlots.initialize(repeating: 0, count: pieceCapacity)
        for id in mergeable {
            let hash = Self.hash(tokenBytes + Int(tokenOffsets[id]), count: length(id))
            var slot = Int(truncatingIfNeeded: hash) & pieceSlotMask
            while pieceSlots[slot] != 0 { slot = (slot + 1) & pieceSlotMask }
            pieceSlots[slot] = (hash >> 32) << 32 | UInt64(id + 1)
        }
        let findToken = { (bytes: UnsafePointer<UInt8>, count: Int) in
            Self.lookUp(
                bytes, count: count, hash: Self.hash(bytes, count: count),
                slots: pieceSlots, mask: pieceSlotMask, tokenBytes: tokenBytes, tokenOffsets: tokenOffsets)
        }

        let shortTokens = mergeable.filter { length($0) <= Self.shortTokenLength }
        var shortBits: UInt64 = 10
        while (1 << shortBits) * 2 < shortTokens.count * 3 { shortBits += 1 }
        let shortCapacity = 1 << Int(shortBits)
        shortSlots = .allocate(capacity: shortCapacity)
        shortSlots.initialize(repeating: ShortTokenSlot(bytes: 0, token: 0, length: 0), count: shortCapacity)
        for id in shortTokens {
            let packed = Self.pack(tokenBytes + Int(tokenOffsets[id]), count: length(id))
            var slot = Int(truncatingIfNeeded: Self.shortHash(packed: packed, count: length(id)) >> (64 - shortBits))
            while shortSlots[slot].length != 0 { slot = (slot + 1) & (shortCapacity - 1) }
            shortSlots[slot] = ShortTokenSlot(bytes: packed, token: UInt32(id), length: UInt32(length(id)))
        }

        // tiktoken ranks merging two adjacent parts by the id of their concatenation, if
        // that is a token; so every split of a token into two tokens is a mergeable pair.
        var pairs = [(key: UInt64, merged: UInt32)]()
        for id in mergeable where length(id) > 1 {
            let start = tokenBytes + Int(tokenOffsets[id])
            for split in 1..<length(id) {
                guard let left = findToken(start, split), let right = findToken(start + split, length(id) - split) else { continue }
                pairs.append((UInt64(left) << 32 | UInt64(right), UInt32(id)))
            }
        }
        var pairBits: UInt64 = 10
        while (1 << pairBits) < 2 * pairs.count { pairBits += 1 }
        let pairCapacity = 1 << Int(pairBits)
        pairKeys = .allocate(capacity: pairCapacity)
        pairKeys.initialize(repeating: Self.emptyPairKey, count: pairCapacity)
        pairMergedTokens = .allocate(capacity: pairCapacity)
        pairMergedTokens.initialize(repeating: Self.noMerge, count: pairCapacity)
        for pair in pairs {
            var slot = Int(truncatingIfNeeded: (pair.key &* 0x9E37_79B9_7F4A_7C15) >> (64 - pairBits))
            while pairKeys[slot] != Self.emptyPairKey { slot = (slot + 1) & (pairCapacity - 1) }
            pairKeys[slot] = pair.key
            pairMergedTokens[slot] = pair.merged
        }

        self.tokenCount = count
        self.tokenBytes = tokenBytes
        self.tokenOffsets = tokenOffsets
        self.pieceSlots = pieceSlots
        self.pieceSlotMask = pieceSlotMask
        self.shortSlotShift = 64 - shortBits
        self.shortSlotMask = shortCapacity - 1
        self.pairSlotShift = 64 - pairBits
        self.pairSlotMask = pairCapacity - 1
    }

    deinit {
        tokenBytes.deallocate()
        tokenOffsets.deallocate()
        byteTokens.deallocate()
        pieceSlots.deallocate()
        shortSlots.deallocate()
        pairKeys.deallocate()
        pairMergedTokens.deallocate()
    }

    /// A fast 64-bit hash of a short byte string (8 bytes at a time, multiply-xorshift).
    @inline(__always)
    static func hash(_ bytes: UnsafePointer<UInt8>, count: Int) -> UInt64 {
        var hash = 0x9E37_79B9_7F4A_7C15 &* UInt64(truncatingIfNeeded: count &+ 1)
        let raw = UnsafeRawPointer(bytes)
        var offset = 0
        while offset &+ 8 <= count {
            hash = (hash ^ raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            hash ^= hash >> 32
            offset &+= 8
        }
        if offset < count {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while offset < count {
                tail |= UInt64(bytes[offset]) << shift
                shift &+= 8
                offset &+= 1
            }
            hash = (hash ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        }
        hash ^= hash >> 29
        hash = hash &* 0xFF51_AFD7_ED55_8CCD
        return hash ^ (hash >> 32)
    }

    /// Up to 8 bytes as one little-endian word, zero above `count`.
    @inline(__always)
    static func pack(_ bytes: UnsafePointer<UInt8>, count: Int) -> UInt64 {
        var packed: UInt64 = 0
        for offset in 0..<count { packed |= UInt64(bytes[offset]) &<< UInt64(8 &* offset) }
        return packed
    }

    /// `pack` that may read (not use) bytes up to `readableEnd`, which is faster.
    @inline(__always)
    static func pack(_ bytes: UnsafePointer<UInt8>, count: Int, readableEnd: UnsafePointer<UInt8>) -> UInt64 {
        guard readableEnd - bytes >= 8 else { return pack(bytes, count: count) }
        let word = UnsafeRawPointer(bytes).loadUnaligned(as: UInt64.self)
        return count == 8 ? word : word & ((1 &<< UInt64(8 &* count)) &- 1)
    }

    /// A hash of a packed short piece with well-mixed bits throughout.
    @inline(__always)
    static func shortHash(packed: UInt64, count: Int) -> UInt64 {
        var hash = (packed ^ (UInt64(truncatingIfNeeded: count) &* 0x9E37_79B9_7F4A_7C15)) &* 0xFF51_AFD7_ED55_8CCD
        hash ^= hash >> 29
        hash = hash &* 0xC4CE_B9FE_1A85_EC53
        return hash ^ (hash >> 32)
    }

    /// The id of the token whose bytes are the `count` (at most 8) bytes in `packed`.
    @inline(__always)
    func shortTokenID(packed: UInt64, count: Int, hash: UInt64) -> UInt32? {
        var slot = Int(truncatingIfNeeded: hash >> shortSlotShift)
        while true {
            let entry = shortSlots[slot]
            if entry.length == 0 { return nil }
            if entry.bytes == packed && Int(entry.length) == count { return entry.token }
            slot = (slot &+ 1) & shortSlotMask
        }
    }

    /// The id of the token whose bytes are exactly `bytes[0..<count]`, if any
    /// (<|endoftext|> excluded: it is never made from text).
    @inline(__always)
    func tokenID(_ bytes: UnsafePointer<UInt8>, count: Int, hash: UInt64) -> UInt32? {
        Self.lookUp(bytes, count: count, hash: hash, slots: pieceSlots, mask: pieceSlotMask, tokenBytes: tokenBytes, tokenOffsets: tokenOffsets)
    }

    func tokenID(_ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return nil }
            return tokenID(base, count: buffer.count, hash: Self.hash(base, count: buffer.count)).map(Int.init)
        }
    }

    @inline(__always)
    private static func lookUp(
        _ bytes: UnsafePointer<UInt8>, count: Int, hash: UInt64,
        slots: UnsafeMutablePointer<UInt64>, mask: Int, tokenBytes: UnsafeMutablePointer<UInt8>, tokenOffsets: UnsafeMutablePointer<Int32>
    ) -> UInt32? {
        let tag = hash >> 32
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = slots[slot]
            if entry == 0 { return nil }
            if entry >> 32 == tag {
                let id = Int(truncatingIfNeeded: entry & 0xFFFF_FFFF) &- 1
                let start = Int(tokenOffsets[id])
                if Int(tokenOffsets[id &+ 1]) &- start == count && equalBytes(tokenBytes + start, bytes, count: count) {
                    return UInt32(truncatingIfNeeded: id)
                }
            }
            slot = (slot &+ 1) & mask
        }
    }

    /// Most pieces are a few bytes long: comparing them inline beats calling memcmp.
    @inline(__always)
    private static func equalBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, count: Int) -> Bool {
        if count > 16 { return memcmp(a, b, count) == 0 }
        for offset in 0..<count where a[offset] != b[offset] { return false }
        return true
    }

    /// The token that tokens `left` and `right` merge into, or `noMerge`. Its id is also the
    /// merge's rank: lower merges first.
    @inline(__always)
    func mergedToken(_ left: UInt32, _ right: UInt32) -> UInt32 {
        let key = UInt64(left) << 32 | UInt64(right)
        var slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> pairSlotShift)
        while true {
            let found = pairKeys[slot]
            if found == key { return pairMergedTokens[slot] }
            if found == Self.emptyPairKey { return Self.noMerge }
            slot = (slot &+ 1) & pairSlotMask
        }
    }

    @inline(__always)
    func tokenLength(_ id: UInt32) -> Int {
        Int(tokenOffsets[Int(id) &+ 1]) &- Int(tokenOffsets[Int(id)])
    }

    func appendBytes(ofToken id: Int, to output: inout [UInt8]) {
        let start = Int(tokenOffsets[id])
        output.append(contentsOf: UnsafeBufferPointer(start: tokenBytes + start, count: Int(tokenOffsets[id + 1]) - start))
    }
}

struct ShortTokenSlot {
    var bytes: UInt64
    var token: UInt32
    /// 0 marks an empty slot.
    var length: UInt32
}

import Synchronization

/// Remembers the byte-pair encoding of recent pieces that are not themselves tokens
/// (" 09061701461", " Jurong"), so a word repeated across messages is merged once.
/// Fixed size, allocated up front: a slot per hash value, a newer piece overwriting an
/// older one in its slot, so memory cannot grow however hostile the input (a daemon runs
/// for months on it). Split into independently locked shards so that threads encoding at
/// the same time rarely wait for each other.
final class WordCache: Sendable {
    /// Longer pieces are rare, and are not remembered.
    static let maximumPieceLength = 32

    private let shards: [WordCacheShard]
    private let slotsPerShard: Int
    let capacity: Int

    init(capacity requested: Int) {
        let shardCount = requested >= 1024 ? 16 : 1
        var slots = 1
        while slots * shardCount < requested { slots <<= 1 }
        slotsPerShard = slots
        capacity = requested > 0 ? slots * shardCount : 0
        shards = requested > 0 ? (0..<shardCount).map { _ in WordCacheShard(slots: slots) } : []
    }

    var count: Int { shards.reduce(0) { $0 + $1.count } }

    @inline(__always)
    private func shard(for hash: UInt64) -> (WordCacheShard, slot: Int)? {
        guard !shards.isEmpty else { return nil }
        let shard = shards[Int(truncatingIfNeeded: hash >> 60) & (shards.count - 1)]
        return (shard, Int(truncatingIfNeeded: hash) & (slotsPerShard - 1))
    }

    /// Appends the remembered tokens of `piece` to `output`; false if it is not remembered.
    func appendTokens(of piece: UnsafeBufferPointer<UInt8>, hash: UInt64, to output: inout [Int]) -> Bool {
        guard let (shard, slot) = shard(for: hash) else { return false }
        return shard.slots.withLock { $0.appendTokens(of: piece, hash: hash, slot: slot, to: &output) }
    }

    func remember(_ piece: UnsafeBufferPointer<UInt8>, hash: UInt64, tokens: UnsafeBufferPointer<UInt32>) {
        guard piece.count <= Self.maximumPieceLength, let (shard, slot) = shard(for: hash) else { return }
        // Ids are stored in 16 bits; a larger vocabulary's words are just not remembered.
        guard tokens.allSatisfy({ $0 <= UInt16.max }) else { return }
        shard.slots.withLock { $0.remember(piece, hash: hash, slot: slot, tokens: tokens) }
    }
}

final class WordCacheShard: Sendable {
    let slots: Mutex<WordCacheSlots>
    init(slots count: Int) { slots = Mutex(WordCacheSlots(count: count)) }
    var count: Int { slots.withLock { $0.occupied } }
}

/// Flat storage for one shard: slot i's piece is `pieceBytes[i * 32..<i * 32 + pieceLength[i]]`
/// and its tokens `tokens[i * 32..<i * 32 + tokenCount[i]]` (a piece never has more
/// tokens than bytes). A piece length of 0 marks an empty slot.
struct WordCacheSlots: ~Copyable {
    private var hashes: [UInt64]
    private var pieceLength: [UInt8]
    private var tokenCount: [UInt8]
    private var pieceBytes: [UInt8]
    private var tokens: [UInt16]
    private(set) var occupied = 0
    private static let stride = WordCache.maximumPieceLength

    init(count: Int) {
        hashes = [UInt64](repeating: 0, count: count)
        pieceLength = [UInt8](repeating: 0, count: count)
        tokenCount = [UInt8](repeating: 0, count: count)
        pieceBytes = [UInt8](repeating: 0, count: count * Self.stride)
        tokens = [UInt16](repeating: 0, count: count * Self.stride)
    }

    func appendTokens(of piece: UnsafeBufferPointer<UInt8>, hash: UInt64, slot: Int, to output: inout [Int]) -> Bool {
        guard hashes[slot] == hash, Int(pieceLength[slot]) == piece.count else { return false }
        let start = slot * Self.stride
        for offset in 0..<piece.count where pieceBytes[start + offset] != piece[offset] { return false }
        for index in start..<(start + Int(tokenCount[slot])) { output.append(Int(tokens[index])) }
        return true
    }

    mutating func remember(_ piece: UnsafeBufferPointer<UInt8>, hash: UInt64, slot: Int, tokens newTokens: UnsafeBufferPointer<UInt32>) {
        if pieceLength[slot] == 0 { occupied += 1 }
        hashes[slot] = hash
        pieceLength[slot] = UInt8(piece.count)
        tokenCount[slot] = UInt8(newTokens.count)
        let start = slot * Self.stride
        for offset in 0..<piece.count { pieceBytes[start + offset] = piece[offset] }
        for index in 0..<newTokens.count { tokens[start + index] = UInt16(newTokens[index]) }
    }
}

import Synchronization

/// Remembers the byte-pair encoding of recent pieces that are not themselves tokens
/// (" 09061701461", " Jurong"), so a word repeated across messages is merged once.
///
/// Fixed size, allocated up front, so memory cannot grow however hostile the input (a
/// daemon runs for months on it): each piece has a set of two slots chosen by its hash,
/// and a new piece evicts the less recently used of the two. The slots are split into
/// shards, each with its own lock, so threads encoding at once rarely wait for each other.
final class WordCache: @unchecked Sendable {
    /// Longer pieces are rare, and are not remembered.
    static let maximumPieceLength = 24

    let capacity: Int
    private let shardCount: Int
    private let setsPerShard: Int
    /// One lock per shard; slots of shard s are read and written only while holding locks[s].
    private let locks: UnsafeMutablePointer<Mutex<Void>>
    private let slots: UnsafeMutableRawPointer

    /// A slot's layout: the piece's hash, then its length (0: empty slot) and its token
    /// count, then its bytes, then its tokens as 16-bit ids. One slot, two cache lines.
    private static let stride = 96
    private static let pieceLengthOffset = 8
    private static let tokenCountOffset = 9
    private static let pieceOffset = 16
    private static let tokensOffset = pieceOffset + maximumPieceLength

    init(capacity requested: Int) {
        shardCount = requested >= 2048 ? 16 : 1
        var sets = 1
        while 2 * sets * shardCount < requested { sets <<= 1 }
        setsPerShard = requested > 0 ? sets : 0
        capacity = 2 * setsPerShard * shardCount
        locks = .allocate(capacity: shardCount)
        for shard in 0..<shardCount { (locks + shard).initialize(to: Mutex(())) }
        slots = .allocate(byteCount: max(capacity, 1) * Self.stride, alignment: 64)
        slots.initializeMemory(as: UInt8.self, repeating: 0, count: max(capacity, 1) * Self.stride)
    }

    deinit {
        locks.deinitialize(count: shardCount)
        locks.deallocate()
        slots.deallocate()
    }

    /// Pieces remembered now.
    var count: Int {
        var occupied = 0
        for shard in 0..<shardCount {
            locks[shard].withLock { _ in
                let first = shard * setsPerShard * 2
                for slot in first..<(first + setsPerShard * 2) where pieceLength(slot) != 0 { occupied += 1 }
            }
        }
        return occupied
    }

    @inline(__always)
    private func pieceLength(_ slot: Int) -> Int {
        Int(slots.load(fromByteOffset: slot * Self.stride + Self.pieceLengthOffset, as: UInt8.self))
    }

    @inline(__always)
    private func holds(_ slot: Int, _ piece: UnsafeBufferPointer<UInt8>, hash: UInt64) -> Bool {
        let record = slots + slot * Self.stride
        guard record.load(as: UInt64.self) == hash, pieceLength(slot) == piece.count else { return false }
        let stored = (record + Self.pieceOffset).assumingMemoryBound(to: UInt8.self)
        for offset in 0..<piece.count where stored[offset] != piece[offset] { return false }
        return true
    }

    /// The shard's lock and the first slot of the piece's set of two.
    @inline(__always)
    private func place(_ hash: UInt64) -> (shard: Int, set: Int) {
        let shard = Int(truncatingIfNeeded: hash >> 58) & (shardCount - 1)
        let set = shard * setsPerShard + (Int(truncatingIfNeeded: hash) & (setsPerShard - 1))
        return (shard, 2 * set)
    }

    /// Appends the remembered tokens of `piece` to `output`; false if it is not remembered.
    func appendTokens(of piece: UnsafeBufferPointer<UInt8>, hash: UInt64, to output: inout [Int]) -> Bool {
        guard capacity > 0, piece.count <= Self.maximumPieceLength else { return false }
        let (shard, first) = place(hash)
        return locks[shard].withLock { _ in
            var slot = first
            if !holds(first, piece, hash: hash) {
                guard holds(first + 1, piece, hash: hash) else { return false }
                swapSlots(first, first + 1)  // most recently used first
                slot = first
            }
            let record = slots + slot * Self.stride
            let count = Int(record.load(fromByteOffset: Self.tokenCountOffset, as: UInt8.self))
            let tokens = (record + Self.tokensOffset).assumingMemoryBound(to: UInt16.self)
            for index in 0..<count { output.append(Int(tokens[index])) }
            return true
        }
    }

    func remember(_ piece: UnsafeBufferPointer<UInt8>, hash: UInt64, tokens: UnsafeBufferPointer<UInt32>) {
        guard capacity > 0, piece.count <= Self.maximumPieceLength else { return }
        // Ids are stored in 16 bits; a larger vocabulary's words are just not remembered.
        guard tokens.allSatisfy({ $0 <= UInt16.max }) else { return }
        let (shard, first) = place(hash)
        locks[shard].withLock { _ in
            swapSlots(first, first + 1)  // the older of the two is overwritten
            let record = slots + first * Self.stride
            record.storeBytes(of: hash, as: UInt64.self)
            record.storeBytes(of: UInt8(piece.count), toByteOffset: Self.pieceLengthOffset, as: UInt8.self)
            record.storeBytes(of: UInt8(tokens.count), toByteOffset: Self.tokenCountOffset, as: UInt8.self)
            (record + Self.pieceOffset).copyMemory(from: piece.baseAddress!, byteCount: piece.count)
            let stored = (record + Self.tokensOffset).assumingMemoryBound(to: UInt16.self)
            for index in 0..<tokens.count { stored[index] = UInt16(tokens[index]) }
        }
    }

    @inline(__always)
    private func swapSlots(_ a: Int, _ b: Int) {
        withUnsafeTemporaryAllocation(byteCount: Self.stride, alignment: 16) { scratch in
            let base = scratch.baseAddress!
            base.copyMemory(from: slots + a * Self.stride, byteCount: Self.stride)
            (slots + a * Self.stride).copyMemory(from: slots + b * Self.stride, byteCount: Self.stride)
            (slots + b * Self.stride).copyMemory(from: base, byteCount: Self.stride)
        }
    }
}

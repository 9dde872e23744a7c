/// Byte-pair encoding of one piece of text, exactly as tiktoken does it: start from one
/// token per byte, and repeatedly merge the adjacent pair whose concatenation is the
/// token of lowest id (the leftmost such pair on a tie), until no adjacent pair is a token.
extension TokenTables {
    /// Pieces up to this many bytes are merged by rescanning all pairs after each merge, as
    /// tiktoken does: quadratic, but fastest for words. Longer ones (hostile input: a
    /// megabyte of letters without a space) go through a heap, O(n log n).
    static let longPieceThreshold = 128

    /// Merges `piece` in place in `tokens`, using `ranks` (both with room for `count`) as
    /// scratch; returns how many tokens remain in `tokens`.
    @inline(__always)
    func mergeShortPiece(
        _ piece: UnsafePointer<UInt8>, count: Int, tokens: UnsafeMutablePointer<UInt32>, ranks: UnsafeMutablePointer<UInt32>
    ) -> Int {
        guard count > 0 else { return 0 }
        for offset in 0..<count { tokens[offset] = byteTokens[Int(piece[offset])] }
        // ranks[i] is the token that parts i and i + 1 merge into (its id is its rank).
        var parts = count
        for index in 0..<(parts - 1) { ranks[index] = mergedToken(tokens[index], tokens[index &+ 1]) }
        while parts > 1 {
            var best = Self.noMerge
            var bestIndex = 0
            for index in 0..<(parts &- 1) where ranks[index] < best {
                best = ranks[index]
                bestIndex = index
            }
            if best == Self.noMerge { break }
            tokens[bestIndex] = best
            parts &-= 1
            var index = bestIndex &+ 1
            while index < parts {
                tokens[index] = tokens[index &+ 1]
                ranks[index] = ranks[index &+ 1]
                index &+= 1
            }
            ranks[bestIndex] = bestIndex &+ 1 < parts ? mergedToken(best, tokens[bestIndex &+ 1]) : Self.noMerge
            if bestIndex > 0 { ranks[bestIndex &- 1] = mergedToken(tokens[bestIndex &- 1], best) }
        }
        return parts
    }

    /// The same merges for a long piece, appended to `output`. A part is named by the
    /// offset of its first byte and holds its token there (`removed` at the offsets it
    /// swallowed), so the next part starts at offset + token length and the previous one
    /// is the nearest live offset before (under 128 bytes back: no token is longer).
    /// Candidate merges wait in a min-heap keyed by (rank, offset): the offset breaks ties
    /// leftmost-first as tiktoken's scan does. An entry is stale once its part was merged
    /// away or its pair no longer merges into the entry's token (a changed pair spans more
    /// bytes, so it merges into another token, if any), and is then skipped. Memory: 4 bytes per byte of the piece plus the heap, which
    /// starts at 8 bytes per mergeable pair.
    func mergeLongPiece(_ piece: UnsafePointer<UInt8>, count: Int, into output: inout [Int]) {
        guard count > 0 else { return }
        let token = UnsafeMutablePointer<UInt32>.allocate(capacity: count)
        defer { token.deallocate() }
        let removed = UInt32.max
        for offset in 0..<count { token[offset] = byteTokens[Int(piece[offset])] }
        @inline(__always) func next(_ part: Int) -> Int { part + tokenLength(token[part]) }

        var heap = RankHeap(capacity: count / 2)
        for offset in 0..<(count - 1) {
            let rank = mergedToken(token[offset], token[offset + 1])
            if rank != Self.noMerge { heap.append(rank: rank, part: offset) }
        }
        heap.heapify()
        while let (rank, part) = heap.popMinimum() {
            guard token[part] != removed else { continue }
            let right = next(part)
            guard right < count, mergedToken(token[part], token[right]) == rank else { continue }
            token[part] = rank
            token[right] = removed
            let after = next(part)
            if after < count {
                let merged = mergedToken(rank, token[after])
                if merged != Self.noMerge { heap.push(rank: merged, part: part) }
            }
            if part > 0 {
                var before = part - 1
                while token[before] == removed { before -= 1 }
                let merged = mergedToken(token[before], rank)
                if merged != Self.noMerge { heap.push(rank: merged, part: before) }
            }
        }
        var part = 0
        while part < count {
            output.append(Int(token[part]))
            part = next(part)
        }
    }
}

/// A binary min-heap of (rank, part) packed in one UInt64, so that comparing keys
/// compares rank first and part offset second.
struct RankHeap: ~Copyable {
    private var storage: UnsafeMutablePointer<UInt64>
    private var capacity: Int
    private var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        storage = .allocate(capacity: self.capacity)
    }

    deinit { storage.deallocate() }

    /// Adds without keeping heap order; call `heapify` before popping.
    mutating func append(rank: UInt32, part: Int) {
        if count == capacity { grow() }
        storage[count] = UInt64(rank) << 32 | UInt64(part)
        count += 1
    }

    mutating func heapify() {
        var index = count / 2
        while index > 0 {
            index -= 1
            siftDown(index)
        }
    }

    mutating func push(rank: UInt32, part: Int) {
        if count == capacity { grow() }
        let key = UInt64(rank) << 32 | UInt64(part)
        var index = count
        count += 1
        while index > 0 {
            let parent = (index - 1) / 2
            if storage[parent] <= key { break }
            storage[index] = storage[parent]
            index = parent
        }
        storage[index] = key
    }

    mutating func popMinimum() -> (rank: UInt32, part: Int)? {
        guard count > 0 else { return nil }
        let top = storage[0]
        count -= 1
        if count > 0 {
            storage[0] = storage[count]
            siftDown(0)
        }
        return (UInt32(truncatingIfNeeded: top >> 32), Int(truncatingIfNeeded: top & 0xFFFF_FFFF))
    }

    private mutating func siftDown(_ start: Int) {
        let key = storage[start]
        var index = start
        while true {
            var child = 2 * index + 1
            if child >= count { break }
            if child + 1 < count && storage[child + 1] < storage[child] { child += 1 }
            if storage[child] >= key { break }
            storage[index] = storage[child]
            index = child
        }
        storage[index] = key
    }

    private mutating func grow() {
        let larger = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity * 2)
        larger.moveInitialize(from: storage, count: count)
        storage.deallocate()
        storage = larger
        capacity *= 2
    }
}

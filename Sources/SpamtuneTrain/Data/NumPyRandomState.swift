/// The book's sampling, reproduced bit for bit: NumPy's legacy `RandomState` (MT19937)
/// as pandas' `DataFrame.sample(n, random_state=123)` uses it.
///
/// pandas turns an integer `random_state` into `numpy.random.RandomState(seed)`, and
/// `sample(n)` without weights or replacement is `RandomState.choice(len, n,
/// replace=False)`, which NumPy computes as `permutation(len)[:n]`. `permutation`
/// shuffles `arange(len)` with Fisher–Yates from the last element down, drawing each
/// index with `random_interval`: mask a 32-bit output to the smallest all-ones mask
/// covering the bound and redraw until it is within it. MT19937 itself is Matsumoto
/// and Nishimura's generator with the 1998 `init_genrand` seeding, which is what
/// `RandomState(int)` calls.
///
/// Everything here is integer arithmetic, so the results are the same on every
/// machine. The tests pin the outputs against NumPy's (`permutation` of 4,827 and
/// 1,494 with seed 123, and the reference MT19937 sequence for seed 5489).
public struct NumPyRandomState: Sendable {
    private var state = [UInt32](repeating: 0, count: 624)
    private var index = 624

    public init(seed: UInt32) {
        state[0] = seed
        for position in 1..<624 {
            let previous = state[position - 1]
            state[position] = 1_812_433_253 &* (previous ^ (previous >> 30)) &+ UInt32(position)
        }
    }

    /// The next 32-bit output (`genrand_int32`).
    public mutating func nextUInt32() -> UInt32 {
        if index >= 624 { twist() }
        var value = state[index]
        index += 1
        value ^= value >> 11
        value ^= (value << 7) & 0x9D2C_5680
        value ^= (value << 15) & 0xEFC6_0000
        value ^= value >> 18
        return value
    }

    /// A uniform integer in `0...bound` (NumPy's `random_interval`).
    public mutating func interval(_ bound: UInt64) -> UInt64 {
        if bound == 0 { return 0 }
        var mask = bound
        for shift: UInt64 in [1, 2, 4, 8, 16, 32] { mask |= mask >> shift }
        while true {
            let value: UInt64
            if bound <= 0xFFFF_FFFF {
                value = UInt64(nextUInt32()) & mask
            } else {
                let high = UInt64(nextUInt32())
                value = (high << 32 | UInt64(nextUInt32())) & mask
            }
            if value <= bound { return value }
        }
    }

    /// `RandomState.permutation(count)`: a shuffled `0..<count`.
    public mutating func permutation(_ count: Int) -> [Int] {
        var values = Array(0..<count)
        var position = count - 1
        while position >= 1 {
            let other = Int(interval(UInt64(position)))
            values.swapAt(position, other)
            position -= 1
        }
        return values
    }

    /// `df.sample(n, random_state=seed)` on rows `0..<population`: the row positions drawn, in order.
    public mutating func sample(_ count: Int, from population: Int) -> [Int] {
        precondition(count <= population, "cannot draw \(count) of \(population) without replacement")
        return Array(permutation(population).prefix(count))
    }

    private mutating func twist() {
        for position in 0..<624 {
            let upper = state[position] & 0x8000_0000
            let lower = state[(position + 1) % 624] & 0x7FFF_FFFF
            let mixed = upper | lower
            var next = state[(position + 397) % 624] ^ (mixed >> 1)
            if mixed & 1 != 0 { next ^= 0x9908_B0DF }
            state[position] = next
        }
        index = 0
    }
}

import Synchronization

/// A shared work counter for dynamically scheduled parallel loops.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func take() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue }
}

import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A fixed set of threads that run one parallel section at a time: `run` calls the body
/// once on each thread with its index, and returns when all have finished.
///
/// Forward passes issue hundreds of short parallel sections per message, so idle workers
/// spin briefly before sleeping: waking a sleeping thread costs more than a small GEMM.
public final class ThreadPool: @unchecked Sendable {
    public let size: Int
    private let state: State

    /// What the workers share with the pool. The workers hold it, not the pool, so that
    /// a worker that is slow to start or to stop never touches a pool being destroyed.
    private final class State: @unchecked Sendable {
        let generation = Atomic<Int>(0)
        let remaining = Atomic<Int>(0)
        let exited = Atomic<Int>(0)
        let stopping = Atomic<Bool>(false)
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        /// Written by `run` before it publishes a generation, read by workers after.
        var body: ((Int) -> Void)?
        let spinLimit = 20_000

        init() {
            pthread_mutex_init(mutex, nil)
            pthread_cond_init(wake, nil)
        }

        deinit {
            pthread_cond_destroy(wake)
            pthread_mutex_destroy(mutex)
            wake.deallocate()
            mutex.deallocate()
        }

        func publish() {
            pthread_mutex_lock(mutex)
            generation.wrappingAdd(1, ordering: .acquiringAndReleasing)
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)
        }

        func workerLoop(index: Int) {
            var seen = 0
            while true {
                var spins = 0
                while generation.load(ordering: .acquiring) == seen {
                    spins += 1
                    if spins > spinLimit {
                        pthread_mutex_lock(mutex)
                        while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(wake, mutex) }
                        pthread_mutex_unlock(mutex)
                    }
                }
                seen = generation.load(ordering: .acquiring)
                if stopping.load(ordering: .acquiring) {
                    exited.wrappingAdd(1, ordering: .releasing)
                    return
                }
                body?(index)
                remaining.wrappingSubtract(1, ordering: .releasing)
            }
        }
    }

    public init(threads: Int) {
        size = max(1, threads)
        state = State()
        for index in 1..<size {
            let thread = Thread { [state] in state.workerLoop(index: index) }
            thread.name = "spamtune-compute-\(index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    deinit {
        state.stopping.store(true, ordering: .releasing)
        state.publish()
        while state.exited.load(ordering: .acquiring) < size - 1 { sched_yield() }
    }

    /// Runs `work(threadIndex)` on every thread; index 0 is the caller's thread.
    /// Not reentrant: one section at a time per pool.
    public func run(_ work: (Int) -> Void) {
        if size == 1 {
            work(0)
            return
        }
        withoutActuallyEscaping(work) { escapable in
            state.body = escapable
            state.remaining.store(size - 1, ordering: .releasing)
            state.publish()
            escapable(0)
            var spins = 0
            while state.remaining.load(ordering: .acquiring) != 0 {
                spins += 1
                if spins > state.spinLimit { sched_yield() }
            }
            state.body = nil
        }
    }

    /// Calls `work(i)` for i in 0..<count, shared out dynamically over the threads.
    public func parallelFor(_ count: Int, _ work: (Int) -> Void) {
        if count <= 1 || size == 1 {
            for i in 0..<count { work(i) }
            return
        }
        let next = Atomic<Int>(0)
        run { _ in
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if i >= count { break }
                work(i)
            }
        }
    }

    /// The share of 0..<count that thread `index` of `parts` takes in a static split.
    public static func share(of count: Int, part index: Int, parts: Int) -> Range<Int> {
        let base = count / parts, extra = count % parts
        let start = index * base + min(index, extra)
        return start..<(start + base + (index < extra ? 1 : 0))
    }
}

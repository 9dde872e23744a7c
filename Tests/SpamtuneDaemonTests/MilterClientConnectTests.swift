import Foundation
import SpamtuneTestClients
import Synchronization
import Testing

/// The test client's own hygiene: a connection that fails must not close its descriptor
/// number twice. The second close lands on whatever file another thread opened in
/// between (a test's pipe to a child process, say), which then fails with EBADF.
@Suite struct MilterClientConnectTests {
    final class DescriptorWatch: Sendable {
        let state = Mutex((stopped: false, failures: [String]()))
        var stopped: Bool { state.withLock { $0.stopped } }
        func fail(_ message: String) { state.withLock { $0.failures.append(message) } }
    }

    @Test func aFailedConnectClosesNothingElse() throws {
        let nowhere = FileManager.default.temporaryDirectory.appendingPathComponent("st-no-milter-\(UUID().uuidString.prefix(8))").path
        let watch = DescriptorWatch()
        let done = DispatchSemaphore(value: 0)
        // Another thread keeps taking the lowest free descriptor numbers, as a test
        // running beside this one does, and checks that they stay its own.
        Thread {
            defer { done.signal() }
            var byte: UInt8 = 7
            while !watch.stopped {
                // A socket pair, not a pipe: a write whose reading end was closed under
                // it fails with EPIPE instead of killing the test process with SIGPIPE.
                var ends: [Int32] = [0, 0]
                guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0 else { return watch.fail("socketpair: errno \(errno)") }
                if send(ends[1], &byte, 1, Int32(MSG_NOSIGNAL)) != 1 { watch.fail("send on descriptor \(ends[1]): errno \(errno)") }
                if recv(ends[0], &byte, 1, Int32(MSG_DONTWAIT)) != 1 { watch.fail("receive on descriptor \(ends[0]): errno \(errno)") }
                close(ends[0])
                close(ends[1])
            }
        }.start()
        for _ in 0..<20_000 {
            #expect(throws: MilterClientError.self) { try MilterClient(unixSocket: nowhere, timeout: 1) }
        }
        watch.state.withLock { $0.stopped = true }
        done.wait()
        let failures = watch.state.withLock { $0.failures }
        #expect(failures.isEmpty, "\(failures.count) socket operations failed, first: \(failures.prefix(3))")
    }
}

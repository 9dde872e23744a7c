import Foundation
import SpamtuneTestClients
import SpamtuneTestSupport
import Testing

@testable import SpamtuneDaemon

/// Random and mutated input for the milter parser and server, for a bounded time
/// (`SPAMTUNE_FUZZ_SECONDS`, default 3; `SPAMTUNE_FUZZ_SEED` repeats a run): nothing
/// crashes, no connection hangs once its peer is done, and a well-formed session on
/// another connection gets its verdicts all the while.
@Suite struct MilterFuzzTests {
    static let seconds = ProcessInfo.processInfo.environment["SPAMTUNE_FUZZ_SECONDS"].flatMap(Double.init) ?? 3
    static let seed = ProcessInfo.processInfo.environment["SPAMTUNE_FUZZ_SEED"].flatMap(UInt64.init)
        ?? UInt64(Date().timeIntervalSince1970 * 1000)

    @Test func decoderAndSessionTakeAnyPacket() throws {
        let fixture = try MilterFixture(threshold: 0.5)
        defer { fixture.stop() }
        var generator = SeededGenerator(seed: Self.seed)
        let end = Date(timeIntervalSinceNow: Self.seconds / 2)
        var packets = 0, decoded = 0
        var session = newSession(fixture)
        while Date() < end {
            for _ in 0..<200 {
                let packet = MilterFuzzInput.randomPacket(using: &generator)
                packets += 1
                if let event = try? MilterEvent(packet: packet) {
                    decoded += 1
                    // Every decoded event must be one the session handles or refuses cleanly.
                    if (try? session.handle(event)) == nil || generator.next() % 50 == 0 { session = newSession(fixture) }
                }
            }
        }
        #expect(packets > 1000, "seed \(Self.seed)")
        #expect(decoded > 0, "seed \(Self.seed)")
    }

    private func newSession(_ fixture: MilterFixture) -> MilterSession {
        let session = MilterSession(
            milterPolicy: MilterPolicy(fixture.daemon.configuration, headers: fixture.daemon.verdictHeaders), maxMessageBytes: 8192, policy: fixture.daemon.policy,
            log: fixture.daemon.log, peer: "fuzz")
        _ = try? session.handle(.optionNegotiation(version: 6, actions: MilterClient.postfixActions, options: []))
        return session
    }

    @Test func serverSurvivesGarbageAndKeepsServingOthers() throws {
        let fixture = try MilterFixture(threshold: 0.5) {
            $0.connectionTimeout = 5
            $0.maxMessageBytes = 16384
        }
        defer { fixture.stop() }
        let end = Date(timeIntervalSinceNow: Self.seconds)
        let report = MilterFuzzReport()

        // The well-formed session, on its own connection, all the while.
        let goodDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            defer { goodDone.signal() }
            do {
                let client = try fixture.postfixClient()
                var index = 0
                while Date() < end {
                    let result = try client.check(message: milterTestMessage(subject: "good \(index)", body: milterHamBody), queueID: "4GOOD\(index)")
                    report.good(result.header("X-Spam-Status") != nil)
                    index += 1
                }
            } catch {
                report.note("the well-formed session failed: \(error)")
            }
        }

        let fuzzers = 2
        let fuzzDone = DispatchGroup()
        for worker in 0..<fuzzers {
            fuzzDone.enter()
            Thread.detachNewThread {
                defer { fuzzDone.leave() }
                var generator = SeededGenerator(seed: Self.seed &+ UInt64(worker) &* 7919)
                while Date() < end {
                    let input = MilterFuzzInput.stream(using: &generator)
                    do {
                        let client = try fixture.client(timeout: 10)
                        // The server may close early and reset the rest: a send error is fine.
                        try? client.sendRaw(input)
                        client.finishSending()
                        // With the stream ended, the server must answer what it can and close.
                        var closed = false
                        while !closed {
                            do {
                                _ = try client.readPacket()
                            } catch MilterClientError.timedOut {
                                report.note("a connection was still open 10 s after its input ended (\(input.count) bytes, seed \(Self.seed))")
                                break
                            } catch {
                                closed = true
                            }
                        }
                        report.fuzzed()
                    } catch {
                        report.note("could not connect: \(error)")
                    }
                }
            }
        }
        fuzzDone.wait()
        goodDone.wait()
        #expect(report.problems.isEmpty, "\(report.problems.prefix(5))")
        #expect(report.fuzzedConnections > 20, "seed \(Self.seed)")
        #expect(report.goodVerdicts > 0 && report.badVerdicts == 0, "seed \(Self.seed)")
        #expect(fixture.waitUntil(10) { fixture.server.openConnections == 0 }, "connections left open, seed \(Self.seed)")
        // And the server still serves.
        let after = try fixture.postfixClient().check(message: milterTestMessage(subject: "after", body: milterHamBody))
        #expect(after.header("X-Spam-Status") != nil)
    }
}

final class MilterFuzzReport: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var problems: [String] = []
    private(set) var fuzzedConnections = 0
    private(set) var goodVerdicts = 0
    private(set) var badVerdicts = 0

    func note(_ problem: String) { lock.withLock { problems.append(problem) } }
    func fuzzed() { lock.withLock { fuzzedConnections += 1 } }
    func good(_ ok: Bool) { lock.withLock { if ok { goodVerdicts += 1 } else { badVerdicts += 1 } } }
}

/// Inputs: random bytes, random packets, and well-formed sessions with mutations.
enum MilterFuzzInput {
    static let codes: [UInt8] = MilterCommand.allCases.map(\.rawValue)

    static func randomBytes(_ count: Int, using generator: inout SeededGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// A packet with a real command code most of the time, and data that is random or
    /// made of NUL-terminated pieces (which gets past the decoder more often).
    static func randomPacket(using generator: inout SeededGenerator) -> MilterPacket {
        let code = Int.random(in: 0..<10, using: &generator) == 0
            ? UInt8.random(in: 0...255, using: &generator) : codes.randomElement(using: &generator)!
        var data: [UInt8] = []
        switch Int.random(in: 0..<3, using: &generator) {
        case 0: data = randomBytes(Int.random(in: 0..<64, using: &generator), using: &generator)
        case 1:
            for _ in 0..<Int.random(in: 0..<5, using: &generator) {
                data += randomBytes(Int.random(in: 0..<12, using: &generator), using: &generator).map { $0 == 0 ? 1 : $0 } + [0]
            }
        default:
            if code == MilterCommand.optionNegotiation.rawValue || code == MilterCommand.connect.rawValue {
                data = [0, 0, 0, UInt8.random(in: 0...8, using: &generator)] + randomBytes(Int.random(in: 0..<12, using: &generator), using: &generator)
            } else if code == MilterCommand.macros.rawValue {
                data = [codes.randomElement(using: &generator)!, UInt8(ascii: "i"), 0] + Array("4Q\(generator.next() % 1000)".utf8) + [0]
            }
        }
        return MilterPacket(code: code, data: data)
    }

    /// What Postfix sends for one message, start to quit.
    static func wellFormedSession(using generator: inout SeededGenerator) -> [UInt8] {
        func text(_ string: String) -> [UInt8] { Array(string.utf8) + [0] }
        var packets = [MilterPacket(MilterCommand.optionNegotiation, MilterPacket.bigEndian(6) + MilterPacket.bigEndian(MilterClient.postfixActions.rawValue) + MilterPacket.bigEndian(MilterClient.postfixOptions.rawValue))]
        packets.append(MilterPacket(.macros, [UInt8(ascii: "C")] + text("j") + text("mx")))
        packets.append(MilterPacket(.connect, text("client") + [UInt8(ascii: "4"), 0, 25] + text("127.0.0.1")))
        packets.append(MilterPacket(.macros, [UInt8(ascii: "M")] + text("i") + text("4FUZZ")))
        packets.append(MilterPacket(.mail, text("<a@b>")))
        packets.append(MilterPacket(.recipient, text("<c@d>")))
        for index in 0..<Int.random(in: 1..<6, using: &generator) {
            packets.append(MilterPacket(.header, text("X-Header-\(index)") + text("value \(generator.next() % 100)")))
        }
        packets.append(MilterPacket(.header, text("X-Spam-Flag") + text("NO")))
        packets.append(MilterPacket(.endOfHeaders))
        for _ in 0..<Int.random(in: 0..<4, using: &generator) {
            packets.append(MilterPacket(.body, Array(String(repeating: "body text line\r\n", count: Int.random(in: 1..<200, using: &generator)).utf8)))
        }
        packets.append(MilterPacket(.endOfBody))
        if Bool.random(using: &generator) { packets.append(MilterPacket(.abort)) }
        packets.append(MilterPacket(.quit))
        return packets.flatMap(\.encoded)
    }

    static func mutate(_ input: [UInt8], using generator: inout SeededGenerator) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1..<6, using: &generator) where !bytes.isEmpty {
            let at = Int.random(in: 0..<bytes.count, using: &generator)
            switch Int.random(in: 0..<7, using: &generator) {
            case 0: bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &generator)
            case 1: bytes[at] = UInt8.random(in: 0...255, using: &generator)
            case 2: bytes.insert(contentsOf: randomBytes(Int.random(in: 1..<16, using: &generator), using: &generator), at: at)
            case 3: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1..<32, using: &generator)))
            case 4: bytes = Array(bytes.prefix(at))
            case 5:
                // A length field that lies.
                let lengths = [UInt32.random(in: 0...16, using: &generator), UInt32.random(in: 0...0x7fff_ffff, using: &generator), 0xffff_ffff, 262_209]
                let word = MilterPacket.bigEndian(lengths.randomElement(using: &generator)!)
                for (index, byte) in word.enumerated() where at + index < bytes.count { bytes[at + index] = byte }
            default:
                let end = min(bytes.count, at + Int.random(in: 1..<64, using: &generator))
                bytes.insert(contentsOf: bytes[at..<end], at: Int.random(in: 0...bytes.count, using: &generator))
            }
        }
        return bytes
    }

    static func stream(using generator: inout SeededGenerator) -> [UInt8] {
        switch Int.random(in: 0..<4, using: &generator) {
        case 0: return randomBytes(Int.random(in: 1..<2048, using: &generator), using: &generator)
        case 1:
            let negotiation = MilterPacket(MilterCommand.optionNegotiation, MilterPacket.bigEndian(6) + MilterPacket.bigEndian(0x1ff) + MilterPacket.bigEndian(0))
            return negotiation.encoded + (0..<Int.random(in: 1..<40, using: &generator)).flatMap { _ in randomPacket(using: &generator).encoded }
        default: return mutate(wellFormedSession(using: &generator), using: &generator)
        }
    }
}

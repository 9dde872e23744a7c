import Foundation
import SpamtuneConfiguration
import SpamtuneTestClients
import SpamtuneTestSupport
import Testing

@testable import SpamtuneDaemon

#if canImport(Glibc)
import Glibc
#endif

/// `metrics_listen`: the page parsed back as Prometheus reads it, the counts it shows
/// after real requests, and the HTTP listener facing requests that are not a scrape.
@Suite("metrics in process", .serialized)
struct MetricsTests {
    /// A daemon in this process with spamd on its Unix socket and metrics on a loopback
    /// port the system picks.
    final class Running {
        let bed: SpamdTestBed
        let daemon: Daemon
        let spamd: SpamdServer
        let metrics: MetricsServer
        var port: UInt16 { metrics.port ?? 0 }

        init(threshold: Double = 0.01, firstByteTimeout: Double = 10) throws {
            bed = try SpamdTestBed(threshold: threshold)
            var configuration = bed.configuration()
            configuration.metricsListen = .tcp(host: "127.0.0.1", port: 0)
            configuration.firstByteTimeout = firstByteTimeout
            daemon = try bed.daemon(configuration)
            spamd = try SpamdServer(context: daemon.context)
            metrics = try #require(try MetricsServer.make(daemon.context) as? MetricsServer)
        }

        func tearDown() {
            metrics.stop(graceful: false)
            spamd.stop(graceful: false)
            daemon.service.drainAndStop()
            bed.tearDown()
        }

        func scrape() throws -> Exposition {
            let answer = try HTTPProbe.exchange(port: port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n")
            #expect(answer.status == 200, "\(answer.head)")
            #expect(answer.head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"))
            return try Exposition(parsing: answer.body)
        }
    }

    @Test func thePageParsesBackAndCountsWhatHappened() throws {
        let running = try Running()
        defer { running.tearDown() }
        let client = SpamdClient(address: .unix(path: running.bed.spamdSocket), timeout: 30)
        let message = SpamdTestBed.message("Metrics, please")
        // The same text twice: the second verdict comes from the cache.
        #expect(try client.check(message).isSpam)
        #expect(try client.check(message).isSpam)
        _ = try client.exchange(SpamdClient.request(.process, message: SpamdTestBed.message("Another one")))
        _ = try client.exchange(SpamdClient.request(.tell, message: message, headers: ["Message-class: ham", "Set: local"]))
        _ = try client.exchange(Array("NONSENSE SPAMC/1.5\r\n\r\n".utf8))
        _ = running.daemon.reload()

        let page = try running.scrape()
        #expect(page.value("spamtune_messages_total", ["way_in": "spamd", "verdict": "spam", "action": "answer"]) == 2)
        #expect(page.value("spamtune_messages_total", ["way_in": "spamd", "verdict": "spam", "action": "headers"]) == 1)
        #expect(page.value("spamtune_verdicts_cached_total", [:]) == 1)
        #expect(page.value("spamtune_policy_decisions_total", ["rule": "deny-list"]) == 0)
        #expect(page.value("spamtune_scoring_duration_seconds_count", ["way_in": "spamd"]) == 3)
        #expect(page.value("spamtune_scoring_duration_seconds_bucket", ["way_in": "spamd", "le": "+Inf"]) == 3)
        #expect(page.value("spamtune_feedback_total", ["label": "ham", "change": "added"]) == 1)
        #expect(page.value("spamtune_request_errors_total", ["way_in": "spamd", "reason": "EX_PROTOCOL"]) == 1)
        #expect(page.value("spamtune_connections_accepted_total", ["way_in": "spamd"]) == 5)
        // The scrape itself is the one metrics connection open.
        #expect(page.value("spamtune_connections", ["way_in": "metrics"]) == 1)
        #expect(page.value("spamtune_reloads_total", ["result": "ok"]) == 1)
        #expect(page.value("spamtune_model_info", ["version": "v1-1"]) == 1)
        #expect(page.value("spamtune_model_threshold", [:]) == 0.01)
        #expect(page.value("spamtune_queue_limit", [:]) == 256)
        let resident = try #require(page.value("process_resident_memory_bytes", [:]))
        #expect(resident > 1_000_000)
        let started = try #require(page.value("process_start_time_seconds", [:]))
        #expect(abs(started - Date().timeIntervalSince1970) < 3600)
        #expect(page.types["spamtune_scoring_duration_seconds"] == "histogram")
        #expect(page.types["spamtune_messages_total"] == "counter")
        #expect(page.types["process_resident_memory_bytes"] == "gauge")
    }

    @Test func labelValuesAreEscaped() throws {
        var page = MetricsPage()
        page.family("spamtune_model_info", .gauge, "A help text with a \\ and a\nnew line.", [([("version", "v\"1\\\n")], 1)])
        #expect(page.text.contains(#"spamtune_model_info{version="v\"1\\\n"} 1"#))
        #expect(page.text.contains(#"# HELP spamtune_model_info A help text with a \\ and a\nnew line."#))
        let parsed = try Exposition(parsing: page.text)
        #expect(parsed.value("spamtune_model_info", ["version": "v\"1\\\n"]) == 1)
        #expect(MetricsPage.number(0.005) == "0.005")
        #expect(MetricsPage.number(3) == "3")
        #expect(MetricsPage.number(.infinity) == "+Inf")
    }

    @Test func theListenerAnswersOnlyScrapes() throws {
        let running = try Running(firstByteTimeout: 0.5)
        defer { running.tearDown() }
        let port = running.port
        #expect(try HTTPProbe.exchange(port: port, "GET / HTTP/1.1\r\n\r\n").status == 404)
        #expect(try HTTPProbe.exchange(port: port, "GET /metrics/../etc/passwd HTTP/1.1\r\n\r\n").status == 404)
        let post = try HTTPProbe.exchange(port: port, "POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")
        #expect(post.status == 405)
        #expect(post.head.contains("Allow: GET, HEAD"))
        #expect(try HTTPProbe.exchange(port: port, "\u{16}\u{03}\u{01}\u{02}\u{00}\r\n\r\n").status == 400)
        #expect(try HTTPProbe.exchange(port: port, "GET /metrics SPDY/3\r\n\r\n").status == 400)
        let huge = "GET /metrics HTTP/1.1\r\n" + String(repeating: "X-Padding: \(String(repeating: "a", count: 100))\r\n", count: 100) + "\r\n"
        #expect(try HTTPProbe.exchange(port: port, huge).status == 431)
        let head = try HTTPProbe.exchange(port: port, "HEAD /metrics HTTP/1.1\r\n\r\n")
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(!head.head.contains("Content-Length: 0\r\n"))
        // Two requests in one go: one answer, then the connection closes.
        let twice = try HTTPProbe.exchange(port: port, "GET /metrics HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n")
        #expect(twice.status == 200)
        #expect(!twice.body.contains("HTTP/1.1"))

        // A peer that connects and says nothing is closed after first_byte_timeout, and
        // while it holds its connection, mail is scored and a scrape is answered.
        let silent = try HTTPProbe.connect(port: port)
        defer { close(silent) }
        let client = SpamdClient(address: .unix(path: running.bed.spamdSocket), timeout: 30)
        #expect(try client.check(SpamdTestBed.message("While a peer is silent")).isSpam)
        var byte: UInt8 = 0
        let start = Date()
        #expect(recv(silent, &byte, 1, 0) == 0)  // closed by spamtuned, nothing sent
        #expect(Date().timeIntervalSince(start) < 5)
        let page = try running.scrape()
        #expect(page.value("spamtune_connections_closed_total", ["way_in": "metrics", "reason": "first-byte-timeout"]) == 1)
        #expect(page.value("spamtune_messages_total", ["way_in": "spamd", "verdict": "spam", "action": "answer"]) == 1)
    }

    @Test func theKeyTakesTCPAddressesOnly() throws {
        func parse(_ text: String) throws -> DaemonConfiguration {
            try DaemonConfiguration(file: ConfigurationFile(path: "test.conf", text: text))
        }
        #expect(try parse("").metricsListen == nil)
        #expect(try parse("metrics_listen =").metricsListen == nil)
        #expect(try parse("metrics_listen = off").metricsListen == nil)
        #expect(try parse("metrics_listen = 127.0.0.1:9783").metricsListen == .tcp(host: "127.0.0.1", port: 9783))
        #expect(try parse("metrics_listen = [::1]:9783").metricsListen == .tcp(host: "::1", port: 9783))
        #expect(throws: ConfigurationError.self) { try parse("metrics_listen = /run/spamtune/metrics.sock") }
        do {
            _ = try parse("metrics_listen = unix:/run/spamtune/metrics.sock")
        } catch {
            #expect("\(error)".contains("Prometheus scrapes over TCP"), "\(error)")
        }
    }
}

/// spamtuned as an admin runs it, scraped by Debian's Prometheus: the counts of mail
/// sent with spamc come back through Prometheus's query API.
@Suite("metrics scraped by Prometheus", .serialized)
struct PrometheusScrapeTests {
    static let prometheus = "/usr/bin/prometheus"
    static let promtool = "/usr/bin/promtool"

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: prometheus), "Prometheus is not installed (apt-get install prometheus; .ci/run does)"))
    func prometheusScrapesTheCounts() throws {
        try Spamc.ensureInstalled()
        let bed = try SpamdTestBed(threshold: 0.01)
        defer { bed.tearDown() }
        let metricsPort = try freeTCPPort()
        try bed.startExecutable(configuration: try bed.writeConfiguration(["metrics_listen = 127.0.0.1:\(metricsPort)"]))
        for index in 1...3 {
            let result = try Spamc.run(["-U", bed.spamdSocket, "-c"], input: SpamdTestBed.message("Scraped \(index)"))
            #expect(result.status == 1, "\(result.standardError)")
        }

        if FileManager.default.isExecutableFile(atPath: Self.promtool) {
            let page = try HTTPProbe.exchange(port: metricsPort, "GET /metrics HTTP/1.1\r\n\r\n")
            let check = try runProcess(URL(fileURLWithPath: Self.promtool), ["check", "metrics"], input: Data(page.body.utf8))
            #expect(check.status == 0, "promtool: \(check.standardOutput)\(check.standardError)")
        }

        // The alert rules README shows: promtool accepts them, and so does the Prometheus below.
        let rules = ProjectPaths.root.appendingPathComponent("etc/prometheus-spamtune-rules.yml")
        if FileManager.default.isExecutableFile(atPath: Self.promtool) {
            let check = try runProcess(URL(fileURLWithPath: Self.promtool), ["check", "rules", rules.path])
            #expect(check.status == 0, "promtool: \(check.standardOutput)\(check.standardError)")
        }

        let webPort = try freeTCPPort()
        let configuration = bed.root.appendingPathComponent("prometheus.yml")
        try """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files: ['\(rules.path)']
            scrape_configs:
              - job_name: spamtune
                static_configs:
                  - targets: ['127.0.0.1:\(metricsPort)']
            """.write(to: configuration, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.prometheus)
        process.arguments = [
            "--config.file=\(configuration.path)", "--storage.tsdb.path=\(bed.root.appendingPathComponent("prometheus-data").path)",
            "--web.listen-address=127.0.0.1:\(webPort)", "--log.level=warn",
        ]
        let logURL = bed.root.appendingPathComponent("prometheus.log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.standardOutput = log
        process.standardError = log
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        func prometheusLog() -> String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

        /// The first value of an instant query, once Prometheus has one.
        func query(_ expression: String) throws -> Double? {
            let encoded = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expression
            let answer = try HTTPProbe.exchange(port: webPort, "GET /api/v1/query?query=\(encoded) HTTP/1.0\r\n\r\n")
            guard answer.status == 200,
                let json = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any],
                let data = json["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
                let value = result.first?["value"] as? [Any], let text = value.last as? String
            else { return nil }
            return Double(text)
        }

        let expression = #"sum(spamtune_messages_total{way_in="spamd",verdict="spam",action="answer"})"#
        let deadline = Date(timeIntervalSinceNow: 60)
        var seen: Double?
        while Date() < deadline {
            #expect(process.isRunning, "prometheus exited: \(prometheusLog())")
            if !process.isRunning { return }
            seen = try? query(expression)
            if seen == 3 { break }
            usleep(250_000)
        }
        #expect(seen == 3, "Prometheus saw \(String(describing: seen)); its log:\n\(prometheusLog())")
        #expect(try query(#"up{job="spamtune"}"#) == 1)
        #expect(try query(#"spamtune_scoring_duration_seconds_count{way_in="spamd"}"#) == 3)
        #expect(try query("spamtune_model_threshold") == 0.01)
        #expect((try query("process_resident_memory_bytes") ?? 0) > 1_000_000)
        // The rules are loaded, and a healthy daemon raises none of them.
        let loaded = try HTTPProbe.exchange(port: webPort, "GET /api/v1/rules HTTP/1.0\r\n\r\n").body
        #expect(["SpamtuneDown", "SpamtuneMailNotScored", "SpamtuneSlowVerdicts", "SpamtuneReloadFailed"].allSatisfy(loaded.contains), "\(loaded)")
        #expect(try query(#"count(ALERTS{alertname=~"Spamtune.*"}) or vector(0)"#) == 0)
    }
}

/// A page in the text exposition format read back as Prometheus reads it: every line a
/// `# HELP`, a `# TYPE` or a sample with a valid name, valid label names and a number.
struct Exposition {
    struct Sample {
        let name: String
        let labels: [String: String]
        let value: Double
    }

    var samples: [Sample] = []
    var types: [String: String] = [:]
    var helps: [String: String] = [:]

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    init(parsing text: String) throws {
        guard text.hasSuffix("\n") else { throw Invalid(description: "the page does not end in a new line") }
        var familyOrder: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ", maxSplits: 1).map(String.init)
                guard parts.count == 2, Self.isName(parts[0], colons: true) else { throw Invalid(description: "bad line: \(line)") }
                if line.hasPrefix("# TYPE ") {
                    guard types[parts[0]] == nil else { throw Invalid(description: "\(parts[0]) has two TYPE lines") }
                    guard ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[1]) else {
                        throw Invalid(description: "unknown type: \(line)")
                    }
                    if parts[1] == "counter" && !parts[0].hasSuffix("_total") {
                        throw Invalid(description: "the counter \(parts[0]) does not end in _total")
                    }
                    types[parts[0]] = parts[1]
                    familyOrder.append(parts[0])
                } else {
                    helps[parts[0]] = parts[1]
                }
                continue
            }
            guard !line.isEmpty, !line.hasPrefix("#") else { throw Invalid(description: "unexpected line: '\(line)'") }
            var rest = Substring(line)
            let name = String(rest.prefix { $0 != "{" && $0 != " " })
            guard Self.isName(name, colons: true) else { throw Invalid(description: "bad metric name in: \(line)") }
            rest = rest.dropFirst(name.count)
            var labels: [String: String] = [:]
            if rest.hasPrefix("{") {
                rest = rest.dropFirst()
                while !rest.hasPrefix("}") {
                    let label = String(rest.prefix { $0 != "=" })
                    guard Self.isName(label, colons: false), labels[label] == nil else { throw Invalid(description: "bad label in: \(line)") }
                    rest = rest.dropFirst(label.count)
                    guard rest.hasPrefix("=\"") else { throw Invalid(description: "bad label value in: \(line)") }
                    rest = rest.dropFirst(2)
                    var value = ""
                    while let character = rest.first, character != "\"" {
                        rest = rest.dropFirst()
                        if character == "\\" {
                            guard let escaped = rest.first else { throw Invalid(description: "bad escape in: \(line)") }
                            rest = rest.dropFirst()
                            switch escaped {
                            case "\\": value.append("\\")
                            case "\"": value.append("\"")
                            case "n": value.append("\n")
                            default: throw Invalid(description: "bad escape in: \(line)")
                            }
                        } else {
                            value.append(character)
                        }
                    }
                    guard rest.hasPrefix("\"") else { throw Invalid(description: "unterminated label value in: \(line)") }
                    rest = rest.dropFirst()
                    labels[label] = value
                    if rest.hasPrefix(",") { rest = rest.dropFirst() }
                }
                rest = rest.dropFirst()
            }
            guard rest.hasPrefix(" ") else { throw Invalid(description: "no value in: \(line)") }
            let valueText = rest.dropFirst()
            let value: Double? =
                switch valueText {
                case "+Inf": .infinity
                case "-Inf": -.infinity
                case "NaN": .nan
                default: Double(valueText)
                }
            guard let value else { throw Invalid(description: "bad value in: \(line)") }
            // A sample belongs to the family declared last (a histogram's _bucket, _sum, _count).
            guard let family = familyOrder.last, name == family || (types[family] == "histogram" && ["_bucket", "_sum", "_count"].contains { name == family + $0 })
            else { throw Invalid(description: "\(name) is not in the family declared before it") }
            samples.append(Sample(name: name, labels: labels, value: value))
        }
        try checkHistograms()
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*` for metric names, without the colons for label names.
    static func isName(_ text: String, colons: Bool) -> Bool {
        func allowed(_ c: Character, first: Bool) -> Bool {
            c.isASCII && (c.isLetter || c == "_" || (colons && c == ":") || (!first && c.isNumber))
        }
        guard let first = text.first, allowed(first, first: true) else { return false }
        return text.dropFirst().allSatisfy { allowed($0, first: false) }
    }

    /// Buckets never decrease, and `le="+Inf"` equals `_count`.
    private func checkHistograms() throws {
        for (family, type) in types where type == "histogram" {
            var series: [[String: String]: [(Double, Double)]] = [:]
            for sample in samples where sample.name == family + "_bucket" {
                guard let le = sample.labels["le"] else { throw Invalid(description: "\(family) bucket without le") }
                var key = sample.labels
                key["le"] = nil
                series[key, default: []].append((le == "+Inf" ? .infinity : Double(le) ?? .nan, sample.value))
            }
            for (labels, buckets) in series {
                guard buckets.map(\.0) == buckets.map(\.0).sorted(), buckets.last?.0 == .infinity else {
                    throw Invalid(description: "\(family)\(labels): bounds out of order or no +Inf")
                }
                guard buckets.map(\.1) == buckets.map(\.1).sorted() else { throw Invalid(description: "\(family)\(labels): buckets decrease") }
                guard value(family + "_count", labels) == buckets.last?.1 else { throw Invalid(description: "\(family)\(labels): +Inf is not _count") }
            }
        }
    }

    func value(_ name: String, _ labels: [String: String]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }
}

/// Raw HTTP/1.x over loopback TCP: the bytes as given, the answer until the server closes.
enum HTTPProbe {
    struct Answer {
        let status: Int
        let head: String
        let body: String
    }

    static func connect(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw TestBedError("connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    static func exchange(port: UInt16, _ request: String) throws -> Answer {
        let fd = try connect(port: port)
        defer { close(fd) }
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            // The server may answer and close before reading all of a request it refuses.
            if n <= 0 { break }
            sent += n
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            answer += buffer[0..<n]
        }
        let text = String(decoding: answer, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw TestBedError("no HTTP answer: '\(text)'") }
        let head = String(text[..<split.lowerBound])
        let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return Answer(status: status, head: head, body: String(text[split.upperBound...]))
    }
}

import Foundation
import SpamtuneClassifier
import SpamtuneConfiguration
import SpamtuneDaemon
import SpamtuneTestSupport
import Testing

@Suite struct ConfigurationTests {
    /// etc/spamtune.conf as shipped: it parses, gives the defaults, and documents every key.
    @Test func theShippedFileParsesAndDocumentsEveryKey() throws {
        let path = ProjectPaths.root.appendingPathComponent("etc/spamtune.conf").path
        let configuration = try DaemonConfiguration.load(path)
        #expect(configuration == DaemonConfiguration())
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for key in DaemonConfiguration.keyNames {
            #expect(text.contains("\n\(key) = ") || text.contains("\n# \(key) = "), "etc/spamtune.conf does not document \(key)")
        }
    }

    @Test func errorsNameTheLine() {
        func error(_ text: String) -> String {
            do {
                _ = try DaemonConfiguration(file: ConfigurationFile(path: "test.conf", text: text))
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(error("threads = 2\nthreds = 2\n") == "test.conf, line 2: unknown key 'threds'")
        #expect(error("\n\nqueue_limit = many") == "test.conf, line 3: queue_limit: 'many' is not a whole number")
        #expect(error("spam_threshold = 1.5").hasPrefix("test.conf, line 1: spam_threshold:"))
        #expect(error("threads = 1\nthreads = 2").contains("already set on line 1"))
        #expect(error("milter_listen = somewhere").hasPrefix("test.conf, line 1: milter_listen:"))
        #expect(error("just words").hasPrefix("test.conf, line 1: expected `key = value`"))
        #expect(error("message_deadline = soon").contains("not a duration"))
        #expect(error("maildir = relative/path").contains("absolute path"))
        #expect(error("train_data = sms,enron") == "test.conf, line 1: train_data: 'sms,enron' is not a comma-separated list of sms and spamassassin, or none")
        #expect(error("train_fallback = maybe") == "test.conf, line 1: train_fallback: 'maybe' is not one of fail, first-run, scratch")
        #expect(error("train_unlabelled = Maildir") == "test.conf, line 1: train_unlabelled: unlabelled mail needs an absolute path, not 'Maildir'")
    }

    /// `precision` takes exactly the names the classifier's `PrecisionSetting` reads.
    @Test func precisionTakesTheClassifiersNames() throws {
        #expect(DaemonConfiguration().precision == "auto")
        #expect(DaemonConfiguration.precisionNames == PrecisionSetting.names)
        for name in PrecisionSetting.names {
            let configuration = try DaemonConfiguration(file: ConfigurationFile(path: "t", text: "precision = \(name)"))
            #expect(configuration.precision == name)
            #expect(try PrecisionSetting(parsing: configuration.precision).name == name)
        }
        #expect(throws: ConfigurationError.self) { try DaemonConfiguration(file: ConfigurationFile(path: "t", text: "precision = fp16")) }
        do {
            _ = try DaemonConfiguration(file: ConfigurationFile(path: "test.conf", text: "\nprecision = fp16"))
        } catch {
            #expect("\(error)" == "test.conf, line 2: precision: 'fp16' is not one of auto, bf16, fp32, int8")
        }
    }

    @Test func valuesOfEveryKind() throws {
        let text = """
            maildir = /home/a/Maildir
            maildir = /home/b/Maildir
            message_deadline = 2m
            max_message_size = 512k
            reject_threshold = 0.99
            spam_threshold = 0.6
            spamd_tcp_listen = inet:7830@127.0.0.1
            spamd_allowed_networks = 10.0.0.0/8, fd00::/8
            milter_socket_mode = 0600
            failure_action = tempfail
            train_data = spamassassin, sms
            train_unlabelled = /home/a/Maildir
            train_unlabelled = /srv/mail/archive.mbox
            train_base = gpt2
            train_fallback = fail
            """
        let configuration = try DaemonConfiguration(file: ConfigurationFile(path: "t", text: text))
        #expect(configuration.trainBase == "gpt2" && configuration.trainFallback == "fail")
        #expect(configuration.maildirs == ["/home/a/Maildir", "/home/b/Maildir"])
        #expect(configuration.messageDeadline == 120)
        #expect(configuration.maxMessageBytes == 512 * 1024)
        #expect(configuration.rejectThreshold == 0.99)
        #expect(configuration.spamdTCPListen == .tcp(host: "127.0.0.1", port: 7830))
        #expect(configuration.spamdAllowedNetworks.count == 2)
        #expect(configuration.spamdAllowedNetworks[0].contains([10, 1, 2, 3]))
        #expect(!configuration.spamdAllowedNetworks[0].contains([11, 1, 2, 3]))
        #expect(configuration.spamdAllowedNetworks[1].contains([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]))
        #expect(configuration.milterSocketMode == 0o600)
        #expect(configuration.failureAction == .tempfail)
        #expect(configuration.trainData == "spamassassin, sms")
        #expect(DaemonConfiguration().trainData == nil)
        #expect(configuration.trainUnlabelled == ["/home/a/Maildir", "/srv/mail/archive.mbox"])
    }
}

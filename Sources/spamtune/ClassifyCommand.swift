import Foundation
import SpamtuneClassifier
import SpamtuneCommandLines
import SpamtuneMail
import SpamtuneSupport

/// `spamtune classify`: one JSON object per input on stdout, errors one line each on
/// stderr, exit status 1 when any input could not be read.
enum ClassifyCommand {
    static func run(_ tool: CommandLineTool, _ arguments: [String]) throws -> Int32 {
        let parsed = tool.parse(ArgumentSpecification(AdminCommandLine.classify.options), arguments)
        let threads = try parsed.integer("threads", default: nil, range: 1...1024)
        let maxTokens = try parsed.integer("max-tokens", default: nil, range: 1...1_000_000)
        let format = parsed.value("format") ?? "mail"
        guard format == "mail" || format == "text" else {
            throw ArgumentError.conflicting("--format must be mail or text, not '\(format)'")
        }
        let precisionName = parsed.value("precision") ?? PrecisionSetting.auto.name
        guard let precision = PrecisionSetting(name: precisionName) else {
            throw ArgumentError.conflicting("--precision must be \(PrecisionSetting.names.joined(separator: ", ")), not '\(precisionName)'")
        }
        let texts = parsed.all("text")
        guard !texts.isEmpty || !parsed.positionals.isEmpty else {
            throw ArgumentError.missingArgument("input: give --text 'message', FILE ... or - for standard input")
        }

        let classifier: SpamClassifier
        if let checkpoint = parsed.value("checkpoint") {
            guard !parsed.has("base-model"), !parsed.has("head") else {
                throw ArgumentError.conflicting("give either --checkpoint or --base-model with --head, not both")
            }
            guard !parsed.has("layout") else {
                throw ArgumentError.conflicting("--layout is for --base-model: a checkpoint reads text in the layout it was trained with")
            }
            classifier = try SpamClassifier.load(
                checkpoint: URL(fileURLWithPath: checkpoint), threads: threads ?? defaultThreads, maxTokens: maxTokens,
                precision: precision)
        } else if let base = parsed.value("base-model") {
            guard let head = parsed.value("head") else { throw ArgumentError.missingArgument("--head FILE (with --base-model)") }
            let layout = parsed.value("layout") ?? InputSettings.rawLayout
            guard InputSettings.layoutNames.contains(layout) else {
                throw ArgumentError.conflicting("--layout must be \(InputSettings.layoutNames.joined(separator: ", ")), not '\(layout)'")
            }
            classifier = try SpamClassifier.load(
                baseModel: URL(fileURLWithPath: base), head: URL(fileURLWithPath: head),
                tokenizer: parsed.value("tokenizer").map { URL(fileURLWithPath: $0) }, threads: threads ?? defaultThreads,
                maxTokens: maxTokens, textLayout: layout, precision: precision)
        } else {
            throw ArgumentError.missingArgument("a model: --checkpoint DIR, or --base-model MODEL with --head FILE")
        }

        if let maxTokens, maxTokens > classifier.input.maxTokens {
            FileHandle.standardError.write(Data(
                "spamtune classify: --max-tokens \(maxTokens) is more than the model reads: each message is cut at \(classifier.input.maxTokens) tokens\n".utf8))
        }

        if format == "mail", !parsed.positionals.isEmpty, let warning = classifier.manifest?.training?.noMailWarning {
            FileHandle.standardError.write(Data("spamtune classify: warning: \(warning)\n".utf8))
        }

        var inputs: [(source: String, input: ModelInput)] = texts.enumerated().map { ("text:\($0.offset + 1)", classifier.input(for: $0.element)) }
        var failures = 0
        for path in parsed.positionals {
            do {
                if format == "mail", var reader = try mailbox(path) {
                    var count = 0
                    while let message = try reader.nextMessage() {
                        inputs.append(("\(message.source)", classifier.input(forMail: message.bytes)))
                        count += 1
                    }
                    for skipped in reader.skippedFiles {
                        FileHandle.standardError.write(Data("spamtune classify: skipped \(skipped): it does not read as mail\n".utf8))
                    }
                    if count == 0 { throw InputError(path: path, reason: "no messages in it") }
                    continue
                }
                let bytes = try readInput(path)
                let input = format == "text"
                    ? classifier.input(for: String(decoding: bytes, as: UTF8.self))
                    : classifier.input(forMail: bytes)
                inputs.append((path == "-" ? "stdin" : path, input))
            } catch {
                FileHandle.standardError.write(Data("spamtune classify: \(error)\n".utf8))
                failures += 1
            }
        }
        // Batches of messages share each weight read: faster than one at a time.
        var start = 0
        while start < inputs.count {
            let batch = Array(inputs[start..<min(inputs.count, start + 16)])
            let verdicts = classifier.classify(batch.map(\.input))
            for (item, verdict) in zip(batch, verdicts) {
                print(jsonLine(source: item.source, verdict, precision: classifier.precisionChoice.precision.rawValue))
            }
            start += batch.count
        }
        return failures == 0 ? 0 : 1
    }

    static var defaultThreads: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// A reader for a Maildir, a directory of message files or an mbox of more than one
    /// message, which reads them as `spamtune-train` does; nil for a single message.
    static func mailbox(_ path: String) throws -> (any MailboxReader)? {
        guard path != "-", FileManager.default.fileExists(atPath: path) else { return nil }
        let reader = try Mailbox.open(path: path)
        if reader is SingleFileReader { return nil }
        if let mbox = reader as? MboxReader {
            // A copy reads ahead over the same mapping, leaving the reader returned at the start.
            var ahead = mbox
            guard try ahead.nextMessage() != nil, try ahead.nextMessage() != nil else { return nil }
        }
        return reader
    }

    static func readInput(_ path: String) throws -> [UInt8] {
        if path == "-" { return Array(FileHandle.standardInput.readDataToEndOfFile()) }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw InputError(path: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw InputError(path: path, reason: "is a directory: mail (the default --format) reads a Maildir or a directory of message files, text does not") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(path: path, reason: "cannot be read (permissions?)")
        }
        return Array(data)
    }

    struct InputError: Error, CustomStringConvertible {
        let path: String
        let reason: String
        var description: String { "\(path): \(reason)" }
    }

    static func jsonLine(source: String, _ verdict: Classification, precision: String) -> String {
        let logits = verdict.logits.map { String(format: "%.9g", Double($0)) }.joined(separator: ",")
        return "{\"source\":\(JSONText.quote(source)),\"label\":\(JSONText.quote(verdict.label.name)),"
            + "\"spam_probability\":\(String(format: "%.9g", verdict.spamProbability)),\"logits\":[\(logits)],"
            + "\"tokens\":\(verdict.tokens),\"precision\":\(JSONText.quote(precision))}"
    }
}

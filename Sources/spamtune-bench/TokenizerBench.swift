import Foundation
import SpamtuneSupport
import SpamtuneTokenizer

/// Encodes the SMS texts one call per message on one thread for about `--seconds`, as
/// bench/tiktoken_bench.py does for tiktoken, and prints throughput in UTF-8 bytes of text.
func runTokenizerBenchmark(_ parsed: ParsedArguments) throws {
    let tokenizerDirectory = parsed.value("tokenizer") ?? "../shared/gpt2"
    let smsFile = parsed.value("sms") ?? "../shared/data/SMSSpamCollection"
    let seconds = try positiveSeconds(parsed, default: 3)
    let wordCacheCapacity = try parsed.integer("word-cache", default: GPT2Tokenizer.defaultWordCacheCapacity, range: 0...100_000_000)!

    let tokenizer = try GPT2Tokenizer(directory: URL(fileURLWithPath: tokenizerDirectory), wordCacheCapacity: wordCacheCapacity)
    let texts = try smsTexts(URL(fileURLWithPath: smsFile))
    let bytesPerPass = texts.reduce(0) { $0 + $1.utf8.count }

    var tokens = 0
    for text in texts { tokens &+= tokenizer.encode(text).count }  // warm-up: fills the word cache
    tokens = 0
    var passes = 0
    let clock = ContinuousClock()
    let start = clock.now
    var elapsed = 0.0
    repeat {
        for text in texts { tokens &+= tokenizer.encode(text).count }
        passes += 1
        let duration = clock.now - start
        elapsed = Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    } while elapsed < seconds

    print("tokenizer.swift_mb_per_s \(String(format: "%.2f", Double(passes * bytesPerPass) / elapsed / 1e6))")
    print("tokenizer.tokens_per_s \(String(format: "%.0f", Double(tokens) / elapsed))")
}

/// The text column of a `label<TAB>text` file (the UCI SMS Spam Collection's layout).
private func smsTexts(_ url: URL) throws -> [String] {
    let content = try Data(contentsOf: url)
    return content.split(separator: UInt8(ascii: "\n")).map { line in
        var line = line[...]
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        if let tab = line.firstIndex(of: UInt8(ascii: "\t")) { line = line[(tab + 1)...] }
        return String(decoding: line, as: UTF8.self)
    }
}

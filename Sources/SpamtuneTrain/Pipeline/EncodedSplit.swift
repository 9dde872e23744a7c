import Foundation
import SpamtuneClassifier
import SpamtuneMail
import SpamtuneTokenizer

/// The examples as the model reads them: each message through the input settings' text
/// layout, tokenized, cut, and (in the book's recipe) padded to the longest training one.
struct EncodedSplit {
    let tokenizer: GPT2Tokenizer
    /// As the checkpoint records it, so the daemon reads mail as training did.
    private(set) var input: InputSettings
    private(set) var train: [EncodedExample] = []
    private(set) var validation: [EncodedExample] = []
    private(set) var test: [EncodedExample] = []

    init(_ split: ExampleSplit, setup: ModelSetup, log: TrainingLog) throws {
        let h = setup.hyperparameters
        tokenizer = try GPT2Tokenizer(files: setup.tokenizerFiles)
        input = InputSettings(textLayout: h.textLayout, maxTokens: h.maxTokens, evidence: h.evidence)
        let trainEncoded = split.train.map(encode)
        if h.padding == .longestTrainingExample {
            // The book's SpamDataset: pad to the longest training example, cut the others to it.
            let longest = max(1, trainEncoded.map(\.ids.count).max() ?? 1)
            input.padding = .fixed(length: longest, tokenID: GPT2Tokenizer.endOfTextID)
            log("padding every example to \(longest) tokens, the longest training example (the book's recipe)")
        }
        train = zip(trainEncoded, split.train).map(example)
        validation = split.validation.map { example(encode($0), $0) }
        test = split.test.map { example(encode($0), $0) }
    }

    /// The token ids the model reads of a message, for next-token pretraining.
    func tokenIDs(_ example: TrainingExample) -> [Int] {
        input.prepare(encode(example).ids)
    }

    private func encode(_ example: TrainingExample) -> (ids: [Int], headerWords: [UInt64]) {
        let reading: MailReading
        switch example.content {
        case let .text(sms): reading = MailReading(text: input.text(forPlainText: sms), headerWords: [])
        case let .mail(bytes): reading = input.reading(mail: bytes)
        }
        return (tokenizer.encode(reading.text, maxTokens: input.reach), reading.headerWords)
    }

    private func example(_ encoded: (ids: [Int], headerWords: [UInt64]), _ example: TrainingExample) -> EncodedExample {
        let model = input.modelInput(encoded: encoded.ids, headerWords: encoded.headerWords)
        return EncodedExample(ids: model.ids, label: example.label, evidence: model.evidence)
    }
}

import SpamtuneClassifier

/// Training, validation and test examples.
public struct DatasetSplit: Equatable, Sendable {
    public var train: [LabelledText]
    public var validation: [LabelledText]
    public var test: [LabelledText]

    public init(train: [LabelledText], validation: [LabelledText], test: [LabelledText]) {
        self.train = train
        self.validation = validation
        self.test = test
    }
}

/// The book's preparation (chapter 6): balance the classes, then split 70/10/20, each
/// with pandas' sampling and seed 123 (see `NumPyRandomState`).
///
/// Run on the SMS Spam Collection parsed exactly (5,574 rows) this gives 1,494
/// balanced examples split 1,045 / 149 / 300. The book's own split differs because its
/// CSV reader merges a few lines (5,572 rows); the procedure is the same.
public enum DatasetPreparation {
    public static let bookSeed: UInt32 = 123

    /// All examples of the rarer class and as many of the other, drawn with `seed` as
    /// `df[df.Label == majority].sample(minorityCount, random_state=seed)` does; ham
    /// first, then spam, as the book concatenates them. When ham is the majority (the SMS
    /// data) this is exactly the book's `create_balanced_dataset`.
    /// - Parameter source: what the examples are, for the error message.
    public static func balance(_ examples: [LabelledText], seed: UInt32 = bookSeed, source: String = "the training examples")
        throws(DatasetError) -> [LabelledText]
    {
        let ham = examples.filter { $0.label == .ham }
        let spam = examples.filter { $0.label == .spam }
        guard !spam.isEmpty else { throw DatasetError(file: source, reason: .noExamples(of: .spam)) }
        guard !ham.isEmpty else { throw DatasetError(file: source, reason: .noExamples(of: .ham)) }
        var random = NumPyRandomState(seed: seed)
        if ham.count >= spam.count {
            return random.sample(spam.count, from: ham.count).map { ham[$0] } + spam
        } else {
            return ham + random.sample(ham.count, from: spam.count).map { spam[$0] }
        }
    }

    /// Shuffles with `seed` (`df.sample(frac=1, random_state=seed)`), then cuts at
    /// `int(n * trainFraction)` and that plus `int(n * validationFraction)`; the rest is test.
    public static func split(
        _ examples: [LabelledText], trainFraction: Double = 0.7, validationFraction: Double = 0.1, seed: UInt32 = bookSeed
    ) -> DatasetSplit {
        var random = NumPyRandomState(seed: seed)
        let shuffled = random.permutation(examples.count).map { examples[$0] }
        let trainEnd = Int(Double(shuffled.count) * trainFraction)
        let validationEnd = min(shuffled.count, trainEnd + Int(Double(shuffled.count) * validationFraction))
        return DatasetSplit(
            train: Array(shuffled[..<trainEnd]),
            validation: Array(shuffled[trainEnd..<validationEnd]),
            test: Array(shuffled[validationEnd...]))
    }
}

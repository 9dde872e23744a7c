/// Training, validation and test examples in raw form.
struct ExampleSplit {
    var train: [TrainingExample] = []
    var validation: [TrainingExample] = []
    var test: [TrainingExample] = []

    init() {}

    init(_ sms: DatasetSplit) {
        func convert(_ items: [LabelledText]) -> [TrainingExample] { items.map { TrainingExample(content: .text($0.text), label: $0.label) } }
        train = convert(sms.train)
        validation = convert(sms.validation)
        test = convert(sms.test)
    }

    /// Adds mail (the admin's, or the public corpus's) 70/10/20 by content hash, so an
    /// example stays in its split from one run to the next and the held-out set is never
    /// trained on.
    mutating func add(_ mail: [LabelledMail.Item]) {
        for item in mail {
            let bucket = Int(item.hash[0]) * 100 / 256
            let example = TrainingExample(content: .mail(item.bytes), label: item.label, source: item.source)
            if bucket < 70 { train.append(example) } else if bucket < 80 { validation.append(example) } else { test.append(example) }
        }
    }
}

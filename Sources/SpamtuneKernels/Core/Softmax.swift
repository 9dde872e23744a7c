/// Each row of `rows` in a [*, columns] matrix becomes softmax(row) × scale, in place
/// (a language-model head's probabilities, scaled by the loss's 1 / predictions).
@inlinable
public func softmaxRows<L: InstructionLevel>(
    _ level: L.Type, _ matrix: UnsafeMutablePointer<Float>, rows: Range<Int>, columns: Int, scale: Float
) {
    for r in rows {
        let row = matrix + r * columns
        softmaxRow(level, row, count: columns, maximum: rowMaximum(level, row, count: columns), scale: scale)
    }
}

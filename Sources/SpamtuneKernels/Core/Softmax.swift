/// Each row of `rows` in a [*, columns] matrix becomes softmax(row) × scale, in place
/// (a language-model head's probabilities, scaled by the loss's 1 / predictions).
@inlinable
public func softmaxRows<L: InstructionLevel>(
    _ level: L.Type, _ matrix: UnsafeMutablePointer<Float>, rows: Range<Int>, columns: Int, scale: Float
) {
    for r in rows {
        let row = matrix + r * columns
        var i = 0
        var maxima = Vector(repeating: -.infinity)
        while i + vectorWidth <= columns {
            let x = loadVector(row + i)
            maxima.replace(with: x, where: x .> maxima)
            i += vectorWidth
        }
        var maximum = maxima.max()
        while i < columns {
            maximum = Swift.max(maximum, row[i])
            i += 1
        }
        softmaxRow(level, row, count: columns, maximum: maximum, scale: scale)
    }
}

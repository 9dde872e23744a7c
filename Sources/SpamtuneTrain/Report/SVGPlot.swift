import Foundation

/// A line chart as SVG, drawn by hand (the book draws these with matplotlib): one or
/// more series over a shared x axis, with a second x axis along the top (examples
/// seen, against epochs along the bottom), ticks, grid and a legend beside the plot,
/// where no line can run under it. The axes end on round ticks outside the data, so
/// no point lies beyond the lowest or highest tick.
struct SVGLineChart {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
        var color: String
        var dashed = false
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    /// Maps a bottom-axis value to the top axis' value (epochs -> examples seen).
    var topAxis: (label: String, value: (Double) -> Double)?
    /// A line under the title saying what the plot shows, when that is not the obvious.
    var note: String?
    var width = 760.0
    var height = 400.0

    func render() -> String {
        let legendWidth = 170.0
        let left = 70.0, right = 20.0 + legendWidth, bottom = 55.0
        let top = (topAxis == nil ? 40.0 : 70.0) + (note == nil ? 0 : 16)
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let all = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        let xAxis = Self.axis(all.map(\.x)), yAxis = Self.axis(all.map(\.y))
        let (xMin, xMax, yMin, yMax) = (xAxis.low, xAxis.high, yAxis.low, yAxis.high)
        func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * plotWidth }
        func py(_ y: Double) -> Double { top + plotHeight - (y - yMin) / (yMax - yMin) * plotHeight }

        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" viewBox="0 0 \(f(width)) \(f(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(f(width / 2))" y="18" text-anchor="middle" font-size="14">\(escape(title))</text>

            """
        if let note {
            svg += "<text x=\"\(f(width / 2))\" y=\"34\" text-anchor=\"middle\" font-style=\"italic\">\(escape(note))</text>\n"
        }
        for tick in Self.ticks(yAxis) {
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(py(tick)))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(py(tick)))\" stroke=\"#e4e4e4\"/>\n"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(py(tick) + 4))\" text-anchor=\"end\">\(label(tick))</text>\n"
        }
        for tick in Self.ticks(xAxis) {
            svg += "<line x1=\"\(f(px(tick)))\" y1=\"\(f(top))\" x2=\"\(f(px(tick)))\" y2=\"\(f(top + plotHeight))\" stroke=\"#f0f0f0\"/>\n"
            svg += "<text x=\"\(f(px(tick)))\" y=\"\(f(top + plotHeight + 18))\" text-anchor=\"middle\">\(label(tick))</text>\n"
            if let topAxis {
                svg += "<text x=\"\(f(px(tick)))\" y=\"\(f(top - 8))\" text-anchor=\"middle\">\(label(topAxis.value(tick)))</text>\n"
            }
        }
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\" stroke=\"#333\"/>\n"
        svg += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        if let topAxis {
            svg += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(top - 26))\" text-anchor=\"middle\">\(escape(topAxis.label))</text>\n"
        }
        svg += "<text transform=\"translate(18 \(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        for (index, line) in series.enumerated() {
            let points = line.points.filter { $0.x.isFinite && $0.y.isFinite }
            guard !points.isEmpty else { continue }
            let path = points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2\"\(line.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            if points.count <= 30 {
                for point in points {
                    svg += "<circle cx=\"\(f(px(point.x)))\" cy=\"\(f(py(point.y)))\" r=\"3\" fill=\"\(line.color)\"/>\n"
                }
            }
            let legendY = top + 16 + Double(index) * 18
            let legendX = left + plotWidth + 12
            svg += "<line x1=\"\(f(legendX))\" y1=\"\(f(legendY - 4))\" x2=\"\(f(legendX + 24))\" y2=\"\(f(legendY - 4))\" stroke=\"\(line.color)\" stroke-width=\"2\"\(line.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            svg += "<text x=\"\(f(legendX + 30))\" y=\"\(f(legendY))\">\(escape(line.name))</text>\n"
        }
        return svg + "</svg>\n"
    }

    /// The axis: the data's range widened to the round steps around it, and that step.
    static func axis(_ values: [Double]) -> (low: Double, high: Double, step: Double) {
        guard var low = values.min(), var high = values.max() else { return (0, 1, 0.2) }
        if high - low < 1e-9 {
            low -= 0.5
            high += 0.5
        }
        // About five round steps between low and high.
        let raw = (high - low) / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        return (floor(low / step + 1e-9) * step, ceil(high / step - 1e-9) * step, step)
    }

    /// From end to end of an axis, one tick per step.
    static func ticks(_ axis: (low: Double, high: Double, step: Double)) -> [Double] {
        let count = Int(((axis.high - axis.low) / axis.step).rounded())
        return (0...count).map { axis.low + Double($0) * axis.step }
    }

    private func label(_ value: Double) -> String {
        if abs(value - value.rounded()) < 1e-9 && abs(value) < 1e9 { return String(Int(value.rounded())) }
        return String(format: "%.3g", value)
    }

    private func f(_ value: Double) -> String { String(format: "%.1f", value) }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}

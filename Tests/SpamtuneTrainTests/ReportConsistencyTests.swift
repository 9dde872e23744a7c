import Foundation
@testable import SpamtuneTrain
import Testing

/// Reports that agree with themselves: plots whose axes hold the data and whose legend
/// no line crosses, and a `status` time that is the stage table's.
@Suite struct ReportConsistencyTests {
    /// The numbers of one `x="..."`-style attribute, in document order.
    private func values(of attribute: String, in svg: String, on element: String) -> [Double] {
        svg.split(separator: "\n").filter { $0.hasPrefix("<\(element) ") }.compactMap { line in
            guard let start = line.range(of: " \(attribute)=\"") else { return nil }
            return Double(line[start.upperBound...].prefix { $0 != "\"" })
        }
    }

    @Test func theAxisEndsOnTicksOutsideTheData() {
        for data in [[0.9533, 0.9712, 0.9866], [0.5, 0.75, 1.0], [0.02, 0.4], [3.0, 3.0]] {
            let axis = SVGLineChart.axis(data)
            let (low, high) = (axis.low, axis.high)
            let ticks = SVGLineChart.ticks(axis)
            #expect(low <= data.min()! && high >= data.max()!, "\(data)")
            #expect(abs(ticks.first! - low) < 1e-9 && abs(ticks.last! - high) < 1e-9, "\(data): \(low)...\(high) \(ticks)")
        }
    }

    @Test func everyPointIsInsideThePlotAndTheLegendBesideIt() {
        let chart = SVGLineChart(
            title: "Accuracy", xLabel: "Epochs", yLabel: "Accuracy",
            series: [.init(name: "Training accuracy", points: [(1, 0.97), (2, 0.99), (3, 1.0)], color: "#1f77b4"),
                     .init(name: "Validation accuracy", points: [(1, 0.9533), (2, 0.9712), (3, 0.9866)], color: "#ff7f0e", dashed: true)],
            topAxis: ("Examples seen", { $0 * 1045 }), note: "the first of the soup's 2 fine-tunes; the served model averages them")
        let svg = chart.render()
        let frame = svg.split(separator: "\n").first { $0.hasPrefix("<rect x=") }!
        func attribute(_ name: String) -> Double {
            let start = frame.range(of: " \(name)=\"")!
            return Double(frame[start.upperBound...].prefix { $0 != "\"" })!
        }
        let (left, top, width, height) = (attribute("x"), attribute("y"), attribute("width"), attribute("height"))
        let circlesY = values(of: "cy", in: svg, on: "circle"), circlesX = values(of: "cx", in: svg, on: "circle")
        #expect(circlesY.count == 6)
        #expect(circlesY.allSatisfy { $0 >= top && $0 <= top + height })
        #expect(circlesX.allSatisfy { $0 >= left && $0 <= left + width })
        // The legend's samples start right of the plot's frame, so no curve runs under them.
        let legendLines = svg.split(separator: "\n").filter { $0.hasPrefix("<line ") && $0.contains("stroke-width=\"2\"") }
        #expect(legendLines.count == 2)
        let legendX = values(of: "x1", in: legendLines.joined(separator: "\n"), on: "line")
        #expect(legendX.allSatisfy { $0 > left + width })
        #expect(svg.contains("the first of the soup&apos;s 2 fine-tunes") || svg.contains("the first of the soup's 2 fine-tunes"))
    }

    @Test func statusTimeIsTheStageTablesTotalWithItsParts() throws {
        let line = #"{"version":"v1","finishedAt":"2026-01-01T00:00:00Z","base":"scratch","recipe":"spamtune","testAccuracy":0.98,"#
            + #""testFalsePositiveRate":0.001,"trainingSeconds":14,"promoted":true,"reason":"first model","#
            + #""stages":[{"name":"data","seconds":2.2,"peakResidentMB":80},{"name":"pretraining","seconds":72.4,"peakResidentMB":300},"#
            + #"{"name":"training","seconds":64.3,"peakResidentMB":300}]}"#
        let entry = try JSONDecoder().decode(RunHistory.Entry.self, from: Data(line.utf8))
        #expect(TrainingSummary.time(entry) == "139 s in all: data 2 s, pretraining 72 s, training 64 s")
        // A run recorded before the stages were: its training time, said as such.
        let old = try JSONDecoder().decode(RunHistory.Entry.self, from: Data(line.replacingOccurrences(of: #","stages":[{"name":"data","seconds":2.2,"peakResidentMB":80},{"name":"pretraining","seconds":72.4,"peakResidentMB":300},{"name":"training","seconds":64.3,"peakResidentMB":300}]"#, with: "").utf8))
        #expect(TrainingSummary.time(old) == "14 s training")
    }
}

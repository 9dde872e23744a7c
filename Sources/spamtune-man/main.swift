import Foundation
import SpamtuneManual

// spamtune-man: writes spamtune's man pages into a directory (scripts/man-pages runs it).
// Built beside the tools, never installed: they carry no roff.

let usage = "usage: spamtune-man OUTDIR CONFIG\n  writes \(SpamtuneManual.pageNames.joined(separator: ", ")) into OUTDIR; CONFIG is etc/spamtune.conf, which documents the keys"
let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("-h") || arguments.contains("--help") {
    print(usage)
    exit(0)
}
guard arguments.count == 2 else {
    FileHandle.standardError.write(Data((usage + "\n").utf8))
    exit(2)
}
do {
    let configuration = try String(contentsOfFile: arguments[1], encoding: .utf8)
    let directory = URL(fileURLWithPath: arguments[0])
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    for page in try SpamtuneManual.pages(configurationText: configuration) {
        try Data(page.text.utf8).write(to: directory.appendingPathComponent(page.fileName))
    }
} catch {
    FileHandle.standardError.write(Data("spamtune-man: \(error)\n".utf8))
    exit(1)
}

import Foundation
import SpamtuneMail
import SpamtuneSupport

/// `spamtune-bench mail [--seconds S] [--kind K]`: how fast messages become the text
/// the model reads. Parses a fixed mix of generated messages (plain text, HTML newsletters,
/// multipart/alternative, multipart/mixed with a base64 attachment, non-UTF-8
/// charsets; 2 to 50 KB each) for about S seconds (default 3) through
/// `MailMessage.classificationText(layout: .latest)`, and prints messages and
/// megabytes (of message bytes) per second, overall and per kind.
func runMailBenchmark(_ parsed: ParsedArguments) throws {
    let seconds = try positiveSeconds(parsed, default: 3)
    var onlyKind: MailCorpus.Kind?
    if let name = parsed.value("kind") {
        guard let kind = MailCorpus.Kind(rawValue: name) else {
            let kinds = MailCorpus.Kind.allCases.map(\.rawValue)
            let nearest = Suggestion.nearest(to: name, among: kinds).map { " (did you mean \($0)?)" } ?? ""
            throw ArgumentError.conflicting("--kind must be one of \(kinds.joined(separator: ", ")), not '\(name)'\(nearest)")
        }
        onlyKind = kind
    }
    let corpus = MailCorpus.generate().filter { onlyKind == nil || $0.kind == onlyKind }
    let totalBytes = corpus.reduce(0) { $0 + $1.bytes.count }
    print("mail.corpus_messages \(corpus.count)")
    print("mail.corpus_mean_kb \(String(format: "%.1f", Double(totalBytes) / Double(corpus.count) / 1024))")

    // Warm up: charset tables and caches are built once per process.
    for message in corpus { _ = MailMessage(bytes: message.bytes).classificationText(layout: .latest) }

    let overall = measure(corpus, seconds: seconds)
    print("mail.messages_per_s \(String(format: "%.0f", overall.messagesPerSecond))")
    print("mail.mb_per_s \(String(format: "%.1f", overall.megabytesPerSecond))")
    print("mail.us_per_message \(String(format: "%.1f", 1e6 / overall.messagesPerSecond))")
    for kind in MailCorpus.Kind.allCases where onlyKind == nil {
        let subset = corpus.filter { $0.kind == kind }
        let result = measure(subset, seconds: max(0.3, seconds / 5))
        print("mail.\(kind.rawValue).messages_per_s \(String(format: "%.0f", result.messagesPerSecond))")
        print("mail.\(kind.rawValue).mb_per_s \(String(format: "%.1f", result.megabytesPerSecond))")
    }
}

private struct Throughput {
    let messagesPerSecond: Double
    let megabytesPerSecond: Double
}

private func measure(_ corpus: [MailCorpus.Message], seconds: Double) -> Throughput {
    var messages = 0, bytes = 0, checksum = 0
    let start = DispatchTime.now().uptimeNanoseconds
    let deadline = start + UInt64(seconds * 1e9)
    var now = start
    while now < deadline {
        for message in corpus {
            checksum &+= MailMessage(bytes: message.bytes).classificationText(layout: .latest).utf8.count
            bytes += message.bytes.count
        }
        messages += corpus.count
        now = DispatchTime.now().uptimeNanoseconds
    }
    // Keeps the work from being optimised away.
    if checksum == 42 { print("") }
    let elapsed = Double(now - start) / 1e9
    return Throughput(messagesPerSecond: Double(messages) / elapsed, megabytesPerSecond: Double(bytes) / elapsed / 1e6)
}

/// `--seconds S`: how long a benchmark runs; positive.
func positiveSeconds(_ parsed: ParsedArguments, default fallback: Double) throws -> Double {
    let seconds = try parsed.double("seconds", default: fallback)!
    guard seconds > 0 else { throw ArgumentError.conflicting("--seconds must be positive, not \(seconds)") }
    return seconds
}

/// A deterministic mix of messages shaped like real mail.
enum MailCorpus {
    enum Kind: String, CaseIterable {
        case plain, html, alternative, attachment, charset
    }

    struct Message {
        let kind: Kind
        let bytes: [UInt8]
    }

    static func generate() -> [Message] {
        var random = BenchRandom(seed: 2024)
        var messages: [Message] = []
        for index in 0..<40 {
            messages.append(Message(kind: .plain, bytes: plain(index, &random)))
            messages.append(Message(kind: .html, bytes: html(index, &random)))
            messages.append(Message(kind: .alternative, bytes: alternative(index, &random)))
            messages.append(Message(kind: .attachment, bytes: attachment(index, &random)))
            messages.append(Message(kind: .charset, bytes: charset(index, &random)))
        }
        return messages
    }

    private static let words = """
        the of and to a in for is on that by this with you it not or be are from at as your all have new more an was we
        will home can us about if page my has search free but our one other do no information time they site he up may
        what which their news out use any there see only so his when contact here business who web also now help get pm
        view online first am been would how were me services some these click its like service than find price date back
        top people had list name just over state year day into email two health world next used go work last most products
        music buy data make them should product system post her city add policy number such please available copyright
        offer account verify password bank winner prize claim urgent limited discount order shipping invoice meeting
        """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)

    private static func sentence(_ random: inout BenchRandom) -> String {
        let count = 6 + random.next(12)
        var text = (0..<count).map { _ in words[random.next(words.count)] }.joined(separator: " ")
        text = text.prefix(1).uppercased() + text.dropFirst()
        return text + "."
    }

    private static func paragraph(_ random: inout BenchRandom) -> String {
        (0..<(2 + random.next(5))).map { _ in sentence(&random) }.joined(separator: " ")
    }

    /// Paragraphs up to about `bytes` long.
    private static func text(bytes: Int, _ random: inout BenchRandom) -> String {
        var text = ""
        while text.utf8.count < bytes { text += paragraph(&random) + "\n\n" }
        return text
    }

    /// A header as a real delivery has one (trace fields, DKIM), ending with its
    /// line break; the blank line is the caller's.
    private static func header(_ index: Int, subject: String, contentType: String, extra: [String] = []) -> String {
        let lines = [
            "Return-Path: <sender\(index)@example.org>",
            "Received: from mail\(index).example.org (mail\(index).example.org [192.0.2.\(index % 250)])",
            "\tby mx.example.net (Postfix) with ESMTPS id 4F1A2B3C4D",
            "\tfor <user@example.net>; Mon, 1 Jan 2024 10:00:00 +0000",
            "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=s1;",
            "\th=from:to:subject:date; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;",
            "\tb=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXQgaXMgYXMgbG9uZyBhcyBvbmU=",
            "From: \"Sender \(index)\" <sender\(index)@example.org>",
            "To: user@example.net",
            "Subject: \(subject)",
            "Date: Mon, 1 Jan 2024 10:00:00 +0000",
            "Message-ID: <\(index).1704103200@example.org>",
            "MIME-Version: 1.0",
            "Content-Type: \(contentType)",
        ] + extra
        return lines.joined(separator: "\n") + "\n"
    }

    private static func plain(_ index: Int, _ random: inout BenchRandom) -> [UInt8] {
        let body = text(bytes: 2_000 + random.next(18_000), &random)
        return Array((header(index, subject: sentence(&random), contentType: "text/plain; charset=utf-8") + "\n" + body).utf8)
    }

    private static func htmlDocument(bytes: Int, _ random: inout BenchRandom) -> String {
        var html = """
            <!DOCTYPE html><html><head><meta charset="utf-8"><title>Newsletter</title>
            <style>body{font-family:Arial} .x{color:#333;padding:4px} td{border:0}</style>
            <script>var tracking = {id: 12345, page: "newsletter"};</script></head>
            <body><table width="600" cellpadding="0" cellspacing="0"><tr><td class="x">
            """
        while html.utf8.count < bytes {
            html += "<h2>\(sentence(&random))</h2><p>\(paragraph(&random)) <b>\(words[random.next(words.count)])</b> &amp; "
            html += "&nbsp;<a href=\"https://click.example.com/track?u=\(random.next(100000))&amp;id=\(random.next(1000))\">"
            html += "\(sentence(&random))</a></p><ul><li>\(sentence(&random))</li><li>\(sentence(&random))</li></ul>"
            html += "<img src=\"https://img.example.com/\(random.next(1000)).png\" alt=\"\(words[random.next(words.count)])\" width=\"600\">\n"
        }
        return html + "</td></tr></table><!-- footer --><p>&copy; 2024 Example &#8212; unsubscribe</p></body></html>\n"
    }

    private static func html(_ index: Int, _ random: inout BenchRandom) -> [UInt8] {
        let body = htmlDocument(bytes: 8_000 + random.next(40_000), &random)
        return Array((header(index, subject: sentence(&random), contentType: "text/html; charset=utf-8") + "\n" + body).utf8)
    }

    private static func quotedPrintable(_ text: String) -> String { quotedPrintableBytes(Array(text.utf8)) }

    private static func alternative(_ index: Int, _ random: inout BenchRandom) -> [UInt8] {
        let plainText = text(bytes: 2_000 + random.next(8_000), &random)
        let html = htmlDocument(bytes: 5_000 + random.next(25_000), &random)
        let boundary = "----=_Part_\(index)_\(random.next(1_000_000))"
        let body = """
            This is a multi-part message in MIME format.

            --\(boundary)
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: quoted-printable

            \(quotedPrintable(plainText))
            --\(boundary)
            Content-Type: text/html; charset=utf-8
            Content-Transfer-Encoding: quoted-printable

            \(quotedPrintable(html))
            --\(boundary)--

            """
        let type = "multipart/alternative;\n\tboundary=\"\(boundary)\""
        return Array((header(index, subject: sentence(&random), contentType: type) + "\n" + body).utf8)
    }

    private static func attachment(_ index: Int, _ random: inout BenchRandom) -> [UInt8] {
        let attachmentBytes = (0..<(5_000 + random.next(25_000))).map { _ in UInt8(truncatingIfNeeded: random.next(256)) }
        let encoded = Data(attachmentBytes).base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed])
        let boundary = "mixed-\(index)"
        let body = """
            --\(boundary)
            Content-Type: text/plain; charset=us-ascii

            \(text(bytes: 1_000 + random.next(4_000), &random))
            --\(boundary)
            Content-Type: application/pdf; name="invoice-\(index).pdf"
            Content-Disposition: attachment; filename="invoice-\(index).pdf"
            Content-Transfer-Encoding: base64

            \(encoded)
            --\(boundary)--

            """
        return Array((header(index, subject: sentence(&random), contentType: "multipart/mixed; boundary=\"\(boundary)\"") + "\n" + body).utf8)
    }

    private static func charset(_ index: Int, _ random: inout BenchRandom) -> [UInt8] {
        // Latin-1 quoted-printable, Windows-1251 8bit and Shift_JIS base64, in turn.
        let variants: [(String, String.Encoding, String)] = [
            ("iso-8859-1", .isoLatin1, "Größere Übersicht für Kunden: café, crème brûlée, señor. "),
            ("windows-1251", .windowsCP1251, "Выгодное предложение только сегодня, скидки для всех. "),
            ("shift_jis", .shiftJIS, "本日限定の特別なお知らせです。ご確認ください。"),
        ]
        let (name, encoding, sample) = variants[index % variants.count]
        var text = ""
        while text.utf8.count < 2_000 + random.next(12_000) { text += sample + sentence(&random) + "\n" }
        let bytes = text.data(using: encoding, allowLossyConversion: true) ?? Data()
        let (transfer, body): (String, [UInt8])
        switch index % 3 {
        case 0: (transfer, body) = ("quoted-printable", Array(quotedPrintableBytes([UInt8](bytes)).utf8))
        case 1: (transfer, body) = ("8bit", [UInt8](bytes))
        default: (transfer, body) = ("base64", Array(bytes.base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed]).utf8))
        }
        let head = header(index, subject: "=?\(name)?B?\(Data(sample.prefix(12).data(using: encoding, allowLossyConversion: true) ?? Data()).base64EncodedString())?=",
                          contentType: "text/plain; charset=\(name)", extra: ["Content-Transfer-Encoding: \(transfer)"])
        return Array((head + "\n").utf8) + body + [0x0A]
    }

    private static func quotedPrintableBytes(_ bytes: [UInt8]) -> String {
        var output = "", lineLength = 0
        for byte in bytes {
            if byte == 0x0A { output += "\n"; lineLength = 0; continue }
            let piece = byte == 0x3D || byte >= 0x80 ? String(format: "=%02X", byte) : String(UnicodeScalar(byte))
            if lineLength + piece.count > 75 { output += "=\n"; lineLength = 0 }
            output += piece
            lineLength += piece.count
        }
        return output
    }
}

private struct BenchRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((value ^ (value >> 31)) % UInt64(bound))
    }
}

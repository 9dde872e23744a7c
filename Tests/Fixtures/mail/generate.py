#!/usr/bin/env python3
"""Writes the mail fixtures: NAME.eml and NAME.expected.txt, the text TextLayout.v2
must give for it (see Tests/SpamtuneMailTests/FixtureTests.swift). Expected texts are
written here by hand from the rules documented in SpamtuneMail; charset fixtures are
encoded by Python's codecs from the Unicode text they must decode back to.

Run from anywhere: python3 Tests/Fixtures/mail/generate.py"""
import base64, os, quopri, shutil

HERE = os.path.dirname(os.path.abspath(__file__))
fixtures = []

def fixture(name, message, expected, crlf=False):
    if isinstance(message, str):
        message = message.encode("utf-8")
    if crlf:
        message = message.replace(b"\n", b"\r\n")
    fixtures.append((name, message, expected))

def b64(data, width=76):
    text = base64.b64encode(data).decode()
    return "\n".join(text[i:i + width] for i in range(0, len(text), width))

# --- headers -------------------------------------------------------------------

fixture("plain-lf", """\
Return-Path: <alice@example.org>
Received: from mail.example.org (mail.example.org [192.0.2.1])
\tby mx.example.net with ESMTP id 1234
\tfor <bob@example.net>; Mon, 1 Jan 2024 10:00:00 +0000
From: Alice Example <alice@Example.ORG>
To: Bob <bob@example.net>
Subject: Lunch on
 Thursday?
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <1@example.org>

Hi Bob,

are we still on for lunch on Thursday?
I booked a table for 12:30.

Alice
""", """\
From: Alice Example (example.org)
Subject: Lunch on Thursday?

Hi Bob,

are we still on for lunch on Thursday?
I booked a table for 12:30.

Alice""")

fixture("plain-crlf", """\
From: "Shop, Inc." <news@shop.example>
Subject: Your order has shipped
Content-Type: text/plain; charset=us-ascii

Your order #4411 has shipped.
Track it at https://shop.example/track/4411
""", """\
From: Shop, Inc. (shop.example)
Subject: Your order has shipped

Your order #4411 has shipped.
Track it at https://shop.example/track/4411""", crlf=True)

fixture("mbox-from-line", """\
From alice@example.org Mon Jan  1 10:00:00 2024
From: alice@example.org
Subject: Minutes
X-Note: the line above is an mbox From_ line, not a header

Minutes of the meeting are attached below.
""", """\
From: (example.org)
Subject: Minutes

Minutes of the meeting are attached below.""")

fixture("encoded-words", """\
From: =?UTF-8?Q?Andr=C3=A9_M=C3=BCller?= <andre@beispiel.de>
Subject: =?UTF-8?B?R3LDvMOfZSBhdXMg?=
 =?ISO-8859-1?Q?M=FCnchen?= und =?utf-8?q?=E2=82=AC?=100
Content-Type: text/plain; charset=utf-8

Viele Grüße
""", """\
From: André Müller (beispiel.de)
Subject: Grüße aus München und €100

Viele Grüße""")

# A multi-byte character split across two encoded words must still decode.
fixture("encoded-words-split-character", """\
From: =?utf-8?B?5bGx55Sw?= =?utf-8?B?5aSq?= =?utf-8?B?6YOO?= <yamada@example.jp>
Subject: =?UTF-8?Q?caf=C3?= =?UTF-8?Q?=A9_ouvert?=

ok
""", """\
From: 山田太郎 (example.jp)
Subject: café ouvert

ok""")

fixture("duplicate-headers", """\
Received: from a.example by b.example; Mon, 1 Jan 2024 10:00:00 +0000
Received: from c.example by a.example; Mon, 1 Jan 2024 09:59:00 +0000
From: First <first@one.example>
From: Second <second@two.example>
Subject: The first subject counts
Subject: Not this one
X-Mailer:no space after the colon
Content-Type : text/plain

Body.
""", """\
From: First (one.example)
Subject: The first subject counts

Body.""")

fixture("broken-header-no-blank-line", """\
From: spammer@bulk.example
Subject: WIN BIG
this line is not a header, so the body starts here
and goes on.
""", """\
From: (bulk.example)
Subject: WIN BIG

this line is not a header, so the body starts here
and goes on.""")

# --- MIME structure --------------------------------------------------------------

fixture("multipart-alternative", """\
From: Newsletter <news@letters.example>
Subject: This week
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt-1"

This is a multi-part message in MIME format.

--alt-1
Content-Type: text/plain; charset=utf-8

The plain text version.
--alt-1
Content-Type: text/html; charset=utf-8

<html><body><p>The <b>HTML</b> version.</p></body></html>
--alt-1--
Epilogue that nobody reads.
""", """\
From: Newsletter (letters.example)
Subject: This week

The plain text version.""")

fixture("alternative-empty-plain", """\
From: Deals <deals@cheap.example>
Subject: Hot deals
Content-Type: multipart/alternative; boundary=b

--b
Content-Type: text/plain

   \t

--b
Content-Type: text/html

<p>Only the <a href="http://cheap.example/x">HTML part</a> has text.</p>
--b--
""", """\
From: Deals (cheap.example)
Subject: Hot deals

Only the HTML part (cheap.example) has text.""")

pdf = b"%PDF-1.4\n" + bytes(range(256)) * 4
zip_bytes = b"PK\x03\x04" + bytes(range(200))
fixture("multipart-mixed-attachments", f"""\
From: Billing <billing@invoices.example>
Subject: Invoice 2024-001
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="----=_Part_0_1"

------=_Part_0_1
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 7bit

Please find your invoice attached.
------=_Part_0_1
Content-Type: application/pdf; name="invoice.pdf"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="invoice.pdf"

{b64(pdf)}
------=_Part_0_1
Content-Type: application/zip
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
 filename*0*=UTF-8''Rechnung%20%C3%BC;
 filename*1=ber.zip

{b64(zip_bytes)}
------=_Part_0_1
Content-Type: text/plain; name="notes.txt"
Content-Disposition: attachment; filename="notes.txt"

Text marked as an attachment is not read.
------=_Part_0_1
Content-Type: image/png; name="=?utf-8?Q?sch=C3=B6n.png?="
Content-Transfer-Encoding: base64

{b64(bytes(range(64)))}
------=_Part_0_1--
""", """\
From: Billing (invoices.example)
Subject: Invoice 2024-001
Attachments: invoice.pdf, Rechnung über.zip, notes.txt, schön.png

Please find your invoice attached.""")

fixture("multipart-related", f"""\
From: Store <store@shop.example>
Subject: Spring sale
Content-Type: multipart/related; boundary="rel"; type="text/html"

--rel
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: quoted-printable

<html><body><img src=3D"cid:logo" alt=3D"Shop logo"><h1>Spring sale</h1><p>=
Everything 20% off.</p></body></html>
--rel
Content-Type: image/gif; name="logo.gif"
Content-ID: <logo>
Content-Transfer-Encoding: base64

{b64(b"GIF89a" + bytes(40))}
--rel--
""", """\
From: Store (shop.example)
Subject: Spring sale
Attachments: logo.gif

Shop logo

Spring sale

Everything 20% off.""")

fixture("nested-rfc822", """\
From: Bob <bob@example.net>
Subject: Fwd: Is this spam?
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain

Forwarding this, looks odd.
--outer
Content-Type: message/rfc822

From: "Bank" <security@bank-secure.example>
Subject: Verify your account
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

Click the link to verify your account.
--inner
Content-Type: text/html

<p>Click <a href="http://bank-secure.example/v">here</a></p>
--inner--
--outer--
""", """\
From: Bob (example.net)
Subject: Fwd: Is this spam?

Forwarding this, looks odd.

Verify your account

Click the link to verify your account.""")

# The same structure with CR LF line ends throughout.
name, message, expected = fixtures[-1]
fixture("nested-rfc822-crlf", message, expected, crlf=True)

fixture("multipart-missing-boundary", """\
From: x@broken.example
Subject: No boundary parameter
Content-Type: multipart/mixed

--XYZ
Content-Type: text/plain

The boundary was never declared.
--XYZ
Content-Type: application/octet-stream; name=a.bin

AAAA
--XYZ--
""", """\
From: (broken.example)
Subject: No boundary parameter
Attachments: a.bin

The boundary was never declared.""")

fixture("multipart-wrong-boundary", """\
From: x@broken.example
Subject: Wrong boundary
Content-Type: multipart/alternative; boundary="declared"

--actual
Content-Type: text/plain

The declared boundary does not occur; the actual one is found.
--actual
Content-Type: text/html

<p>html</p>
--actual--
""", """\
From: (broken.example)
Subject: Wrong boundary

The declared boundary does not occur; the actual one is found.""")

fixture("multipart-never-closed", """\
From: x@broken.example
Subject: Unclosed
Content-Type: multipart/mixed; boundary="open"

--open
Content-Type: text/plain

First part.
--open
Content-Type: text/plain

Second part, and the message just ends here.
""", """\
From: (broken.example)
Subject: Unclosed

First part.

Second part, and the message just ends here.""")

fixture("multipart-without-delimiters", """\
From: x@broken.example
Subject: Declared multipart, plain body
Content-Type: multipart/mixed; boundary="gone"

There are no delimiter lines at all in this body.
""", """\
From: (broken.example)
Subject: Declared multipart, plain body

There are no delimiter lines at all in this body.""")

text = "This base64 body was cut off in transit, but what arrived is still read."
encoded = base64.b64encode(text.encode()).decode()
fixture("base64-truncated", f"""\
From: x@broken.example
Subject: Truncated base64
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

{encoded[:len(encoded) - 5]}""", """\
From: (broken.example)
Subject: Truncated base64

This base64 body was cut off in transit, but what arrived is still r""")

fixture("quoted-printable", """\
From: =?iso-8859-1?q?Ren=E9?= <rene@exemple.fr>
Subject: Caf=E9 is not decoded in a subject without an encoded word
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Bonjour, le caf=E9 est pr=EAt. Cette ligne est tr=E8s longue et elle est coup=
=E9e par un saut de ligne doux.
Un =3D signe =C3 et un = seul.
""", """\
From: René (exemple.fr)
Subject: Caf=E9 is not decoded in a subject without an encoded word

Bonjour, le café est prêt. Cette ligne est très longue et elle est coupée par un saut de ligne doux.
Un = signe Ã et un = seul.""")

fixture("html-only", """\
From: "PayPal" <service@paypa1-secure.example>
Subject: Account suspended
Content-Type: text/html; charset=utf-8

<!DOCTYPE html>
<html><head><title>Ignored title</title>
<style>p { color: red; }</style>
<script type="text/javascript">var x = "<p>not text</p>";</script>
</head>
<body>
<!-- a comment <p>hidden</p> -->
<h1>Your account is   suspended</h1>
<p>Dear&nbsp;customer,<br>we noticed <b>unusual</b> activity &amp; locked it.</p>
<ul><li>Step one</li><li>Step two</li></ul>
<p>Log in at <a href="https://www.paypal.com.evil.example/login?x=1&amp;y=2">www.paypal.com</a>
or <A HREF='http://user@Other.Example:8080/path'>this link</A>.</p>
<table><tr><td>Cell 1</td><td>Cell 2</td></tr></table>
<p>&copy; 2024 &#80;&#x61;yPal &euro;5 &#150; &lt;tag&gt; &unknown; &amp</p>
<a href="mailto:help@paypal.example">Mail us</a> <a href="/relative">relative</a>
<a href="http://tracker.example/pixel"><img src="x.gif" alt=""></a>
</body></html>
""", """\
From: PayPal (paypa1-secure.example)
Subject: Account suspended

Your account is suspended

Dear customer,
we noticed unusual activity & locked it.

- Step one
- Step two

Log in at www.paypal.com (www.paypal.com.evil.example) or this link (other.example).

Cell 1 Cell 2

© 2024 PayPal €5 – <tag> &unknown; &

Mail us relative (tracker.example)""")

fixture("html-broken", """\
From: x@broken.example
Subject: Broken HTML
Content-Type: text/html

<div>Unclosed <b>bold <i>italic
<p>A lone < sign and a > sign, 3 < 5.
<a href="http://first.example/">first <a href="http://second.example/">second</a>
<pre>  keep   these
    spaces</pre>
<p>after pre<!-- this comment never ends
<p>lost
""", """\
From: (broken.example)
Subject: Broken HTML

Unclosed bold italic

A lone < sign and a > sign, 3 < 5. first (first.example) second (second.example)

keep these
spaces

after pre""")

fixture("html-without-content-type", """\
From: x@bulk.example
Subject: HTML with no Content-Type

<html><body><p>Read as <b>HTML</b>, not as markup.</p></body></html>
""", """\
From: (bulk.example)
Subject: HTML with no Content-Type

Read as HTML, not as markup.""")

fixture("attachment-only", f"""\
From: Scanner <scanner@office.example>
Subject: Scanned document
Content-Type: multipart/mixed; boundary=s

--s
Content-Type: application/octet-stream; name="scan_0001.zip"
Content-Transfer-Encoding: base64

{b64(zip_bytes)}
--s--
""", """\
From: Scanner (office.example)
Subject: Scanned document
Attachments: scan_0001.zip""")

fixture("whitespace-normalisation", "From: x@ws.example\nSubject: \t Spaced \t  out  subject \n" +
        "Content-Type: text/plain; charset=utf-8\n\n" +
        "\n\n   Leading blank lines go.\n" +
        "Tabs\tand\u00a0no-break\u3000spaces   collapse.\n" +
        "Fr\u200bee mo\u00adney: zero-width and soft hyphens are removed.\n" +
        "\n\n\n\nMany blank lines become one.   \n" +
        "Decomposed: Cafe\u0301.\r\n\n\n", """\
From: (ws.example)
Subject: Spaced out subject

Leading blank lines go.
Tabs and no-break spaces collapse.
Free money: zero-width and soft hyphens are removed.

Many blank lines become one.
Decomposed: Café.""")

fixture("no-subject-no-from", """\
To: someone@example.net

Just a body.
""", "Just a body.")

fixture("empty-message", "", "")

# --- charsets --------------------------------------------------------------------

def charset_fixture(name, charset, text, subject=None, transfer="8bit", header_charset=None, expected_text=None):
    body = text.encode(charset if charset not in ("none",) else "latin-1")
    if transfer == "base64":
        encoded_body = b64(body).encode()
    elif transfer == "quoted-printable":
        encoded_body = quopri.encodestring(body)
    else:
        encoded_body = body
    label = f"; charset={charset}" if charset != "none" else ""
    head = f"From: x@charsets.example\nContent-Type: text/plain{label}\nContent-Transfer-Encoding: {transfer}\n"
    if subject is not None:
        codec = header_charset or charset
        encoded = base64.b64encode(subject.encode(codec)).decode()
        head += f"Subject: =?{codec}?B?{encoded}?=\n"
    message = head.encode() + b"\n" + encoded_body + b"\n"
    expected = "From: (charsets.example)\n"
    if subject is not None:
        expected += f"Subject: {subject}\n"
    expected += "\n" + (expected_text or text)
    fixture(name, message, expected)

charset_fixture("charset-iso-8859-1", "iso-8859-1", "Déjà vu, señor? Ça coûte 10 £.", transfer="quoted-printable")
charset_fixture("charset-iso-8859-2", "iso-8859-2", "Zażółć gęślą jaźń. Příliš žluťoučký kůň.")
charset_fixture("charset-iso-8859-5", "iso-8859-5", "Съешь же ещё этих мягких булок.", transfer="base64")
charset_fixture("charset-iso-8859-7", "iso-8859-7", "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.")
charset_fixture("charset-iso-8859-9", "iso-8859-9", "Pijamalı hasta yağız şoföre çabucak güvendi.")
charset_fixture("charset-iso-8859-15", "iso-8859-15", "Prix : 15 € — œuvre, Šárka, Žižka.".replace("—", "-"))
charset_fixture("charset-windows-1250", "windows-1250", "Pchnąć w tę łódź jeża lub ośm skrzyń fig.")
charset_fixture("charset-windows-1251", "windows-1251", "Привет! Выгодное предложение только сегодня.",
                subject="Выгодное предложение")
charset_fixture("charset-windows-1252", "windows-1252", "“Smart quotes” – and … ellipsis, €20, naïve.")
charset_fixture("charset-windows-1253", "windows-1253", "Καλημέρα κόσμε.")
charset_fixture("charset-windows-1254", "windows-1254", "Güneşli bir gün, İstanbul.")
charset_fixture("charset-windows-1255", "windows-1255", "שלום עולם")
charset_fixture("charset-windows-1256", "windows-1256", "مرحبا بالعالم")
charset_fixture("charset-windows-1257", "windows-1257", "Labas rytas, Ąžuolas, Šiauliai.")
# Windows-1258 writes tone marks as combining characters; the text is composed (NFC).
charset_fixture("charset-windows-1258", "windows-1258", "Xin chào thê\u0301 giơ\u0301i.", expected_text="Xin chào thế giới.")
charset_fixture("charset-koi8-r", "koi8-r", "Съешь ещё этих мягких французских булок, да выпей чаю.",
                subject="Скидки")
charset_fixture("charset-gb2312", "gb2312", "你好，世界！免费赠品，立即领取。", subject="免费赠品", transfer="base64")
charset_fixture("charset-gbk", "gbk", "欢迎光临，镕铖商城。", transfer="base64")
charset_fixture("charset-big5", "big5", "您好，這是繁體中文的測試郵件。", subject="繁體中文")
charset_fixture("charset-shift_jis", "shift_jis", "こんにちは、世界。ｶﾀｶﾅもあります。", subject="お知らせ", transfer="base64")
charset_fixture("charset-euc-jp", "euc-jp", "日本語のメールです。半角ｶﾅも。", subject="日本語")
charset_fixture("charset-iso-2022-jp", "iso-2022-jp", "こんにちは。今日は良い天気です。\nABC 123", subject="件名のテスト")
charset_fixture("charset-euc-kr", "euc-kr", "안녕하세요, 세계.")
charset_fixture("charset-unlabelled-8bit", "none", "No charset declared, Latin-1 bytes: café.")

fixture("charset-invalid-utf8", b"From: x@charsets.example\nContent-Type: text/plain; charset=utf-8\n\n"
        b"Valid \xc3\xa9 then invalid \xff\xfe and truncated \xe2\x82\n",
        "From: (charsets.example)\n\nValid é then invalid \ufffd\ufffd and truncated \ufffd")
fixture("charset-unknown-name", "From: x@charsets.example\nContent-Type: text/plain; charset=x-klingon\n\nUnknown charset, UTF-8 bytes: naïve.\n",
        "From: (charsets.example)\n\nUnknown charset, UTF-8 bytes: naïve.")
fixture("charset-gbk-with-bad-bytes", b"From: x@charsets.example\nContent-Type: text/plain; charset=gbk\n\n"
        + "你好".encode("gbk") + b" \xff " + "世界".encode("gbk") + b" \x81\n",
        "From: (charsets.example)\n\n你好 \ufffd 世界 \ufffd")
fixture("charset-html-meta", b"From: x@charsets.example\nContent-Type: text/html\n\n"
        b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1251\"></head><body>"
        + "Цена: 100 руб.".encode("cp1251") + b"</body></html>\n",
        "From: (charsets.example)\n\nЦена: 100 руб.")

# --- write -------------------------------------------------------------------------

for entry in os.listdir(HERE):
    if entry.endswith(".eml") or entry.endswith(".expected.txt"):
        os.remove(os.path.join(HERE, entry))
for name, message, expected in fixtures:
    with open(os.path.join(HERE, name + ".eml"), "wb") as f:
        f.write(message)
    with open(os.path.join(HERE, name + ".expected.txt"), "w", encoding="utf-8", newline="") as f:
        f.write(expected)

# --- charset tables ------------------------------------------------------------------
# For each 8-bit charset, what Python's codec makes of each byte 0x80...0xFF (-1 where
# it defines none), and for the others, sample texts and their bytes.

import json
single_byte = {
    "iso-8859-2": "iso8859_2", "iso-8859-3": "iso8859_3", "iso-8859-4": "iso8859_4", "iso-8859-5": "iso8859_5",
    "iso-8859-6": "iso8859_6", "iso-8859-7": "iso8859_7", "iso-8859-8": "iso8859_8", "iso-8859-10": "iso8859_10",
    "iso-8859-13": "iso8859_13", "iso-8859-14": "iso8859_14", "iso-8859-15": "iso8859_15", "iso-8859-16": "iso8859_16",
    "windows-1250": "cp1250", "windows-1251": "cp1251", "windows-1252": "cp1252", "windows-1253": "cp1253",
    "windows-1254": "cp1254", "windows-1255": "cp1255", "windows-1256": "cp1256", "windows-1257": "cp1257",
    "windows-1258": "cp1258", "windows-874": "cp874", "koi8-r": "koi8_r", "koi8-u": "koi8_u", "ibm866": "cp866",
    "ibm437": "cp437", "ibm850": "cp850",
}
tables = {}
for name, codec in single_byte.items():
    points = []
    for byte in range(0x80, 0x100):
        try:
            points.append(ord(bytes([byte]).decode(codec)))
        except UnicodeDecodeError:
            points.append(-1)
    tables[name] = points
samples = []
for charset, codec, text in [
    ("gb2312", "gb2312", "你好，世界！免费赠品。"),
    ("gbk", "gbk", "欢迎光临，镕铖商城。"),
    ("gb18030", "gb18030", "𠀀 and € and 中文"),
    ("big5", "big5", "您好，這是繁體中文。"),
    ("shift_jis", "shift_jis", "こんにちは、世界。ｶﾀｶﾅ"),
    ("windows-31j", "cp932", "①②③ ～ NEC特殊文字"),
    ("euc-jp", "euc_jp", "日本語のメール。ｶﾅ"),
    ("euc-jp", "euc_jp", "JIS X 0212: 丂"),
    ("iso-2022-jp", "iso2022_jp", "こんにちは。ABC 件名"),
    ("euc-kr", "euc_kr", "안녕하세요, 세계."),
    ("ks_c_5601-1987", "cp949", "똠방각하"),
    ("utf-16", "utf-16", "BOM little-endian ü"),
    ("utf-16be", "utf-16-be", "big-endian ü"),
    ("utf-16le", "utf-16-le", "little-endian ü"),
    ("utf-32", "utf-32", "UTF-32 😀"),
    ("utf-7", "utf-7", "Hi Mom -☺-!"),
    ("hz-gb-2312", "hz", "你好 HZ"),
    ("iso-2022-kr", "iso2022_kr", "안녕 KR"),
]:
    samples.append({"charset": charset, "text": text, "bytes": base64.b64encode(text.encode(codec)).decode()})
with open(os.path.join(HERE, "charsets.json"), "w", encoding="utf-8") as f:
    # One line per table and per sample, so that a diff shows which one changed.
    f.write('{\n "singleByte": {\n')
    f.write(",\n".join(f"  {json.dumps(name)}: {json.dumps(points)}" for name, points in tables.items()))
    f.write('\n },\n "samples": [\n')
    f.write(",\n".join("  " + json.dumps(sample, ensure_ascii=False) for sample in samples))
    f.write("\n ]\n}\n")

# --- mailboxes -----------------------------------------------------------------------

def message(number, folder):
    return f"From: sender{number}@example.org\nSubject: {folder} message {number}\n\nBody {number}.\n"

boxes = os.path.join(HERE, "mailboxes")
shutil.rmtree(boxes, ignore_errors=True)
maildir = os.path.join(boxes, "Maildir")
for folder in ["", ".Junk", ".Archive.2024"]:
    for sub in ["cur", "new", "tmp"]:
        os.makedirs(os.path.join(maildir, folder, sub), exist_ok=True)
label = {"": "inbox", ".Junk": "junk", ".Archive.2024": "archive"}
files = {
    "": [("new", "1700000002.M2P1.host"), ("cur", "1700000001.M1P1.host:2,S"), ("cur", "1700000003.M3P1.host:2,RS"),
         ("tmp", "1700000009.M9P1.host")],
    ".Junk": [("cur", "1700000004.M4P1.host:2,S"), ("new", "1700000005.M5P1.host")],
    ".Archive.2024": [("cur", "1700000006.M6P1.host:2,")],
}
for folder, entries in files.items():
    for sub, filename in entries:
        number = filename.split(".")[1][1:].split("P")[0]
        with open(os.path.join(maildir, folder, sub, filename), "w") as f:
            f.write(message(number, label[folder]))
# git keeps no empty directories; hidden files are not messages to the readers.
for folder in ["", ".Junk", ".Archive.2024"]:
    for sub in ["cur", "new", "tmp"]:
        directory = os.path.join(maildir, folder, sub)
        if not os.listdir(directory):
            open(os.path.join(directory, ".gitkeep"), "w").close()
# A directory that is not a Maildir++ folder (no cur/new) is ignored.
os.makedirs(os.path.join(maildir, ".not-a-folder"), exist_ok=True)
with open(os.path.join(maildir, ".not-a-folder", "README"), "w") as f:
    f.write("not mail\n")

with open(os.path.join(boxes, "sample.mbox"), "wb") as f:
    f.write(b"From alice@example.org Mon Jan  1 10:00:00 2024\n"
            b"From: alice@example.org\nSubject: first\n\nLine one.\n>From the quoted line.\n>>From twice quoted.\n"
            b"From an unquoted body line that follows text, not a blank line.\n\n"
            b"From bob@example.org Mon Jan  1 11:00:00 2024\n"
            b"From: bob@example.org\nSubject: second\n\nSecond body.\n\n"
            b"From carol@example.org Mon Jan  1 12:00:00 2024\r\n"
            b"From: carol@example.org\r\nSubject: third\r\n\r\nThird body, CRLF.\r\n")

eml = os.path.join(boxes, "eml")
os.makedirs(os.path.join(eml, "sub"), exist_ok=True)
for path, number in [("b.eml", 2), ("a.EML", 1), ("sub/c.eml", 3)]:
    with open(os.path.join(eml, path), "w") as f:
        f.write(message(number, "eml"))
with open(os.path.join(eml, "notes.txt"), "w") as f:
    f.write("not a message file\n")

print(f"wrote {len(fixtures)} fixtures and the mailboxes")

#!/usr/bin/env python3
"""mail_split.py OUT_DIR LABEL=DIR [LABEL=DIR ...] [--train-share 70] [--all-train|--all-test] [--exclude DIR ...]

Lays out a labelled mail corpus as the baselines' runners read it (OUT_DIR/train/{ham,spam},
OUT_DIR/test/{ham,spam}, one message per file, hard links where possible). Messages are
deduplicated by content (sha256; a message filed under both labels is dropped) and split by
content hash: the last byte of the sha256, times 100 / 256, below the train share goes to
train. The same message therefore lands in the same half in every run and for every filter,
and the split is independent of the one spamtune-train makes inside what it is given (by
the first byte), so its own validation and test splits take their share of this train half. --all-train puts everything in train
(a corpus used only for training, or only for testing with --all-test).
--exclude DIR leaves out every message that DIR (searched recursively) also holds, by
Message-ID or by its body with white space removed: public corpora copy from each other
(most of CSDMC2010's ham is SpamAssassin corpus mail), and a test across corpora must not
score mail the filters trained on.
"""
import email.parser, hashlib, os, re, shutil, sys


def identities(file):
    """The Message-ID and a digest of the body without white space (its first 2,000 bytes)."""
    data = open(file, "rb").read()
    head, _, body = data.replace(b"\r\n", b"\n").partition(b"\n\n")
    message_id = email.parser.BytesHeaderParser().parsebytes(head + b"\n\n").get("Message-ID", "")
    keys = {"body:" + hashlib.sha1(re.sub(rb"\s+", b"", body)[:2000]).hexdigest()}
    if str(message_id).strip():
        keys.add("id:" + str(message_id).strip())
    return keys


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    out = args.pop(0)
    share, mode, sources, excluded = 70, "split", [], set()
    while args:
        a = args.pop(0)
        if a == "--train-share":
            share = int(args.pop(0))
        elif a in ("--all-train", "--all-test"):
            mode = a[2:]
        elif a == "--exclude":
            for root, _, files in os.walk(args.pop(0)):
                for name in files:
                    excluded |= identities(os.path.join(root, name))
        else:
            label, _, path = a.partition("=")
            if label not in ("ham", "spam") or not os.path.isdir(path):
                sys.exit(f"mail_split: '{a}' is not ham=DIR or spam=DIR")
            sources.append((label, path))
    seen = {}
    for label, path in sources:
        for root, _, files in os.walk(path):
            for name in sorted(files):
                if name == "cmds":
                    continue
                file = os.path.join(root, name)
                if excluded and identities(file) & excluded:
                    continue
                digest = hashlib.sha256(open(file, "rb").read()).hexdigest()
                if digest in seen and seen[digest][0] != label:
                    seen[digest] = (None, file)
                elif digest not in seen:
                    seen[digest] = (label, file)
    shutil.rmtree(out, ignore_errors=True)
    counts = {}
    for digest, (label, file) in sorted(seen.items()):
        if label is None:
            continue
        if mode == "split":
            part = "train" if int(digest[-2:], 16) * 100 // 256 < share else "test"
        else:
            part = mode.split("-")[1]
        folder = os.path.join(out, part, label)
        os.makedirs(folder, exist_ok=True)
        target = os.path.join(folder, str(int(digest[:13], 16)))
        try:
            os.link(file, target)
        except OSError:
            shutil.copyfile(file, target)
        counts[(part, label)] = counts.get((part, label), 0) + 1
    for part in ("train", "test"):
        for label in ("ham", "spam"):
            os.makedirs(os.path.join(out, part, label), exist_ok=True)
    print(" ".join(f"{p}/{l}={counts.get((p, l), 0)}" for p in ("train", "test") for l in ("ham", "spam")))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Throughput of OpenAI's tiktoken (GPT-2 encoding) on the SMS texts, one thread.

The yardstick for `spamtune-bench tokenizer`: the same texts, one encode call per
message, bytes counted as the UTF-8 bytes of the texts. The encoding is built offline
from the local encoder.json + vocab.bpe, so nothing is downloaded or cached.

    python3 bench/tiktoken_bench.py [--tokenizer DIR] [--sms FILE] [--seconds S]

Needs `pip install tiktoken`; the spamtune product never does.
"""
import argparse
import os
import sys
import time

# An empty cache directory tells tiktoken not to cache (and so never to write to /tmp).
os.environ["TIKTOKEN_CACHE_DIR"] = ""

import tiktoken  # noqa: E402
from tiktoken.load import data_gym_to_mergeable_bpe_ranks  # noqa: E402

# tiktoken's own pattern for its "gpt2" encoding (tiktoken_ext/openai_public.py), which is
# equivalent to the original GPT-2 release's and runs faster.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(PROJECT_ROOT), "shared")


def gpt2_encoding(directory):
    ranks = data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=os.path.abspath(os.path.join(directory, "vocab.bpe")),
        encoder_json_file=os.path.abspath(os.path.join(directory, "encoder.json")),
    )
    return tiktoken.Encoding(
        name="gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 50256}, explicit_n_vocab=50257)


def sms_texts(path):
    texts = []
    with open(path, encoding="utf-8", newline="\n") as file:
        for line in file:
            line = line.rstrip("\n").rstrip("\r")
            if not line:
                continue
            _, _, text = line.partition("\t")
            texts.append(text)
    return texts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", default=os.path.join(SHARED, "gpt2"))
    parser.add_argument("--sms", default=os.path.join(SHARED, "data", "SMSSpamCollection"))
    parser.add_argument("--seconds", type=float, default=3.0)
    arguments = parser.parse_args()

    encoding = gpt2_encoding(arguments.tokenizer)
    texts = sms_texts(arguments.sms)
    bytes_per_pass = sum(len(text.encode("utf-8")) for text in texts)
    encode = encoding.encode_ordinary

    for text in texts:  # warm-up: first calls build tiktoken's internal state
        encode(text)

    passes = 0
    tokens = 0
    start = time.perf_counter()
    while True:
        for text in texts:
            tokens += len(encode(text))
        passes += 1
        elapsed = time.perf_counter() - start
        if elapsed >= arguments.seconds:
            break

    print(f"tokenizer.tiktoken_mb_per_s {passes * bytes_per_pass / elapsed / 1e6:.2f}")
    print(f"tokenizer.tiktoken_tokens_per_s {tokens / elapsed:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

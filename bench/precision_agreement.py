#!/usr/bin/env python3
"""Verdict agreement with FP32, one line.

  precision_agreement.py record CHECKPOINT_DIR
      what spamtune-train recorded in the checkpoint's spamtune.json (precisionAgreement):
      its validation and test splits scored in each precision at the served threshold.
  precision_agreement.py compare FP32.jsonl OTHER.jsonl...
      `spamtune classify` lines of the same inputs in fp32 and in other precisions:
      how many labels differ from fp32's and the largest probability difference.
"""
import json
import sys


def record(directory):
    manifest = json.load(open(f"{directory}/spamtune.json"))
    agreement = manifest.get("precisionAgreement")
    if not agreement:
        return "no precision record in the checkpoint"
    parts = []
    for precision in ("int8", "bf16"):
        splits = agreement["precisions"].get(precision, [])
        differing = sum(s["differingVerdicts"] for s in splits)
        examples = sum(s["examples"] for s in splits)
        largest = max((s["largestProbabilityDifference"] for s in splits), default=0)
        each = ", ".join(f"{s['split']} {s['differingVerdicts']}/{s['examples']}" for s in splits)
        parts.append(f"{precision} {differing} of {examples} verdicts differ ({each}), largest dP {largest:.2g}")
    return f"recorded by spamtune-train at threshold {agreement['threshold']:.4f}: " + "; ".join(parts)


def compare(reference, others):
    def read(path):
        return {o["source"]: o for o in map(json.loads, open(path))}
    base = read(reference)
    parts = []
    for path in others:
        lines = read(path)
        precision = next(iter(lines.values()))["precision"] if lines else path
        differing = sum(1 for s, o in lines.items() if o["label"] != base[s]["label"])
        largest = max((abs(o["spam_probability"] - base[s]["spam_probability"]) for s, o in lines.items()), default=0)
        parts.append(f"{precision} {differing} of {len(lines)} labels differ from fp32, largest dP {largest:.2g}")
    return "; ".join(parts)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "record":
        print(record(sys.argv[2]))
    elif len(sys.argv) >= 4 and sys.argv[1] == "compare":
        print(compare(sys.argv[2], sys.argv[3:]))
    else:
        sys.exit(__doc__)

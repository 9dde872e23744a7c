#!/usr/bin/env python3
"""mail_metrics.py NAME PRED_TSV [SECONDS]

One line of mail accuracy for a filter's predictions (rows: true_label, verdict
spam|ham|unsure, score, file; as ../shared/baselines writes them and bench/accuracy.sh
writes spamtune's): the verdict as served (unsure counts as ham), F1, the false-positive
rate, and the recall at a false-positive rate of at most 0.1% from the scores."""
import sys


def main():
    name, path = sys.argv[1], sys.argv[2]
    rows = [line.rstrip("\n").split("\t") for line in open(path) if line.strip()]
    tp = sum(1 for r in rows if r[0] == "spam" and r[1] == "spam")
    fn = sum(1 for r in rows if r[0] == "spam" and r[1] != "spam")
    fp = sum(1 for r in rows if r[0] == "ham" and r[1] == "spam")
    tn = sum(1 for r in rows if r[0] == "ham" and r[1] != "spam")
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    fpr = fp / (fp + tn) if fp + tn else 0.0
    # Recall at FPR <= 0.1%: the lowest threshold that calls at most 0.1% of the ham spam.
    hams = sorted((float(r[2]) for r in rows if r[0] == "ham"), reverse=True)
    spams = [float(r[2]) for r in rows if r[0] == "spam"]
    allowed = int(len(hams) * 0.001)
    cut = hams[allowed] if allowed < len(hams) else float("-inf")
    recall_at = sum(1 for s in spams if s > cut) / len(spams) if spams else 0.0
    speed = ""
    if len(sys.argv) > 3 and float(sys.argv[3]) > 0:
        speed = f"  {len(rows) / float(sys.argv[3]):8.1f} msg/s"
    print(f"{name:34s} ham {fp + tn:5d} spam {tp + fn:5d}  F1 {f1:.4f}  FPR {100 * fpr:5.2f}% ({fp} ham flagged)"
          f"  recall {100 * recall:5.1f}%  recall@FPR0.1% {100 * recall_at:5.1f}%{speed}")


if __name__ == "__main__":
    main()

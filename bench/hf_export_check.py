"""Loads a `spamtune-train export --hf` directory with Hugging Face transformers, as a
user would (GPT2ForSequenceClassification, GPT2TokenizerFast from the same directory),
and compares its logits with `spamtune classify --checkpoint` on the same messages.

usage: hf_export_check.py EXPORT_DIR CLASSIFY_JSONL TEXTS_DIR
  CLASSIFY_JSONL: spamtune classify --format text output for the files of TEXTS_DIR
Prints one line: messages compared, largest |logit difference|, labels that agree.
"""
import json
import os
import sys

import torch
from transformers import GPT2ForSequenceClassification, GPT2TokenizerFast

export, classified, texts = sys.argv[1:4]
model = GPT2ForSequenceClassification.from_pretrained(export).eval()
tokenizer = GPT2TokenizerFast.from_pretrained(export)
# A checkpoint trained on padded inputs (the book's recipe) reads the last position of
# an input padded as in training; the export records how.
padding = json.load(open(os.path.join(export, "config.json"))).get("spamtune_padding")
worst = 0.0
agree = compared = token_mismatch = 0
with torch.inference_mode():
    for line in open(classified):
        ours = json.loads(line)
        text = open(os.path.join(texts, os.path.basename(ours["source"])), encoding="utf-8").read()
        ids = tokenizer(text)["input_ids"]
        if padding:
            length = padding["length"]
            ids = ids[:length] + [padding["token_id"]] * (length - len(ids[:length]))
        if len(ids) != ours["tokens"]:
            # spamtune normalises whitespace (text layout v2) and cuts at max tokens:
            # compare only messages that reach the model unchanged.
            token_mismatch += 1
            continue
        logits = model(torch.tensor([ids])).logits[0].tolist()
        worst = max(worst, max(abs(a - b) for a, b in zip(logits, ours["logits"])))
        agree += (logits[1] > logits[0]) == (ours["label"] == "spam")
        compared += 1
print(f"transformers GPT2ForSequenceClassification on the export: {compared} messages, "
      f"max |logit difference| {worst:.2e}, labels agree {agree}/{compared} "
      f"({token_mismatch} skipped: text changed by the layout or cut)")
sys.exit(0 if compared > 0 and worst < 1e-3 and agree == compared else 1)

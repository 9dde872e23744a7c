#!/usr/bin/env python3
"""The book's chapter 6 fine-tuning in PyTorch, for bench/run to time beside spamtune-train.

Raschka's code as published (SpamDataset padded to the longest training example,
DataLoader batch 8 shuffle drop_last, AdamW lr 5e-5 weight decay 0.1, the last block
and final LayerNorm trainable, new 2-class head, cross-entropy on the last position,
evaluation every 50 steps on 5 batches, accuracy per epoch), on a randomly initialised
GPT-2 124M (real weights cannot be downloaded here; speed does not depend on them) and
the same train/validation/test CSVs spamtune-train wrote. Prints `torch_train.<stage>_s`
and `torch_train.peak_rss_mb` lines.
"""
import argparse, csv, resource, sys, time

import tiktoken
import tiktoken.load
import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, __import__("os").path.dirname(__file__))
from torch_reference import GPTModel  # noqa: E402


class SpamDataset(Dataset):
    def __init__(self, path, tokenizer, max_length=None, pad_token_id=50256):
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        self.labels = [int(r["Label"]) for r in rows]
        self.encoded = [tokenizer.encode(r["Text"]) for r in rows]
        self.max_length = max_length or max(len(e) for e in self.encoded)
        self.encoded = [e[: self.max_length] + [pad_token_id] * (self.max_length - len(e[: self.max_length])) for e in self.encoded]

    def __getitem__(self, i):
        return torch.tensor(self.encoded[i]), torch.tensor(self.labels[i])

    def __len__(self):
        return len(self.labels)


def calc_loss_batch(x, y, model):
    return torch.nn.functional.cross_entropy(model(x)[:, -1, :], y)


def calc_loss_loader(loader, model, num_batches):
    total = 0.0
    n = min(num_batches, len(loader))
    for i, (x, y) in enumerate(loader):
        if i >= n:
            break
        total += calc_loss_batch(x, y, model).item()
    return total / n


def calc_accuracy_loader(loader, model, num_batches=None):
    correct = seen = 0
    n = len(loader) if num_batches is None else min(num_batches, len(loader))
    for i, (x, y) in enumerate(loader):
        if i >= n:
            break
        with torch.no_grad():
            predicted = torch.argmax(model(x)[:, -1, :], dim=-1)
        seen += predicted.shape[0]
        correct += (predicted == y).sum().item()
    return correct / seen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="directory with train.csv, validation.csv, test.csv")
    ap.add_argument("--tokenizer", required=True, help="directory with encoder.json and vocab.bpe")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(123)
    t0 = time.perf_counter()
    ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(f"{a.tokenizer}/vocab.bpe", f"{a.tokenizer}/encoder.json")
    tokenizer = tiktoken.Encoding("gpt2", pat_str=r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
                                  mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256})
    train = SpamDataset(f"{a.data}/train.csv", tokenizer)
    val = SpamDataset(f"{a.data}/validation.csv", tokenizer, max_length=train.max_length)
    test = SpamDataset(f"{a.data}/test.csv", tokenizer, max_length=train.max_length)
    train_loader = DataLoader(train, batch_size=8, shuffle=True, drop_last=True)
    val_loader = DataLoader(val, batch_size=8)
    test_loader = DataLoader(test, batch_size=8)
    print(f"torch_train.data_s {time.perf_counter() - t0:.2f}", flush=True)

    t0 = time.perf_counter()
    model = GPTModel()
    for p in model.parameters():
        p.requires_grad = False
    model.out_head = torch.nn.Linear(768, 2)
    for p in model.trf_blocks[-1].parameters():
        p.requires_grad = True
    for p in model.final_norm.parameters():
        p.requires_grad = True
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.1)
    print(f"torch_train.model_s {time.perf_counter() - t0:.2f}", flush=True)

    t0 = time.perf_counter()
    global_step = -1
    for epoch in range(a.epochs):
        start = time.perf_counter()
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = calc_loss_batch(x, y, model)
            loss.backward()
            optimizer.step()
            global_step += 1
            if global_step % 50 == 0:
                model.eval()
                with torch.no_grad():
                    calc_loss_loader(train_loader, model, 5)
                    calc_loss_loader(val_loader, model, 5)
                model.train()
        calc_accuracy_loader(train_loader, model, 5)
        calc_accuracy_loader(val_loader, model, 5)
        print(f"torch_train.epoch_s epoch={epoch + 1} {time.perf_counter() - start:.2f}", flush=True)
    print(f"torch_train.training_s {time.perf_counter() - t0:.2f}", flush=True)
    t0 = time.perf_counter()
    accuracies = [calc_accuracy_loader(loader, model) for loader in (train_loader, val_loader, test_loader)]
    print(f"torch_train.evaluation_s {time.perf_counter() - t0:.2f}", flush=True)
    print(f"torch_train.test_accuracy {accuracies[2]:.4f}", flush=True)
    print(f"torch_train.peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}", flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch reference measurements for spamtune's benchmark (bench/run).

A GPT-2 124M in the book's own PyTorch code shape (Raschka, ch. 4/6: GPTModel with a
2-class head), randomly initialised: real pretrained weights cannot be had on these
machines, and speed does not depend on the values. Every figure is printed as one
machine-readable line `torch.<name> <value>` for bench/run to put beside ours.

  latency   --tokens 16,128,512     one message at a time, median ms (inference_mode)
  sms       --ids FILE              messages/s classifying SMS one by one (ids: jsonl)
  Peak RSS is printed after each mode.
"""
import argparse, json, resource, statistics, sys, time

import torch
import torch.nn as nn


class LayerNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.eps = 1e-5
        self.scale = nn.Parameter(torch.ones(d))
        self.shift = nn.Parameter(torch.zeros(d))

    def forward(self, x):
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)
        return self.scale * (x - mean) / torch.sqrt(var + self.eps) + self.shift


class GELU(nn.Module):
    def forward(self, x):
        return 0.5 * x * (1 + torch.tanh(torch.sqrt(torch.tensor(2.0 / torch.pi)) * (x + 0.044715 * torch.pow(x, 3))))


class MultiHeadAttention(nn.Module):
    def __init__(self, d, ctx, heads):
        super().__init__()
        self.heads, self.head_dim = heads, d // heads
        self.W_query = nn.Linear(d, d)
        self.W_key = nn.Linear(d, d)
        self.W_value = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)
        self.register_buffer("mask", torch.triu(torch.ones(ctx, ctx), diagonal=1))

    def forward(self, x):
        b, t, d = x.shape
        q = self.W_query(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.W_key(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        v = self.W_value(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        scores = q @ k.transpose(2, 3)
        scores.masked_fill_(self.mask.bool()[:t, :t], -torch.inf)
        weights = torch.softmax(scores / k.shape[-1] ** 0.5, dim=-1)
        return self.out_proj((weights @ v).transpose(1, 2).contiguous().view(b, t, d))


class TransformerBlock(nn.Module):
    def __init__(self, d, ctx, heads):
        super().__init__()
        self.att = MultiHeadAttention(d, ctx, heads)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), GELU(), nn.Linear(4 * d, d))
        self.norm1, self.norm2 = LayerNorm(d), LayerNorm(d)

    def forward(self, x):
        x = x + self.att(self.norm1(x))
        return x + self.ff(self.norm2(x))


class GPTModel(nn.Module):
    def __init__(self, vocab=50257, ctx=1024, d=768, heads=12, layers=12, classes=2):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab, d)
        self.pos_emb = nn.Embedding(ctx, d)
        self.trf_blocks = nn.Sequential(*[TransformerBlock(d, ctx, heads) for _ in range(layers)])
        self.final_norm = LayerNorm(d)
        self.out_head = nn.Linear(d, classes)

    def forward(self, ids):
        t = ids.shape[1]
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(t, device=ids.device))
        return self.out_head(self.final_norm(self.trf_blocks(x)))


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["latency", "sms"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", default="16,128,512")
    ap.add_argument("--ids", help="jsonl with an 'ids' list per line (sms mode)")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=15)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(123)
    model = GPTModel().eval()
    g = torch.Generator().manual_seed(1)
    with torch.inference_mode():
        if a.mode == "latency":
            for t in [int(x) for x in a.tokens.split(",")]:
                ids = torch.randint(0, 50257, (1, t), generator=g)
                for _ in range(3):
                    model(ids)[:, -1, :]
                times = []
                for _ in range(a.repeats):
                    start = time.perf_counter()
                    model(ids)[:, -1, :]
                    times.append((time.perf_counter() - start) * 1000)
                print(f"torch.latency_ms tokens={t} {statistics.median(times):.3f}", flush=True)
        else:
            messages = [json.loads(line)["ids"] for line in open(a.ids)]
            messages = [m[:1024] for m in messages if m]
            for m in messages[:20]:
                model(torch.tensor([m]))[:, -1, :]
            done, start = 0, time.perf_counter()
            while time.perf_counter() - start < a.seconds:
                m = messages[done % len(messages)]
                model(torch.tensor([m]))[:, -1, :]
                done += 1
            print(f"torch.sms_per_s {done / (time.perf_counter() - start):.2f}", flush=True)
    print(f"torch.peak_rss_mb mode={a.mode} {peak_rss_mb():.0f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())

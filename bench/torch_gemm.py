#!/usr/bin/env python3
"""PyTorch's linear layers on GPT-2 124M's shapes, for bench/gemm.sh: FP32, BF16
(weights and input in bfloat16, as PyTorch runs a bf16 model on CPU) and dynamic int8
(torch.ao.quantization.quantize_dynamic: int8 weights per tensor, activations quantized
per call). Same cases, timing method and line format as `spamtune-bench gemm`:

  gemm op=nn precision=int8 tokens=128 k=768 n=2304 threads=2 impl=torch gops=123.4 median=120.1

  torch_gemm.py [--threads 1,2] [--tokens 16,128,256,512] [--precision fp32,bf16,int8] [--seconds 0.6]
"""
import argparse, time, warnings

import torch
import torch.nn as nn

LAYERS = [(768, 2304), (768, 768), (768, 3072), (3072, 768)]


def model(precision, k, n):
    linear = nn.Linear(k, n)
    if precision == "bf16":
        return linear.to(torch.bfloat16)
    if precision == "int8":
        return torch.ao.quantization.quantize_dynamic(nn.Sequential(linear), {nn.Linear}, dtype=torch.qint8)
    return linear


def measure(call, ops, seconds):
    """GOP/s of the fastest and the median batch of ~20 ms, after a warm-up."""
    start = time.perf_counter()
    call()
    calls = 1
    while time.perf_counter() - start < 0.05:
        call()
        calls += 1
    per_batch = max(1, int(0.02 / ((time.perf_counter() - start) / calls)))
    rates = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(rates) < 5:
        t0 = time.perf_counter()
        for _ in range(per_batch):
            call()
        rates.append(ops * per_batch / (time.perf_counter() - t0) / 1e9)
    rates.sort()
    return rates[-1], rates[len(rates) // 2]


def main():
    warnings.filterwarnings("ignore")  # quantize_dynamic's notice that it moves to torchao
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--tokens", default="16,128,256,512")
    parser.add_argument("--precision", default="fp32,bf16,int8")
    parser.add_argument("--seconds", type=float, default=0.6)
    args = parser.parse_args()
    for threads in map(int, args.threads.split(",")):
        torch.set_num_threads(threads)
        for tokens in map(int, args.tokens.split(",")):
            for k, n in LAYERS:
                for precision in args.precision.split(","):
                    layer = model(precision, k, n)
                    x = torch.rand(tokens, k) * 2 - 1
                    if precision == "bf16":
                        x = x.to(torch.bfloat16)
                    with torch.inference_mode():
                        best, median = measure(lambda: layer(x), 2.0 * tokens * k * n, args.seconds)
                    print(f"gemm op=nn precision={precision} tokens={tokens} k={k} n={n} threads={threads} impl=torch "
                          f"gops={best:.1f} median={median:.1f}", flush=True)


if __name__ == "__main__":
    main()

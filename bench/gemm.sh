#!/usr/bin/env bash
# Kernels.matmul against OpenBLAS sgemm on GPT-2 124M's linear layers, side by side,
# in FP32 and, for the forward pass (nn), with the weights in BF16 and int8.
#
#   bench/gemm.sh [--rounds 3] [--threads 1,2] [--tokens 23,128,1024] [--ops nn,tn,nt]
#                 [--isa avx512vnni|avx512|avx2|baseline] [--precision fp32,bf16,int8] [--clock wall|cpu]
#                 [--torch PYTHON]
#
# Figures are GOP/s (2 × T × k × n operations per call); int8/fp32 is the int8 kernel's
# speed over our FP32 one's, measured one right after the other. With --torch (a Python
# that has PyTorch), PyTorch's BF16 and dynamic int8 Linear layers run in the same
# rounds (bench/torch_gemm.py), for the forward pass.
#
# --clock cpu times by CPU time per thread instead of wall time: on a machine shared
# with other work it leaves out the time our threads were waiting for a core.
#
# Installs OpenBLAS (pthread build) with apt-get if missing: it is used by this script
# only, never linked into spamtune. Both programs run the same cases with the same
# timing method; they take turns, round after round, so that noise from other work on
# the machine hits both alike, and each case keeps its best round.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3 threads=1,2 tokens=23,128,1024 ops=nn isa="" clock=wall precision=fp32,bf16,int8 torch=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2 ;;
        --threads) threads=$2 ;;
        --tokens) tokens=$2 ;;
        --ops) ops=$2 ;;
        --isa) isa=$2 ;;
        --clock) clock=$2 ;;
        --precision) precision=$2 ;;
        --torch) torch=$2 ;;
        *) echo "gemm.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift 2
done

if ! [ -e /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h ] && ! [ -e /usr/include/cblas.h ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "gemm.sh: OpenBLAS is not installed; run as root or: apt-get install libopenblas-pthread-dev" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-pthread-dev >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
include=/usr/include/x86_64-linux-gnu/openblas-pthread
library=/usr/lib/x86_64-linux-gnu/openblas-pthread
if [ -d "$include" ]; then
    gcc -O2 -I"$include" -o "$work/openblas_sgemm" bench/openblas_sgemm.c -L"$library" -Wl,-rpath,"$library" -lopenblas
else
    gcc -O2 -o "$work/openblas_sgemm" bench/openblas_sgemm.c -lopenblas
fi
swift build -c release --product spamtune-bench >&2
bench_binary="$(swift build -c release --show-bin-path)/spamtune-bench"

isa_option=()
[ -n "$isa" ] && isa_option=(--isa "$isa")
# OpenBLAS 0.3.21 (Debian 12) does not know Zen 4/5 and picks its AVX2 kernels there
# (this workplace's environment even forces Haswell), at half the speed of its AVX-512
# ones: compare each of our levels with OpenBLAS's kernels for the same instruction set.
case "$isa" in
    avx2) export OPENBLAS_CORETYPE=Haswell ;;
    baseline) export OPENBLAS_CORETYPE=Prescott ;;
    *) if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi ;;
esac
echo "OpenBLAS core type: ${OPENBLAS_CORETYPE:-auto}" >&2
common=(--tokens "$tokens" --ops "$ops" --clock "$clock")
for round in $(seq "$rounds"); do
    echo "round $round of $rounds" >&2
    for count in ${threads//,/ }; do
        OPENBLAS_NUM_THREADS=$count "$work/openblas_sgemm" --threads "$count" "${common[@]}" >>"$work/openblas.txt"
        "$bench_binary" gemm --threads "$count" "${common[@]}" --precision "$precision" "${isa_option[@]}" >>"$work/ours.txt"
        if [ -n "$torch" ] && [[ ",$ops," == *,nn,* ]]; then
            "$torch" bench/torch_gemm.py --threads "$count" --tokens "$tokens" --precision bf16,int8 2>/dev/null >>"$work/torch.txt"
        fi
    done
done

# Best round per case and precision; key = op tokens k n threads.
awk '
    function field(name,    i, parts) {
        for (i = 1; i <= NF; i++) { split($i, parts, "="); if (parts[1] == name) return parts[2] }
        return ""
    }
    function show(x) { return x > 0 ? sprintf("%9.1f", x) : sprintf("%9s", "-") }
    function ratio(x, y) { return x > 0 && y > 0 ? sprintf("%8.2f", x / y) : sprintf("%8s", "-") }
    {
        key = field("op") " " field("tokens") " " field("k") " " field("n") " " field("threads")
        rate = field("gops") + 0
        if (FILENAME ~ /openblas/) { if (rate > blas[key]) blas[key] = rate }
        else if (FILENAME ~ /torch/) { cell = key " " field("precision"); if (rate > torch[cell]) torch[cell] = rate; next }
        else {
            cell = key " " field("precision")
            if (rate > ours[cell]) ours[cell] = rate
            isa[key] = field("isa")
        }
        if (!(key in seen)) { seen[key] = 1; order[++count] = key }
    }
    END {
        printf "%-3s %7s %5s %5s %7s %-10s %9s %9s %9s %9s %9s %9s %8s %8s %8s\n", "op", "tokens", "k", "n", "threads", "isa", \
            "fp32", "bf16", "int8", "openblas", "torch-bf16", "torch-int8", "fp32/bl", "int8/fp32", "int8/t-i8"
        for (i = 1; i <= count; i++) {
            key = order[i]; split(key, p, " ")
            fp32 = ours[key " fp32"]; bf16 = ours[key " bf16"]; int8 = ours[key " int8"]
            tbf16 = torch[key " bf16"]; tint8 = torch[key " int8"]
            printf "%-3s %7s %5s %5s %7s %-10s %s %s %s %s %s %s %s %s %s\n", p[1], p[2], p[3], p[4], p[5], isa[key], \
                show(fp32), show(bf16), show(int8), show(blas[key]), show(tbf16), show(tint8), \
                ratio(fp32, blas[key]), ratio(int8, fp32), ratio(int8, tint8)
        }
    }
' "$work/openblas.txt" "$work/ours.txt" $([ -s "$work/torch.txt" ] && echo "$work/torch.txt")

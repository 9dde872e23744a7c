#!/usr/bin/env bash
# spamtuned against SpamAssassin's spamd on the same messages, machine and client.
#
#   bench/daemon.sh --model DIR [--messages 200] [--concurrency 4] [--max-tokens 128] [--precision auto] [--soak N]
#   bench/daemon.sh --checkpoint DIR [--messages 200] [--concurrency 4] [--precision auto]
#
# Both daemons are driven by the harness's spamc-bench.sh (the stock spamc, seeded 2-5 KB
# ham- and spam-like messages, concurrent loops). spamtuned serves a checkpoint over the
# given GPT-2 (a random head: speed does not depend on what it learned); SpamAssassin runs
# with local rules only (Tests/harness/spamd-loopback.sh). With --checkpoint it serves a
# model spamtune-train made instead (the scratch model reads what it was trained to read,
# so --max-tokens does not apply). Also: the milter socket
# under the same load, spamtuned's memory, and with --soak N a long run through the spamd
# socket sampling spamtuned's resident memory.
set -euo pipefail
cd "$(dirname "$0")/.."
model="" checkpoint="" messages=200 concurrency=4 max_tokens=128 soak=0 precision=auto
while [ $# -gt 0 ]; do
    case "$1" in
        --model) model=$2 ;;
        --checkpoint) checkpoint=$2 ;;
        --messages) messages=$2 ;;
        --concurrency) concurrency=$2 ;;
        --max-tokens) max_tokens=$2 ;;
        --soak) soak=$2 ;;
        --precision) precision=$2 ;;
        *) echo "daemon.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift 2
done
[ -n "$model$checkpoint" ] && [ -z "$model" -o -z "$checkpoint" ] \
    || { echo "daemon.sh: --model DIR (model.safetensors, encoder.json, vocab.bpe) or --checkpoint DIR" >&2; exit 2; }
bin=$(swift build -c release --show-bin-path)
work=/tmp/spamtune-daemon-bench
rm -rf $work && mkdir -p $work && chmod 755 $work
export SPAMTUNE_HARNESS_DIR=$work/harness SPAMD_SOCKET=$work/harness/spamd.sock
mkdir -p $SPAMTUNE_HARNESS_DIR && chmod 755 $SPAMTUNE_HARNESS_DIR

if [ -n "$model" ]; then
    $bin/spamtune-bench make-checkpoint --base "$model" --models $work/models --max-tokens $max_tokens >&2
    served=$work/models/current what="124M model, max $max_tokens tokens"
else
    served=$(cd "$checkpoint" && pwd -P)
    what="checkpoint $served ($(python3 -c "import json,sys; m=json.load(open(sys.argv[1])); c=m.get('config',{}); i=m['input']; print(f\"{c.get('layerCount','?')} blocks {c.get('embeddingSize','?')} wide, max {i['maxTokens']} tokens\")" "$served/spamtune.json" 2>/dev/null || echo "?"))"
fi
cat > $work/spamtune.conf <<CONF
checkpoint = $served
state_directory = $work/state
milter_listen = unix:$work/milter.sock
milter_socket_group = none
spamd_listen = unix:$work/spamd.sock
control_socket = $work/control.sock
threads = 2
precision = $precision
# Every message scored by the model: the same corpus goes through spamc, the milter
# and the soak, and cached verdicts would measure the cache instead.
cache_entries = 0
CONF
$bin/spamtuned --config $work/spamtune.conf 2> $work/spamtuned.log &
daemon=$!
trap 'kill $daemon 2>/dev/null || true; bash Tests/harness/spamd-loopback.sh stop >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 300); do
    grep -q "spamtuned ready" $work/spamtuned.log 2>/dev/null && break
    kill -0 $daemon 2>/dev/null || { echo "daemon.sh: spamtuned stopped before it was ready:" >&2; tail -5 $work/spamtuned.log >&2; exit 1; }
    sleep 0.2
done
rss_idle=$(awk '/VmRSS/ {print $2/1024}' /proc/$daemon/status)

echo "== spamtuned, spamc-bench $messages messages x $concurrency loops" >&2
bash Tests/harness/spamc-bench.sh $work/spamd.sock $messages $concurrency > $work/ours.txt 2>&1 || true
cat $work/ours.txt >&2
peak=$(awk '/VmHWM/ {print $2/1024}' /proc/$daemon/status)
echo "== spamtuned milter socket, $concurrency connections at a time" >&2
$bin/spamtune-bench milter-load --socket unix:$work/milter.sock --corpus $SPAMTUNE_HARNESS_DIR/bench-corpus --concurrency $concurrency > $work/milter.txt
cat $work/milter.txt >&2

echo "== SpamAssassin spamd (local rules), the same load" >&2
bash Tests/harness/spamd-loopback.sh start >&2
bash Tests/harness/spamc-bench.sh $SPAMD_SOCKET $messages $concurrency > $work/reference.txt 2>&1 || true
cat $work/reference.txt >&2
bash Tests/harness/spamd-loopback.sh stop >&2 || true

rate() { grep -E '^throughput:' "$1" | awk '{print $2}'; }
latency() { grep -E '^latency ms:' "$1" | sed 's/latency ms: //'; }
ours=$(rate $work/ours.txt) ref=$(rate $work/reference.txt)
echo "daemon  spamd socket, $messages messages, $concurrency concurrent spamc loops, $what, 2 threads, $(grep -o "computes in [a-z0-9]*" $work/spamtuned.log | head -1):"
echo "daemon    spamtuned $ours msg/s (latency ms $(latency $work/ours.txt)); errors: $(grep -E '^verdicts' $work/ours.txt | sed 's/.*errors //')"
echo "daemon    SpamAssassin spamd $ref msg/s (latency ms $(latency $work/reference.txt))"
echo "daemon    messages/s spamtuned/spamd: $(python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$ours" "$ref" 2>/dev/null || echo n/a) (goal > 1, p99 < 1000 ms)"
echo "daemon    milter: $(cat $work/milter.txt | sed 's/daemon.milter_load //')"
echo "daemon    spamtuned memory: $rss_idle MB after loading, peak $peak MB under load"

if [ "$soak" -gt 0 ]; then
    echo "== soak: $soak messages through the spamd socket" >&2
    $bin/spamtune-bench spamd-load --socket unix:$work/spamd.sock --corpus $SPAMTUNE_HARNESS_DIR/bench-corpus \
        --count $soak --concurrency $concurrency --pid $daemon > $work/soak.txt
    cat $work/soak.txt >&2
    echo "daemon    soak of $soak messages: $(grep spamd_load $work/soak.txt | sed 's/daemon.spamd_load //'); resident MB at each tenth: $(grep rss_samples $work/soak.txt | awk '{print $2}')"
fi
kill -TERM $daemon; wait $daemon 2>/dev/null || true

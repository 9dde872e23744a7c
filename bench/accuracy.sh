#!/usr/bin/env bash
# Mail accuracy: spamtune beside bogofilter and SpamAssassin Bayes-only, each trained on
# exactly the same messages and tested on the same held-out ones.
#
#   bench/accuracy.sh BIN_DIR OUT_DIR
#
# env: SA_CORPUS     a directory with the SpamAssassin public corpus parts extracted
#                    (easy_ham easy_ham_2 hard_ham spam spam_2), default
#                    ../shared/corpora/spamassassin
#      OTHER_CORPUS  another public corpus (ham/ and spam/, one message per file), for
#                    the across-corpora rows, default ../shared/corpora/other; its
#                    messages that the SpamAssassin corpus also holds are left out
#      SPAMTUNE_TRAIN_ARGS  extra spamtune-train options for every spamtune run
#
# 1. The SpamAssassin corpus split 70/30 by content hash (bench/mail_split.py): every
#    filter learns from the 70 and is scored on the 30 it never saw. spamtune-train gets
#    the 70 as --ham/--spam with --data none (it keeps its own validation share of it to
#    choose the threshold it serves); its verdicts are `spamtune classify`'s, at that
#    threshold.
# 2. Across corpora: every filter learns from the whole SpamAssassin corpus and is
#    scored on OTHER_CORPUS.
# 3. OTHER_CORPUS split 70/30 by content hash as in 1: another site's mail, each filter
#    retrained on that site's own labelled mail.
# Rows: F1, false-positive rate and recall at the served verdict, recall at a
# false-positive rate of 0.1%, and messages per second.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd); out=$2
mkdir -p "$out"; out=$(cd "$out" && pwd)
baselines=$here/../../shared/baselines
sa=${SA_CORPUS:-$here/../../shared/corpora/spamassassin}
other=${OTHER_CORPUS:-$here/../../shared/corpora/other}
extra=${SPAMTUNE_TRAIN_ARGS:-}

for tool in bogofilter sa-learn spamd; do
    command -v $tool >/dev/null || { echo "accuracy: installing bogofilter and SpamAssassin (apt)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bogofilter spamassassin spamc >&2; break; }
done
[ -d "$sa/easy_ham" ] || { echo "accuracy: skipped: no SpamAssassin corpus in $sa (set SA_CORPUS)"; exit 0; }

parts() { # LABEL=DIR arguments for the parts of the SpamAssassin corpus that exist
    for p in easy_ham easy_ham_2 hard_ham; do [ -d "$sa/$p" ] && printf 'ham=%s ' "$sa/$p"; done
    for p in spam spam_2; do [ -d "$sa/$p" ] && printf 'spam=%s ' "$sa/$p"; done
}

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$1" "$2"; }

# spamtune: train with spamtune-train's ARGS, score SPLIT/test; writes DIR/pred.tsv and DIR/seconds.
spamtune_run() {
    local split=$1 dir=$2; shift 2
    rm -rf "$dir"; mkdir -p "$dir"
    # shellcheck disable=SC2086
    "$bin/spamtune-train" --state-dir "$dir/state" --base scratch --offline "$@" $extra > "$dir/train.log" 2>&1 \
        || { tail -5 "$dir/train.log" >&2; return 1; }
    local t0 t1
    t0=$(now)
    for label in ham spam; do
        find "$split/test/$label" -type f | sort | xargs "$bin/spamtune" classify --checkpoint "$dir/state/models/current" \
            | python3 -c "
import sys, json
for line in sys.stdin:
    o = json.loads(line)
    print('$label\t%s\t%s\t%s' % (o['label'], o['spam_probability'], o['source']))"
    done > "$dir/pred.tsv"
    t1=$(now)
    elapsed "$t0" "$t1" > "$dir/seconds"
}

row() { python3 "$here/mail_metrics.py" "$1" "$2/$3" "$(cat "$2/seconds")"; }

baselines_on() { # SPLIT OUT: bogofilter and SpamAssassin Bayes-only rows
    bash "$baselines/bogofilter_eval.sh" "$1" "$2/bogofilter" >&2
    row "bogofilter" "$2/bogofilter" pred_t05.tsv
    # bogofilter scores exactly 0.5 when a message has strong evidence both ways (ham and
    # spam chi-square both saturate), and its own verdict there is Unsure; the row above
    # counts those ties as spam, this one as ham, so both readings of the baseline show.
    awk -F'\t' '{print $1"\t"(($3 > 0.5) ? "spam" : "ham")"\t"$3"\t"$4}' "$2/bogofilter/pred_default.tsv" > "$2/bogofilter/pred_above05.tsv"
    row "bogofilter, ties at 0.5 as ham" "$2/bogofilter" pred_above05.tsv
    # sa_eval.sh reads *.eml; bogofilter's directory mode reads only numbered (MH) names.
    local named=$2/sa-split
    rm -rf "$named"
    for part in train/ham train/spam test/ham test/spam; do
        mkdir -p "$named/$part"
        for file in "$1/$part"/*; do ln "$file" "$named/$part/$(basename "$file").eml"; done
    done
    # Its verdict at a Bayes probability of 0.5 or more, as bogofilter's at a score of 0.5.
    bash "$baselines/sa_eval.sh" "$named" "$2/sa" bayesonly >&2 \
        && row "SpamAssassin Bayes-only" "$2/sa/score_bayesonly" pred_bayesprob.tsv \
        && row "SpamAssassin Bayes, ties as ham" "$2/sa/score_bayesonly" pred_bayesprob_gt05.tsv
}

echo "== SpamAssassin corpus, split 70/30 by content hash"
# shellcheck disable=SC2046
python3 "$here/mail_split.py" "$out/sa-split" $(parts)
spamtune_run "$out/sa-split" "$out/sa-spamtune" --data none --ham "$out/sa-split/train/ham" --spam "$out/sa-split/train/spam"
row "spamtune (scratch)" "$out/sa-spamtune" pred.tsv
# The same test messages in each precision, against fp32's verdicts, and what training recorded.
for p in fp32 int8 bf16; do
    find "$out/sa-split/test" -type f | sort | xargs "$bin/spamtune" classify --checkpoint "$out/sa-spamtune/state/models/current" \
        --precision $p > "$out/sa-spamtune/classify-$p.jsonl"
done
echo "spamtune precision on this test split: $(python3 "$here/precision_agreement.py" compare "$out/sa-spamtune/classify-fp32.jsonl" \
    "$out/sa-spamtune/classify-int8.jsonl" "$out/sa-spamtune/classify-bf16.jsonl")"
echo "spamtune precision $(python3 "$here/precision_agreement.py" record "$out/sa-spamtune/state/models/current")"
baselines_on "$out/sa-split" "$out/sa"

if [ -d "$other/ham" ] && [ -d "$other/spam" ]; then
    echo "== across corpora: trained on the whole SpamAssassin corpus, scored on $(basename "$other")"
    cross=$out/cross-split
    rm -rf "$cross"
    # shellcheck disable=SC2046
    python3 "$here/mail_split.py" "$cross/train-side" $(parts) --all-train >/dev/null
    python3 "$here/mail_split.py" "$cross/test-side" ham="$other/ham" spam="$other/spam" --all-test --exclude "$sa"
    mkdir -p "$cross/split"
    mv "$cross/train-side/train" "$cross/split/train"; mv "$cross/test-side/test" "$cross/split/test"
    spamtune_run "$cross/split" "$out/cross-spamtune" --data none --ham "$cross/split/train/ham" --spam "$cross/split/train/spam"
    row "spamtune (scratch)" "$out/cross-spamtune" pred.tsv
    baselines_on "$cross/split" "$out/cross"
    echo "== $(basename "$other") split 70/30 by content hash: another site's mail, trained on its own"
    python3 "$here/mail_split.py" "$out/other-split" ham="$other/ham" spam="$other/spam"
    spamtune_run "$out/other-split" "$out/other-spamtune" --data none --ham "$out/other-split/train/ham" --spam "$out/other-split/train/spam"
    row "spamtune (scratch)" "$out/other-spamtune" pred.tsv
    baselines_on "$out/other-split" "$out/other"
    echo "== out of the box: the default run offline (no mail corpus cached: the SMS collection only), scored on $(basename "$other")"
    spamtune_run "$cross/split" "$out/box-spamtune" --data sms
    row "spamtune (scratch, SMS only)" "$out/box-spamtune" pred.tsv
else
    echo "accuracy: across corpora skipped: no ham/ and spam/ in $other (set OTHER_CORPUS)"
fi

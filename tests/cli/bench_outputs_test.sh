#!/bin/sh
# `zemla bench` outputs (issue 22 item 7): an output path that cannot be
# made, or a file that exists, is refused (exit 2) before the sweep runs
# and the file is left as it was; rows reach --csv and --json-out as each
# case completes, so an interrupted sweep keeps them; without a known
# roofline the CSV's percentages are blank, not 0; progress reaches a log
# that is not a terminal.
#   bench_outputs_test.sh ZEMLA WORKDIR
set -u
zemla=$1
work=$2
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
one="--heads 16 --batch 1 --seqlens 64 --iters 1 --warmup 0"

# shellcheck disable=SC2086
"$zemla" bench $one --csv missing/dir/a.csv >/dev/null 2>err.txt
rc=$?
[ "$rc" -eq 2 ] && grep -q "missing/dir/a.csv: cannot create it" err.txt || fail "missing directory gave exit $rc"
echo "the user's data" > kept.csv
# shellcheck disable=SC2086
"$zemla" bench $one --json-out kept.csv >/dev/null 2>err.txt
rc=$?
[ "$rc" -eq 2 ] && grep -q "already exists; zemla does not overwrite files" err.txt || fail "existing file: exit $rc"
[ "$(cat kept.csv)" = "the user's data" ] || fail "an existing file was changed"

# shellcheck disable=SC2086
"$zemla" bench $one --csv blank.csv >/dev/null 2>progress.txt || fail "bench exited $?"
tail -n 1 blank.csv | grep -q ',,,$' || fail "no roofline should leave %BW blank: $(tail -n 1 blank.csv)"
grep -q '^\[1/1\] H16 B1 len 64 q1 bf16: ' progress.txt || fail "no progress line on a non-terminal stderr"

# A long sweep, interrupted once two rows are in: the rows stay, complete.
"$zemla" bench --heads 16 --batch 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16 --seqlens 2048,4096,8192 --iters 3 \
  --warmup 0 --csv part.csv --json-out part.json >/dev/null 2>&1 &
pid=$!
tries=0
while [ "$(wc -l < part.csv 2>/dev/null || echo 0)" -lt 3 ] && [ "$tries" -lt 600 ]; do
  sleep 0.05
  tries=$((tries + 1))
done
kill -TERM "$pid" 2>/dev/null  # a background job of a script ignores SIGINT
wait "$pid"
rows=$(($(wc -l < part.csv) - 1))
[ "$rows" -ge 2 ] && [ "$rows" -lt 48 ] || fail "interrupted sweep kept $rows rows (expected some, not all 48)"
awk -F, 'NR > 1 && NF != 14 { exit 1 }' part.csv || fail "a CSV row is incomplete"
python3 -c "import json, sys; r = json.load(open('part.json')); sys.exit(0 if not r['complete'] and len(r['cases']) >= 1 else 1)" ||
  fail "the JSON of an interrupted sweep does not hold its cases"
echo PASS

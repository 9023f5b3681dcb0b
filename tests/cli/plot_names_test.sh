#!/bin/sh
# `zemla bench --plot`: file names reach gnuplot as data, never as commands
# (issue 22 item 8). Names holding a quote and a system() call must give a
# plot under exactly those names, and no file the injected command would
# have made; a name with a line break is refused (exit 2).
#   plot_names_test.sh ZEMLA WORKDIR
set -u
zemla=$1
work=$2
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
csv="a'; system('touch injected'); b='.csv"
png="p'; system('touch injected'); q='.png"
"$zemla" bench --heads 16 --batch 1 --seqlens 64 --iters 1 --warmup 0 --csv "$csv" --plot "$png" >/dev/null
rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: bench with quoted names exited $rc"; exit 1; }
[ ! -e injected ] || { echo "FAIL: a file name ran a gnuplot command"; exit 1; }
[ -s "$png" ] || { echo "FAIL: no plot under the quoted name"; exit 1; }
"$zemla" bench --heads 16 --batch 1 --seqlens 64 --iters 1 --csv x.csv --plot "$(printf 'two\nlines.png')" \
  >/dev/null 2>err.txt
rc=$?
[ "$rc" -eq 2 ] && grep -q "line break" err.txt || { echo "FAIL: a line break in --plot gave exit $rc"; exit 1; }
echo PASS

#!/usr/bin/env bash
# analyze_fragmentation_over_time on the fragmentation workload, every
# strategy: CSV rows per strategy, a PNG chart, heap maps, summary.md.
set -euo pipefail
REPLAY="$(realpath "$1")"
FRAG="$(realpath "$2")"
OUT="${TEST_TMPDIR:-$(mktemp -d)}/frag"
/usr/bin/python3 "$FRAG" --replay "$REPLAY" --workload fragmentation --count 20000 --every 500 \
  --heap-map-at 20000 --out "$OUT"
n=$("$REPLAY" --list | wc -l)
got=$(cut -d, -f1 "$OUT/fragmentation.csv" | sort -u | grep -vc strategy)
[[ "$got" -eq "$n" ]] || { echo "FAIL: $got strategies in the CSV, $n registered"; exit 1; }
for f in fragmentation.png heap_first_fit.png summary.md; do
  [[ -s "$OUT/$f" ]] || { echo "FAIL: $f missing"; ls "$OUT"; exit 1; }
done
file "$OUT/fragmentation.png" 2>/dev/null | grep -q PNG || head -c 8 "$OUT/fragmentation.png" | grep -q PNG
echo PASS

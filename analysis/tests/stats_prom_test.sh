#!/usr/bin/env bash
# SA_STATS=prom:...,json:...,interval:1 in a preloaded program: the files
# appear while it runs (periodic writes), are replaced atomically (no .tmp
# left), hold valid JSON and pass `promtool check metrics`.
set -euo pipefail
SO="$(realpath "$1")"
WORK="${TEST_TMPDIR:-$(mktemp -d)}/stats"
mkdir -p "$WORK"
cd "$WORK"
command -v promtool >/dev/null || { echo "FAIL: promtool missing (Debian package prometheus; ./bazelw installs it)"; exit 1; }

# A program that allocates for ~2.5 s.
SA_STATS="prom:$WORK/heap.prom,json:$WORK/heap-%p.json,interval:1" LD_PRELOAD="$SO" \
  /usr/bin/python3 -c '
import time
t = time.time(); keep = []
while time.time() - t < 2.5:
    keep.append([str(i) * 3 for i in range(200)])
    if len(keep) > 300: keep = keep[150:]
print("ok")' > out.txt &
pid=$!
sleep 1.6
[[ -s heap.prom ]] || { echo "FAIL: heap.prom not written while the program runs"; exit 1; }
cp heap.prom during.prom
wait $pid
grep -q ok out.txt
json=(heap-*.json)
[[ -s heap.prom && -s "${json[0]}" ]] || { echo "FAIL: files missing after exit: $(ls)"; exit 1; }
if ls ./*.tmp.* >/dev/null 2>&1; then echo "FAIL: temporary files left: $(ls)"; exit 1; fi
echo "--- heap.prom (final):"
head -n 12 heap.prom
for f in during.prom heap.prom; do
  echo "--- promtool check metrics < $f"
  if ! out="$(promtool check metrics < "$f" 2>&1)"; then
    echo "FAIL: promtool: $out"; exit 1
  fi
  echo "${out:-(no problems)}"
done
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["total_allocations"] > 1000, d; print("json ok:", d["strategy"], d["total_allocations"], "allocations")' "${json[0]}"
# Periodic: the final file counts more allocations than the one read during the run.
during=$(awk '/^stratalloc_allocations_total/ {print $2}' during.prom | head -1)
final=$(awk '/^stratalloc_allocations_total/ {print $2}' heap.prom | head -1)
echo "total_allocations during the run: $during, at exit: $final"
/usr/bin/python3 -c 'import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); sys.exit(0 if b > a > 0 else 1)' "$during" "$final" \
  || { echo "FAIL: the exit write did not update the file"; exit 1; }
# A malformed SA_STATS is reported, the program still runs.
SA_STATS="bogus:1" LD_PRELOAD="$SO" /bin/true 2> err.txt
grep -q "SA_STATS: bad item" err.txt || { echo "FAIL: no message for a bad SA_STATS"; cat err.txt; exit 1; }
echo PASS

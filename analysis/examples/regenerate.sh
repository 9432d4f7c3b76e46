#!/usr/bin/env bash
# Regenerates analysis/examples/ (run from the repository root, ~1 minute):
# a python3 trace replayed on every strategy, its recommendation, the
# fragmentation chart and heap maps, the pressure report, promtool's verdict
# on SA_STATS output and the gdb command's output.
set -euo pipefail
cd "$(dirname "$0")/../.."
# BAZEL_ARGS: e.g. "--output_base=/tmp/ob" (startup options) to use a separate server.
./bazelw ${BAZEL_ARGS:-} build //analysis:all
BIN="$(./bazelw ${BAZEL_ARGS:-} info bazel-bin 2>/dev/null)"
EX=analysis/examples
T="$(mktemp -d)"
PROG='
import json, re, collections
d = [{"id": i, "name": "item%d" % i, "tags": ["t%d" % (i % 13)] * (i % 5), "blob": "x" * (i % 700)} for i in range(40000)]
s = json.dumps(d)
back = json.loads(s)
idx = collections.defaultdict(list)
for o in back:
    for t in o["tags"]: idx[t].append(o["id"])
words = re.findall(r"item\d+", s)
print(len(back), len(idx), len(words))'
SA_TRACE="$T/python.satrace" LD_PRELOAD="$BIN/analysis/libsa_trace.so" PYTHONMALLOC=malloc /usr/bin/python3 -c "$PROG"
{
  echo '# A real program traced and replayed on every strategy'
  echo
  echo 'python3 (PYTHONMALLOC=malloc) building, serializing, parsing and indexing 40k JSON objects:'
  echo
  echo '```sh'
  echo 'SA_TRACE=/tmp/python.satrace LD_PRELOAD=bazel-bin/analysis/libsa_trace.so PYTHONMALLOC=malloc python3 -c "$PROG"'
  echo './bazelw run //analysis:trace_summary -- /tmp/python.satrace'
  echo 'bazel-bin/analysis/replay --trace /tmp/python.satrace --repeat 5'
  echo '```'
  echo
  echo '```'
  /usr/bin/python3 analysis/tools/trace_summary.py "$T/python.satrace" --plot "$EX/python_trace_summary.png"
  echo '```'
  echo
  echo '![summary](python_trace_summary.png)'
  echo
  "$BIN/analysis/replay" --trace "$T/python.satrace" --repeat 5
} > "$EX/replay_python.md"
/usr/bin/python3 analysis/tools/recommend.py --replay "$BIN/analysis/replay" "$T/python.satrace" \
  --markdown "$EX/recommend_python.md" > /dev/null
/usr/bin/python3 analysis/tools/fragmentation.py --replay "$BIN/analysis/replay" --workload fragmentation \
  --heap-map-at 60000 --out "$T/frag" > /dev/null
mkdir -p "$EX/fragmentation"
cp "$T/frag/fragmentation.csv" "$T/frag/fragmentation.png" "$T/frag/heap_first_fit.png" \
   "$T/frag/heap_buddy.png" "$T/frag/heap_segregated.png" "$EX/fragmentation/"
grep -v "heap map thread_cache" "$T/frag/summary.md" > "$EX/fragmentation/summary.md"
"$BIN/analysis/pressure_report" --markdown "$EX/pressure.md" > /dev/null
SA_STATS="prom:$T/heap.prom,json:$T/heap.json,interval:1" LD_PRELOAD="$BIN/analysis/libsa_first_fit_stats.so" \
  PYTHONMALLOC=malloc /usr/bin/python3 -c "$PROG" > /dev/null
{
  echo '$ SA_STATS=prom:/tmp/heap.prom,json:/tmp/heap.json,interval:1 LD_PRELOAD=bazel-bin/analysis/libsa_first_fit_stats.so PYTHONMALLOC=malloc python3 -c "$PROG"'
  echo '$ promtool check metrics < /tmp/heap.prom; echo "exit $?"'
  promtool check metrics < "$T/heap.prom" 2>&1; echo "exit $?"
  echo "\$ promtool --version | head -1"
  promtool --version 2>&1 | head -1
  echo '$ cat /tmp/heap.prom'
  cat "$T/heap.prom"
} > "$EX/promtool.txt"
gdb -batch -nx -x analysis/gdb/sa_heap.py -ex "break sa_gdb_ready" -ex run -ex "sa-heap" -ex "sa-heap stats" \
  -ex "gcore $T/core" -ex kill "$BIN/analysis/gdb_target" 2>&1 | grep -v "^\[\|libthread_db\|No such file" > "$EX/gdb_live.txt" || true
gdb -batch -nx -x analysis/gdb/sa_heap.py -ex "sa-heap all" "$BIN/analysis/gdb_target" "$T/core" 2>&1 \
  | grep -v "^\[\|libthread_db\|No such file" > "$EX/gdb_core.txt" || true
rm -rf "$T"
echo "wrote $EX"

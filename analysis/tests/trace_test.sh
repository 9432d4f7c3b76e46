#!/usr/bin/env bash
# Traces of real programs: python3 (PYTHONMALLOC=malloc), sqlite3, xz -T2
# (threads) and the bench driver's producer_consumer (frees across threads)
# recorded with libsa_trace.so, then
# summarized and replayed on every registered strategy (replay exits 1 if any
# check fails). Then corrupt and truncated traces: a clear error naming the
# offset, exit status 2, never a crash.
set -euo pipefail
TRACE_SO="$(realpath "$1")"
REPLAY="$(realpath "$2")"
SUMMARY="$(realpath "$3")"
RECOMMEND="$(realpath "$4")"
DRIVER="$(realpath "$5")"
WORK="${TEST_TMPDIR:-$(mktemp -d)}/trace"
mkdir -p "$WORK"
cd "$WORK"
export LC_ALL=C HOME="$WORK" TMPDIR="$WORK"

record() {  # record NAME cmd...
  local name="$1"; shift
  echo "== recording $name: $*"
  SA_TRACE="$WORK/$name.satrace" LD_PRELOAD="$TRACE_SO" "$@" > "$name.out"
  ls -l "$name.satrace"
}

record python env PYTHONMALLOC=malloc /usr/bin/python3 -c '
import json, re
d = [{"k%d" % i: [i] * (i % 7), "s": "x" * (i % 300)} for i in range(3000)]
s = json.dumps(d); assert json.loads(s) == d
print(len(re.findall(r"k\d+", s)))'
record sqlite sqlite3 :memory: "create table t(a, b); with recursive c(x) as (select 1 union all select x+1 from c where x < 5000) insert into t select x, hex(randomblob(x % 200)) from c; create index i on t(b); select count(*), sum(length(b)) from t;"
head -c 3000000 /dev/urandom > data.bin
record xz xz -T2 --block-size=262144 -3 -c data.bin
[[ -s xz.out ]]
# Frees on another thread than the allocation: the bench driver's
# producer/consumer workload (4 threads) through libc malloc.
record threads "$DRIVER" --workload producer_consumer --threads 4 --count 20000

for t in python sqlite xz threads; do
  echo "== summary of $t"
  /usr/bin/python3 "$SUMMARY" "$t.satrace" --json "$t.summary.json" | head -n 8
  echo "== replay of $t on every strategy"
  "$REPLAY" --trace "$t.satrace" --every 2000
done
# xz -T2 allocates in two threads at least; producer_consumer frees across threads.
/usr/bin/python3 - <<'PY'
import json
p = json.load(open("xz.summary.json"))["profile"]
assert p["alloc_threads"] >= 2, p
print("xz: %d allocating threads, %.1f%% cross-thread frees" % (p["alloc_threads"], 100 * p["cross_thread_free_share"]))
p = json.load(open("threads.summary.json"))["profile"]
assert p["alloc_threads"] >= 2 and p["cross_thread_free_share"] > 0.5, p
print("producer_consumer: %.1f%% cross-thread frees" % (100 * p["cross_thread_free_share"]))
p = json.load(open("python.summary.json"))["profile"]
assert p["allocations"] > 10000 and p["reallocs"] > 0, p
PY

echo "== recommendation for sqlite, checked by replay"
/usr/bin/python3 "$RECOMMEND" --replay "$REPLAY" --repeat 1 sqlite.satrace --json rec.json | tail -n 8
/usr/bin/python3 -c 'import json; r=json.load(open("rec.json")); assert r["check"]["recommended"]["ok"]; print("recommended", r["strategy"], r["sa_conf"])'

echo "== corrupt and truncated traces"
expect_error() {  # expect_error FILE PATTERN
  local rc=0
  "$REPLAY" --trace "$1" > replay.out 2> replay.err || rc=$?
  [[ $rc -eq 2 ]] || { echo "FAIL: replay of $1 exited $rc, not 2"; cat replay.err; exit 1; }
  grep -q "$2" replay.err || { echo "FAIL: replay of $1: no '$2' in: $(cat replay.err)"; exit 1; }
  echo "replay:  $(cat replay.err)"
  rc=0
  /usr/bin/python3 "$SUMMARY" "$1" > sum.out 2> sum.err || rc=$?
  [[ $rc -eq 2 ]] || { echo "FAIL: trace_summary of $1 exited $rc, not 2"; cat sum.err; exit 1; }
  grep -q "offset" sum.err || { echo "FAIL: trace_summary of $1: $(cat sum.err)"; exit 1; }
  echo "summary: $(cat sum.err)"
}
size=$(stat -c %s sqlite.satrace)
head -c $((size / 2)) sqlite.satrace > truncated.satrace
expect_error truncated.satrace "truncated chunk at offset"
head -c 30 sqlite.satrace > header.satrace
expect_error header.satrace "truncated header at offset 0"
cp sqlite.satrace corrupt.satrace
printf '\x99\x99\x99\x99' | dd of=corrupt.satrace bs=1 seek=48 conv=notrunc status=none
expect_error corrupt.satrace "bad chunk magic .* at offset 48"
cp sqlite.satrace flipped.satrace
printf '\x42' | dd of=flipped.satrace bs=1 seek=$((48 + 16 + 100)) conv=notrunc status=none
rc=0; "$REPLAY" --trace flipped.satrace > /dev/null 2> flipped.err || rc=$?
[[ $rc -eq 2 ]] && grep -q "offset 48" flipped.err || { echo "FAIL: flipped byte: rc $rc $(cat flipped.err)"; exit 1; }
echo "replay:  $(cat flipped.err)"
printf 'not a trace at all, just some text here......................' > text.satrace
expect_error text.satrace "bad magic at offset 0"
echo PASS

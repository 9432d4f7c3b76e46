#!/usr/bin/env bash
# Smoke test of //bench:strategy_benchmark: a few very short cases must run,
# exit 0, print JSON naming the system baseline and every strategy listed in
# strategies/variants.bzl (passed as arguments by bench/BUILD), with no errors,
# and bench/ratio.py must turn that JSON into a table with a ratio per strategy.
#
# usage: strategy_benchmark_smoke.sh BENCHMARK RATIO_PY STRATEGY...
set -euo pipefail

bench="$1"
ratio="$2"
shift 2
if [[ $# -eq 0 ]]; then
  echo "FAIL: no strategy names given" >&2
  exit 1
fi

out="${TEST_TMPDIR:-$(mktemp -d)}/smoke.json"
# malloc_free_loop at one size, and mixed (slot table, checkpoint sampling).
"$bench" --benchmark_min_time=0.01 \
  --benchmark_filter='^(malloc_free_loop/[^/]+/64|mixed/[^/]+/100000)$' \
  --benchmark_format=json >"$out"

fail=0
check() {  # check NAME: one result line for this benchmark name
  if ! grep -q "\"name\": \"$1\"" "$out"; then
    echo "FAIL: no result for $1" >&2
    fail=1
  fi
}
for allocator in system "$@"; do
  check "malloc_free_loop/$allocator/64"
  check "mixed/$allocator/100000"
done
if grep -q '"error_occurred": true' "$out"; then
  echo "FAIL: a benchmark reported an error:" >&2
  grep -A1 '"error_occurred": true' "$out" >&2
  fail=1
fi
for counter in items_per_second ops_per_iter peak_mapped_bytes fragmentation_pct; do
  if ! grep -q "\"$counter\"" "$out"; then
    echo "FAIL: counter $counter missing" >&2
    fail=1
  fi
done

table="$(python3 "$ratio" "$out")"
echo "$table"
for allocator in "$@"; do
  # workload | arg | allocator | ns/op | cv | ratio: the ratio cell is a number.
  # Names may hold regex characters ("thread_cache+segregated"): escape them.
  pattern="$(sed 's/[][\.*^$+?(){}|]/\\&/g' <<<"$allocator")"
  if ! grep -Eq "^\| malloc_free_loop +\| 64 +\| $pattern +\| [0-9.]+ +\|[^|]*\| [0-9]+\.[0-9]+ " <<<"$table"; then
    echo "FAIL: ratio.py printed no ratio for $allocator" >&2
    fail=1
  fi
done

if [[ $fail -ne 0 ]]; then
  echo "--- benchmark output ---" >&2
  cat "$out" >&2
  exit 1
fi
echo "PASS: system and $# strategies: $*"

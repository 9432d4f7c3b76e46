#!/usr/bin/env bash
# GNU sort on ~2M generated lines with a small buffer (-S), so that it sorts
# runs, spills them to temporary files and merges them, with two threads;
# several keys. The outputs' checksums with LD_PRELOAD of a libsa_*.so must
# equal the system allocator's.
# Usage: sort_test.sh path/to/libsa_NAME.so [lines]
set -euo pipefail
source tests/preload/lib.sh
preload_init "$1"
LINES="${2:-2000000}"

# Deterministic input: words of varying length, numbers, repeated keys.
awk -v n="$LINES" 'BEGIN {
  x = 12345
  for (i = 1; i <= n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648
    len = 3 + x % 23
    w = ""
    for (j = 0; j < len; j += 4) w = w sprintf("%c%c%c%c", 97 + (x + j) % 26, 97 + (x / 7 + j) % 26, 65 + (x / 13) % 26, 48 + j % 10)
    printf "%s %d %s%d\n", substr(w, 1, len), x % 100000, (i % 3 ? "k" : "K"), x % 997
  }
}' >"$WORK/input.txt"
echo "input: $(wc -l <"$WORK/input.txt") lines, $(wc -c <"$WORK/input.txt") bytes"
assert_interposed sort /dev/null

mkdir -p "$WORK/sorttmp"
sorts() {
  # one line per sort: its name and the checksum of its output
  local out="$WORK/sorted"
  sort -S 2M -T "$WORK/sorttmp" --parallel=2 "$WORK/input.txt" >"$out"
  echo "plain $(sha256sum <"$out")"
  sort -S 1M -T "$WORK/sorttmp" --parallel=2 -k2,2n -k1,1r "$WORK/input.txt" >"$out"
  echo "keys $(sha256sum <"$out")"
  sort -S 4M -T "$WORK/sorttmp" -u -k3,3 "$WORK/input.txt" >"$out"
  echo "unique $(sha256sum <"$out")"
  sort -S 1M -T "$WORK/sorttmp" -f -s -t' ' -k1,1 "$WORK/input.txt" | sort -c -f -s -t' ' -k1,1
  echo "check ok"
  rm -f "$out"
}
export -f sorts
export WORK
run_system sort bash -c sorts
run_preload sort bash -c sorts
cat "$WORK/sort.preload.out"
assert_same sort
[[ $SYSTEM_RC == 0 ]] || preload_fail "sort failed on the system allocator"
echo "PASS"

#!/usr/bin/env bash
# Multi-threaded xz (-T2, 1 MiB blocks so both threads work) compresses and
# decompresses some MB of generated data with LD_PRELOAD of a libsa_*.so; the
# compressed stream must equal the system allocator's and the round trip
# must give the input back.
# Usage: xz_test.sh path/to/libsa_NAME.so [MB]
set -euo pipefail
source tests/preload/lib.sh
preload_init "$1"
MB="${2:-12}"

# Half compressible text, half pseudo-random bytes.
awk -v n=$((MB * 1024 * 1024 / 2 / 60)) 'BEGIN {
  x = 7
  for (i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648
    printf "%08d the quick brown fox %d jumps over the lazy dog %06x\n", i, x % 1000, x % 16777216
  }
}' >"$WORK/input"
head -c $((MB * 1024 * 1024 / 2)) /dev/urandom >>"$WORK/input"
echo "input: $(wc -c <"$WORK/input") bytes, sha256 $(sha "$WORK/input")"
assert_interposed xz -c /dev/null

roundtrip() {
  xz -T2 --block-size=1MiB -3 -c "$WORK/input" >"$WORK/input.$1.xz"
  echo "compressed $(sha256sum <"$WORK/input.$1.xz")"
  xz -T2 -d -c "$WORK/input.$1.xz" | sha256sum | sed 's/^/decompressed /'
  xz -t -T2 "$WORK/input.$1.xz" && echo "integrity ok"
  rm -f "$WORK/input.$1.xz"
}
export -f roundtrip
export WORK
run_system xz bash -c 'roundtrip system'
run_preload xz bash -c 'roundtrip preload'
cat "$WORK/xz.preload.out"
assert_same xz
[[ $SYSTEM_RC == 0 ]] || preload_fail "xz failed on the system allocator"
grep -q "^decompressed $(sha "$WORK/input") " "$WORK/xz.preload.out" ||
  preload_fail "xz round trip with LD_PRELOAD does not give the input back"
echo "PASS"

#!/usr/bin/env bash
# g++ -std=c++17 -O1 compiles and links templates.cc with UNITS distinct
# template units (4 at scale 1, one of each kind; each instantiates std::map / unordered_map /
# vector+sort / variant+visit code for its own types; plus constexpr tables
# checked by static_assert); g++ runs cc1plus, as and collect2/ld, all under
# the same LD_PRELOAD. Then the program runs, and its printed total must
# equal the one python3 computes from the same formula.
# Metrics: compile_ms (the g++ command alone).
source "${APPS:-$(dirname "$0")}/lib.sh"
GXX=/usr/bin/g++
PY=/usr/bin/python3
[[ -x $GXX ]] || die "$GXX not found (Debian package g++)"
[[ -x $PY ]] || die "$PY not found (Debian package python3)"

UNITS=$(scaled 4 1)
export TMPDIR="$PWD"
t0=$(now_ns)
"$GXX" -std=c++17 -O1 -DUNITS="$UNITS" -o templates "$APPS/templates.cc" >&2 ||
  die "g++ failed (exit $?)"
t1=$(now_ns)
./templates >out.txt || die "the compiled program failed (exit $?)"

expected=$("$PY" -s -c '
import sys
MOD, m = 1000000007, 100003
total = 0
for i in range(int(sys.argv[1])):
    n, p = 200 + 37 * (i % 11), 7919 + 2 * i
    h = i
    for k in sorted(j * p % m for j in range(n)):
        h = (h * 31 + k + (len("r%d" % k) if k % 3 == 0 else 0)) % MOD
    total = (total * 1000003 + h) % MOD
print("units %d\nprimes 783 2174734\nfib90 %d\ntotal %d" % (int(sys.argv[1]), 2880067194370816120 % MOD, total))
' "$UNITS")
[[ $(cat out.txt) == "$expected" ]] || die "the program printed:
$(cat out.txt)
expected:
$expected"
cat out.txt
metric compile_ms "$(((t1 - t0) / 1000000))"

#!/usr/bin/env bash
# /usr/bin/python3 with PYTHONMALLOC=malloc (every object through malloc)
# runs modules of its own test suite with LD_PRELOAD of a libsa_*.so; the
# pass/fail summary must equal the one on the system allocator. A ctypes
# probe first checks that the preloaded stratalloc serves python's malloc.
# Usage: python_test.sh path/to/libsa_NAME.so
set -euo pipefail
source tests/preload/lib.sh
preload_init "$1"

PY=/usr/bin/python3
[[ -x $PY ]] || preload_fail "$PY not found"
[[ -f /usr/lib/python3.11/test/test_json/__init__.py ]] ||
  preload_fail "python's test suite is missing (Debian package libpython3.11-testsuite; ./bazelw installs it)"

export PYTHONMALLOC=malloc PYTHONDONTWRITEBYTECODE=1 PYTHONNOUSERSITE=1 PYTHONHASHSEED=0
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP

# 1. The preloaded library serves malloc: it is mapped, sa_process_heap() is
#    found, and its heap has counted allocations.
cat >"$WORK/probe.py" <<'PY'
import ctypes, sys
maps = open("/proc/self/maps").read()
if "libsa_" not in maps:
    sys.exit("probe: no libsa_*.so in /proc/self/maps")
lib = ctypes.CDLL(None)
try:
    heap_fn = lib.sa_process_heap
except AttributeError:
    sys.exit("probe: sa_process_heap not found in the process")
heap_fn.restype = ctypes.c_void_p
heap = heap_fn()
if not heap:
    sys.exit("probe: sa_process_heap() returned NULL")
data = [bytes(i % 251 for i in range(n)) for n in range(0, 3000, 7)]  # allocate
write = lib.sa_stats_write
write.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
if write(heap, 1, sys.stdout.fileno()) != 0:   # SA_FORMAT_JSON
    sys.exit("probe: sa_stats_write failed")
check = lib.sa_check
check.restype = ctypes.c_size_t
check.argtypes = [ctypes.c_void_p]
failures = check(heap)
print()
print("sa_check failures:", failures)
sys.exit(1 if failures else 0)
PY
echo "== probe: ctypes finds the preloaded heap"
if ! LD_PRELOAD="$SO" "$PY" "$WORK/probe.py" >"$WORK/probe.out" 2>&1; then
  cat "$WORK/probe.out" >&2
  preload_fail "python probe"
fi
cat "$WORK/probe.out"
total=$(grep -o '"total_allocations"[ :]*[0-9]*' "$WORK/probe.out" | grep -o '[0-9]*$' || true)
[[ -n "$total" && "$total" -gt 0 ]] ||
  preload_fail "total_allocations of the process heap is '${total}', expected > 0"
assert_interposed "$PY" -c 'print(1)'

# 2. The test suite, same modules on both allocators.
TESTS=(test_json test_re test_heapq test_bisect test_collections test_struct test_dict
       test_list test_set test_unicode test_bytes test_itertools test_functools test_deque
       test_threading)
run_system suite "$PY" -m test "${TESTS[@]}"
run_preload suite "$PY" -m test "${TESTS[@]}"

# The summary from "== Tests result" on, without durations.
summary() {
  sed -n '/^== Tests result/,$p' | grep -v -e '^Total duration' -e '^$' -e 'slowest' \
    -e '^- test_.*sec$' -e '^- test_.*ms$'
}
for kind in system preload; do
  if ! grep -q '^== Tests result' "$WORK/suite.$kind.out"; then
    echo "---- $kind run printed no test summary; stdout/stderr tail:" >&2
    tail -n 30 "$WORK/suite.$kind.out" "$WORK/suite.$kind.err" >&2
    preload_fail "python test suite ($kind) did not finish"
  fi
done
echo "---- summary on the system allocator:"
summary <"$WORK/suite.system.out"
assert_same suite summary
echo "PASS"

#!/usr/bin/env bash
# sa-heap in gdb batch mode: on a live process stopped at a breakpoint, and on
# a core file written by gcore from it.
set -euo pipefail
TARGET="$(realpath "$1")"
SCRIPT="$(realpath "$2")"
WORK="${TEST_TMPDIR:-$(mktemp -d)}/gdb"
mkdir -p "$WORK"
cd "$WORK"
gdb -batch -nx -x "$SCRIPT" -ex "break sa_gdb_ready" -ex run -ex "sa-heap" -ex "sa-heap dump" \
  -ex "gcore $WORK/core" -ex kill "$TARGET" > live.out 2>&1 || true
grep -v "^0x[0-9a-f]* [0-9]* \(used\|free\)$" live.out | head -n 30
grep -q "strategy first_fit (live process)" live.out || { echo "FAIL: no live summary"; exit 1; }
grep -q "large objects: 2 allocated, 0 freed, 2 live" live.out || { echo "FAIL: large objects"; exit 1; }
used=$(grep -c "^0x[0-9a-f]* [0-9]* used$" live.out || true)
echo "dump: $used used blocks"
[[ "$used" -ge 669 ]] || { echo "FAIL: the dump shows $used used blocks, want >= 669"; exit 1; }
[[ -s core ]] || { echo "FAIL: gcore wrote no core"; exit 1; }
gdb -batch -nx -x "$SCRIPT" -ex "sa-heap all" "$TARGET" core > core.out 2>&1 || true
cat core.out | tail -n 12
grep -q "strategy first_fit (core file)" core.out || { echo "FAIL: no core summary"; exit 1; }
grep -q "segments: 3 (heap 1 = 1.0 MiB, large 2 = 4.0 MiB)" core.out || { echo "FAIL: segments"; exit 1; }
grep -q "needs a live process" core.out || { echo "FAIL: no note on the core's limits"; exit 1; }
echo PASS

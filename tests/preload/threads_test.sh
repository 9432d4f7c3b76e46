#!/usr/bin/env bash
# tests/preload/threads_churn (producers hand blocks to consumers that free
# them; private churn; aligned and large blocks) with LD_PRELOAD of a
# libsa_*.so: same output as on the system allocator. Run twice: default
# config and a small mmap_threshold (SA_CONF).
# Usage: threads_test.sh path/to/libsa_NAME.so path/to/threads_churn
set -euo pipefail
source tests/preload/lib.sh
BIN="$(realpath "$2")"
preload_init "$1"
assert_interposed "$BIN" 1 1 10
run_system churn "$BIN" 4 3 20000
run_preload churn "$BIN" 4 3 20000
cat "$WORK/churn.preload.out"
assert_same churn
run_system churn_small "$BIN" 3 2 10000
run_preload churn_small env SA_CONF=mmap_threshold:16k "$BIN" 3 2 10000
assert_same churn_small
[[ $SYSTEM_RC == 0 ]] || preload_fail "threads_churn failed on the system allocator"
echo "PASS"

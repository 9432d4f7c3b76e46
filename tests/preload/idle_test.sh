#!/usr/bin/env bash
# tests/preload/idle_rss (48 MiB of small blocks freed, then no allocator
# call) with LD_PRELOAD of a libsa_*.so: the RSS comes back by itself.
# Run with the default decay and with a short one (SA_CONF).
# Usage: idle_test.sh path/to/libsa_NAME.so path/to/idle_rss
set -euo pipefail
source tests/preload/lib.sh
BIN="$(realpath "$2")"
preload_init "$1"
run_preload idle "$BIN" 30
cat "$WORK/idle.preload.out"
[[ $PRELOAD_RC == 0 ]] || preload_fail "the idle program kept its memory"
run_preload idle_short env SA_CONF=segment_decay_ms:20 "$BIN" 30
cat "$WORK/idle_short.preload.out"
[[ $PRELOAD_RC == 0 ]] || preload_fail "the idle program kept its memory (segment_decay_ms:20)"
echo "PASS"

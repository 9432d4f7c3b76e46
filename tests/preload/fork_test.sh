#!/usr/bin/env bash
# tests/preload/fork_threads with LD_PRELOAD of a libsa_*.so: worker threads
# allocate while the main thread forks many times; every child allocates,
# uses strdup/printf and exits 0. The program itself checks (dlsym) that the
# preloaded stratalloc serves malloc and prints its stats.
# Usage: fork_test.sh path/to/libsa_NAME.so path/to/fork_threads [forks] [threads]
set -euo pipefail
source tests/preload/lib.sh
BIN="$(realpath "$2")"
FORKS="${3:-300}"
THREADS="${4:-4}"
preload_init "$1"

# The program is correct on the system allocator (sanity of the test).
run_system fork "$BIN" 20 "$THREADS"
if [[ $SYSTEM_RC != 0 ]]; then
  _report_run fork system "$SYSTEM_RC"
  preload_fail "fork_threads fails on the system allocator: a bug in the test"
fi

run_preload fork "$BIN" --require-stratalloc "$FORKS" "$THREADS"
cat "$WORK/fork.preload.err"
if [[ $PRELOAD_RC != 0 ]]; then
  _report_run fork preload "$PRELOAD_RC"
  preload_fail "fork_threads with LD_PRELOAD exited $PRELOAD_RC"
fi
ok=$(grep -c '^child [0-9]* ok$' "$WORK/fork.preload.out" || true)
[[ "$ok" == "$FORKS" ]] || preload_fail "$ok of $FORKS children printed 'ok'"
echo "   $ok children ok"

# Again with large objects for most requests (small mmap threshold).
run_preload fork_small env SA_CONF=mmap_threshold:8k "$BIN" --require-stratalloc 100 "$THREADS"
if [[ $PRELOAD_RC != 0 ]]; then
  _report_run fork_small preload "$PRELOAD_RC"
  preload_fail "fork_threads with SA_CONF=mmap_threshold:8k exited $PRELOAD_RC"
fi
echo "PASS"

#!/usr/bin/env bash
# //bench:compare and //bench:callgrind: run bench/comparison/<tool>.py with
# Debian's python3 (it has python3-matplotlib), from Bazel's runfiles.
set -euo pipefail
tool="$1"
shift
if [[ -f "bench/comparison/$tool" ]]; then # bazel run / test: cwd is the runfiles root
  script="bench/comparison/$tool"
else
  script="${RUNFILES_DIR:-$0.runfiles}/stratalloc/bench/comparison/$tool"
fi
exec /usr/bin/python3 "$script" "$@"

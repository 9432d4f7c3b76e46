#!/usr/bin/env bash
# Runs a Python script of bench/compare with Debian's python3 (which has
# python3-matplotlib), whatever python3 comes first on PATH.
set -euo pipefail
script="$1"
shift
exec /usr/bin/python3 "$script" "$@"

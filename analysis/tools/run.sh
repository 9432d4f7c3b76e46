#!/usr/bin/env bash
# Runs an analysis tool (a Python 3 script) with Debian's /usr/bin/python3
# (the one with python3-matplotlib), passing it the //analysis:replay binary
# where it takes one; relative paths on the command line are relative to
# where `bazel run` was started.
set -euo pipefail
script="$(realpath "$1")"
replay="$(realpath "$2")"
shift 2
[[ -n "${BUILD_WORKING_DIRECTORY:-}" ]] && cd "$BUILD_WORKING_DIRECTORY"
case "$(basename "$script")" in
  recommend.py | fragmentation.py) exec /usr/bin/python3 "$script" --replay "$replay" "$@" ;;
  *) exec /usr/bin/python3 "$script" "$@" ;;
esac

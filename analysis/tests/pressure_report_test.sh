#!/usr/bin/env bash
# The pressure report at one limit, two scenarios: every cell ok (no crash,
# ENOMEM, recovered, checks clean). The full report: ./bazelw run //analysis:pressure_report
set -euo pipefail
"$1" --limits 64 --scenarios small,large

# Sourced by the bench/apps/*.sh scripts (bash).
#   APPS            absolute path of bench/apps (defaults to this file's folder)
#   COMPARE_SCALE   work multiplier (default 1.0)
#   COMPARE_METRICS file to append "key value" metric lines to (optional)
# Everything the scripts print on stdout must be the same on every run and
# every allocator; timings and memory figures go to COMPARE_METRICS only.
set -Eeuo pipefail

APP_NAME="${APP_NAME:-$(basename "${BASH_SOURCE[1]:-$0}" .sh)}"
APPS="${APPS:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
COMPARE_SCALE="${COMPARE_SCALE:-1.0}"
export LC_ALL=C

die() {
  echo "$APP_NAME: $*" >&2
  exit 1
}
# Any other failing command (set -e) says what and where before the exit.
trap 'echo "$APP_NAME: line $LINENO: exit status $?: $BASH_COMMAND" >&2' ERR

awk -v s="$COMPARE_SCALE" 'BEGIN { exit !(s + 0 > 0 && s + 0 < 1000) }' ||
  die "COMPARE_SCALE must be a number in (0, 1000), got '$COMPARE_SCALE'"

# scaled BASE MIN: round(BASE * COMPARE_SCALE), at least MIN.
scaled() {
  awk -v s="$COMPARE_SCALE" -v b="$1" -v m="$2" \
    'BEGIN { n = int(s * b + 0.5); if (n < m) n = m; printf "%d\n", n }'
}

# metric KEY VALUE: one extra numeric metric for the report (no-op without
# COMPARE_METRICS).
metric() {
  [[ -n ${COMPARE_METRICS:-} ]] || return 0
  printf '%s %s\n' "$1" "$2" >>"$COMPARE_METRICS"
}

# now_ns: monotonic-enough wall clock in nanoseconds (for metrics only).
now_ns() { date +%s%N; }

# rate COUNT START_NS END_NS: COUNT per second, as an integer.
rate() {
  awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { d = (b - a) / 1e9; if (d <= 0) d = 1e-9; printf "%d\n", n / d }'
}

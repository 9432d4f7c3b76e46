# Shared by the preload tests (sourced, bash). A test runs a real program
# twice, on the system allocator and with LD_PRELOAD of a libsa_*.so, and
# compares what must not depend on the allocator.
#
#   source tests/preload/lib.sh
#   preload_init "$1"                  # the .so, as $(rootpath ...) gives it
#   run_system NAME cmd args...        # -> $WORK/NAME.system.{out,err}
#   run_preload NAME cmd args...       # -> $WORK/NAME.preload.{out,err}
#   assert_same NAME [filter]          # stdout of both runs equal
#   assert_interposed cmd args...      # malloc/free bind to the .so
#
# Every helper prints what it ran and, on failure, the exit codes, the diff
# and the tail of stderr; then the test exits nonzero.

set -euo pipefail

preload_fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Sets SO (absolute path of the preloaded library) and WORK (scratch folder,
# also TMPDIR and HOME for the programs) and cds into WORK.
preload_init() {
  [[ $# -ge 1 ]] || preload_fail "usage: preload_init path/to/libsa_NAME.so"
  [[ -f "$1" ]] || preload_fail "preloaded library '$1' not found (cwd $(pwd))"
  SO="$(realpath "$1")"
  WORK="${TEST_TMPDIR:-$(mktemp -d)}/work"
  mkdir -p "$WORK"
  export TMPDIR="$WORK"
  export HOME="$WORK"
  export LC_ALL=C
  cd "$WORK"
  echo "preloaded library: $SO"
  echo "scratch folder:    $WORK"
  # A core of a crashing program, if the environment lets us have one.
  ulimit -c unlimited 2>/dev/null || true
}

# Prints a failed run's diagnostics: exit code, stderr tail, core hint.
_report_run() {
  local name="$1" kind="$2" rc="$3"
  echo "---- $name ($kind) exited with $rc; last lines of stderr:" >&2
  tail -n 40 "$WORK/$name.$kind.err" >&2 || true
  echo "---- last lines of stdout:" >&2
  tail -n 20 "$WORK/$name.$kind.out" >&2 || true
  if ((rc > 128)); then
    echo "---- killed by signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null || echo '?'))" >&2
  fi
}

# run_system NAME cmd... : runs cmd on the system allocator. Sets
# SYSTEM_RC. Does not fail on a nonzero exit (assert_same compares).
run_system() {
  local name="$1"
  shift
  echo "== $name (system allocator): $*"
  local start=$SECONDS
  set +e
  env -u LD_PRELOAD "$@" >"$WORK/$name.system.out" 2>"$WORK/$name.system.err"
  SYSTEM_RC=$?
  set -e
  echo "   exit $SYSTEM_RC in $((SECONDS - start)) s"
}

# run_preload NAME cmd... : runs cmd with LD_PRELOAD=$SO. Sets PRELOAD_RC.
run_preload() {
  local name="$1"
  shift
  echo "== $name (LD_PRELOAD=$(basename "$SO")): $*"
  local start=$SECONDS
  set +e
  env LD_PRELOAD="$SO" "$@" >"$WORK/$name.preload.out" 2>"$WORK/$name.preload.err"
  PRELOAD_RC=$?
  set -e
  echo "   exit $PRELOAD_RC in $((SECONDS - start)) s"
  if ((PRELOAD_RC > 128)); then
    _report_run "$name" preload "$PRELOAD_RC"
    echo "---- reproduce: cd <scratch> && LD_PRELOAD=$SO $*" >&2
  fi
}

# assert_same NAME [FILTER]: the exit codes are equal and stdout, after
# FILTER (a command reading stdin, default cat), is identical.
assert_same() {
  local name="$1" filter="${2:-cat}"
  local ok=1
  if [[ "$SYSTEM_RC" != "$PRELOAD_RC" ]]; then
    echo "FAIL: $name: exit code $PRELOAD_RC with LD_PRELOAD, $SYSTEM_RC on the system allocator" >&2
    _report_run "$name" system "$SYSTEM_RC"
    _report_run "$name" preload "$PRELOAD_RC"
    ok=0
  fi
  $filter <"$WORK/$name.system.out" >"$WORK/$name.system.cmp"
  $filter <"$WORK/$name.preload.out" >"$WORK/$name.preload.cmp"
  if ! cmp -s "$WORK/$name.system.cmp" "$WORK/$name.preload.cmp"; then
    echo "FAIL: $name: output differs (--- system allocator, +++ LD_PRELOAD):" >&2
    diff -u "$WORK/$name.system.cmp" "$WORK/$name.preload.cmp" | head -n 60 >&2 || true
    echo "---- stderr with LD_PRELOAD (tail):" >&2
    tail -n 30 "$WORK/$name.preload.err" >&2 || true
    ok=0
  fi
  ((ok)) || exit 1
  echo "   $name: same exit code ($SYSTEM_RC) and same output ($(wc -l <"$WORK/$name.preload.cmp") lines)"
}

# assert_interposed cmd... : runs cmd (keep it short) with LD_PRELOAD and
# LD_DEBUG=bindings and requires that the program's and libc's references to
# malloc and free bind to the preloaded library, none to libc.
assert_interposed() {
  local log="$WORK/bindings"
  rm -f "$log".*
  set +e
  env LD_PRELOAD="$SO" LD_DEBUG=bindings LD_DEBUG_OUTPUT="$log" "$@" >/dev/null 2>&1
  set -e
  local base
  base="$(basename "$SO")"
  local files=("$log".*)
  [[ -e "${files[0]}" ]] || preload_fail "$1: LD_DEBUG produced no output in $log.*"
  local sym bound
  for sym in malloc free; do
    # (grep on the files, not a pipe into grep -q: pipefail and SIGPIPE)
    bound="$(grep -h "symbol \`${sym}'" "${files[@]}" || true)"
    if ! grep -q "to .*${base} .*symbol" <<<"$bound"; then
      echo "FAIL: $1 does not bind $sym to $base (LD_DEBUG=bindings):" >&2
      head -n 10 <<<"$bound" >&2
      exit 1
    fi
    if grep -q "to [^ ]*/libc\.so" <<<"$bound"; then
      echo "FAIL: some references to $sym still bind to libc with LD_PRELOAD:" >&2
      grep "to [^ ]*/libc\.so" <<<"$bound" | head -n 10 >&2 || true
      exit 1
    fi
  done
  echo "   $1: malloc and free bind to $base"
  rm -f "$log".*
}

# sha256 of a file, just the hex.
sha() { sha256sum "$1" | cut -d' ' -f1; }

#!/usr/bin/env bash
# Runs every app of apps.programs under every allocator, each from a fresh
# scratch folder (as the orchestrator of //bench:compare does), with
# /usr/bin/time; checks exit status 0 and that stdout is byte-identical to
# the glibc run's; prints markdown tables of wall seconds (median and min)
# and of the largest max RSS (the biggest single process of the script).
# This is a manual check of the scripts, not part of the comparison.
#
# Usage: bench/apps/check.sh [-s SCALE] [-r REPS] [-e] [-l LIBDIR] [APP...]
#   -s SCALE  COMPARE_SCALE (default 1.0)
#   -r REPS   repetitions, interleaved over the allocators (default 1)
#   -e        run under env -i PATH=/usr/bin:/bin HOME= (as in Bazel's sandbox)
#   -l LIBDIR where the libsa_*.so are (default: bazel-bin/strategies of this repo)
# Build the libraries first:
#   ./bazelw build //strategies/first_fit:libsa_first_fit.so \
#     //strategies/segregated:libsa_segregated.so //strategies/buddy:libsa_buddy.so \
#     //strategies/thread_cache:libsa_thread_cache_segregated.so \
#     //strategies/thread_cache:libsa_thread_cache_first_fit.so \
#     //strategies/thread_cache:libsa_thread_cache_buddy.so
set -euo pipefail
APPS="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$APPS/../.." && pwd)"
SCALE=1.0 REPS=1 ENVI=0 LIBDIR="$REPO/bazel-bin/strategies"
while getopts "s:r:el:" opt; do
  case $opt in
    s) SCALE=$OPTARG ;;
    r) REPS=$OPTARG ;;
    e) ENVI=1 ;;
    l) LIBDIR=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))

declare -A CMD
ORDER=()
while IFS= read -r line; do
  [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
  name="${line%%=*}" name="${name//[[:space:]]/}"
  CMD[$name]="${line#*= }"
  ORDER+=("$name")
done <"$APPS/apps.programs"
(($#)) && ORDER=("$@")

SYS=/usr/lib/x86_64-linux-gnu
ALLOCS=(glibc jemalloc tcmalloc mimalloc first_fit segregated buddy tc_segregated tc_first_fit tc_buddy)
declare -A LIB=(
  [glibc]="" [jemalloc]=$SYS/libjemalloc.so.2 [tcmalloc]=$SYS/libtcmalloc_minimal.so.4
  [mimalloc]=$SYS/libmimalloc.so.2
  [first_fit]=$LIBDIR/first_fit/libsa_first_fit.so [segregated]=$LIBDIR/segregated/libsa_segregated.so
  [buddy]=$LIBDIR/buddy/libsa_buddy.so
  [tc_segregated]=$LIBDIR/thread_cache/libsa_thread_cache_segregated.so
  [tc_first_fit]=$LIBDIR/thread_cache/libsa_thread_cache_first_fit.so
  [tc_buddy]=$LIBDIR/thread_cache/libsa_thread_cache_buddy.so
)
for a in "${ALLOCS[@]}"; do
  [[ -z ${LIB[$a]} || -e ${LIB[$a]} ]] || { echo "check.sh: ${LIB[$a]} missing (build it)" >&2; exit 1; }
done

OUT=$(mktemp -d)
failures=0
for ((rep = 1; rep <= REPS; rep++)); do
  for app in "${ORDER[@]}"; do
    for a in "${ALLOCS[@]}"; do
      scratch=$(mktemp -d)
      tag="$app.$a.$rep"
      envcmd=(env)
      ((ENVI)) && envcmd=(env -i PATH=/usr/bin:/bin HOME=)
      rc=0
      (cd "$scratch" && "${envcmd[@]}" APPS="$APPS" COMPARE_SCALE="$SCALE" \
        COMPARE_METRICS="$OUT/$tag.metrics" LD_PRELOAD="${LIB[$a]}" \
        /usr/bin/time -o "$OUT/$tag.time" -f "%e %M" /bin/sh -c "${CMD[$app]}" \
        >"$OUT/$tag.out" 2>"$OUT/$tag.err") || rc=$?
      rm -rf "$scratch"
      status=ok
      if ((rc != 0)); then
        status="exit $rc"
      elif [[ $a != glibc ]] && ! cmp -s "$OUT/$tag.out" "$OUT/$app.glibc.$rep.out"; then
        status="stdout differs"
      fi
      if [[ $status != ok ]]; then
        failures=$((failures + 1))
        echo "FAIL $app under $a (rep $rep): $status; stderr:" >&2
        tail -n 5 "$OUT/$tag.err" >&2
      fi
      echo "$app $a $rep $(tail -n 1 "$OUT/$tag.time") $status" >>"$OUT/results"
      printf '%-8s %-14s rep %d: %s s %s KB %s\n' "$app" "$a" "$rep" $(tail -n 1 "$OUT/$tag.time") "$status" >&2
    done
  done
done

echo
# table TITLE AWK-CELL: one markdown table, a cell per app and allocator.
table() {
  echo
  echo "$1"
  printf '| app |'; printf ' %s |' "${ALLOCS[@]}"; echo
  printf '|---|'; printf -- '---|%.0s' "${ALLOCS[@]}"; echo
  for app in "${ORDER[@]}"; do
    printf '| %s |' "$app"
    for a in "${ALLOCS[@]}"; do
      awk -v app="$app" -v a="$a" '$1 == app && $2 == a { t[++n] = $4; if ($5 > m) m = $5; if ($6 != "ok") bad = 1 }
        END { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (t[j] < t[i]) { x = t[i]; t[i] = t[j]; t[j] = x }
              med = (n % 2) ? t[(n + 1) / 2] : (t[n / 2] + t[n / 2 + 1]) / 2
              '"$2"'
              printf "%s |", bad ? " FAIL" : "" }' "$OUT/results"
    done
    echo
  done
}
table "COMPARE_SCALE=$SCALE, $REPS rep(s): wall seconds, median (min)" 'printf " %.2f (%.2f)", med, t[1]'
table "largest max RSS of one process of the script, MB (max over reps)" 'printf " %.0f", m / 1024'
echo "outputs, stderr, metrics: $OUT"
((failures == 0)) || { echo "$failures run(s) failed" >&2; exit 1; }

#!/usr/bin/env bash
# Debian's python3 with PYTHONMALLOC=malloc (every object through malloc, no
# pymalloc arenas) runs churn.py: STEPS (9000 at scale 1) random objects --
# strings 8 B..64 KiB, bytes, lists, dicts, nested lists of dicts, tuples of
# floats, all of log-uniform sizes -- each put in a random slot of a
# 1500-slot pool (dropping the object there), and every 100 steps a burst
# that builds, JSON round-trips, sorts and drops 200..1500 records.
# Checks: the fingerprints (crc32 of repr) of the surviving objects equal
# the ones taken when they were made, and every JSON round trip is equal.
# Prints the step count, the fingerprint sum and the bursts' checksum.
source "${APPS:-$(dirname "$0")}/lib.sh"
PY=/usr/bin/python3
[[ -x $PY ]] || die "$PY not found (Debian package python3)"

export PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 PYTHONNOUSERSITE=1
"$PY" -s "$APPS/churn.py" "$COMPARE_SCALE" >out.txt || die "churn.py failed (exit $?)"
grep -q '^fingerprint [0-9]' out.txt || die "churn.py printed no fingerprint"
cat out.txt

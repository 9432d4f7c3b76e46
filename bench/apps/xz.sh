#!/usr/bin/env bash
# xz -T2 (preset -6, 512 KiB blocks so both threads work) compresses SIZE
# bytes (6 MB at scale 1) of deterministic text-like data that textgen.py
# writes into the scratch folder, then xz -T2 decompresses it (multi-threaded
# decoding of the multi-block file) and cmp checks the round trip.
# Prints the sizes and the sha256 of the input and of the .xz (xz's threaded
# output does not depend on timing). Metrics: compress and decompress KB/s.
source "${APPS:-$(dirname "$0")}/lib.sh"
XZ=/usr/bin/xz
PY=/usr/bin/python3
[[ -x $XZ ]] || die "$XZ not found (Debian package xz-utils)"
[[ -x $PY ]] || die "$PY not found (Debian package python3)"

SIZE=$(scaled 6000000 100000)
"$PY" -s "$APPS/textgen.py" "$SIZE" >input || die "textgen.py failed"
[[ $(stat -c %s input) == "$SIZE" ]] || die "textgen.py wrote $(stat -c %s input) bytes, not $SIZE"

t0=$(now_ns)
"$XZ" -T2 -6 --block-size=512KiB -c input >input.xz || die "xz compression failed"
t1=$(now_ns)
"$XZ" -T2 -d -c input.xz >output || die "xz decompression failed"
t2=$(now_ns)
cmp input output >&2 || die "round trip: the decompressed file differs from the input"
"$XZ" -t input.xz || die "xz -t: integrity check failed"

echo "input $SIZE bytes sha256 $(sha256sum <input | cut -d' ' -f1)"
echo "xz $(stat -c %s input.xz) bytes sha256 $(sha256sum <input.xz | cut -d' ' -f1)"
echo "roundtrip ok"
metric compress_kb_per_sec "$(rate "$((SIZE / 1000))" "$t0" "$t1")"
metric decompress_kb_per_sec "$(rate "$((SIZE / 1000))" "$t1" "$t2")"

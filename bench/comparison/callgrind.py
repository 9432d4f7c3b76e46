#!/usr/bin/env python3
"""//bench:callgrind: instructions per malloc and per free of every allocator.

    ./bazelw run //bench:callgrind [-- --allocators a,b --count N --out FILE]

Runs bench/compare_driver under `valgrind --tool=callgrind` (exact
instruction counts) with each allocator preloaded, as //bench:compare does,
for two workloads: malloc_free_loop (32 B, the fast path) and mixed (16..1024
B over 10k live slots). The workloads call malloc and free only through the
driver's adapter functions sys_malloc and sys_free, so their inclusive cost
is the allocator's cost (plus a few instructions of the adapter, the same for
every allocator). Each workload runs with N and 2N operations and the
difference is divided by N: start-up, the first fill of the slots and the
final frees cancel, what remains is the steady state. Every workload makes
exactly one free per malloc. Writes bench/results/callgrind.md in the
workspace (or --out).
"""

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allocators  # noqa: E402
import machine  # noqa: E402

WORKLOADS = [("malloc_free_loop", "32 B malloc+free loop"), ("mixed", "mixed 16..1024 B, 10k slots")]


def inclusive(out_file):
    """{function: inclusive Ir} of the driver's adapter functions."""
    ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out_file],
                         capture_output=True, text=True, check=True).stdout
    result = {}
    for line in ann.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+\S*:(sys_malloc|sys_free|sys_realloc)\s", line)
        if m:
            result[m.group(2)] = int(m.group(1).replace(",", ""))
    return result


def measure(driver, lib, workload, n, tmp):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if lib:
        env["LD_PRELOAD"] = lib
    costs = []
    for count in (n, 2 * n):
        out = os.path.join(tmp, "cg.%s.%d" % (workload, count))
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
               driver, "--workload", workload, "--count", str(count), "--no-latency"]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0 or not os.path.exists(out):
            raise RuntimeError("valgrind failed (%d): %s" % (proc.returncode, proc.stderr.strip().splitlines()[-1:]))
        costs.append(inclusive(out))
    per = {}
    for fn, key in (("sys_malloc", "malloc"), ("sys_free", "free")):
        if fn in costs[0] and fn in costs[1]:
            per[key] = (costs[1][fn] - costs[0][fn]) / float(n)
    return per


def main():
    p = argparse.ArgumentParser(prog="callgrind")
    p.add_argument("--driver", required=True, help=argparse.SUPPRESS)
    p.add_argument("--stratalloc", action="append", default=[], help=argparse.SUPPRESS)
    p.add_argument("--allocators", help="comma-separated allocator names (default: all)")
    p.add_argument("--count", type=int, default=20000, help="N: runs with N and 2N operations")
    p.add_argument("--out", help="markdown table to write (default: bench/results/callgrind.md)")
    args = p.parse_args()
    if not shutil.which("valgrind") or not shutil.which("callgrind_annotate"):
        sys.exit("callgrind: valgrind is missing (Debian package valgrind; ./bazelw installs it)")
    driver = os.path.abspath(args.driver)
    try:
        entries = allocators.catalogue(args.stratalloc)
        chosen = [a.name for a in allocators.select(args.allocators, entries)]
    except allocators.AllocatorError as e:
        sys.exit("callgrind: %s" % e)
    workspace = os.environ.get("BUILD_WORKSPACE_DIRECTORY") or os.getcwd()
    out = args.out or os.path.join(workspace, "bench", "results", "callgrind.md")
    if not os.path.isabs(out):
        out = os.path.join(workspace, out)
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, kind, lib, pkg, _ in entries:
            if name not in chosen:
                continue
            if lib and not os.path.exists(lib):
                notes.append("%s skipped: %s missing (Debian package %s)" % (name, lib, pkg))
                continue
            row = [name]
            for w, _ in WORKLOADS:
                try:
                    per = measure(driver, lib, w, args.count, tmp)
                    row += ["%.0f" % per["malloc"] if "malloc" in per else "-",
                            "%.0f" % per["free"] if "free" in per else "-"]
                except (RuntimeError, subprocess.CalledProcessError) as e:
                    notes.append("%s on %s: %s" % (name, w, e))
                    row += ["failed", "failed"]
            rows.append(row)
            sys.stderr.write("callgrind: %-26s %s\n" % (name, "  ".join(row[1:])))
    m = machine.machine_info(workspace)
    header = ["allocator"] + ["%s: %s" % (w, k) for w, _ in WORKLOADS for k in ("Ir/malloc", "Ir/free")]
    table = "| " + " | ".join(header) + " |\n|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|\n"
    table += "".join("| " + " | ".join(r) + " |\n" for r in rows)
    text = ("# Instructions per call (callgrind)\n\n"
            "Generated by `./bazelw run //bench:callgrind` on %s (%s, %s cores, %s, git %s).\n\n"
            "Instructions (valgrind `Ir`, exact) per malloc and per free in the steady state, "
            "through the libc entry points with the allocator preloaded: inclusive cost of the "
            "driver's adapter functions, run with N=%d and 2N operations, difference / N. "
            "Workloads: %s.\n\n" % (
                datetime.date.today().isoformat(), m.get("cpu_model"), m.get("cores"), m.get("glibc"),
                m.get("git_commit", "?"), args.count, "; ".join("`%s` (%s)" % w for w in WORKLOADS)))
    text += table
    if notes:
        text += "\n" + "".join("- %s\n" % n for n in notes)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(text)
    sys.stdout.write(text + "\nWritten: %s\n" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

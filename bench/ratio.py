#!/usr/bin/env python3
"""Median ns per operation and ratio to the system allocator, from the JSON of
//bench:strategy_benchmark (Google Benchmark).

    ./bazelw run //bench:strategy_benchmark -- --benchmark_repetitions=5 \\
        --benchmark_report_aggregates_only=true --benchmark_format=json > bench.json
    python3 bench/ratio.py bench.json

Benchmark names are <workload>/<allocator>/<arg>. For each, the median over
repetitions of (time per iteration / ops_per_iter) is printed, with
ratio = system time / allocator time of the same workload and argument in the
same file: > 1 means faster than the system allocator. With aggregates only,
the "median" aggregate is used; with every repetition present, the median is
computed here. Several files (one per workload, say) are merged; a ratio is
only taken within one file. cv% is the coefficient of variation over repetitions, when
Google Benchmark reported it (or it could be computed here).

Python 3 standard library only.
"""
import argparse
import json
import statistics
import sys

TIME_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
BASELINE = "system"


def ns_per_op(entry, time_key):
    """Time per operation in ns of one JSON entry (iteration or aggregate)."""
    t = float(entry[time_key]) * TIME_UNIT_NS[entry.get("time_unit", "ns")]
    ops = float(entry.get("ops_per_iter", 1.0)) or 1.0
    return t / ops


def split_name(run_name):
    """'malloc_free_loop/first_fit/64' -> ('malloc_free_loop', 'first_fit', '64')."""
    parts = run_name.split("/")
    if len(parts) >= 3:
        return parts[0], parts[1], "/".join(parts[2:])
    if len(parts) == 2:
        return parts[0], parts[1], ""
    return run_name, "?", ""


def collect(benchmarks, time_key):
    """run_name -> {'median': ns, 'cv': pct or None, 'reps': n, 'extra': entry}."""
    samples = {}
    medians = {}
    cvs = {}
    for b in benchmarks:
        if b.get("error_occurred"):
            continue
        run_name = b.get("run_name", b["name"])
        if b.get("run_type") == "aggregate":
            agg = b.get("aggregate_name")
            if agg == "median":
                medians[run_name] = (ns_per_op(b, time_key), b)
            elif agg == "cv":
                # cv is reported as a fraction of the time columns.
                cvs[run_name] = float(b[time_key]) * 100.0
        else:
            samples.setdefault(run_name, []).append((ns_per_op(b, time_key), b))

    rows = {}
    for run_name, values in samples.items():
        times = [v for v, _ in values]
        med = statistics.median(times)
        cv = None
        if len(times) > 1 and med > 0:
            cv = statistics.stdev(times) / statistics.mean(times) * 100.0
        rows[run_name] = {"median": med, "cv": cv, "reps": len(times), "extra": values[-1][1]}
    for run_name, (med, entry) in medians.items():
        # An aggregate median wins over recomputation from repetitions.
        reps = entry.get("repetitions")
        rows[run_name] = {"median": med, "cv": cvs.get(run_name), "reps": reps, "extra": entry}
    return rows


def fmt_bytes(n):
    if n is None:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return ""


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json", nargs="+",
                        help="Google Benchmark JSON output(s) ('-' for stdin); several files "
                             "(e.g. one per workload) are merged, a ratio is always taken "
                             "within one file")
    parser.add_argument("--time", choices=("cpu", "real"), default="cpu",
                        help="cpu_time (default; what items_per_second uses) or real_time")
    parser.add_argument("--baseline", default=BASELINE,
                        help="allocator the ratio is taken against (default: system)")
    args = parser.parse_args(argv)

    time_key = "cpu_time" if args.time == "cpu" else "real_time"
    rows = {}
    data = {}
    for index, path in enumerate(args.json):
        if path == "-":
            data = json.load(sys.stdin)
        else:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        # Keys carry the file, so that a ratio never mixes two runs.
        for run_name, row in collect(data.get("benchmarks", []), time_key).items():
            rows[(index, run_name)] = row
    if not rows:
        print("no benchmark results in " + " ".join(args.json), file=sys.stderr)
        return 1

    # Keep the file's order of workloads/args; baseline first within each.
    order = []
    groups = {}
    for run_key in rows:
        index, run_name = run_key
        workload, allocator, arg = split_name(run_name)
        key = (index, workload, arg)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append((allocator, run_key))

    header = ["workload", "arg", "allocator", f"median ns/op ({args.time})", "cv %",
              f"ratio ({args.baseline} / this)", "peak mapped", "frag % end", "frag % at peak"]
    table = []
    for key in order:
        members = sorted(groups[key], key=lambda m: (m[0] != args.baseline,))
        base = next((rows[r]["median"] for a, r in members if a == args.baseline), None)
        for allocator, run_name in members:
            r = rows[run_name]
            ratio = "" if base is None or r["median"] <= 0 else f"{base / r['median']:.2f}"
            e = r["extra"]
            peak = e.get("peak_mapped_bytes")
            frag = e.get("fragmentation_pct")
            frag_peak = e.get("peak_live_fragmentation_pct")
            table.append([key[1], key[2], allocator, f"{r['median']:.2f}",
                          "" if r["cv"] is None else f"{r['cv']:.1f}", ratio,
                          fmt_bytes(peak), "" if frag is None else f"{frag:.1f}",
                          "" if frag_peak is None else f"{frag_peak:.1f}"])

    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(header)]
    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table:
        print(line(row))
    ctx = data.get("context", {})  # the last file's
    reps = {r["reps"] for r in rows.values() if r["reps"]}
    print(f"\n{ctx.get('date', '')} on {ctx.get('host_name', '?')}, "
          f"{ctx.get('num_cpus', '?')} CPUs; repetitions: {', '.join(map(str, sorted(reps))) or '1'}; "
          f"ratio > 1: faster than {args.baseline}, same run.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:  # e.g. piped into head
        sys.exit(0)

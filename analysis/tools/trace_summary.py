#!/usr/bin/python3
"""Summary of a stratalloc trace: sizes, lifetimes, allocation rate, the
live-bytes curve, threads, realloc chains, and the workload profile that
recommend.py (configure_for_workload) reads.

    trace_summary.py TRACE [--json OUT.json] [--live-csv OUT.csv] [--plot OUT.png]

Exit status 2 with a message naming the offset for a corrupt or truncated
trace.
"""
import argparse
import bisect
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import satrace  # noqa: E402

SIZE_BUCKETS = [16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536, 131072, 1 << 20, 1 << 62]
LIFE_BUCKETS = [10, 100, 1000, 10000, 100000, 1 << 62]  # in allocation events


def _bucket_label(lo, hi):
    def h(v):
        for unit, s in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
            if v >= s and v % s == 0:
                return "%d%s" % (v // s, unit)
        return str(v)
    return "%s..%s" % (h(lo), h(hi)) if hi < (1 << 62) else "> %s" % h(lo - 1)


def _percentile(sorted_values, q):
    if not sorted_values:
        return 0
    i = min(len(sorted_values) - 1, int(q / 100.0 * len(sorted_values)))
    return sorted_values[i]


def summarize(events, info, curve_points=200):
    """One pass over the events in global order."""
    live = {}  # address -> [size, alloc_index, tid, ts, realloc_count]
    sizes = []
    size_hist = [0] * len(SIZE_BUCKETS)
    life_hist = [0] * len(LIFE_BUCKETS)
    life_ns = []
    counts = {name: 0 for name in satrace.OPS.values()}
    per_thread = {}
    cross_frees = 0
    matched_frees = 0
    unmatched = 0
    failed = 0
    aligned = 0
    chain_lengths = []
    live_bytes = peak_bytes = 0
    peak_blocks = 0
    alloc_index = 0
    curve = []  # (event index, ts, live bytes)
    free_runs = []  # lengths of runs of consecutive frees
    run = 0
    swings = 0  # times the live set fell below half the running peak then grew back
    low_armed = False
    large_allocs = 0
    large_short = 0
    pow2 = 0
    stride = max(1, len(events) // curve_points)

    def thread(tid):
        t = per_thread.get(tid)
        if t is None:
            t = per_thread[tid] = {"allocs": 0, "frees": 0, "reallocs": 0, "bytes": 0}
        return t

    def do_alloc(addr, size, tid, ts, reallocs=0):
        nonlocal live_bytes, peak_bytes, peak_blocks, alloc_index, large_allocs, pow2
        if addr in live:  # its free was not traced
            do_free(addr, tid, ts, implied=True)
        live[addr] = [size, alloc_index, tid, ts, reallocs]
        alloc_index += 1
        live_bytes += size
        if live_bytes > peak_bytes:
            peak_bytes = live_bytes
        if len(live) > peak_blocks:
            peak_blocks = len(live)

    def do_free(addr, tid, ts, implied=False):
        nonlocal live_bytes, cross_frees, matched_frees
        b = live.pop(addr, None)
        if b is None:
            return False
        size, idx, atid, ats, reallocs = b
        live_bytes -= size
        if not implied:
            matched_frees += 1
            if atid != tid:
                cross_frees += 1
        life = alloc_index - idx
        life_hist[bisect.bisect_left(LIFE_BUCKETS, life)] += 1
        life_ns.append(ts - ats)
        if reallocs:
            chain_lengths.append(reallocs)
        return True

    def note_size(size):
        nonlocal large_allocs, pow2
        sizes.append(size)
        size_hist[bisect.bisect_left(SIZE_BUCKETS, size)] += 1
        if size > 128 * 1024:
            large_allocs += 1
        if size and size & (size - 1) == 0:
            pow2 += 1

    for i, (ts, _seq, tid, op, ptr, result, size, align_log2) in enumerate(events):
        name = satrace.OPS[op]
        counts[name] += 1
        t = thread(tid)
        if op == satrace.FREE:
            t["frees"] += 1
            run += 1
            if not do_free(ptr, tid, ts):
                unmatched += 1
        else:
            if run:
                free_runs.append(run)
                run = 0
            if op == satrace.REALLOC:
                t["reallocs"] += 1
                if ptr == 0:
                    if result:
                        note_size(size)
                        do_alloc(result, size, tid, ts)
                        t["allocs"] += 1
                        t["bytes"] += size
                    else:
                        failed += 1
                elif size == 0:
                    if not do_free(ptr, tid, ts):
                        unmatched += 1
                elif result == 0:
                    failed += 1
                else:
                    b = live.pop(ptr, None)
                    if b is None:
                        unmatched += 1
                        note_size(size)
                        do_alloc(result, size, tid, ts)
                    else:
                        live_bytes -= b[0]
                        if result in live:
                            do_free(result, tid, ts, implied=True)
                        live[result] = [size, b[1], b[2], b[3], b[4] + 1]
                        live_bytes += size
                        peak_bytes = max(peak_bytes, live_bytes)
                    t["bytes"] += size
            else:
                if result == 0:
                    failed += 1
                else:
                    if op == satrace.MEMALIGN:
                        aligned += 1
                    note_size(size)
                    do_alloc(result, size, tid, ts)
                    t["allocs"] += 1
                    t["bytes"] += size
        if peak_bytes and live_bytes < peak_bytes / 2:
            low_armed = True
        elif low_armed and live_bytes > 0.9 * peak_bytes:
            swings += 1
            low_armed = False
        if i % stride == 0 or i == len(events) - 1:
            curve.append((i, ts, live_bytes))
    if run:
        free_runs.append(run)
    end_ts = events[-1][0] if events else 0
    never_freed = len(live)
    for b in live.values():
        life_hist[-1] += 0  # never freed: counted apart
        if b[4]:
            chain_lengths.append(b[4])
    sizes.sort()
    life_ns.sort()
    n_allocs = len(sizes)
    alloc_threads = sum(1 for t in per_thread.values() if t["allocs"])
    short = life_hist[0] + life_hist[1]
    distinct = len(set(sizes))
    profile = {
        "allocations": n_allocs,
        "frees": counts["free"],
        "reallocs": counts["realloc"],
        "aligned": aligned,
        "failed": failed,
        "unmatched_frees": unmatched,
        "never_freed": never_freed,
        "size_p50": _percentile(sizes, 50),
        "size_p90": _percentile(sizes, 90),
        "size_p99": _percentile(sizes, 99),
        "size_p999": _percentile(sizes, 99.9),
        "size_max": sizes[-1] if sizes else 0,
        "distinct_sizes": distinct,
        "small_share": sum(1 for s in sizes if s <= 1024) / n_allocs if n_allocs else 0,
        "tiny_share": sum(1 for s in sizes if s <= 64) / n_allocs if n_allocs else 0,
        "pow2_share": pow2 / n_allocs if n_allocs else 0,
        "large_allocations": large_allocs,
        "large_sizes_p50": _percentile([s for s in sizes if s > 128 * 1024], 50),
        "peak_live_bytes": peak_bytes,
        "peak_live_blocks": peak_blocks,
        "final_live_bytes": live_bytes,
        "short_lived_share": short / n_allocs if n_allocs else 0,
        "lifetime_ns_p50": _percentile(life_ns, 50),
        "lifetime_ns_p90": _percentile(life_ns, 90),
        "threads": info["threads"],
        "alloc_threads": alloc_threads,
        "cross_thread_free_share": cross_frees / matched_frees if matched_frees else 0,
        "realloc_share": counts["realloc"] / max(1, n_allocs + counts["realloc"]),
        "realloc_chains": len(chain_lengths),
        "realloc_chain_max": max(chain_lengths) if chain_lengths else 0,
        "realloc_chain_mean": sum(chain_lengths) / len(chain_lengths) if chain_lengths else 0,
        "free_run_mean": sum(free_runs) / len(free_runs) if free_runs else 0,
        "free_run_p99": _percentile(sorted(free_runs), 99),
        "live_swings": swings,
        "duration_s": end_ts / 1e9,
        "alloc_rate_per_s": n_allocs / (end_ts / 1e9) if end_ts else 0,
    }
    rate = []
    if end_ts and n_allocs:
        nb = 10
        bins = [0] * nb
        for ev in events:
            if ev[3] != satrace.FREE:
                bins[min(nb - 1, ev[0] * nb // (end_ts + 1))] += 1
        rate = [b / (end_ts / 1e9 / nb) for b in bins]
    return {
        "trace": info,
        "ops": counts,
        "size_histogram": [{"bucket": _bucket_label(([0] + SIZE_BUCKETS)[i] + (1 if i else 0), SIZE_BUCKETS[i]),
                            "count": c} for i, c in enumerate(size_hist)],
        "lifetime_histogram": [{"bucket": ("< %d allocations" % LIFE_BUCKETS[i]) if i + 1 < len(LIFE_BUCKETS)
                                else ">= %d allocations" % LIFE_BUCKETS[i - 1], "count": c}
                               for i, c in enumerate(life_hist)] +
                              [{"bucket": "never freed", "count": never_freed}],
        "alloc_rate_per_s_by_tenth": rate,
        "threads": {str(k): v for k, v in sorted(per_thread.items())},
        "live_bytes_curve": curve,
        "profile": profile,
    }


def _human(n):
    for unit, s in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= s:
            return "%.1f %s" % (n / s, unit)
    return "%d B" % n


def print_summary(s, out=sys.stdout):
    p = s["profile"]
    t = s["trace"]
    w = out.write
    w("trace: %d records, %d chunks, %d threads (%d allocating), %.3f s, pid %d%s\n" % (
        t["records"], t["chunks"], p["threads"], p["alloc_threads"], p["duration_s"], t["pid"],
        "" if t["complete"] else " (no end marker: the process did not exit normally)"))
    w("calls: " + ", ".join("%s %d" % kv for kv in s["ops"].items()) + "\n")
    w("allocation rate: %.0f/s; peak live %s in %d blocks; live at end %s (%d blocks never freed)\n" % (
        p["alloc_rate_per_s"], _human(p["peak_live_bytes"]), p["peak_live_blocks"],
        _human(p["final_live_bytes"]), p["never_freed"]))
    w("sizes: p50 %d, p90 %d, p99 %d, max %d; %d distinct; %.0f%% <= 1 KiB, %.0f%% powers of two, "
      "%d above 128 KiB\n" % (p["size_p50"], p["size_p90"], p["size_p99"], p["size_max"],
                              p["distinct_sizes"], 100 * p["small_share"], 100 * p["pow2_share"],
                              p["large_allocations"]))
    w("lifetimes: %.0f%% freed within 100 allocations; p50 %.1f us, p90 %.1f us\n" % (
        100 * p["short_lived_share"], p["lifetime_ns_p50"] / 1e3, p["lifetime_ns_p90"] / 1e3))
    w("threads: %.1f%% of frees on another thread than the allocation\n" % (100 * p["cross_thread_free_share"]))
    w("realloc: %d calls, %d chains (max %d, mean %.1f reallocs per object)\n" % (
        p["reallocs"], p["realloc_chains"], p["realloc_chain_max"], p["realloc_chain_mean"]))
    total = max(1, sum(b["count"] for b in s["size_histogram"]))
    w("\nsize histogram (requested bytes):\n")
    for b in s["size_histogram"]:
        if b["count"]:
            w("  %-14s %8d %5.1f%% %s\n" % (b["bucket"], b["count"], 100 * b["count"] / total,
                                          "#" * int(40 * b["count"] / total)))
    total = max(1, sum(b["count"] for b in s["lifetime_histogram"]))
    w("\nlifetime histogram (allocations made while the block lived):\n")
    for b in s["lifetime_histogram"]:
        w("  %-22s %8d %5.1f%% %s\n" % (b["bucket"], b["count"], 100 * b["count"] / total,
                                      "#" * int(40 * b["count"] / total)))
    w("\nper thread: " + ", ".join("%s: %d allocs %d frees" % (k, v["allocs"], v["frees"])
                                  for k, v in list(s["threads"].items())[:8]) +
      (" ..." if len(s["threads"]) > 8 else "") + "\n")


def plot_summary(s, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    curve = s["live_bytes_curve"]
    axes[0].plot([c[1] / 1e6 for c in curve], [c[2] / 1024 for c in curve])
    axes[0].set_xlabel("time (ms)")
    axes[0].set_ylabel("live requested KiB")
    axes[0].set_title("live bytes")
    hist = [b for b in s["size_histogram"] if b["count"]]
    axes[1].bar(range(len(hist)), [b["count"] for b in hist])
    axes[1].set_xticks(range(len(hist)))
    axes[1].set_xticklabels([b["bucket"] for b in hist], rotation=45, ha="right", fontsize=7)
    axes[1].set_title("sizes")
    life = s["lifetime_histogram"]
    axes[2].bar(range(len(life)), [b["count"] for b in life])
    axes[2].set_xticks(range(len(life)))
    axes[2].set_xticklabels([b["bucket"] for b in life], rotation=45, ha="right", fontsize=7)
    axes[2].set_title("lifetimes")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def load_summary(path):
    events, info = satrace.load(path)
    return summarize(events, info)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace")
    ap.add_argument("--json", help="write the whole summary as JSON")
    ap.add_argument("--live-csv", help="write the live-bytes curve as CSV")
    ap.add_argument("--plot", help="write a PNG: live bytes, size and lifetime histograms")
    a = ap.parse_args(argv)
    try:
        s = load_summary(a.trace)
    except (satrace.TraceError, OSError) as e:
        print("trace_summary: %s: %s" % (a.trace, e), file=sys.stderr)
        return 2
    print_summary(s)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(s, f, indent=1)
    if a.live_csv:
        with open(a.live_csv, "w") as f:
            f.write("event,ts_ns,live_bytes\n")
            for c in s["live_bytes_curve"]:
                f.write("%d,%d,%d\n" % c)
    if a.plot:
        plot_summary(s, a.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())

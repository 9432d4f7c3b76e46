"""Aggregation and the report writer of //bench:compare.

    cells, summary = aggregate(runs, allocators, workloads, peak_live)
    text = terminal_table(results)            # what the terminal shows
    paths = write_report(results, out_dir)    # report.md, results.json,
                                              # results.csv, *.png

`runs` are the per-process results of bench/compare_driver (one dict per
repetition x workload x allocator, see compare.py); `results` is the dict
that becomes results.json. Python 3 standard library; matplotlib (Debian's
python3-matplotlib) only for the charts, and a missing matplotlib is a note
in the report, never a silent gap.
"""

import csv
import io
import json
import os

try:  # package import (tests, compare.py) or flat (script dir on sys.path)
    from . import stats
except ImportError:  # pragma: no cover
    import stats

BASELINE = "glibc"

# Metrics of a cell: name -> (function of a run dict giving a number or None).
def _lat(key):
    return lambda r: ((r.get("latency") or {}).get("all") or {}).get(key)


def _sa(key, where="sa_stats_peak"):
    return lambda r: (r.get(where) or {}).get(key)


def _overhead_pct(run, peak_live):
    delta = run.get("peak_rss_delta_kb")
    if delta is None or delta < 0 or not peak_live:
        return None
    return (delta * 1024.0 / peak_live - 1.0) * 100.0


METRICS = {
    "wall_ms": lambda r: r["wall_ns"] / 1e6 if r.get("wall_ns") is not None else None,
    "allocs_per_sec": lambda r: r.get("allocs_per_sec"),
    "lat_mean_ns": _lat("mean_ns"),
    "lat_p50_ns": _lat("p50_ns"),
    "lat_p99_ns": _lat("p99_ns"),
    "lat_p999_ns": _lat("p999_ns"),
    "peak_rss_mb": lambda r: r["peak_rss_kb"] / 1024.0 if r.get("peak_rss_kb") is not None else None,
    "fragmentation_pct": _sa("fragmentation_pct"),
    "sa_peak_mapped_mb": lambda r: (_sa("peak_mapped_bytes", "sa_stats_end")(r) or 0) / 1048576.0
    if _sa("peak_mapped_bytes", "sa_stats_end")(r) is not None else None,
    "sa_overhead_pct": _sa("overhead_pct"),
    "cache_hit_rate_pct": _sa("cache_hit_rate_pct", "sa_stats_end"),
}

CSV_METRICS = list(METRICS) + ["overhead_pct", "time_ratio", "rss_ratio"]


def aggregate(runs, allocators, workloads, peak_live=None, baseline=BASELINE):
    """Medians and min-max per (workload, allocator), ratios to the baseline.

    runs: dicts with at least rep, workload, allocator, ok (bool), error and
    the driver's metrics. Returns (cells, summary): cells is a list of dicts
    in workload-major order; summary maps allocator -> geometric means of its
    time and peak-RSS ratios and its failure count."""
    peak_live = peak_live or {}
    by = {}
    for r in runs:
        by.setdefault((r["workload"], r["allocator"]), []).append(r)
    cells = []
    for w in workloads:
        base = sorted(by.get((w, baseline), []), key=lambda r: r["rep"])
        base_ok = {r["rep"]: r for r in base if r.get("ok")}
        for a in allocators:
            rs = sorted(by.get((w, a), []), key=lambda r: r["rep"])
            ok = [r for r in rs if r.get("ok")]
            cell = {"workload": w, "allocator": a, "runs": len(rs), "ok_runs": len(ok),
                    "failed_runs": len(rs) - len(ok),
                    "errors": sorted({r.get("error") or "failed" for r in rs if not r.get("ok")})}
            for name, fn in METRICS.items():
                cell[name] = stats.summarize([fn(r) for r in ok])
            cell["overhead_pct"] = stats.summarize([_overhead_pct(r, peak_live.get(w)) for r in ok])
            for name, metric in (("time_ratio", "wall_ms"), ("rss_ratio", "peak_rss_mb")):
                fn = METRICS[metric]
                base_vals = [fn(r) for r in base_ok.values()]
                paired = stats.paired_ratios([fn(r) for r in ok], [fn(base_ok[r["rep"]]) if r["rep"] in base_ok else None for r in ok])
                lo, hi = stats.spread(paired)
                cell[name] = {"median": stats.ratio(cell[metric]["median"], stats.median(base_vals)),
                              "min": lo, "max": hi, "n": len([p for p in paired if p is not None])}
            cells.append(cell)
    summary = {}
    for a in allocators:
        mine = [c for c in cells if c["allocator"] == a]
        summary[a] = {
            "time_ratio_geomean": stats.geomean([c["time_ratio"]["median"] for c in mine]),
            "rss_ratio_geomean": stats.geomean([c["rss_ratio"]["median"] for c in mine]),
            "failed_cells": sum(1 for c in mine if c["failed_runs"]),
        }
    return cells, summary


# ---- formatting ----------------------------------------------------------------

def fmt_num(x, digits=2):
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return "%.0f" % x
    if abs(x) >= 100:
        return "%.1f" % x
    return "%.*f" % (digits, x)


def _cell_text(cell, baseline=BASELINE, spread_shown=True):
    if cell["ok_runs"] == 0:
        return "FAILED (%s)" % ", ".join(cell["errors"])
    if cell["allocator"] == baseline:
        m = cell["wall_ms"]
        text = "%s ms" % fmt_num(m["median"])
        if spread_shown and m["n"] > 1:
            text += " (%s-%s)" % (fmt_num(m["min"]), fmt_num(m["max"]))
    else:
        t = cell["time_ratio"]
        text = "%sx" % fmt_num(t["median"])
        if spread_shown and t["n"] > 1:
            text += " (%s-%s)" % (fmt_num(t["min"]), fmt_num(t["max"]))
    if cell["failed_runs"]:
        text += " [%d failed: %s]" % (cell["failed_runs"], ", ".join(cell["errors"]))
    return text


def _grid(results, cell_fn, summary_fn=None, summary_label="geomean"):
    allocators = [a["name"] for a in results["allocators"]]
    cells = {(c["workload"], c["allocator"]): c for c in results["cells"]}
    header = ["workload"] + allocators
    rows = []
    for w in [x["name"] for x in results["workloads"]]:
        rows.append([w] + [cell_fn(cells[(w, a)]) if (w, a) in cells else "-" for a in allocators])
    if summary_fn:
        rows.append([summary_label] + [summary_fn(a) for a in allocators])
    return header, rows


def _markdown(header, rows):
    out = io.StringIO()
    out.write("| " + " | ".join(header) + " |\n")
    out.write("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|\n")
    for r in rows:
        out.write("| " + " | ".join(r) + " |\n")
    return out.getvalue()


def _plain(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).ljust(wd) if i == 0 else str(x).rjust(wd) for i, (x, wd) in enumerate(zip(r, widths)))
    return "\n".join([line(header), "  ".join("-" * wd for wd in widths)] + [line(r) for r in rows]) + "\n"


def _time_grid(results, spread_shown=True):
    summary = results["summary"]

    def geo(a):
        if a == BASELINE:
            return "1.00x"
        return "%sx" % fmt_num(summary[a]["time_ratio_geomean"])
    return _grid(results, lambda c: _cell_text(c, spread_shown=spread_shown), geo)


def _rss_grid(results):
    summary = results["summary"]

    def cell(c):
        if c["ok_runs"] == 0:
            return "FAILED"
        return "%s MB" % fmt_num(c["peak_rss_mb"]["median"], 1)

    def geo(a):
        return "%sx" % fmt_num(summary[a]["rss_ratio_geomean"])
    return _grid(results, cell, geo, "geomean ratio")


def terminal_table(results):
    """The time table (glibc in ms, the others as a ratio to glibc) and the
    peak RSS table, as plain text."""
    n = results["config"]["repetitions"]
    out = ["Wall time: glibc in ms, others as time / glibc time (< 1 is faster); median of %d, min-max of the per-repetition ratios" % n]
    out.append(_plain(*_time_grid(results)))
    out.append("Peak RSS of the driver process (VmHWM, median), last row: geometric mean of the ratio to glibc")
    out.append(_plain(*_rss_grid(results)))
    if results.get("notes"):
        out.append("Notes:\n" + "\n".join("  - " + n for n in results["notes"]))
    return "\n".join(out) + "\n"


def _details(results):
    header = ["workload", "allocator", "wall ms (min-max)", "time / glibc", "Mallocs/s",
              "mean ns", "p50 ns", "p99 ns", "p99.9 ns", "peak RSS MB", "overhead %", "frag %"]
    rows = []
    for c in results["cells"]:
        if c["ok_runs"] == 0:
            rows.append([c["workload"], c["allocator"], "FAILED: " + ", ".join(c["errors"])] + [""] * 9)
            continue
        m = c["wall_ms"]
        rows.append([
            c["workload"], c["allocator"],
            "%s (%s-%s)" % (fmt_num(m["median"]), fmt_num(m["min"]), fmt_num(m["max"])),
            fmt_num(c["time_ratio"]["median"]),
            fmt_num((c["allocs_per_sec"]["median"] or 0) / 1e6),
            fmt_num(c["lat_mean_ns"]["median"], 1), fmt_num(c["lat_p50_ns"]["median"], 1),
            fmt_num(c["lat_p99_ns"]["median"], 1), fmt_num(c["lat_p999_ns"]["median"], 1),
            fmt_num(c["peak_rss_mb"]["median"], 1), fmt_num(c["overhead_pct"]["median"], 0),
            fmt_num(c["fragmentation_pct"]["median"], 1),
        ])
    return header, rows


def _stratalloc_table(results):
    names = [a["name"] for a in results["allocators"] if a["kind"] == "stratalloc"]
    header = ["workload", "strategy", "frag % at peak", "sa overhead % at peak", "peak mapped MB", "cache hit %"]
    rows = []
    for c in results["cells"]:
        if c["allocator"] in names and c["ok_runs"]:
            rows.append([c["workload"], c["allocator"], fmt_num(c["fragmentation_pct"]["median"], 1),
                         fmt_num(c["sa_overhead_pct"]["median"], 1), fmt_num(c["sa_peak_mapped_mb"]["median"], 1),
                         fmt_num(c["cache_hit_rate_pct"]["median"], 1)])
    return header, rows


CHARTS = [("time_ratio.png", "Wall time relative to glibc"),
          ("peak_rss.png", "Peak RSS"),
          ("latency.png", "Latency percentiles per call")]


def write_markdown(results, path, charts):
    m = results["machine"]
    cfg = results["config"]
    with open(path, "w") as f:
        f.write("# stratalloc comparison report\n\n")
        f.write("%s, %s\n\n" % (results["created"], "quick run" if cfg.get("quick") else "default run"))
        f.write("Machine: %s, %s cores, Linux %s, %s%s.\n\n" % (
            m.get("cpu_model"), m.get("cores"), m.get("kernel"), m.get("glibc"),
            (", git " + m["git_commit"]) if m.get("git_commit") else ""))
        f.write("Command: `%s`\n\n" % results["commands"]["orchestrator"])
        f.write("Each cell: the same driver binary (`bench/compare_driver`), one process per run, "
                "the allocator switched by `LD_PRELOAD`; %d repetitions, allocators interleaved "
                "(the order rotates every repetition); median, and min-max over repetitions.\n\n" % cfg["repetitions"])
        f.write("## Wall time\n\nglibc in ms; every other allocator as its time / glibc's time "
                "(< 1 is faster), min-max of the per-repetition ratios in parentheses. "
                "Last row: geometric mean of the ratios.\n\n")
        f.write(_markdown(*_time_grid(results)))
        f.write("\n## Peak RSS\n\nPeak resident set of the driver process during the timed pass "
                "(VmHWM, binary and libraries included); "
                "last row: geometric mean of the ratio to glibc.\n\n")
        f.write(_markdown(*_rss_grid(results)))
        f.write("\n## Every cell\n\nLatency per call (malloc, free and realloc together), sampled "
                "with the calibrated TSC, timer cost subtracted; overhead % = peak RSS growth during "
                "the run over the peak live requested bytes, minus 100; frag % = external "
                "fragmentation of a stratalloc heap at the workload's peak live set.\n\n")
        f.write(_markdown(*_details(results)))
        h, rows = _stratalloc_table(results)
        if rows:
            f.write("\n## stratalloc statistics (from the common layer, sa_stats_write at the peak live set)\n\n")
            f.write(_markdown(h, rows))
        if charts:
            f.write("\n## Charts\n\n")
            for name, title in CHARTS:
                if name in charts:
                    f.write("![%s](%s)\n\n" % (title, name))
        if results.get("perf"):
            f.write("\n## perf\n\n")
            f.write(perf_markdown(results["perf"]))
        failures = [c for c in results["cells"] if c["failed_runs"]]
        if failures:
            f.write("\n## Failures\n\n")
            for c in failures:
                f.write("- %s under %s: %d of %d runs failed (%s)\n" % (
                    c["workload"], c["allocator"], c["failed_runs"], c["runs"], ", ".join(c["errors"])))
        f.write("\n## Workloads\n\n")
        for w in results["workloads"]:
            f.write("- `%s`: %s (peak live requested: %s MB)\n" % (
                w["name"], w.get("help", ""), fmt_num((w.get("peak_live_bytes") or 0) / 1048576.0)))
        f.write("\n## Allocators\n\n")
        for a in results["allocators"]:
            f.write("- `%s`: %s\n" % (a["name"], a.get("library") or "no LD_PRELOAD (the system allocator)"))
        if results.get("notes"):
            f.write("\n## Notes\n\n" + "".join("- %s\n" % n for n in results["notes"]))
        f.write("\nExact command of every run: `results.json` (`runs[].command`).\n")


def perf_markdown(perf):
    out = io.StringIO()
    if perf.get("error"):
        out.write("perf: %s\n\n" % perf["error"])
    events = perf.get("events") or []
    if perf.get("stat"):
        out.write("`perf stat` per run, summed over the workloads: %s.\n\n" % ", ".join(events))
        header = ["allocator"] + events
        rows = [[a] + [fmt_num(v.get(e)) if v.get(e) is not None else "n/a" for e in events]
                for a, v in perf["stat"].items()]
        out.write(_markdown(header, rows))
    if perf.get("top"):
        out.write("\nTop symbols (`perf record -e cpu-clock -g`, self time, every workload):\n\n")
        for a, syms in perf["top"].items():
            out.write("- **%s**: %s\n" % (a, "; ".join("%s %s%%" % (s["symbol"], s["pct"]) for s in syms) or "-"))
    out.write("\n")
    return out.getvalue()


def write_csv(results, path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        head = ["workload", "allocator", "ok_runs", "failed_runs", "errors"]
        for m in CSV_METRICS:
            head += [m, m + "_min", m + "_max"]
        w.writerow(head)
        for c in results["cells"]:
            row = [c["workload"], c["allocator"], c["ok_runs"], c["failed_runs"], ";".join(c["errors"])]
            for m in CSV_METRICS:
                s = c[m]
                row += ["" if s[k] is None else "%.6g" % s[k] for k in ("median", "min", "max")]
            w.writerow(row)


def write_charts(results, out_dir):
    """The PNG charts; returns the names written. Raises ImportError when
    matplotlib is missing (the caller notes it)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    allocators = [a["name"] for a in results["allocators"]]
    workloads = [w["name"] for w in results["workloads"]]
    cells = {(c["workload"], c["allocator"]): c for c in results["cells"]}
    width = 0.8 / max(1, len(allocators))
    written = []

    def grouped(ax, metric, key="median"):
        for i, a in enumerate(allocators):
            ys = []
            for w in workloads:
                c = cells.get((w, a))
                v = c[metric][key] if c and c["ok_runs"] else None
                ys.append(v if v is not None else 0)
            xs = [j + (i - (len(allocators) - 1) / 2) * width for j in range(len(workloads))]
            ax.bar(xs, ys, width, label=a)
        ax.set_xticks(range(len(workloads)))
        ax.set_xticklabels(workloads, rotation=30, ha="right")

    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(workloads) + 2), 5))
    grouped(ax, "time_ratio")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_ylabel("wall time / glibc (log, < 1 faster)")
    ax.set_title("Time relative to glibc, median of %d" % results["config"]["repetitions"])
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "time_ratio.png"), dpi=90)
    plt.close(fig)
    written.append("time_ratio.png")

    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(workloads) + 2), 5))
    grouped(ax, "peak_rss_mb")
    ax.set_ylabel("peak RSS (MB)")
    ax.set_title("Peak RSS of the process, median")
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "peak_rss.png"), dpi=90)
    plt.close(fig)
    written.append("peak_rss.png")

    cols = 3
    nrows = (len(workloads) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.0 * nrows), squeeze=False)
    for k, w in enumerate(workloads):
        ax = axes[k // cols][k % cols]
        for j, (metric, label) in enumerate((("lat_p50_ns", "p50"), ("lat_p99_ns", "p99"), ("lat_p999_ns", "p99.9"))):
            ys = []
            for a in allocators:
                c = cells.get((w, a))
                v = c[metric]["median"] if c and c["ok_runs"] else None
                ys.append(max(v, 1.0) if v is not None else 0)
            ax.bar([i + (j - 1) * 0.27 for i in range(len(allocators))], ys, 0.27, label=label)
        ax.set_yscale("log")
        ax.set_title(w, fontsize="small")
        ax.set_xticks(range(len(allocators)))
        ax.set_xticklabels(allocators, rotation=45, ha="right", fontsize="x-small")
        if k == 0:
            ax.legend(fontsize="x-small")
            ax.set_ylabel("ns per call")
    for k in range(len(workloads), nrows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "latency.png"), dpi=80)
    plt.close(fig)
    written.append("latency.png")
    return written


def write_report(results, out_dir):
    """Writes every file of the report into out_dir; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    charts = []
    try:
        charts = write_charts(results, out_dir)
    except ImportError as e:
        results.setdefault("notes", []).append("charts not drawn: matplotlib unavailable (%s); "
                                               "install python3-matplotlib" % e)
    paths = [os.path.join(out_dir, n) for n in ("report.md", "results.json", "results.csv")]
    write_markdown(results, paths[0], charts)
    with open(paths[1], "w") as f:
        json.dump(results, f, indent=1, sort_keys=False)
        f.write("\n")
    write_csv(results, paths[2])
    return paths + [os.path.join(out_dir, c) for c in charts]

"""Aggregation and the report writer of //bench:compare.

    cells, summary = aggregate(runs, allocators, benches, peak_live, baseline)
    text = terminal_table(results)            # what the terminal shows
    paths = write_report(results, out_dir)    # report.md, results.json,
                                              # results.csv, *.png (charts.py)

`runs` are the per-process results (one dict per repetition x benchmark x
allocator, see main.py); `results` is the dict that becomes results.json.
"""

import csv
import io
import json
import os
import textwrap

try:  # package import (tests) or flat (script dir on sys.path)
    from . import stats
except ImportError:  # pragma: no cover
    import stats

TIME_ESTIMATOR = "low_mean"   # see stats.py: timings here are bimodal
RSS_ESTIMATOR = "median"      # memory is not: the median is the usual figure
TERMINAL_BLOCK = 6            # allocator columns per terminal table (120 columns)


def _kb_to_mb(key):
    return lambda r: r[key] / 1024.0 if r.get(key) is not None else None


def _lat(key):
    return lambda r: ((r.get("latency") or {}).get("all") or {}).get(key)


def _sa(key, where="sa_stats_peak"):
    return lambda r: (r.get(where) or {}).get(key)


def _mapped_mb(r):
    v = _sa("peak_mapped_bytes", "sa_stats_end")(r)
    return v / 1048576.0 if v is not None else None


# Metrics of a run: name -> function of the run dict giving a number or None.
METRICS = {
    "wall_ms": lambda r: r["wall_ns"] / 1e6 if r.get("wall_ns") is not None else None,
    "cpu_ms": lambda r: r.get("cpu_ms"),
    "allocs_per_sec": lambda r: r.get("allocs_per_sec"),
    "lat_mean_ns": _lat("mean_ns"),
    "lat_p50_ns": _lat("p50_ns"),
    "lat_p99_ns": _lat("p99_ns"),
    "lat_p999_ns": _lat("p999_ns"),
    "peak_rss_mb": _kb_to_mb("peak_rss_kb"),
    "tree_peak_rss_mb": _kb_to_mb("tree_peak_rss_kb"),
    "rss_end_mb": _kb_to_mb("rss_end_kb"),
    "rss_idle_mb": _kb_to_mb("rss_idle_kb"),
    "minflt": lambda r: r.get("minflt"),
    "majflt": lambda r: r.get("majflt"),
    "csw": lambda r: r.get("csw"),
    "fragmentation_pct": _sa("fragmentation_pct"),
    "sa_peak_mapped_mb": _mapped_mb,
    "sa_overhead_pct": _sa("overhead_pct"),
    "cache_hit_rate_pct": _sa("cache_hit_rate_pct", "sa_stats_end"),
}
COMPARED = {"time": ("wall_ms", TIME_ESTIMATOR), "rss": ("peak_rss_mb", RSS_ESTIMATOR)}
CSV_METRICS = list(METRICS) + ["overhead_pct"]


def _overhead_pct(run, peak_live):
    delta = run.get("peak_rss_delta_kb")
    if delta is None or delta < 0 or not peak_live:
        return None
    return (delta * 1024.0 / peak_live - 1.0) * 100.0


def _by_cell(runs):
    by = {}
    for r in runs:
        by.setdefault((r["workload"], r["allocator"]), []).append(r)
    return by


def _paired(by, w, a, baseline, fn):
    """fn of the allocator's and the baseline's successful runs of benchmark
    w, paired by repetition (None where one of the two failed or is missing)."""
    base_ok = {r["rep"]: r for r in by.get((w, baseline), []) if r.get("ok")}
    mine = {r["rep"]: r for r in by.get((w, a), []) if r.get("ok")}
    reps = sorted(set(base_ok) | set(mine))
    return ([fn(mine[k]) if k in mine else None for k in reps],
            [fn(base_ok[k]) if k in base_ok else None for k in reps])


def _seed(i_bench, i_alloc, allocators):
    """The bootstrap stream of a cell: fixed by its place in the table."""
    return i_bench * len(allocators) + i_alloc + 1


def aggregate(runs, allocators, benches, peak_live=None, baseline="glibc"):
    """Per (benchmark, allocator): every metric summarised (median, min, max,
    n) and time and peak RSS compared with the baseline (stats.compare: ratio
    of the estimator, bootstrap 95% interval, Mann-Whitney verdict, bimodal
    flag). Returns (cells in benchmark-major order, summary per allocator)."""
    peak_live = peak_live or {}
    by = _by_cell(runs)
    cells = []
    for i, w in enumerate(benches):
        for j, a in enumerate(allocators):
            rs = sorted(by.get((w, a), []), key=lambda r: r["rep"])
            ok = [r for r in rs if r.get("ok")]
            kind = rs[0].get("kind", "workload") if rs else "workload"
            cell = {"workload": w, "kind": kind, "allocator": a, "runs": len(rs), "ok_runs": len(ok),
                    "failed_runs": len(rs) - len(ok),
                    "errors": sorted({r.get("error") or "failed" for r in rs if not r.get("ok")})}
            for name, fn in METRICS.items():
                cell[name] = stats.summarize([fn(r) for r in ok])
            cell["overhead_pct"] = stats.summarize([_overhead_pct(r, peak_live.get(w)) for r in ok])
            extra = sorted({k for r in ok for k in (r.get("metrics") or {})})
            cell["program_metrics"] = {k: stats.summarize([(r.get("metrics") or {}).get(k) for r in ok]) for k in extra}
            for key, (metric, est) in COMPARED.items():
                values, bases = _paired(by, w, a, baseline, METRICS[metric])
                cell[key] = stats.compare(values, bases, stats.ESTIMATORS[est], seed=_seed(i, j, allocators))
                cell[key]["estimator"] = est
                cell[key]["value"] = stats.ESTIMATORS[est](values)
            cells.append(cell)
    return cells, summarize(cells, allocators, baseline)


def unstable_time_cells(runs, allocators, benches, baseline="glibc"):
    """{benchmark: number of its cells whose time verdict aggregate() would
    mark unstable}, computing only that (no intervals, no other metric)."""
    by = _by_cell(runs)
    metric, est = COMPARED["time"]
    estimator = stats.ESTIMATORS[est]
    count = {}
    for i, w in enumerate(benches):
        for j, a in enumerate(allocators):
            values, bases = _paired(by, w, a, baseline, METRICS[metric])
            verdict = stats.verdict_of(values, bases, estimator)[0]
            if stats.instability(values, bases, verdict, estimator, seed=_seed(i, j, allocators))["unstable"]:
                count[w] = count.get(w, 0) + 1
    return count


def summarize(cells, allocators, baseline):
    kinds = [k for k in ("workload", "app", "program") if any(c["kind"] == k for c in cells)]
    summary = {}
    for a in allocators:
        mine = [c for c in cells if c["allocator"] == a]
        s = {"failed_cells": sum(1 for c in mine if c["failed_runs"]), "geomean": {}}
        for key in COMPARED:
            s["geomean"][key] = {"all": stats.geomean([c[key]["ratio"] for c in mine])}
            for k in kinds:
                s["geomean"][key][k] = stats.geomean([c[key]["ratio"] for c in mine if c["kind"] == k])
        if a != baseline:
            s["verdicts"] = {v: sum(1 for c in mine if c["time"]["verdict"] == v) for v in ("faster", "slower", "same")}
            s["unstable_cells"] = sum(1 for c in mine if c["time"]["unstable"])
        summary[a] = s
    return summary


# ---- formatting -------------------------------------------------------------------

def fmt_num(x, digits=2):
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return "%.0f" % x
    if abs(x) >= 100:
        return "%.1f" % x
    return "%.*f" % (digits, x)


def fmt_ms(ms):
    if ms is None:
        return "-"
    return "%s s" % fmt_num(ms / 1e3) if ms >= 1000 else "%s ms" % fmt_num(ms)


KIND_LABEL = {"workload": "synthetic", "app": "apps", "program": "programs"}
MARKS = ("~ no significant difference (Mann-Whitney p >= 0.05); ? unstable verdict (it holds on fewer than "
         "%d%% of bootstrap resamples, or the runs split into two modes: the next run may read differently)" % (
             100 * stats.MIN_STABILITY))


def _half_width_pct(comp):
    lo, hi = comp["ci"]
    r = comp["ratio"]
    if lo is None or hi is None or not r:
        return None
    return 100.0 * max(r - lo, hi - r) / r


def _ratio_text(comp, ci=True):
    if comp["ratio"] is None:
        return "-"
    text = "%sx" % fmt_num(comp["ratio"])
    hw = _half_width_pct(comp)
    if ci and hw is not None:
        text += "±%.0f%%" % hw
    if comp["verdict"] == "same":
        text += "~"
    if comp["unstable"]:
        text += "?"
    return text


def _failed_text(cell, short):
    if short:
        return "FAILED"
    return "FAILED (%s)" % ", ".join(cell["errors"])


def _time_cell(cell, baseline, short=False):
    if cell["ok_runs"] == 0:
        return _failed_text(cell, short)
    if cell["allocator"] == baseline:
        return fmt_ms(cell["time"]["value"])
    text = _ratio_text(cell["time"], ci=True)
    if cell["failed_runs"]:
        text += " [%d failed]" % cell["failed_runs"] if short else " [%d failed: %s]" % (
            cell["failed_runs"], ", ".join(cell["errors"]))
    return text


def _rss_cell(cell, baseline, short=False):
    if cell["ok_runs"] == 0:
        return _failed_text(cell, True)
    if cell["allocator"] == baseline:
        return "%s MB" % fmt_num(cell["rss"]["value"], 1)
    return _ratio_text(cell["rss"], ci=False)


def _grid(results, cell_fn, key, allocs=None):
    base = results["config"].get("baseline", "glibc")
    allocators = allocs or [a["name"] for a in results["allocators"]]
    cells = {(c["workload"], c["allocator"]): c for c in results["cells"]}
    rows = []
    for w in results["workloads"]:
        rows.append([w["name"]] + [cell_fn(cells[(w["name"], a)], base) if (w["name"], a) in cells else "-"
                                   for a in allocators])
    kinds = [k for k in ("workload", "app", "program") if any(w.get("kind", "workload") == k for w in results["workloads"])]
    summary = results["summary"]
    for k in kinds + (["all"] if len(kinds) > 1 else []):
        label = "geomean %s" % (KIND_LABEL.get(k, k))
        n = sum(1 for w in results["workloads"] if k == "all" or w.get("kind", "workload") == k)
        rows.append(["%s (%d)" % (label, n)] + [
            "1.00x" if a == base else "%sx" % fmt_num(summary[a]["geomean"][key].get(k)) for a in allocators])
    return ["workload"] + allocators, rows


def _markdown(header, rows):
    out = io.StringIO()
    out.write("| " + " | ".join(header) + " |\n")
    out.write("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|\n")
    for r in rows:
        out.write("| " + " | ".join(r) + " |\n")
    return out.getvalue()


def _plain(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).ljust(wd) if i == 0 else str(x).rjust(wd)
                               for i, (x, wd) in enumerate(zip(r, widths)))
    return "\n".join([line(header), "  ".join("-" * wd for wd in widths)] + [line(r) for r in rows]) + "\n"


def short_name(name):
    return name.replace("thread_cache+", "tc+")


def _blocks(results):
    """Allocator columns in blocks of TERMINAL_BLOCK, the baseline first in each."""
    base = results["config"].get("baseline", "glibc")
    others = [a["name"] for a in results["allocators"] if a["name"] != base]
    size = TERMINAL_BLOCK - 1
    return [[base] + others[i:i + size] for i in range(0, max(1, len(others)), size)]


def terminal_table(results):
    """Time and peak RSS tables as plain text, at most 120 columns wide:
    benchmarks as rows, allocators in blocks of TERMINAL_BLOCK columns."""
    cfg = results["config"]
    base = cfg.get("baseline", "glibc")
    n = cfg["repetitions"]
    more = ", more where unstable" if cfg.get("extra_rounds") else ""
    out = ["Wall time: %s in ms or s (low mean: the mean of the fastest half of %d runs%s), others as" % (
        base, n, more),
           "time / %s's time (< 1 is faster), ± the 95%% bootstrap interval" % base,
           "  ~ no significant difference (Mann-Whitney p >= 0.05)",
           "  ? unstable: the verdict holds on < %d%% of bootstrap resamples, or the runs split in two modes"
           % (100 * stats.MIN_STABILITY)]
    for block in _blocks(results):
        h, rows = _grid(results, lambda c, b: _time_cell(c, b, short=True), "time", block)
        out.append(_plain(["workload"] + [short_name(a) for a in block], rows))
    out.append("Peak RSS: %s in MB (median), others as a ratio to it" % base)
    for block in _blocks(results):
        h, rows = _grid(results, lambda c, b: _rss_cell(c, b, short=True), "rss", block)
        out.append(_plain(["workload"] + [short_name(a) for a in block], rows))
    if any("thread_cache+" in a["name"] for a in results["allocators"]):
        out.append("tc+X is thread_cache+X.")
    out.append(textwrap.fill(verdict_line(results), 120, subsequent_indent="  "))
    if results.get("notes"):
        out.append("Notes:\n" + "\n".join(textwrap.fill(n, 120, initial_indent="  - ", subsequent_indent="    ")
                                           for n in results["notes"]))
    return "\n".join(out) + "\n"


def verdict_line(results):
    base = results["config"].get("baseline", "glibc")
    parts = []
    for a in results["allocators"]:
        s = results["summary"][a["name"]]
        if a["name"] == base:
            continue
        v = s["verdicts"]
        parts.append("%s %d/%d/%d%s" % (short_name(a["name"]), v["faster"], v["slower"], v["same"],
                                        " (%d?)" % s["unstable_cells"] if s["unstable_cells"] else ""))
    return "Verdicts vs %s (faster/slower/no difference): %s" % (base, "; ".join(parts))


def _details(results):
    header = ["workload", "allocator", "n", "wall (min-max)", "time ratio [95% CI]", "p", "stable", "CPU ms",
              "Mallocs/s",
              "p50 ns", "p99 ns", "peak RSS MB", "RSS idle MB", "minor faults", "overhead %"]
    rows = []
    for c in results["cells"]:
        if c["ok_runs"] == 0:
            rows.append([c["workload"], c["allocator"], "FAILED: " + ", ".join(c["errors"])] + [""] * (len(header) - 3))
            continue
        m, t = c["wall_ms"], c["time"]
        ci = "[%s, %s]" % (fmt_num(t["ci"][0]), fmt_num(t["ci"][1])) if t["ci"][0] is not None else ""
        rows.append([
            c["workload"], c["allocator"], "%d" % c["ok_runs"],
            "%s (%s-%s)" % (fmt_ms(t["value"]), fmt_num(m["min"]), fmt_num(m["max"])),
            "%s %s %s" % (fmt_num(t["ratio"]), ci, t["verdict"] or "") + (" bimodal" if t.get("bimodal") else ""),
            "%.3f" % t["p"] if t["p"] is not None else "-",
            "%.0f%%" % (100 * t["stability"]) if t.get("stability") is not None else "-",
            fmt_num(c["cpu_ms"]["median"], 1),
            fmt_num((c["allocs_per_sec"]["median"] or 0) / 1e6) if c["allocs_per_sec"]["median"] else "-",
            fmt_num(c["lat_p50_ns"]["median"], 1), fmt_num(c["lat_p99_ns"]["median"], 1),
            fmt_num(c["peak_rss_mb"]["median"], 1), fmt_num(c["rss_idle_mb"]["median"], 1),
            fmt_num(c["minflt"]["median"], 0), fmt_num(c["overhead_pct"]["median"], 0),
        ])
    return header, rows


def _memory_grid(results, metric, digits=1):
    allocators = [a["name"] for a in results["allocators"]]
    cells = {(c["workload"], c["allocator"]): c for c in results["cells"]}
    rows = []
    for w in results["workloads"]:
        row = [w["name"]]
        for a in allocators:
            c = cells.get((w["name"], a))
            row.append(fmt_num(c[metric]["median"], digits) if c and c["ok_runs"] else "-")
        if any(x != "-" for x in row[1:]):
            rows.append(row)
    return ["workload"] + allocators, rows


def _stratalloc_table(results):
    names = [a["name"] for a in results["allocators"] if a["kind"] == "stratalloc"]
    header = ["workload", "strategy", "frag % at peak", "sa overhead % at peak", "peak mapped MB", "cache hit %"]
    rows = []
    for c in results["cells"]:
        if c["allocator"] in names and c["ok_runs"] and c["kind"] == "workload":
            rows.append([c["workload"], c["allocator"], fmt_num(c["fragmentation_pct"]["median"], 1),
                         fmt_num(c["sa_overhead_pct"]["median"], 1), fmt_num(c["sa_peak_mapped_mb"]["median"], 1),
                         fmt_num(c["cache_hit_rate_pct"]["median"], 1)])
    return header, rows


def _program_metrics_tables(results):
    """One table per program that reported its own metrics: key x allocator."""
    allocators = [a["name"] for a in results["allocators"]]
    cells = {(c["workload"], c["allocator"]): c for c in results["cells"]}
    out = []
    for w in results["workloads"]:
        keys = sorted({k for a in allocators for k in (cells.get((w["name"], a)) or {}).get("program_metrics", {})})
        if not keys:
            continue
        rows = [[k] + [fmt_num(((cells.get((w["name"], a)) or {}).get("program_metrics", {}).get(k) or {}).get("median"))
                       for a in allocators] for k in keys]
        out.append((w["name"], ["metric (median)"] + allocators, rows))
    return out


# metric, title, what it is: the memory tables of report.md beyond peak RSS.
MEMORY_SECTIONS = [
    ("rss_idle_mb", "RSS one second after the work",
     "A workload's driver, idle for one second after its last free (what the allocator gives back by itself, "
     "without a call); an app that reports `rss_idle_kb` (redis: the server after a second of idle). MB, median."),
    ("tree_peak_rss_mb", "Peak RSS of the whole process tree (apps, programs)",
     "The sum of the resident sets of the command's processes, sampled every 10 ms from /proc by the "
     "orchestrator. MB, median."),
]

CHARTS = [("time_ratio.png", "Wall time relative to the baseline, with 95% intervals"),
          ("peak_rss.png", "Peak RSS"),
          ("latency.png", "Latency percentiles per call"),
          ("rss_timeline.png", "RSS over time of every program and app")]


def write_markdown(results, path, charts):
    m = results["machine"]
    cfg = results["config"]
    base = cfg.get("baseline", "glibc")
    with open(path, "w") as f:
        f.write("# stratalloc comparison report\n\n")
        f.write("%s, %s\n\n" % (results["created"], "quick run" if cfg.get("quick") else "default run"))
        f.write("Machine: %s, %s cores, Linux %s, %s%s.\n\n" % (
            m.get("cpu_model"), m.get("cores"), m.get("kernel"), m.get("glibc"),
            (", git " + m["git_commit"]) if m.get("git_commit") else ""))
        f.write("Command: `%s`\n\n" % results["commands"]["orchestrator"])
        f.write("Method. Each run is one process, the allocator switched by `LD_PRELOAD` (a workload: the same "
                "driver binary `bench/compare_driver`, timed inside; an app or program: `/bin/sh -c COMMAND`, "
                "timed and measured by the orchestrator with wait4). %d repetitions in interleaved blocks: in a "
                "repetition every benchmark runs once under every allocator back to back, the order rotating, "
                "so the runs of one repetition are paired. Every verdict below rests on %d runs of the "
                "allocator and %d of %s (fewer where runs failed: the details table gives n).\n\n" % (
                    cfg["repetitions"], cfg["repetitions"], cfg["repetitions"], base))
        f.write("Statistics. Wall time is estimated by the **low mean**, the mean of the fastest half of the "
                "runs: on these shared VMs a run lands in a fast or a slow mode (about 2x apart, for every "
                "allocator alike) and a median of a few runs picks a mode by chance. The ratio is the "
                "allocator's low mean over %s's; its 95%% interval is a paired bootstrap (%d resamples of "
                "whole repetitions); the verdict is a two-sided Mann-Whitney U test of all the runs at "
                "p < %.2f: *faster*, *slower*, or no significant difference (`~`). `?` marks an unstable verdict: "
                "the same test on %d bootstrap resamples of the repetitions gives it less than %d%% of the time, "
                "or the runs (or the baseline's) split into two groups more than 1.3x apart; such benchmarks "
                "got up to %s extra repetitions before the report (the details table gives every cell's n). "
                "Peak RSS uses the median.\n\n" % (
                    base, stats.BOOTSTRAP_RESAMPLES, stats.ALPHA, stats.STABILITY_RESAMPLES,
                    100 * stats.MIN_STABILITY, cfg.get("extra_repetitions", "no")))
        f.write("## Wall time\n\n%s as its low mean; every other allocator as time / %s's time (< 1 is "
                "faster), ± the half width of the 95%% interval. %s. Last rows: geometric means of the "
                "ratios.\n\n" % (base, base, MARKS))
        f.write(_markdown(*_grid(results, _time_cell, "time")))
        f.write("\n%s\n" % verdict_line(results))
        f.write("\n## Peak RSS\n\nA workload: the driver's VmHWM during its timed pass. An app or program: the "
                "largest resident set of any one of its processes (wait4's ru_maxrss). Ratios to %s's "
                "median.\n\n" % base)
        f.write(_markdown(*_grid(results, _rss_cell, "rss")))
        for metric, title, text in MEMORY_SECTIONS:
            h, rows = _memory_grid(results, metric)
            if rows:
                f.write("\n## %s\n\n%s\n\n" % (title, text))
                f.write(_markdown(h, rows))
        for title, metric, digits in (("CPU time (user + system, ms)", "cpu_ms", 1),
                                      ("Minor page faults", "minflt", 0),
                                      ("Context switches", "csw", 0)):
            h, rows = _memory_grid(results, metric, digits)
            if rows:
                f.write("\n## %s\n\nMedian; a workload's from the driver's getrusage after its timed pass, an "
                        "app's or program's from wait4.\n\n" % title)
                f.write(_markdown(h, rows))
        for name, h, rows in _program_metrics_tables(results):
            f.write("\n## %s: its own metrics\n\n" % name)
            f.write(_markdown(h, rows))
        f.write("\n## Every cell\n\nLatency per call (malloc, free and realloc together), sampled with the "
                "calibrated TSC, timer cost subtracted; overhead %% = peak RSS growth during the run over the "
                "peak live requested bytes, minus 100.\n\n")
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
        f.write("\n## Benchmarks\n\n")
        for w in results["workloads"]:
            live = w.get("peak_live_bytes")
            f.write("- `%s` (%s): %s%s\n" % (w["name"], w.get("kind", "workload"), w.get("help", ""),
                                             " (peak live requested: %s MB)" % fmt_num(live / 1048576.0) if live else ""))
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
        head = ["workload", "kind", "allocator", "ok_runs", "failed_runs", "errors"]
        for key in COMPARED:
            head += [key + "_ratio", key + "_ci_lo", key + "_ci_hi", key + "_p", key + "_verdict", key + "_bimodal"]
        for m in CSV_METRICS:
            head += [m, m + "_min", m + "_max"]
        w.writerow(head)
        num = lambda x: "" if x is None else "%.6g" % x
        for c in results["cells"]:
            row = [c["workload"], c["kind"], c["allocator"], c["ok_runs"], c["failed_runs"], ";".join(c["errors"])]
            for key in COMPARED:
                k = c[key]
                row += [num(k["ratio"]), num(k["ci"][0]), num(k["ci"][1]), num(k["p"]), k["verdict"] or "",
                        int(bool(k["unstable"]))]
            for m in CSV_METRICS:
                s = c[m]
                row += [num(s[x]) for x in ("median", "min", "max")]
            w.writerow(row)


def write_report(results, out_dir, charts=True):
    """Writes every file of the report into out_dir; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    drawn = []
    if charts:
        try:
            try:
                from . import charts as charts_mod
            except ImportError:  # pragma: no cover
                import charts as charts_mod
            drawn = charts_mod.write_charts(results, out_dir)
        except ImportError as e:
            results.setdefault("notes", []).append("charts not drawn: matplotlib unavailable (%s); "
                                                   "install python3-matplotlib" % e)
    else:
        results.setdefault("notes", []).append("charts not drawn (--no-charts)")
    paths = [os.path.join(out_dir, n) for n in ("report.md", "results.json", "results.csv")]
    write_markdown(results, paths[0], drawn)
    with open(paths[1], "w") as f:
        json.dump(results, f, indent=1, sort_keys=False)
        f.write("\n")
    write_csv(results, paths[2])
    return paths + [os.path.join(out_dir, c) for c in drawn]

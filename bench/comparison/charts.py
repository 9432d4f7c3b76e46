"""The PNG charts of a comparison report (matplotlib, Debian's
python3-matplotlib). write_charts(results, out_dir) returns the file names
written; a missing matplotlib raises ImportError (the caller notes it)."""

import os


def _setup():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _cells(results):
    return {(c["workload"], c["allocator"]): c for c in results["cells"]}


def _grouped(ax, results, benches, allocators, value, err=None):
    cells = _cells(results)
    width = 0.8 / max(1, len(allocators))
    for i, a in enumerate(allocators):
        ys, lo, hi = [], [], []
        for w in benches:
            c = cells.get((w, a))
            v = value(c) if c and c["ok_runs"] else None
            ys.append(v if v is not None else 0)
            if err:
                e = err(c) if c and c["ok_runs"] and v is not None else None
                lo.append(max(0.0, v - e[0]) if e and e[0] is not None else 0)
                hi.append(max(0.0, e[1] - v) if e and e[1] is not None else 0)
        xs = [j + (i - (len(allocators) - 1) / 2) * width for j in range(len(benches))]
        ax.bar(xs, ys, width, label=a, yerr=[lo, hi] if err else None, error_kw={"elinewidth": 0.7, "capsize": 1.5})
    ax.set_xticks(range(len(benches)))
    ax.set_xticklabels(benches, rotation=35, ha="right", fontsize="small")


def _save_grid(plt, fig, axes, used, out_dir, name):
    """A grid of small charts: the unused cells blanked, the file written."""
    cols = len(axes[0])
    for k in range(used, len(axes) * cols):
        axes[k // cols][k % cols].axis("off")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, name), dpi=80)
    plt.close(fig)
    return name


def write_charts(results, out_dir):
    plt = _setup()
    base = results["config"].get("baseline", "glibc")
    allocators = [a["name"] for a in results["allocators"]]
    benches = [w["name"] for w in results["workloads"]]
    workloads = [w["name"] for w in results["workloads"] if w.get("kind", "workload") == "workload"]
    written = []
    wide = max(8, 0.9 * len(benches) + 3)

    others = [a for a in allocators if a != base]
    if others:
        fig, ax = plt.subplots(figsize=(wide, 5.5))
        _grouped(ax, results, benches, others, lambda c: c["time"]["ratio"],
                 lambda c: c["time"]["ci"])
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_ylabel("wall time / %s (log; < 1 faster)" % base)
        ax.set_title("Time relative to %s: low mean of %d runs, 95%% bootstrap intervals" % (
            base, results["config"]["repetitions"]))
        ax.legend(fontsize="x-small", ncol=3)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "time_ratio.png"), dpi=90)
        plt.close(fig)
        written.append("time_ratio.png")

    fig, ax = plt.subplots(figsize=(wide, 5.5))
    _grouped(ax, results, benches, allocators, lambda c: c["peak_rss_mb"]["median"])
    ax.set_yscale("log")
    ax.set_ylabel("peak RSS (MB, log)")
    ax.set_title("Peak RSS, median")
    ax.legend(fontsize="x-small", ncol=3)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "peak_rss.png"), dpi=90)
    plt.close(fig)
    written.append("peak_rss.png")

    cells = _cells(results)
    if workloads:
        cols = 3
        nrows = (len(workloads) + cols - 1) // cols
        fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.0 * nrows), squeeze=False)
        for k, w in enumerate(workloads):
            ax = axes[k // cols][k % cols]
            for j, (metric, label) in enumerate((("lat_p50_ns", "p50"), ("lat_p99_ns", "p99"),
                                                 ("lat_p999_ns", "p99.9"))):
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
        written.append(_save_grid(plt, fig, axes, len(workloads), out_dir, "latency.png"))

    timed = [w["name"] for w in results["workloads"] if w.get("kind") in ("app", "program")]
    if timed:
        runs = {}
        for r in results["runs"]:
            if r.get("ok") and r.get("timeline") and (r["workload"], r["allocator"]) not in runs:
                runs[(r["workload"], r["allocator"])] = r  # the first repetition that ran
        cols = 2 if len(timed) > 1 else 1
        nrows = (len(timed) + cols - 1) // cols
        fig, axes = plt.subplots(nrows, cols, figsize=(6.5 * cols, 3.6 * nrows), squeeze=False)
        for k, w in enumerate(timed):
            ax = axes[k // cols][k % cols]
            for a in allocators:
                r = runs.get((w, a))
                if r:
                    ax.plot([t for t, _ in r["timeline"]], [kb / 1024.0 for _, kb in r["timeline"]],
                            label=a, linewidth=0.9)
            ax.set_title("%s (first repetition)" % w, fontsize="small")
            ax.set_xlabel("s", fontsize="small")
            ax.set_ylabel("RSS of the process tree (MB)", fontsize="small")
            if k == 0:
                ax.legend(fontsize="x-small", ncol=2)
        written.append(_save_grid(plt, fig, axes, len(timed), out_dir, "rss_timeline.png"))
    return written

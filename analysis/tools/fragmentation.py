#!/usr/bin/python3
"""analyze_fragmentation_over_time: every registered strategy (or --strategy)
runs a bench workload or replays a trace on a fresh heap; every N operations
the heap is walked for external fragmentation % = (free - largest free) /
free. Writes OUT/fragmentation.csv (one row per sample), OUT/fragmentation.png
(one line per strategy) and OUT/summary.md (average and peak per strategy),
and with --heap-map-at OP a heap map of every strategy at that operation.

    fragmentation.py --replay BIN (--workload NAME | --trace FILE) --out DIR
                     [--every N] [--count N] [--strategy NAME]
                     [--heap-map-at OP|end]
"""
import argparse
import csv
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import heap_map  # noqa: E402


def plot(rows, out, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    series = {}
    for r in rows:
        series.setdefault(r["strategy"], []).append((int(r["op"]), float(r["frag_pct"]),
                                                     int(r["mapped"]), int(r["allocated"])))
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for name, pts in series.items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=name, linewidth=1.2)
        ax2.plot([p[0] for p in pts], [p[2] / 1048576 for p in pts], label=name, linewidth=1.2)
    ax.set_ylabel("external fragmentation %")
    ax.set_ylim(-2, 102)
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    ax2.set_ylabel("mapped MiB")
    ax2.set_xlabel("operations (allocation, realloc and free calls)")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replay", required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--workload")
    src.add_argument("--trace")
    ap.add_argument("--out", required=True)
    ap.add_argument("--every", type=int, default=0)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--strategy", default="all")
    ap.add_argument("--conf")
    ap.add_argument("--heap-map-at")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    csv_path = os.path.join(a.out, "fragmentation.csv")
    json_path = os.path.join(a.out, "replay.json")
    cmd = [a.replay, "--strategy", a.strategy, "--csv", csv_path, "--json", json_path]
    cmd += ["--workload", a.workload] if a.workload else ["--trace", a.trace]
    if a.every:
        cmd += ["--every", str(a.every)]
    if a.count:
        cmd += ["--count", str(a.count)]
    if a.conf:
        cmd += ["--conf", a.conf]
    if a.heap_map_at:
        cmd += ["--dump-at", a.heap_map_at, "--dump-prefix", os.path.join(a.out, "heap_")]
    print("+ " + " ".join(cmd), flush=True)
    rc = subprocess.run(cmd).returncode
    if rc == 2:
        return 2
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    with open(json_path) as f:
        results = json.load(f)["results"]
    source = a.workload or os.path.basename(a.trace)
    png = os.path.join(a.out, "fragmentation.png")
    plot(rows, png, "external fragmentation over time: %s" % source)
    lines = ["# Fragmentation over time: %s" % source, "",
             "Sampled every %s operations (`%s`)." % (a.every or "1/200 of the", " ".join(cmd[1:])), "",
             "| strategy | frag avg % | frag peak % | frag end % | peak mapped MiB | check |",
             "|---|---:|---:|---:|---:|---|"]
    for r in results:
        lines.append("| %s | %.1f | %.1f | %.1f | %.2f | %s |" % (
            r["strategy"], r["frag_avg"], r["frag_peak"], r["frag_final"], r["peak_mapped"] / 1048576,
            "clean" if r["ok"] else "FAILED"))
    lines += ["", "![fragmentation](fragmentation.png)"]
    if a.heap_map_at:
        for r in results:
            target = r["strategy"].replace("+", "_")
            dump = os.path.join(a.out, "heap_%s.dump" % target)
            if os.path.exists(dump):
                name, blocks = heap_map.parse_dump(dump)
                if blocks:
                    out = os.path.join(a.out, "heap_%s.png" % target)
                    heap_map.render(blocks, out, "%s: %s at operation %s" % (r["strategy"], source, a.heap_map_at))
                    lines.append("![heap map %s](heap_%s.png)" % (r["strategy"], target))
    with open(os.path.join(a.out, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print("wrote %s, %s, summary.md" % (csv_path, png))
    return rc


if __name__ == "__main__":
    sys.exit(main())

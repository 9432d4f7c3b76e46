#!/usr/bin/python3
"""configure_for_workload: from a trace, a recommended strategy and SA_CONF,
with the reason for each setting, checked by replaying the trace.

    recommend.py --replay PATH/TO/replay TRACE [--objective memory|speed|balanced]
                 [--repeat 3] [--json OUT.json] [--markdown OUT.md]

1. The trace's profile (trace_summary.py): sizes, lifetimes, threads, live set.
2. Every registered strategy replays the trace with default settings; the
   strategy that is best for the objective is chosen (memory: lowest peak
   mapped bytes, which the deterministic replay reproduces exactly; speed:
   lowest median replay time; balanced: lowest product of the two relative
   to the best of each).
3. Rules turn the profile into candidate settings for that strategy, each
   with its reason. Each candidate is replayed alone against the defaults
   and kept only if it helps the objective by at least 0.5 %.
4. The check: the recommendation (strategy + every kept setting) is replayed
   against that strategy's defaults and against the default strategy's
   defaults, and the verdict printed.

Memory: peak mapped bytes first; at an equal peak, the mapped bytes averaged
over the run (a setting that gives memory back early counts).

The replay is single-threaded (trace order), so a thread cache is judged
without contention: for a program with several allocating threads the
report says so rather than claiming a gain it cannot measure.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import satrace  # noqa: E402
import trace_summary  # noqa: E402

DEFAULT_STRATEGY = "first_fit"
KiB, MiB = 1024, 1024 * 1024

# Which strategies read which key (from strategies/*/ and common/heap.c).
APPLIES = {
    "mmap_threshold": lambda s: True,
    "heap_extension_size": lambda s: s.endswith("first_fit") or s.endswith("buddy"),
    "min_block_size": lambda s: s.endswith("first_fit") or s.endswith("buddy"),
    "retain_empty_chunks": lambda s: s.endswith("first_fit") or s.endswith("buddy"),
    "retain_empty_slabs": lambda s: s.endswith("segregated"),
    "enable_aggressive_coalescing": lambda s: s.endswith("first_fit") or s.endswith("buddy"),
    "cache_fill_threshold": lambda s: s.startswith("thread_cache+"),
    "cache_flush_threshold": lambda s: s.startswith("thread_cache+"),
}


def human(n):
    for unit, s in (("g", 1 << 30), ("m", MiB), ("k", KiB)):
        if n >= s and n % s == 0:
            return "%d%s" % (n // s, unit)
    return str(n)


def pow2_at_least(n):
    p = 1
    while p < n:
        p <<= 1
    return p


def replay(replay_bin, trace, strategy, conf, repeat):
    with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
        cmd = [replay_bin, "--trace", trace, "--strategy", strategy, "--repeat", str(repeat),
               "--quiet", "--json", tmp.name]
        if conf:
            cmd += ["--conf", conf]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode == 2:
            raise RuntimeError("replay failed: %s\n%s" % (" ".join(cmd), p.stderr))
        with open(tmp.name) as f:
            data = json.load(f)
    return {r["strategy"]: r for r in data["results"]}


def candidate_settings(strategy, p):
    """Rules: (key, value, reason) for this strategy and profile."""
    out = []
    peak = p["peak_live_bytes"]
    # Large requests: the mmap threshold.
    if p["large_allocations"] >= 16 and p["large_sizes_p50"] <= 1 * MiB:
        v = min(4 * MiB, pow2_at_least(p["size_p999"] + 1))
        out.append(("mmap_threshold", human(max(v, 256 * KiB)),
                    "%d allocations above the default 128k threshold (median %s): each is an mmap "
                    "and a munmap; serving them from the heap avoids the system calls"
                    % (p["large_allocations"], human(p["large_sizes_p50"]))))
    elif p["size_max"] <= 32 * KiB and p["large_allocations"] == 0:
        out.append(("mmap_threshold", "64k",
                    "no request above %s: a lower threshold bounds the largest heap block "
                    "(buddy's top order, first_fit's worst split) without sending any of this "
                    "program's requests to the OS" % human(p["size_max"]) if p["size_max"] else "0"))
    # Growth step: the heap extension.
    if peak < 512 * KiB:
        out.append(("heap_extension_size", "256k",
                    "peak live set %s: a 1m extension maps several times what the program uses; "
                    "256k keeps mapped memory near the live set" % trace_summary._human(peak)))
    elif peak > 32 * MiB:
        v = min(64 * MiB, pow2_at_least(peak // 16))
        out.append(("heap_extension_size", human(v),
                    "peak live set %s: growing in %s steps takes ~16 mappings instead of %d"
                    % (trace_summary._human(peak), human(v), peak // MiB)))
    # Small blocks: the minimum block.
    if p["tiny_share"] < 0.05 and p["size_p50"] >= 96:
        out.append(("min_block_size", "64",
                    "only %.0f%% of requests are <= 64 B (median %d B): a 64-byte minimum block "
                    "leaves no slivers that no request can use" % (100 * p["tiny_share"], p["size_p50"])))
    # Reuse after a drop: retained chunks or slabs.
    if p["live_swings"] >= 2:
        key = "retain_empty_slabs" if strategy.endswith("segregated") else "retain_empty_chunks"
        out.append((key, "4", "the live set fell below half its peak and grew back %d times: "
                    "keeping empty %s mapped avoids unmapping and remapping them"
                    % (p["live_swings"], "slabs" if key.endswith("slabs") else "chunks")))
    elif p["final_live_bytes"] < peak / 4 and peak > 4 * MiB:
        key = "retain_empty_slabs" if strategy.endswith("segregated") else "retain_empty_chunks"
        out.append((key, "0", "the live set ends at %s after a %s peak and never grows back: "
                    "returning empty %s gives memory back" % (
                        trace_summary._human(p["final_live_bytes"]), trace_summary._human(peak),
                        "slabs" if key.endswith("slabs") else "chunks")))
    # Frees in bulk: deferred coalescing.
    if p["free_run_p99"] >= 64:
        out.append(("enable_aggressive_coalescing", "0",
                    "frees come in runs (p99 run %d frees in a row): merging neighbours in bulk "
                    "is cheaper than on every free" % p["free_run_p99"]))
    # Thread cache batches.
    if strategy.startswith("thread_cache+"):
        if p["short_lived_share"] > 0.8:
            out.append(("cache_fill_threshold", "8",
                        "%.0f%% of blocks die within 100 allocations: a small batch serves the "
                        "malloc/free ping-pong and holds less memory" % (100 * p["short_lived_share"])))
            out.append(("cache_flush_threshold", "16", "with fill 8, a bin of 16 blocks flushes half"))
        elif p["peak_live_blocks"] > 100000:
            out.append(("cache_fill_threshold", "64",
                        "%d live blocks at peak: bigger batches, fewer trips to the back-end"
                        % p["peak_live_blocks"]))
            out.append(("cache_flush_threshold", "128", "twice the fill batch"))
    return [s for s in out if APPLIES[s[0]](strategy)]


def score(r, best_mem, best_ms, objective):
    if objective == "memory":
        return (r["peak_mapped"], r["mean_mapped"], r["ms"])
    if objective == "speed":
        return (r["ms"], r["peak_mapped"])
    return (r["peak_mapped"] / max(1, best_mem) * r["ms"] / max(1e-9, best_ms), 0)


def improves(new, base, objective):
    """At least 0.5 % better on the objective (memory: peak mapped, exact;
    speed: replay time; balanced: both, as their product)."""
    if new["check_failures"] or new["tag_mismatches"]:
        return False
    if objective == "memory":
        # Peak mapped first; at an equal peak, the mapped bytes averaged over
        # the run (memory given back early counts).
        if new["peak_mapped"] <= base["peak_mapped"] * 0.995:
            return True
        return (new["peak_mapped"] <= base["peak_mapped"] * 1.001 and
                new["mean_mapped"] <= base["mean_mapped"] * 0.98)
    if objective == "speed":
        return new["ms"] <= base["ms"] * 0.995
    return new["peak_mapped"] * new["ms"] <= base["peak_mapped"] * base["ms"] * 0.995


def configure_for_workload(replay_bin, trace, objective="memory", repeat=3, log=sys.stdout):
    summary = trace_summary.load_summary(trace)
    p = summary["profile"]
    strategies = subprocess.run([replay_bin, "--list"], stdout=subprocess.PIPE, text=True,
                                check=True).stdout.split()
    defaults = {}
    for s in strategies:
        defaults.update(replay(replay_bin, trace, s, None, repeat))
    ok = {s: r for s, r in defaults.items() if r["ok"]}
    best_mem = min(r["peak_mapped"] for r in ok.values())
    best_ms = min(r["ms"] for r in ok.values())
    ranked = sorted(ok, key=lambda s: score(ok[s], best_mem, best_ms, objective))
    chosen = ranked[0]
    reasons = []
    reasons.append("best of %d strategies on the objective '%s' with default settings: peak mapped "
                   "%s, replay %.2f ms (next: %s, %s, %.2f ms)" % (
                       len(ok), objective, trace_summary._human(ok[chosen]["peak_mapped"]),
                       ok[chosen]["ms"], ranked[1] if len(ranked) > 1 else "-",
                       trace_summary._human(ok[ranked[1]]["peak_mapped"]) if len(ranked) > 1 else "-",
                       ok[ranked[1]]["ms"] if len(ranked) > 1 else 0))
    def measured(s):
        r = defaults.get(s)
        return ("measured: %s peak mapped %s, %.2f ms" % (s, trace_summary._human(r["peak_mapped"]), r["ms"])
                if r else "not registered")
    if p["small_share"] > 0.9:
        reasons.append("profile hint: %.0f%% of requests <= 1 KiB, where size classes without a "
                       "header (segregated) usually do well (%s)" % (100 * p["small_share"], measured("segregated")))
    if p["pow2_share"] > 0.5:
        reasons.append("profile hint: %.0f%% of requests are powers of two, which buddy serves "
                       "without rounding (%s)" % (100 * p["pow2_share"], measured("buddy")))
    if p["size_p90"] > 1024 and p["pow2_share"] < 0.2:
        reasons.append("profile hint: mixed sizes above 1 KiB (p90 %d B) favour exact fits "
                       "(%s)" % (p["size_p90"], measured("first_fit")))
    if p["alloc_threads"] >= 2:
        reasons.append("profile: %d allocating threads, %.1f%% cross-thread frees; the replay is "
                       "single-threaded, so a thread cache's gain under contention is not measured "
                       "here (thread_cache+%s is the variant to try in the program itself)" % (
                           p["alloc_threads"], 100 * p["cross_thread_free_share"],
                           chosen.split("+")[-1]))
    base = ok[chosen]
    settings = []
    for key, value, why in candidate_settings(chosen, p):
        r = replay(replay_bin, trace, chosen, "%s:%s" % (key, value), repeat)[chosen]
        keep = improves(r, base, objective)
        settings.append({"key": key, "value": value, "reason": why, "kept": keep,
                         "peak_mapped": r["peak_mapped"], "ms": r["ms"],
                         "mean_mapped": r["mean_mapped"], "base_mean_mapped": base["mean_mapped"],
                         "base_peak_mapped": base["peak_mapped"], "base_ms": base["ms"]})
    conf = ",".join("%s:%s" % (s["key"], s["value"]) for s in settings if s["kept"])
    final = replay(replay_bin, trace, chosen, conf, repeat)[chosen] if conf else base
    default = ok.get(DEFAULT_STRATEGY, defaults.get(DEFAULT_STRATEGY))
    if conf and not improves(final, base, objective):
        # The settings each helped alone but not together: keep the best single one.
        singles = [s for s in settings if s["kept"]]
        singles.sort(key=lambda s: (s["peak_mapped"], s["ms"]) if objective == "memory" else (s["ms"], s["peak_mapped"]))
        for s in singles[1:]:
            s["kept"] = False
            s["reason"] += " (dropped: no gain combined with %s)" % singles[0]["key"]
        conf = "%s:%s" % (singles[0]["key"], singles[0]["value"])
        final = replay(replay_bin, trace, chosen, conf, repeat)[chosen]
    rec = {"trace": trace, "objective": objective, "strategy": chosen, "sa_conf": conf,
           "strategy_reasons": reasons, "settings": settings, "profile": p,
           "check": {"recommended": final, "strategy_defaults": base, "default_strategy": default,
                     "all_defaults": defaults},
           "verdict": None}
    rec["verdict"] = verdict(rec)
    return rec


def verdict(rec):
    f, b, d = (rec["check"]["recommended"], rec["check"]["strategy_defaults"],
               rec["check"]["default_strategy"])

    def cmp(x, y):
        return "peak mapped %s vs %s (%+.1f%%), mean mapped %s vs %s, time %.2f vs %.2f ms (%+.1f%%)" % (
            trace_summary._human(x["peak_mapped"]), trace_summary._human(y["peak_mapped"]),
            100.0 * (x["peak_mapped"] / max(1, y["peak_mapped"]) - 1),
            trace_summary._human(int(x["mean_mapped"])), trace_summary._human(int(y["mean_mapped"])), x["ms"], y["ms"],
            100.0 * (x["ms"] / max(1e-9, y["ms"]) - 1))
    lines = ["recommended vs %s defaults: %s" % (rec["strategy"], cmp(f, b))]
    if d and d is not b:
        lines.append("recommended vs %s defaults: %s" % (DEFAULT_STRATEGY, cmp(f, d)))
    lines.append("check: %s" % ("clean" if f["ok"] else "FAILED"))
    return lines


def markdown(rec):
    out = ["# configure_for_workload: %s" % rec["trace"], "",
           "Objective: **%s**. Recommended: **%s** with `SA_CONF=%s`" % (
               rec["objective"], rec["strategy"], rec["sa_conf"] or "(defaults)"), "",
           "Why this strategy:", ""]
    out += ["- " + r for r in rec["strategy_reasons"]]
    out += ["", "Settings (each replayed alone against the defaults; kept only if it helps):", "",
            "| setting | kept | peak mapped (alone) | mean mapped (alone) | time ms (alone) | reason |", "|---|---|---:|---:|---:|---|"]
    for s in rec["settings"]:
        out.append("| `%s:%s` | %s | %s (defaults %s) | %s (defaults %s) | %.2f (defaults %.2f) | %s |" % (
            s["key"], s["value"], "yes" if s["kept"] else "no",
            trace_summary._human(s["peak_mapped"]), trace_summary._human(s["base_peak_mapped"]),
            trace_summary._human(int(s["mean_mapped"])), trace_summary._human(int(s["base_mean_mapped"])),
            s["ms"], s["base_ms"], s["reason"]))
    if not rec["settings"]:
        out.append("| (none: the profile suggests no change from the defaults) | | | | |")
    out += ["", "Every strategy with default settings (replay, median of runs):", "",
            "| strategy | time ms | peak mapped | mean mapped | frag avg % | frag peak % | check |", "|---|---:|---:|---:|---:|---:|---|"]
    for s, r in rec["check"]["all_defaults"].items():
        out.append("| %s | %.2f | %s | %s | %.1f | %.1f | %s |" % (s, r["ms"], trace_summary._human(r["peak_mapped"]),
                                                         trace_summary._human(int(r["mean_mapped"])),
                                                         r["frag_avg"], r["frag_peak"], "clean" if r["ok"] else "FAILED"))
    f = rec["check"]["recommended"]
    out.append("| **%s + SA_CONF** | %.2f | %s | %s | %.1f | %.1f | %s |" % (
        rec["strategy"], f["ms"], trace_summary._human(f["peak_mapped"]), trace_summary._human(int(f["mean_mapped"])),
        f["frag_avg"], f["frag_peak"],
        "clean" if f["ok"] else "FAILED"))
    out += ["", "Check:", ""] + ["- " + v for v in rec["verdict"]]
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace")
    ap.add_argument("--replay", required=True, help="the //analysis:replay binary")
    ap.add_argument("--objective", choices=["memory", "speed", "balanced"], default="memory")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    a = ap.parse_args(argv)
    try:
        rec = configure_for_workload(a.replay, a.trace, a.objective, a.repeat)
    except satrace.TraceError as e:
        print("recommend: %s: %s" % (a.trace, e), file=sys.stderr)
        return 2
    except RuntimeError as e:
        print("recommend: %s" % e, file=sys.stderr)
        return 2
    md = markdown(rec)
    sys.stdout.write(md)
    print("\nSA_CONF=%s  (strategy %s: LD_PRELOAD=.../libsa_%s.so)" % (
        rec["sa_conf"], rec["strategy"], rec["strategy"].replace("+", "_")))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rec, f, indent=1)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(md)
    return 0 if rec["check"]["recommended"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Unit tests of bench/comparison/report.py: aggregation (ratios to glibc,
failed runs) and the report writer (every file written and parseable)."""
import csv
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402
import verdict_diff  # noqa: E402


def run(rep, w, a, wall_ms, rss_kb=10240, ok=True, error=None, p50=10.0, frag=None):
    r = {"rep": rep, "workload": w, "allocator": a, "ok": ok, "error": error,
         "command": "driver --workload %s" % w}
    if ok:
        r.update({"wall_ns": wall_ms * 1e6, "allocs_per_sec": 1e6 / wall_ms, "peak_rss_kb": rss_kb,
                  "peak_rss_delta_kb": rss_kb - 2048,
                  "latency": {"all": {"mean_ns": p50 * 1.5, "p50_ns": p50, "p99_ns": p50 * 10, "p999_ns": p50 * 50}}})
        if frag is not None:
            r["sa_stats_peak"] = {"fragmentation_pct": frag, "overhead_pct": 12.5}
            r["sa_stats_end"] = {"peak_mapped_bytes": 4 * 1048576, "cache_hit_rate_pct": 0.0}
    return r


def sample_results():
    runs = []
    for rep, (g, s) in enumerate([(10.0, 5.0), (12.0, 6.0), (11.0, 4.4), (10.5, 5.2), (11.5, 5.5)]):
        runs.append(run(rep, "mixed", "glibc", g))
        runs.append(run(rep, "mixed", "first_fit", s, rss_kb=20480, frag=30.0))
        runs.append(run(rep, "bursty", "glibc", 2 * g))
        runs.append(run(rep, "bursty", "first_fit", 0, ok=False, error="crashed: SIGSEGV"))
        app = {"rep": rep, "workload": "sqlite", "kind": "app", "ok": True, "error": None, "command": "sh sqlite.sh",
               "peak_rss_kb": 30720, "cpu_ms": 900.0, "timeline": [[0.0, 1000], [0.5, 30000], [1.0, 2000]],
               "metrics": {"rows": 1000.0}}
        runs.append(dict(app, allocator="glibc", wall_ns=1e9 + rep * 1e7))
        runs.append(dict(app, allocator="first_fit", wall_ns=1e9 + (4 - rep) * 1e7))
    allocs = ["glibc", "first_fit"]
    workloads = ["mixed", "bursty", "sqlite"]
    cells, summary = report.aggregate(runs, allocs, workloads, {"mixed": 4 * 1048576, "bursty": 1048576})
    return {
        "schema": "stratalloc-compare/2", "created": "2026-11-26T12:00:00+00:00",
        "machine": {"cpu_model": "Test CPU", "cores": 2, "kernel": "6.1", "glibc": "glibc 2.36"},
        "config": {"repetitions": 5, "quick": True, "baseline": "glibc"},
        "commands": {"orchestrator": "./bazelw run //bench:compare -- --quick"},
        "allocators": [{"name": "glibc", "kind": "system", "library": None},
                       {"name": "first_fit", "kind": "stratalloc", "library": "/x/libsa_first_fit.so"}],
        "workloads": [{"name": "mixed", "kind": "workload", "help": "m", "peak_live_bytes": 4 * 1048576},
                      {"name": "bursty", "kind": "workload", "help": "b", "peak_live_bytes": 1048576},
                      {"name": "sqlite", "kind": "app", "help": "sh sqlite.sh"}],
        "runs": runs, "cells": cells, "summary": summary, "notes": ["a note"],
    }


class AggregateTest(unittest.TestCase):
    def setUp(self):
        self.results = sample_results()
        self.cells = {(c["workload"], c["allocator"]): c for c in self.results["cells"]}

    def test_estimator_ratio_and_verdict(self):
        g, s = self.cells[("mixed", "glibc")], self.cells[("mixed", "first_fit")]
        self.assertEqual(g["wall_ms"]["median"], 11.0)
        self.assertEqual((g["wall_ms"]["min"], g["wall_ms"]["max"]), (10.0, 12.0))
        # low mean: the fastest 3 of 5 runs
        self.assertAlmostEqual(g["time"]["value"], (10.0 + 10.5 + 11.0) / 3)
        self.assertAlmostEqual(s["time"]["ratio"], ((4.4 + 5.0 + 5.2) / 3) / ((10.0 + 10.5 + 11.0) / 3))
        self.assertEqual(s["time"]["verdict"], "faster")
        self.assertLess(s["time"]["p"], 0.05)
        lo, hi = s["time"]["ci"]
        self.assertLessEqual(lo, s["time"]["ratio"])
        self.assertGreaterEqual(hi, s["time"]["ratio"])
        self.assertAlmostEqual(g["time"]["ratio"], 1.0)
        self.assertAlmostEqual(s["rss"]["ratio"], 2.0)
        self.assertEqual(s["rss"]["verdict"], "slower")
        self.assertEqual(s["fragmentation_pct"]["median"], 30.0)
        # overhead: (20480-2048) kB over 4 MB live -> 350 %
        self.assertAlmostEqual(s["overhead_pct"]["median"], 350.0)

    def test_app_cell(self):
        c = self.cells[("sqlite", "first_fit")]
        self.assertEqual(c["kind"], "app")
        self.assertEqual(c["time"]["verdict"], "same")  # the same five times in another order
        self.assertEqual(c["program_metrics"]["rows"]["median"], 1000.0)
        self.assertEqual(c["peak_rss_mb"]["median"], 30.0)
        self.assertIn("app", self.results["summary"]["first_fit"]["geomean"]["time"])

    def test_failed_cell(self):
        c = self.cells[("bursty", "first_fit")]
        self.assertEqual(c["ok_runs"], 0)
        self.assertEqual(c["failed_runs"], 5)
        self.assertEqual(c["errors"], ["crashed: SIGSEGV"])
        self.assertIsNone(c["time"]["ratio"])
        self.assertIsNone(c["time"]["verdict"])
        summary = self.results["summary"]["first_fit"]
        self.assertEqual(summary["failed_cells"], 1)
        self.assertEqual(summary["verdicts"], {"faster": 1, "slower": 0, "same": 1})

    def test_terminal_table(self):
        text = report.terminal_table(self.results)
        self.assertIn("10.50 ms", text)   # glibc's low mean on mixed
        self.assertIn("0.46x", text)
        self.assertIn("FAILED", text)
        self.assertIn("geomean synthetic (2)", text)
        self.assertIn("geomean apps (1)", text)
        sqlite = [l for l in text.splitlines() if l.startswith("sqlite")]
        self.assertTrue(sqlite[0].endswith("~"), sqlite)  # no significant difference is marked
        for line in text.splitlines():
            self.assertLessEqual(len(line), 120, line)

    def test_terminal_blocks_fit_120_columns(self):
        results = sample_results()
        names = ["glibc"] + ["thread_cache+segregated%d" % i for i in range(9)]
        results["allocators"] = [{"name": n, "kind": "stratalloc", "library": "/x"} for n in names]
        cells = []
        for c in results["cells"]:
            for n in names[1:]:
                if c["allocator"] == "first_fit":
                    cells.append(dict(c, allocator=n))
            if c["allocator"] == "glibc":
                cells.append(c)
        results["cells"] = cells
        results["summary"] = report.summarize(cells, names, "glibc")
        text = report.terminal_table(results)
        for line in text.splitlines():
            self.assertLessEqual(len(line), 120, line)
        self.assertEqual(text.count("workload  "), 4)  # 9 others: two blocks, time and RSS


class VerdictDiffTest(unittest.TestCase):
    def test_counts(self):
        t = lambda v, u=False: {"verdict": v, "ratio": 0.9, "unstable": u}
        a = {("m", "x"): t("faster"), ("m", "y"): t("same"), ("l", "x"): t("slower", True), ("l", "y"): t(None)}
        b = {("m", "x"): t("faster"), ("m", "y"): t("faster"), ("l", "x"): t("same"), ("l", "y"): t("same")}
        rows, counts = verdict_diff.diff(a, b)
        self.assertEqual(counts, {"cells": 3, "changed": 2, "stable_cells": 2, "stable_changed": 1, "flagged": 1})
        self.assertEqual([r[0] for r in rows], [("l", "x"), ("m", "y")])


class WriterTest(unittest.TestCase):
    def test_every_file_written_and_parses(self):
        results = sample_results()
        with tempfile.TemporaryDirectory() as tmp:
            paths = report.write_report(results, tmp)
            names = sorted(os.path.basename(p) for p in paths)
            self.assertEqual(names, sorted(["report.md", "results.json", "results.csv", "time_ratio.png",
                                            "peak_rss.png", "latency.png", "rss_timeline.png"]))
            with open(os.path.join(tmp, "results.json")) as f:
                data = json.load(f)
            self.assertEqual(data["machine"]["cpu_model"], "Test CPU")
            self.assertEqual(len(data["cells"]), 6)
            with open(os.path.join(tmp, "results.csv")) as f:
                rows = list(csv.DictReader(f))
            self.assertEqual(len(rows), 6)
            mixed = [r for r in rows if r["workload"] == "mixed" and r["allocator"] == "first_fit"][0]
            self.assertAlmostEqual(float(mixed["time_ratio"]), (4.4 + 5.0 + 5.2) / (10.0 + 10.5 + 11.0), places=4)
            self.assertEqual(mixed["time_verdict"], "faster")
            self.assertLessEqual(float(mixed["time_ci_lo"]), float(mixed["time_ratio"]))
            self.assertEqual([r for r in rows if r["allocator"] == "first_fit" and r["workload"] == "bursty"][0]["errors"],
                             "crashed: SIGSEGV")
            with open(os.path.join(tmp, "report.md")) as f:
                md = f.read()
            for needle in ("# stratalloc comparison report", "Test CPU", "--quick", "| mixed |", "| sqlite |",
                           "crashed: SIGSEGV", "(time_ratio.png)", "(rss_timeline.png)", "a note",
                           "Mann-Whitney", "rests on 5 runs", "sqlite: its own metrics"):
                self.assertIn(needle, md)
            for png in ("time_ratio.png", "peak_rss.png", "latency.png", "rss_timeline.png"):
                with open(os.path.join(tmp, png), "rb") as f:
                    self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)

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
    for rep, (g, s) in enumerate([(10.0, 5.0), (12.0, 6.0), (11.0, 4.4)]):
        runs.append(run(rep, "mixed", "glibc", g))
        runs.append(run(rep, "mixed", "first_fit", s, rss_kb=20480, frag=30.0))
        runs.append(run(rep, "bursty", "glibc", 2 * g))
        runs.append(run(rep, "bursty", "first_fit", 0, ok=False, error="crashed: SIGSEGV"))
    allocs = ["glibc", "first_fit"]
    workloads = ["mixed", "bursty"]
    cells, summary = report.aggregate(runs, allocs, workloads, {"mixed": 4 * 1048576, "bursty": 1048576})
    return {
        "schema": "stratalloc-compare/1", "created": "2026-11-26T12:00:00+00:00",
        "machine": {"cpu_model": "Test CPU", "cores": 2, "kernel": "6.1", "glibc": "glibc 2.36"},
        "config": {"repetitions": 3, "quick": True},
        "commands": {"orchestrator": "./bazelw run //bench:compare -- --quick"},
        "allocators": [{"name": "glibc", "kind": "system", "library": None},
                       {"name": "first_fit", "kind": "stratalloc", "library": "/x/libsa_first_fit.so"}],
        "workloads": [{"name": "mixed", "help": "m", "peak_live_bytes": 4 * 1048576},
                      {"name": "bursty", "help": "b", "peak_live_bytes": 1048576}],
        "runs": runs, "cells": cells, "summary": summary, "notes": ["a note"],
    }


class AggregateTest(unittest.TestCase):
    def setUp(self):
        self.results = sample_results()
        self.cells = {(c["workload"], c["allocator"]): c for c in self.results["cells"]}

    def test_medians_and_ratio_to_glibc(self):
        g, s = self.cells[("mixed", "glibc")], self.cells[("mixed", "first_fit")]
        self.assertEqual(g["wall_ms"]["median"], 11.0)
        self.assertEqual((g["wall_ms"]["min"], g["wall_ms"]["max"]), (10.0, 12.0))
        self.assertAlmostEqual(s["time_ratio"]["median"], 5.0 / 11.0)
        # per-repetition pairs: 5/10, 6/12, 4.4/11
        self.assertAlmostEqual(s["time_ratio"]["min"], 0.4)
        self.assertAlmostEqual(s["time_ratio"]["max"], 0.5)
        self.assertAlmostEqual(g["time_ratio"]["median"], 1.0)
        self.assertAlmostEqual(s["rss_ratio"]["median"], 2.0)
        self.assertEqual(s["fragmentation_pct"]["median"], 30.0)
        # overhead: (20480-2048) kB over 4 MB live -> 350 %
        self.assertAlmostEqual(s["overhead_pct"]["median"], 350.0)

    def test_failed_cell(self):
        c = self.cells[("bursty", "first_fit")]
        self.assertEqual(c["ok_runs"], 0)
        self.assertEqual(c["failed_runs"], 3)
        self.assertEqual(c["errors"], ["crashed: SIGSEGV"])
        self.assertIsNone(c["time_ratio"]["median"])
        self.assertEqual(self.results["summary"]["first_fit"]["failed_cells"], 1)
        self.assertAlmostEqual(self.results["summary"]["first_fit"]["time_ratio_geomean"], 5.0 / 11.0)

    def test_terminal_table(self):
        text = report.terminal_table(self.results)
        self.assertIn("11.00 ms (10.00-12.00)", text)
        self.assertIn("0.45x (0.40-0.50)", text)
        self.assertIn("FAILED (crashed: SIGSEGV)", text)
        self.assertIn("geomean", text)


class WriterTest(unittest.TestCase):
    def test_every_file_written_and_parses(self):
        results = sample_results()
        with tempfile.TemporaryDirectory() as tmp:
            paths = report.write_report(results, tmp)
            names = sorted(os.path.basename(p) for p in paths)
            self.assertEqual(names, sorted(["report.md", "results.json", "results.csv",
                                            "time_ratio.png", "peak_rss.png", "latency.png"]))
            with open(os.path.join(tmp, "results.json")) as f:
                data = json.load(f)
            self.assertEqual(data["machine"]["cpu_model"], "Test CPU")
            self.assertEqual(len(data["cells"]), 4)
            with open(os.path.join(tmp, "results.csv")) as f:
                rows = list(csv.DictReader(f))
            self.assertEqual(len(rows), 4)
            mixed = [r for r in rows if r["workload"] == "mixed" and r["allocator"] == "first_fit"][0]
            self.assertAlmostEqual(float(mixed["time_ratio"]), 5.0 / 11.0, places=4)
            self.assertEqual([r for r in rows if r["allocator"] == "first_fit" and r["workload"] == "bursty"][0]["errors"],
                             "crashed: SIGSEGV")
            with open(os.path.join(tmp, "report.md")) as f:
                md = f.read()
            for needle in ("# stratalloc comparison report", "Test CPU", "--quick", "| mixed |",
                           "crashed: SIGSEGV", "![Wall time relative to glibc](time_ratio.png)", "a note"):
                self.assertIn(needle, md)
            for png in ("time_ratio.png", "peak_rss.png", "latency.png"):
                with open(os.path.join(tmp, png), "rb") as f:
                    self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)

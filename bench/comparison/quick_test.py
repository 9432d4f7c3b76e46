"""End-to-end test of //bench:compare: `compare --quick` on two workloads and
two allocators (glibc and the first registered stratalloc strategy), then
every file of the report must exist and parse, and the results must hold a
value for every cell.

Arguments: the --driver and --stratalloc arguments bench/BUILD gives
//bench:compare (so every registered strategy is known to it)."""
import csv
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ARGS = sys.argv[1:]
del sys.argv[1:]
STRATEGIES = [a.split("=", 2)[1] for a in ARGS if a.startswith("--stratalloc=")]
WORKLOADS = ["mixed", "producer_consumer"]


class QuickTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not STRATEGIES:
            raise AssertionError("no --stratalloc argument: is any strategy registered?")
        cls.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        cls.out = os.path.join(cls.tmp, "report")
        cls.allocators = ["glibc", STRATEGIES[0]]
        cmd = ["/usr/bin/python3", os.path.join(HERE, "main.py")] + ARGS + [
            "--quick", "--extra-repetitions", "0", "--workloads", ",".join(WORKLOADS), "--allocators", ",".join(cls.allocators),
            "--out", cls.out]
        cls.proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        sys.stderr.write(cls.proc.stdout[-3000:] + cls.proc.stderr[-2000:])

    def test_exit_status(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        self.assertIn("geomean", self.proc.stdout)

    def test_results_json(self):
        with open(os.path.join(self.out, "results.json")) as f:
            data = json.load(f)
        for key in ("cpu_model", "cores", "kernel", "glibc"):
            self.assertIn(key, data["machine"])
        self.assertIn("//bench:compare", data["commands"]["orchestrator"])
        self.assertEqual([a["name"] for a in data["allocators"]], self.allocators)
        self.assertEqual([w["name"] for w in data["workloads"]], WORKLOADS)
        reps = data["config"]["repetitions"]
        self.assertGreaterEqual(reps, 4)  # fewer could never give a significant verdict
        self.assertEqual(len(data["runs"]), reps * len(WORKLOADS) * len(self.allocators))
        for run in data["runs"]:
            self.assertTrue(run["ok"], run)
            self.assertIn("LD_PRELOAD=" if run["allocator"] != "glibc" else "--workload", run["command"])
        for cell in data["cells"]:
            self.assertEqual(cell["ok_runs"], reps, cell)
            for metric in ("wall_ms", "allocs_per_sec", "lat_p50_ns", "lat_p99_ns", "lat_p999_ns", "peak_rss_mb"):
                self.assertIsNotNone(cell[metric]["median"], (cell["workload"], cell["allocator"], metric))
            self.assertIsNotNone(cell["time"]["ratio"])
            self.assertIsNotNone(cell["time"]["ci"][0])
            self.assertIn(cell["time"]["verdict"], ("faster", "slower", "same"))
            self.assertIsNotNone(cell["rss_idle_mb"]["median"], cell)  # read while the driver lingered
            if cell["allocator"] != "glibc":  # stratalloc stats from the common layer
                self.assertIsNotNone(cell["fragmentation_pct"]["median"], cell)
                self.assertIsNotNone(cell["sa_peak_mapped_mb"]["median"], cell)

    def test_csv_md_png(self):
        with open(os.path.join(self.out, "results.csv")) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), len(WORKLOADS) * len(self.allocators))
        for r in rows:
            float(r["wall_ms"])
            float(r["time_ratio"])
        with open(os.path.join(self.out, "report.md")) as f:
            md = f.read()
        self.assertIn("## Wall time", md)
        for w in WORKLOADS:
            self.assertIn("| %s |" % w, md)
        self.assertIn("Mann-Whitney", md)
        for png in ("time_ratio.png", "peak_rss.png", "latency.png"):
            with open(os.path.join(self.out, png), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", png)
            self.assertIn("(%s)" % png, md)

    def test_unknown_names_are_errors(self):
        base = ["/usr/bin/python3", os.path.join(HERE, "main.py")] + ARGS + ["--out", os.path.join(self.tmp, "x")]
        for flag, bad, valid in (("--allocators", "nosuch", "glibc"), ("--workloads", "nosuch", "mixed")):
            proc = subprocess.run(base + [flag, bad], capture_output=True, text=True, timeout=60)
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn("unknown", proc.stderr)
            self.assertIn(valid, proc.stderr)  # the valid names are listed


if __name__ == "__main__":
    unittest.main(verbosity=2)

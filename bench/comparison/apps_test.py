"""The apps suite in a quick form: every app of bench/apps/apps.programs at
COMPARE_SCALE 0.05 under glibc and one thread_cache strategy, one
repetition: each must pass its own result check, print the same stdout as
on glibc, and be measured (wall time, CPU, peak RSS, an RSS timeline).

Arguments: the --driver, --stratalloc and --apps-file arguments bench/BUILD
gives //bench:compare."""
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
APPS_FILE = next(a.split("=", 1)[1] for a in ARGS if a.startswith("--apps-file="))


def app_names():
    names = []
    with open(APPS_FILE) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                names.append(line.split("=", 1)[0].strip())
    return names


class AppsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        cls.out = os.path.join(cls.tmp, "report")
        cls.strategy = next((s for s in STRATEGIES if s.startswith("thread_cache+")), STRATEGIES[0])
        cmd = ["/usr/bin/python3", os.path.join(HERE, "main.py")] + ARGS + [
            "--workloads", "apps", "--allocators", "glibc," + cls.strategy, "--repetitions", "1",
            "--extra-repetitions", "0", "--scale", "0.05", "--out", cls.out]
        cls.proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        sys.stderr.write(cls.proc.stdout[-4000:] + cls.proc.stderr[-3000:])
        with open(os.path.join(cls.out, "results.json")) as f:
            cls.results = json.load(f)

    def test_every_app_ran_and_matched_glibc(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        names = app_names()
        self.assertGreaterEqual(len(names), 5)
        self.assertEqual([w["name"] for w in self.results["workloads"]], names)
        for cell in self.results["cells"]:
            self.assertEqual(cell["kind"], "app")
            self.assertEqual(cell["ok_runs"], 1, (cell["workload"], cell["allocator"], cell["errors"]))
            for metric in ("wall_ms", "cpu_ms", "peak_rss_mb", "minflt", "tree_peak_rss_mb"):
                self.assertIsNotNone(cell[metric]["median"], (cell["workload"], cell["allocator"], metric))
        for r in self.results["runs"]:
            self.assertTrue(r["timeline"], r["workload"])

    def test_report_has_the_timeline_chart(self):
        with open(os.path.join(self.out, "report.md")) as f:
            md = f.read()
        self.assertIn("(rss_timeline.png)", md)
        self.assertIn("geomean apps", md)


if __name__ == "__main__":
    unittest.main(verbosity=2)

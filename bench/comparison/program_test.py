"""End-to-end tests of //bench:compare on programs and allocators a user
names: --program under two allocators (the output check passes, a
deliberately different output is flagged), a program that fails on glibc is
an error before anything runs, --allocator with a missing, a non-loading and
a non-malloc library is rejected naming the path, --allocator with a real
library and --baseline give ratios against it.

Arguments: the --driver and --stratalloc arguments bench/BUILD gives
//bench:compare."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ARGS = sys.argv[1:]
del sys.argv[1:]
STRATEGIES = dict(a.split("=", 2)[1:] for a in ARGS if a.startswith("--stratalloc="))
FIRST = next(iter(STRATEGIES))
TMP = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))


def compare(*extra, timeout=300):
    out = tempfile.mkdtemp(dir=TMP)
    cmd = ["/usr/bin/python3", os.path.join(HERE, "main.py")] + ARGS + ["--out", out, "--no-charts"] + list(extra)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    results = None
    if os.path.exists(os.path.join(out, "results.json")):
        with open(os.path.join(out, "results.json")) as f:
            results = json.load(f)
    return proc, results


class ProgramTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # sort of a generated file: real work, deterministic output
        cls.proc, cls.results = compare(
            "--allocators", "glibc," + FIRST, "--repetitions", "2",
            "--program", "sort=seq 1 200000 | sort -r | md5sum",
            "--program", "which=if [ -n \"$LD_PRELOAD\" ]; then echo preloaded; else echo plain; fi")
        sys.stderr.write(cls.proc.stdout[-3000:] + cls.proc.stderr[-2000:])

    def cell(self, w, a):
        return next(c for c in self.results["cells"] if c["workload"] == w and c["allocator"] == a)

    def test_only_the_programs_run(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        self.assertEqual([w["name"] for w in self.results["workloads"]], ["sort", "which"])
        self.assertEqual(len(self.results["runs"]), 2 * 2 * 2)

    def test_output_check_passes(self):
        c = self.cell("sort", FIRST)
        self.assertEqual(c["ok_runs"], 2, c["errors"])
        for metric in ("wall_ms", "cpu_ms", "peak_rss_mb", "minflt", "tree_peak_rss_mb"):
            self.assertIsNotNone(c[metric]["median"], metric)
        self.assertIsNotNone(c["time"]["ratio"])
        runs = [r for r in self.results["runs"] if r["workload"] == "sort"]
        for r in runs:
            self.assertTrue(r["timeline"], r)           # sampled from /proc
            self.assertGreater(r["peak_rss_kb"], 1000)  # wait4 of the child, not the orchestrator's
            self.assertIn("/bin/sh", r["command"])
        self.assertEqual(len({r["stdout_sha"] for r in runs}), 1)

    def test_different_output_fails_the_cell(self):
        c = self.cell("which", FIRST)
        self.assertEqual(c["ok_runs"], 0)
        self.assertTrue(any("stdout differs from glibc's at line 1" in e for e in c["errors"]), c["errors"])
        self.assertEqual(self.cell("which", "glibc")["ok_runs"], 2)
        self.assertIn("FAILED", self.proc.stdout)

    def test_allow_output_diff(self):
        proc, results = compare("--allocators", "glibc," + FIRST, "--repetitions", "1", "--allow-output-diff",
                                "--program", "which=if [ -n \"$LD_PRELOAD\" ]; then echo pre; else echo plain; fi")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(all(r["ok"] for r in results["runs"]), results["runs"])

    def test_failing_program_is_an_error_first(self):
        proc, results = compare("--allocators", "glibc," + FIRST, "--program",
                                "bad=echo this went wrong >&2; exit 3")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("bad fails on glibc (exit status 3)", proc.stderr)
        self.assertIn("this went wrong", proc.stderr)
        self.assertIsNone(results)
        self.assertNotIn("runs;", proc.stderr)  # nothing else ran

    def test_programs_file(self):
        path = os.path.join(TMP, "progs.txt")
        with open(path, "w") as f:
            f.write("# two programs\n\nupper = echo abc | tr a-z A-Z\nlines=seq 1 1000 | wc -l\n")
        proc, results = compare("--allocators", "glibc", "--repetitions", "1", "--programs-file", path)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual([w["name"] for w in results["workloads"]], ["upper", "lines"])
        with open(path, "w") as f:
            f.write("no equals sign here\n")
        proc, _ = compare("--allocators", "glibc", "--programs-file", path)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("progs.txt:1: expected NAME=COMMAND", proc.stderr)


class AllocatorTest(unittest.TestCase):
    def rejected(self, path, needle):
        proc, results = compare("--allocators", "glibc,mine", "--allocator", "mine=" + path,
                                "--program", "t=true", timeout=60)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(path, proc.stderr)
        self.assertIn(needle, proc.stderr)
        self.assertIsNone(results)

    def test_missing_library(self):
        self.rejected(os.path.join(TMP, "nosuch.so"), "does not exist")

    def test_library_that_does_not_load(self):
        path = os.path.join(TMP, "garbage.so")
        with open(path, "w") as f:
            f.write("not an ELF file\n")
        self.rejected(path, "does not load")

    def test_library_without_malloc(self):
        libm = next(p for p in ("/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6")
                    if os.path.exists(p))
        self.rejected(libm, "does not answer malloc")

    def test_user_allocator_as_baseline(self):
        path = os.path.abspath(STRATEGIES[FIRST])
        proc, results = compare("--allocators", "glibc,saved", "--allocator", "saved=" + path,
                                "--baseline", "saved", "--workloads", "mixed", "--repetitions", "2", "--scale", "0.2")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(results["config"]["baseline"], "saved")
        self.assertEqual([a["name"] for a in results["allocators"]], ["saved", "glibc"])
        cells = {c["allocator"]: c for c in results["cells"]}
        self.assertAlmostEqual(cells["saved"]["time"]["ratio"], 1.0)
        self.assertIsNotNone(cells["glibc"]["time"]["ratio"])
        self.assertIn("saved", proc.stdout.splitlines()[-20:][0] + proc.stdout)
        # a name that is taken is refused
        proc, _ = compare("--allocator", "glibc=" + path, "--program", "t=true")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("already an allocator", proc.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)

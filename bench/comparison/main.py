#!/usr/bin/env python3
"""//bench:compare: workloads, applications and your own programs on every
allocator, side by side.

    ./bazelw run //bench:compare -- [--allocators a,b] [--workloads x,apps]
        [--program NAME=COMMAND ...] [--programs-file F] [--allocator NAME=PATH.so ...]
        [--baseline NAME] [--repetitions N] [--threads N] [--quick] [--scale F]
        [--perf] [--out DIR]

Three kinds of benchmark share one run: the synthetic workloads (one process
of bench/compare_driver per run, timed inside), the `apps` suite (real
programs from Debian packages driven by bench/apps/*.sh) and the programs a
user names. Every one runs under every selected allocator by LD_PRELOAD:
glibc (nothing preloaded), jemalloc, tcmalloc, mimalloc, every registered
stratalloc library, any --allocator. Repetitions are interleaved blocks: in
each repetition each benchmark runs once on every allocator back to back (the
order rotates), so a repetition's runs are paired. Each cell gets a ratio to
the baseline with a bootstrap 95% interval and a Mann-Whitney verdict (see
stats.py). A table on the terminal; reports/<timestamp>/ with report.md,
results.json, results.csv and charts.
"""

import argparse
import datetime
import hashlib
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections import namedtuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allocators  # noqa: E402
import machine  # noqa: E402
import programs  # noqa: E402
import report  # noqa: E402
import runner  # noqa: E402

# Operations per run where a workload's own default (sized for Google
# Benchmark iterations) is too short for a process-level measurement.
DRIVER_COUNTS = {"malloc_free_loop": 2000000, "malloc_free_loop_mt": 4000000, "realloc_grow": 400000}
QUICK_SCALE = 0.2
QUICK_REPETITIONS = 4
DEFAULT_REPETITIONS = 5
# Latency sampling doubles a workload run; the percentiles of this many
# repetitions are enough, the rest are timed only.
LATENCY_REPETITIONS = 2
# Extra repetitions of unstable benchmarks may take this share of the time
# the base repetitions took.
EXTRA_BUDGET = 0.35
# The apps' COMPARE_SCALE is this times --scale: at scale 1 each app runs
# 1.5-2 s under glibc (bench/apps/README.md); the default run takes them at
# about 1 s, so 5 apps x 10 allocators x 5 repetitions fit its 10 minutes.
APPS_SCALE = 0.5
GROUPS = ("synthetic", "apps", "programs", "all")

# One row of the comparison: a workload of the driver, an app, a program.
Bench = namedtuple("Bench", "name kind help command")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="compare", description=__doc__.split("\n\n")[0])
    p.add_argument("--driver", required=True, help=argparse.SUPPRESS)
    p.add_argument("--stratalloc", action="append", default=[], metavar="NAME=PATH", help=argparse.SUPPRESS)
    p.add_argument("--apps-file", help=argparse.SUPPRESS)
    p.add_argument("--default-stratalloc", help=argparse.SUPPRESS)
    p.add_argument("--allocators", help="comma-separated allocator names, or all (default: glibc, jemalloc, "
                   "tcmalloc, mimalloc, the default strategies that --list marks with *, and every --allocator)")
    p.add_argument("--workloads", help="comma-separated workload, app or program names, or the groups "
                   "synthetic, apps, programs, all (default: synthetic,apps; with --program: programs)")
    p.add_argument("--program", action="append", default=[], metavar="NAME=COMMAND",
                   help="also run COMMAND (through /bin/sh) under every allocator; repeatable")
    p.add_argument("--programs-file", action="append", default=[], metavar="FILE",
                   help="a file of programs, one `name = command` per line (# comments)")
    p.add_argument("--allocator", action="append", default=[], metavar="NAME=PATH.so",
                   help="add a preloadable allocator library; repeatable")
    p.add_argument("--baseline", default="glibc", help="the allocator every ratio is relative to (default glibc)")
    p.add_argument("--allow-output-diff", action="store_true",
                   help="a program's stdout may differ from its glibc run (nondeterministic output)")
    p.add_argument("--program-cwd", help="working directory of --program commands (default: where you ran bazel)")
    p.add_argument("--program-env", action="append", default=[], metavar="KEY=VALUE",
                   help="environment variable for the programs and apps; repeatable")
    p.add_argument("--program-timeout", type=float, default=600.0, help="seconds per program run (default 600)")
    p.add_argument("--repetitions", type=int, help="runs per cell (default %d; --quick: %d)" % (
        DEFAULT_REPETITIONS, QUICK_REPETITIONS))
    p.add_argument("--threads", type=int, help="threads of the multi-threaded workloads (default: theirs, 2)")
    p.add_argument("--quick", action="store_true", help="%.1fx the work, %d repetitions: about 2 minutes" % (
        QUICK_SCALE, QUICK_REPETITIONS))
    p.add_argument("--scale", type=float, help="multiply every workload's and app's work (COMPARE_SCALE)")
    p.add_argument("--extra-repetitions", type=int, metavar="N",
                   help="at most N more repetitions of each benchmark with an unstable verdict "
                        "(default: as many as --repetitions; 0: none)")
    p.add_argument("--extra-budget", type=float, metavar="FRACTION",
                   help="time for the extra repetitions, as a fraction of the base repetitions' "
                        "(default %g; --quick: 0)" % EXTRA_BUDGET)
    p.add_argument("--perf", action="store_true", help="also run perf stat and perf record per allocator")
    p.add_argument("--out", help="report folder (default: reports/<timestamp> in the workspace)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per workload run before it is killed")
    p.add_argument("--list", action="store_true", help="list the allocators, workloads and apps and exit")
    p.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    args = p.parse_args(argv)
    if args.repetitions is not None and args.repetitions < 1:
        p.error("--repetitions must be >= 1")
    if args.threads is not None and not 1 <= args.threads <= 256:
        p.error("--threads must be in 1..256")
    if args.scale is not None and not args.scale > 0:
        p.error("--scale must be > 0")
    for kv in args.program_env:
        if "=" not in kv or kv.startswith("="):
            p.error("--program-env %r: expected KEY=VALUE" % kv)
    return args


def fail(message):
    sys.stderr.write("compare: %s\n" % message)
    sys.exit(2)


# ---- what runs -------------------------------------------------------------------

def list_workloads(driver):
    out = runner.run([driver, "--list"], {}, 30)
    if out["error"]:
        fail("%s --list: %s %s" % (driver, out["error"], " ".join(out["stderr_tail"])))
    result = []
    for line in out["stdout"].decode().splitlines():
        if line.strip():
            name, _, help_text = line.partition("\t")
            result.append(Bench(name, "workload", help_text, None))
    return result


def load_programs(args):
    try:
        apps = programs.parse_file(args.apps_file, kind="app") if args.apps_file else []
        user = programs.parse_specs(args.program)
        for path in args.programs_file:
            user += programs.parse_file(os.path.join(os.environ.get("BUILD_WORKING_DIRECTORY", ""), path))
    except programs.ProgramError as e:
        fail(str(e))
    return ([Bench(p.name, "app", p.command, p.command) for p in apps],
            [Bench(p.name, "program", p.command, p.command) for p in user])


def select_benches(requested, workloads, apps, progs):
    everything = workloads + apps + progs
    try:
        programs.check_unique([programs.Program(b.name, b.kind, b.command, b.kind + " " + b.name) for b in everything],
                              reserved=GROUPS)
    except programs.ProgramError as e:
        fail(str(e))
    groups = {"synthetic": workloads, "apps": apps, "programs": progs, "all": everything}
    if not requested:
        requested = "programs" if progs else "synthetic,apps"
    by = {b.name: b for b in everything}
    chosen = []
    for name in [n.strip() for n in requested.split(",") if n.strip()]:
        if name in groups:
            chosen += groups[name]
        elif name in by:
            chosen.append(by[name])
        else:
            fail("unknown workload %r; valid: %s; groups: %s" % (name, ", ".join(by), ", ".join(GROUPS)))
    seen, result = set(), []
    for b in chosen:
        if b.name not in seen:
            seen.add(b.name)
            result.append(b)
    if not result:
        fail("nothing selected to run (--workloads %s)" % requested)
    return result


def default_names(args):
    """The registered strategies a run without --allocators takes; None: all."""
    if args.default_stratalloc is None:
        return None
    return [n for n in args.default_stratalloc.split(",") if n]


def choose_allocators(args):
    try:
        entries = allocators.catalogue(args.stratalloc, args.allocator)
        chosen = allocators.select(args.allocators, entries, default_names(args))
    except allocators.AllocatorError as e:
        fail(str(e))
    notes, result = [], []
    for a in chosen:
        if a.kind == "system" and a.library and not os.path.exists(a.library):
            notes.append("%s skipped: %s is missing (Debian package %s; ./bazelw installs it)" % (
                a.name, a.library, a.package))
            continue
        result.append(a)
    names = [a.name for a in result]
    if args.baseline not in names:
        base = next((e for e in entries if e.name == args.baseline), None)
        if base is None:
            fail("--baseline %s is not an allocator; valid: %s" % (args.baseline, ", ".join(e.name for e in entries)))
        result.insert(0, base)
        notes.append("%s added as the baseline of every ratio" % args.baseline)
    # The baseline first: it is the reference column of every table.
    result.sort(key=lambda a: a.name != args.baseline)
    problems = [m for m in (allocators.probe(a, args.driver) for a in result) if m]
    if problems:
        fail("allocator check failed:\n  " + "\n  ".join(problems))
    return result, notes


# ---- one run -----------------------------------------------------------------------

class Plan:
    """How each kind of benchmark becomes a command."""

    def __init__(self, args, scale, scratch_root, apps_dir):
        self.args, self.scale = args, scale
        self.scratch_root, self.apps_dir = scratch_root, apps_dir
        self.user_env = dict(kv.split("=", 1) for kv in args.program_env)
        self.cwd = args.program_cwd or os.environ.get("BUILD_WORKING_DIRECTORY") or os.getcwd()
        self.lingerer = runner.Lingerer()

    def driver_cmd(self, workload, extra=()):
        cmd = [self.args.driver, "--workload", workload]
        if workload in DRIVER_COUNTS:
            cmd += ["--count", str(DRIVER_COUNTS[workload])]
        if self.scale != 1.0:
            cmd += ["--scale", "%g" % self.scale]
        if self.args.threads:
            cmd += ["--threads", str(self.args.threads)]
        return cmd + list(extra)

    def program_env(self, bench, scratch, metrics):
        env = dict(self.user_env)
        scale = self.scale * (APPS_SCALE if bench.kind == "app" else 1.0)
        env.update({"COMPARE_SCRATCH": scratch, "COMPARE_SCALE": "%g" % scale, "COMPARE_METRICS": metrics})
        if bench.kind == "app" and self.apps_dir:
            env["APPS"] = self.apps_dir
        return env

    def run(self, bench, alloc, rep):
        """One run: a dict with rep, workload (the bench's name), allocator, ok,
        error and the metrics (see report.METRICS)."""
        record = {"rep": rep, "workload": bench.name, "kind": bench.kind, "allocator": alloc.name}
        if bench.kind == "workload":
            return self._run_workload(bench, alloc, record)
        return self._run_program(bench, alloc, record)

    def _run_workload(self, bench, alloc, record):
        cmd = self.driver_cmd(bench.name, [] if record["rep"] < LATENCY_REPETITIONS else ["--no-latency"])
        env = allocators.env_of(alloc)
        record["command"] = runner.command_string(cmd, env)
        res = runner.run(cmd + ["--linger"], env, self.args.timeout, linger=self.lingerer,
                         linger_key=(record["rep"], bench.name, alloc.name))
        error, data = res["error"], runner.driver_json(res["stdout"])
        if data is None and error is None:
            error = "no driver output, or not one JSON line"
        if data:
            record.update(data)
            ru = data.get("ru") or {}
            record["cpu_ms"] = 1e3 * (ru.get("user_s", 0) + ru.get("sys_s", 0)) if ru else None
            record["minflt"] = ru.get("minflt")
            record["majflt"] = ru.get("majflt")
            record["csw"] = ru.get("nvcsw", 0) + ru.get("nivcsw", 0) if ru else None
            if error is None and alloc.detect and data.get("detected_allocator") != alloc.detect:
                error = "preload not in effect: detected %s" % data.get("detected_allocator")
            if error is None and not data.get("ok"):
                error = "allocation failed (NULL)"
        return self._finish(record, error, res)

    def _run_program(self, bench, alloc, record):
        scratch = tempfile.mkdtemp(prefix="run-", dir=self.scratch_root)
        metrics_path = os.path.join(self.scratch_root, os.path.basename(scratch) + ".metrics")
        env = dict(allocators.env_of(alloc), **self.program_env(bench, scratch, metrics_path))
        cmd = ["/bin/sh", "-c", bench.command]
        cwd = scratch if bench.kind == "app" else self.cwd
        record["command"] = "cd %s && %s" % (shlex.quote(cwd) if bench.kind != "app" else "$COMPARE_SCRATCH",
                                            runner.command_string(cmd, allocators.env_of(alloc)))
        try:
            res = runner.run(cmd, env, self.args.program_timeout, cwd=cwd, timeline=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        u = res["usage"]
        record.update({"wall_ns": res["wall_s"] * 1e9, "cpu_ms": 1e3 * u.get("cpu_s", 0), "user_s": u.get("user_s"),
                       "sys_s": u.get("sys_s"), "peak_rss_kb": u.get("maxrss_kb"), "minflt": u.get("minflt"),
                       "majflt": u.get("majflt"), "csw": u.get("csw"), "exit_status": res["status"]})
        tl = res["timeline"] or []
        record["timeline"] = [[t, kb] for t, kb, _ in tl]
        record["tree_peak_rss_kb"] = max((kb for _, kb, _ in tl), default=None)
        record["tree_max_procs"] = max((n for _, _, n in tl), default=None)
        record["metrics"] = programs.read_metrics(metrics_path)
        if os.path.exists(metrics_path):
            os.unlink(metrics_path)
        record["rss_idle_kb"] = record["metrics"].get("rss_idle_kb")
        record["stdout_sha"] = _digest(res["stdout"])
        record["_stdout"] = res["stdout"]
        return self._finish(record, res["error"], res)

    def _finish(self, record, error, res):
        record["ok"] = error is None
        record["error"] = error
        if error and res["stderr_tail"]:
            record["stderr"] = res["stderr_tail"]
        return record


def _digest(data):
    return hashlib.sha256(data).hexdigest()[:16]


def run_block(plan, bench, allocs, rep, index, reference, progress, reps):
    """One repetition of one benchmark: every allocator back to back, the order
    rotated by repetition and benchmark so no allocator always runs first."""
    k = (rep + index) % len(allocs)
    runs = []
    for alloc in allocs[k:] + allocs[:k]:
        r = plan.run(bench, alloc, rep)
        stdout = r.pop("_stdout", None)
        if r["ok"] and stdout is not None and not plan.args.allow_output_diff:
            diff = programs.output_difference(reference[bench.name], stdout)
            if diff:
                r["ok"], r["error"] = False, diff + " (--allow-output-diff if it is not deterministic)"
        runs.append(r)
        progress.step("rep %d/%d %-20s %-24s %s" % (
            rep + 1, reps, bench.name, alloc.name, r["error"] or "%8.2f ms" % (r["wall_ns"] / 1e6)))
    return runs


def unstable_benches(runs, benches, allocs):
    """[(bench, number of its unstable time verdicts)] for the benchmarks that
    have any so far."""
    names = [a.name for a in allocs]
    count = report.unstable_time_cells(runs, names, [b.name for b in benches], baseline=names[0])
    return [(b, count[b.name]) for b in benches if b.name in count]


def precheck_programs(plan, benches, baseline):
    """Each program and app once under the baseline before anything else: a
    program that fails there is an error now, with its stderr; its stdout is
    the reference every other run's output is checked against."""
    reference = {}
    for b in benches:
        if b.kind == "workload":
            continue
        sys.stderr.write("compare: checking %s %s on %s ...\n" % (b.kind, b.name, baseline.name))
        r = plan.run(b, baseline, -1)
        if not r["ok"]:
            tail = "\n    ".join(r.get("stderr") or ["(no stderr)"])
            fail("%s %s fails on %s (%s): %s\n  stderr:\n    %s" % (
                b.kind, b.name, baseline.name, r["error"], b.command, tail))
        reference[b.name] = r["_stdout"]
    return reference


# ---- the whole run ------------------------------------------------------------------

class Progress:
    def __init__(self, total):
        self.total, self.done, self.start = total, 0, time.monotonic()
        self.tty = sys.stderr.isatty()

    def step(self, text):
        self.done += 1
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        line = "[%4d/%d %3.0f%% %4.0fs eta %3.0fs] %s" % (self.done, self.total, 100.0 * self.done / self.total,
                                                       elapsed, eta, text)
        sys.stderr.write(("\r\033[K" + line) if self.tty else (line + "\n"))
        sys.stderr.flush()

    def finish(self):
        if self.tty:
            sys.stderr.write("\n")


def shown_command(argv):
    """The user's part of the command line (bench/BUILD's own arguments dropped)."""
    hidden = ("--driver", "--stratalloc", "--apps-file")
    shown, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in hidden:
            skip = True
            continue
        if any(a.startswith(h + "=") for h in hidden):
            continue
        shown.append(a)
    cmd = "./bazelw run //bench:compare"
    return cmd + (" -- " + " ".join(shlex.quote(a) for a in shown) if shown else "")


def measure_peak_live(plan, benches, notes):
    """Peak live requested bytes of each workload (allocator-independent): once."""
    peak = {}
    for b in benches:
        if b.kind != "workload":
            continue
        res = runner.run(plan.driver_cmd(b.name, ["--live", "--no-latency"]), {}, plan.args.timeout)
        peak[b.name] = (runner.driver_json(res["stdout"]) or {}).get("peak_live_bytes")
        if res["error"]:
            notes.append("peak live bytes of %s not measured: %s %s" % (b.name, res["error"], " ".join(res["stderr_tail"])))
    return peak


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    args.driver = os.path.abspath(args.driver)
    workspace = os.environ.get("BUILD_WORKSPACE_DIRECTORY")
    workloads = list_workloads(args.driver)
    apps, progs = load_programs(args)
    if args.list:
        try:
            entries = allocators.catalogue(args.stratalloc, args.allocator)
            default = {a.name for a in allocators.select(None, entries, default_names(args))}
        except allocators.AllocatorError as e:
            fail(str(e))
        print("allocators (* in a run without --allocators): " +
              ", ".join(a.name + ("*" if a.name in default else "") for a in entries))
        for title, group in (("workloads", workloads), ("apps", apps), ("programs", progs)):
            if group:
                print("%s:" % title)
                for b in group:
                    print("  %-20s %s" % (b.name, b.help))
        return 0
    benches = select_benches(args.workloads, workloads, apps, progs)
    allocs, notes = choose_allocators(args)
    baseline = allocs[0]
    reps = args.repetitions or (QUICK_REPETITIONS if args.quick else DEFAULT_REPETITIONS)
    scale = args.scale or (QUICK_SCALE if args.quick else 1.0)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = args.out or os.path.join(workspace or os.getcwd(), "reports", stamp)
    if not os.path.isabs(out_dir):
        out_dir = os.path.join(os.environ.get("BUILD_WORKING_DIRECTORY") or os.getcwd(), out_dir)
    apps_dir = os.path.dirname(os.path.abspath(args.apps_file)) if args.apps_file else None

    # Short paths: a unix socket path (redis) holds at most 107 bytes, and
    # Bazel's TEST_TMPDIR alone is longer than that.
    scratch_root = tempfile.mkdtemp(prefix="compare-", dir="/tmp" if os.access("/tmp", os.W_OK) else None)
    try:
        plan = Plan(args, scale, scratch_root, apps_dir)
        reference = precheck_programs(plan, benches, baseline)
        peak_live = measure_peak_live(plan, benches, notes)
        total = reps * len(benches) * len(allocs)
        sys.stderr.write("compare: %d allocators x %d benchmarks x %d repetitions = %d runs; report in %s\n" % (
            len(allocs), len(benches), reps, total, out_dir))
        progress = Progress(total)
        runs, block_s = [], {}
        base_start = time.monotonic()
        for rep in range(reps):
            for i, b in enumerate(benches):
                t0 = time.monotonic()
                runs += run_block(plan, b, allocs, rep, i, reference, progress, reps)
                block_s[b.name] = time.monotonic() - t0
        # More repetitions where the verdicts are unstable (the modes mixed):
        # one more block of every allocator per such benchmark and round, the
        # benchmarks with the most unstable cells per second of a block first,
        # while the extra time stays within --extra-budget of the base time.
        extra = reps if args.extra_repetitions is None else max(0, args.extra_repetitions)
        if args.extra_budget is None:
            args.extra_budget = 0.0 if args.quick else EXTRA_BUDGET
        budget = args.extra_budget * (time.monotonic() - base_start)
        extra_start, rounds_done = time.monotonic(), 0
        for round_ in range(extra):
            shaky = unstable_benches(runs, benches, allocs)
            if not shaky or time.monotonic() - extra_start >= budget:
                break
            shaky.sort(key=lambda sb: -sb[1] / max(block_s[sb[0].name], 1e-3))
            rounds_done = round_ + 1
            sys.stderr.write("%scompare: extra repetition %d for up to %d unstable benchmark(s): %s\n" % (
                "\n" if progress.tty else "", round_ + 1, len(shaky), ", ".join(b.name for b, _ in shaky)))
            for i, (b, _) in enumerate(shaky):
                if time.monotonic() - extra_start + block_s[b.name] > budget:
                    continue
                progress.total += len(allocs)
                runs += run_block(plan, b, allocs, reps + round_, i, reference, progress, reps + round_ + 1)
        progress.finish()
        idle = plan.lingerer.finish()
        for r in runs:
            key = (r["rep"], r["workload"], r["allocator"])
            if key in idle:
                r["rss_idle_kb"] = idle[key]["rss_idle_kb"]
                r["rss_done_kb"] = idle[key]["rss_done_kb"]
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)

    names = [a.name for a in allocs]
    bench_names = [b.name for b in benches]
    cells, summary = report.aggregate(runs, names, bench_names, peak_live, baseline=baseline.name)
    sample = next((r for r in runs if r.get("timer")), {})
    if sample.get("timer"):
        t = sample["timer"]
        notes.append("latency timer: %s, one empty timer pair costs %.1f ns (subtracted from every sample), "
                     "resolution %.1f ns: values below it are quantised" % (t["source"], t["overhead_ns"], t["resolution_ns"]))
    results = {
        "schema": "stratalloc-compare/2",
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine.machine_info(workspace),
        "config": {"repetitions": reps, "quick": bool(args.quick), "scale": scale, "threads": args.threads,
                   "timeout_s": args.timeout, "program_timeout_s": args.program_timeout,
                   "driver_counts": DRIVER_COUNTS, "baseline": baseline.name,
                   "allow_output_diff": bool(args.allow_output_diff),
                   "extra_repetitions": extra, "extra_rounds": rounds_done, "extra_budget": args.extra_budget,
                   "apps_scale": APPS_SCALE, "latency_repetitions": LATENCY_REPETITIONS, "estimator": report.TIME_ESTIMATOR,
                   "alpha": report.stats.ALPHA},
        "commands": {
            "orchestrator": shown_command(argv),
            "driver": {b.name: runner.command_string(plan.driver_cmd(b.name), {}) for b in benches if b.kind == "workload"},
            "programs": {b.name: b.command for b in benches if b.kind != "workload"},
            "preload": {a.name: a.library for a in allocs},
        },
        "allocators": [{"name": a.name, "kind": a.kind, "library": a.library} for a in allocs],
        "workloads": [{"name": b.name, "kind": b.kind, "help": b.help, "peak_live_bytes": peak_live.get(b.name)}
                      for b in benches],
        "runs": runs,
        "cells": cells,
        "summary": summary,
        "notes": notes,
    }
    if args.perf:
        import perf
        with tempfile.TemporaryDirectory() as tmp:
            results["perf"] = perf.run_perf(allocs, [b.name for b in benches if b.kind == "workload"],
                                            lambda w: plan.driver_cmd(w), args.timeout, tmp)
    paths = report.write_report(results, out_dir, charts=not args.no_charts)
    sys.stdout.write("\n" + report.terminal_table(results))
    if results.get("perf"):
        sys.stdout.write("\n" + report.perf_markdown(results["perf"]))
    sys.stdout.write("\nReport: %s\n" % "\n        ".join(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())

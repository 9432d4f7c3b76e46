#!/usr/bin/env python3
"""//bench:compare: every workload on every allocator, side by side.

    ./bazelw run //bench:compare -- [--allocators a,b] [--workloads x,y]
        [--repetitions N] [--threads N] [--quick] [--perf] [--out DIR]

One driver binary (bench/compare_driver.c) runs one workload per process
through the libc entry points; the allocator is switched with LD_PRELOAD:
glibc (nothing preloaded), jemalloc, tcmalloc, mimalloc (Debian's packages,
skipped with a note when missing) and every stratalloc library registered in
strategies/variants.bzl (bench/BUILD passes them as --stratalloc NAME=PATH).
Repetitions x workloads x allocators, interleaved (the allocator order rotates
every repetition); medians, min-max, ratios to glibc; a table on the terminal
and reports/<timestamp>/ with report.md, results.json, results.csv and PNG
charts. A run that crashes is recorded as failed (with its signal) and the
run goes on.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402
import stats  # noqa: E402

LIBDIR = "/usr/lib/x86_64-linux-gnu"
# name -> (library, Debian package)
SYSTEM_ALLOCATORS = [
    ("glibc", None, None),
    ("jemalloc", LIBDIR + "/libjemalloc.so.2", "libjemalloc2"),
    ("tcmalloc", LIBDIR + "/libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"),
    ("mimalloc", LIBDIR + "/libmimalloc.so.2", "libmimalloc2.0"),
]
# What compare_driver detects behind malloc for each kind of allocator.
DETECTED = {"glibc": "glibc", "jemalloc": "jemalloc", "tcmalloc": "tcmalloc", "mimalloc": "mimalloc"}

# Operations per run where a workload's own default (sized for Google
# Benchmark iterations) is too short for a process-level measurement.
DRIVER_COUNTS = {"malloc_free_loop": 2000000, "malloc_free_loop_mt": 4000000, "realloc_grow": 400000}
QUICK_SCALE = 0.3
QUICK_REPETITIONS = 3


def parse_args(argv):
    p = argparse.ArgumentParser(prog="compare", description=__doc__.split("\n\n")[0])
    p.add_argument("--driver", required=True, help=argparse.SUPPRESS)
    p.add_argument("--stratalloc", action="append", default=[], metavar="NAME=PATH", help=argparse.SUPPRESS)
    p.add_argument("--allocators", help="comma-separated allocator names (default: all)")
    p.add_argument("--workloads", help="comma-separated workload names (default: all)")
    p.add_argument("--repetitions", type=int, help="runs per cell (default 5; --quick: %d)" % QUICK_REPETITIONS)
    p.add_argument("--threads", type=int, help="threads of the multi-threaded workloads (default: theirs, 2)")
    p.add_argument("--quick", action="store_true", help="%.1fx the operations, %d repetitions: about a minute" % (QUICK_SCALE, QUICK_REPETITIONS))
    p.add_argument("--scale", type=float, help="multiply every workload's operation count")
    p.add_argument("--perf", action="store_true", help="also run perf stat and perf record per allocator")
    p.add_argument("--out", help="report folder (default: reports/<timestamp> in the workspace)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per run before it is killed (failed)")
    p.add_argument("--list", action="store_true", help="list the allocators and workloads and exit")
    p.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    args = p.parse_args(argv)
    if args.repetitions is not None and args.repetitions < 1:
        p.error("--repetitions must be >= 1")
    if args.threads is not None and not 1 <= args.threads <= 256:
        p.error("--threads must be in 1..256")
    return args


def list_workloads(driver):
    out = subprocess.run([driver, "--list"], check=True, capture_output=True, text=True).stdout
    result = []
    for line in out.splitlines():
        if line.strip():
            name, _, help_text = line.partition("\t")
            result.append({"name": name, "help": help_text})
    return result


def catalogue(stratalloc_args):
    """[(name, kind, library or None, package or None)]: the system allocators,
    then every stratalloc library in registry order."""
    entries = [(n, "system", lib, pkg) for n, lib, pkg in SYSTEM_ALLOCATORS]
    for spec in stratalloc_args:
        name, _, path = spec.partition("=")
        entries.append((name, "stratalloc", os.path.abspath(path), None))
    return entries


def select(kind, requested, valid):
    """The requested names in the order given, or all; an unknown name exits
    with the list of valid ones."""
    if not requested:
        return list(valid)
    names = [n.strip() for n in requested.split(",") if n.strip()]
    unknown = [n for n in names if n not in valid]
    if unknown:
        sys.exit("compare: unknown %s %s; valid %ss: %s" % (
            kind, ", ".join(repr(u) for u in unknown), kind, ", ".join(valid)))
    return list(dict.fromkeys(names))


def signal_name(num):
    try:
        return signal.Signals(num).name
    except ValueError:
        return "signal %d" % num


def run_once(cmd, env_extra, timeout):
    """Runs one driver process; returns (parsed JSON or None, error or None,
    ru_maxrss in kB, stderr tail)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.update(env_extra)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        deadline = time.monotonic() + timeout
        status, usage, error = None, None, None
        delay = 0.0005
        while True:
            pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                status, usage = st, ru
                break
            if time.monotonic() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                error = "timeout after %.0f s" % timeout
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.01)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if error is None and os.WIFSIGNALED(status):
        error = "crashed: %s" % signal_name(os.WTERMSIG(status))
    elif error is None and os.WEXITSTATUS(status) != 0:
        error = "exit status %d" % os.WEXITSTATUS(status)
    data = None
    lines = [l for l in stdout.splitlines() if l.startswith("{")]
    if lines:
        try:
            data = json.loads(lines[-1])
        except ValueError:
            error = error or "unparsable driver output"
    elif error is None:
        error = "no driver output"
    tail = stderr.strip().splitlines()[-3:]
    return data, error, usage.ru_maxrss if usage else None, tail


def machine_info(workspace):
    info = {"hostname": platform.node(), "kernel": platform.release(), "arch": platform.machine(),
            "cores": os.cpu_count(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["glibc"] = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):
        info["glibc"] = "glibc " + "-".join(platform.libc_ver())
    try:
        with open("/etc/debian_version") as f:
            info["debian"] = f.read().strip()
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            info["mem_total_kb"] = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    pkgs = [pkg for _, _, pkg in SYSTEM_ALLOCATORS if pkg]
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n"] + pkgs,
                             capture_output=True, text=True).stdout
        info["packages"] = dict(l.split(" ", 1) for l in out.splitlines() if " " in l)
    except OSError:
        pass
    if workspace:
        try:
            info["git_commit"] = subprocess.run(["git", "-C", workspace, "rev-parse", "--short", "HEAD"],
                                                capture_output=True, text=True).stdout.strip()
            dirty = subprocess.run(["git", "-C", workspace, "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True).stdout.strip()
            if dirty and info["git_commit"]:
                info["git_commit"] += "+dirty"
        except OSError:
            pass
    return info


def command_string(cmd, env_extra):
    return " ".join(["%s=%s" % (k, shlex.quote(v)) for k, v in env_extra.items()] + [shlex.quote(c) for c in cmd])


class Progress:
    def __init__(self, total):
        self.total, self.done, self.start = total, 0, time.monotonic()
        self.tty = sys.stderr.isatty()

    def step(self, text):
        self.done += 1
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        line = "[%4d/%d %3.0f%% %4.0fs eta %3.0fs] %s" % (self.done, self.total, 100.0 * self.done / self.total, elapsed, eta, text)
        if self.tty:
            sys.stderr.write("\r\033[K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def finish(self):
        if self.tty:
            sys.stderr.write("\n")


def driver_cmd(args, driver, workload, scale):
    cmd = [driver, "--workload", workload]
    if workload in DRIVER_COUNTS:
        cmd += ["--count", str(DRIVER_COUNTS[workload])]
    if scale != 1.0:
        cmd += ["--scale", "%g" % scale]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    return cmd


def run_perf(args, allocs, workloads, scale, tmpdir):
    """perf stat (software events; hardware ones where supported) and perf
    record -e cpu-clock -g per allocator over every workload."""
    import shutil
    perf = shutil.which("perf")
    result = {"events": [], "stat": {}, "top": {}, "commands": []}
    if not perf:
        result["error"] = "perf not found (Debian package linux-perf)"
        return result
    events = ["task-clock", "page-faults", "context-switches", "cpu-migrations", "cycles", "instructions"]
    result["events"] = events
    for name, _, lib, _ in allocs:
        env = {"LD_PRELOAD": lib} if lib else {}
        totals = {}
        for w in workloads:
            cmd = [perf, "stat", "-x", ",", "-e", ",".join(events), "--"] + driver_cmd(args, args.driver, w, scale) + ["--no-latency"]
            result["commands"].append(command_string(cmd, env))
            penv = dict(os.environ, **env)
            proc = subprocess.run(cmd, capture_output=True, text=True, env=penv, timeout=args.timeout)
            for line in proc.stderr.splitlines():
                parts = line.split(",")
                if len(parts) >= 3 and parts[2] in events:
                    try:
                        totals[parts[2]] = totals.get(parts[2], 0.0) + float(parts[0])
                    except ValueError:
                        totals.setdefault(parts[2], None)  # <not supported>
            sys.stderr.write("\rperf stat %-12s %-18s" % (name, w))
        result["stat"][name] = totals
        data = os.path.join(tmpdir, "perf-%s.data" % re.sub(r"[^A-Za-z0-9_.-]", "_", name))
        loop = " ; ".join(" ".join(shlex.quote(c) for c in driver_cmd(args, args.driver, w, scale) + ["--no-latency"]) + " >/dev/null" for w in workloads)
        cmd = [perf, "record", "-q", "-e", "cpu-clock", "-g", "-o", data, "--", "/bin/sh", "-c", loop]
        result["commands"].append(command_string(cmd, env))
        subprocess.run(cmd, capture_output=True, env=dict(os.environ, **env), timeout=args.timeout * len(workloads))
        rep = subprocess.run([perf, "report", "-i", data, "--stdio", "--no-children", "--sort", "dso,symbol",
                              "-g", "none", "--percent-limit", "1.5"], capture_output=True, text=True)
        top = []
        for line in rep.stdout.splitlines():
            m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.+?)(?:\s{2,}.*)?$", line)
            if m and len(top) < 8:
                top.append({"pct": m.group(1), "dso": m.group(2), "symbol": "%s (%s)" % (m.group(3).strip(), m.group(2))})
        result["top"][name] = top
        sys.stderr.write("\rperf record %-12s done%20s\n" % (name, ""))
    return result


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    args.driver = os.path.abspath(args.driver)
    workspace = os.environ.get("BUILD_WORKSPACE_DIRECTORY")
    workload_list = list_workloads(args.driver)
    all_allocs = catalogue(args.stratalloc)
    valid_allocs = [a[0] for a in all_allocs]
    valid_workloads = [w["name"] for w in workload_list]
    if args.list:
        print("allocators: " + ", ".join(valid_allocs))
        print("workloads:")
        for w in workload_list:
            print("  %-18s %s" % (w["name"], w["help"]))
        return 0
    chosen_allocs = select("allocator", args.allocators, valid_allocs)
    chosen_workloads = select("workload", args.workloads, valid_workloads)
    notes = []
    allocs = []
    for entry in all_allocs:
        name, kind, lib, pkg = entry
        if name not in chosen_allocs:
            continue
        if lib and not os.path.exists(lib):
            notes.append("%s skipped: %s is missing%s" % (name, lib, " (Debian package %s; ./bazelw installs it)" % pkg if pkg else ""))
            continue
        allocs.append(entry)
    allocs.sort(key=lambda e: chosen_allocs.index(e[0]))
    if not allocs:
        sys.exit("compare: no allocator left to run (%s)" % "; ".join(notes))
    if "glibc" not in [a[0] for a in allocs]:
        allocs.insert(0, ("glibc", "system", None, None))
        notes.append("glibc added as the baseline of every ratio")
    reps = args.repetitions or (QUICK_REPETITIONS if args.quick else 5)
    scale = args.scale or (QUICK_SCALE if args.quick else 1.0)

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = args.out or os.path.join(workspace or os.getcwd(), "reports", stamp)
    if not os.path.isabs(out_dir):
        out_dir = os.path.join(workspace or os.getcwd(), out_dir)
    orchestrator = "./bazelw run //bench:compare"
    user_args = list(sys.argv[1:] if argv is None else argv)
    # The user's part of the command line (bench/BUILD's own --driver/--stratalloc dropped).
    shown, skip = [], False
    for a in user_args:
        if skip:
            skip = False
            continue
        if a in ("--driver", "--stratalloc"):
            skip = True
            continue
        if a.startswith("--driver=") or a.startswith("--stratalloc="):
            continue
        shown.append(a)
    if shown:
        orchestrator += " -- " + " ".join(shlex.quote(a) for a in shown)

    # Peak live requested bytes per workload (allocator-independent): once.
    peak_live = {}
    for w in chosen_workloads:
        data, error, _, tail = run_once(driver_cmd(args, args.driver, w, scale) + ["--live", "--no-latency"], {}, args.timeout)
        peak_live[w] = (data or {}).get("peak_live_bytes")
        if error:
            notes.append("peak live bytes of %s not measured: %s %s" % (w, error, " ".join(tail)))

    total = reps * len(chosen_workloads) * len(allocs)
    sys.stderr.write("compare: %d allocators x %d workloads x %d repetitions = %d runs; report in %s\n" % (
        len(allocs), len(chosen_workloads), reps, total, out_dir))
    progress = Progress(total)
    runs = []
    for rep in range(reps):
        for w in chosen_workloads:
            k = (rep + chosen_workloads.index(w)) % len(allocs)
            order = allocs[k:] + allocs[:k]  # rotate: no allocator always runs first
            for name, kind, lib, _ in order:
                env = {"LD_PRELOAD": lib} if lib else {}
                cmd = driver_cmd(args, args.driver, w, scale)
                data, error, maxrss, tail = run_once(cmd, env, args.timeout)
                run = {"rep": rep, "workload": w, "allocator": name, "command": command_string(cmd, env)}
                if data:
                    run.update(data)
                    # peak_rss_kb: the driver's VmHWM after the timed pass (a
                    # fresh mm after exec). wait4's ru_maxrss also counts the
                    # forked Python before exec, so it is kept for reference.
                    run["wait4_maxrss_kb"] = maxrss
                    expected = DETECTED.get(name, "stratalloc")
                    if error is None and data.get("detected_allocator") != expected:
                        error = "preload not in effect: detected %s" % data.get("detected_allocator")
                    if error is None and not data.get("ok"):
                        error = "allocation failed (NULL)"
                run["ok"] = error is None
                run["error"] = error
                if error and tail:
                    run["stderr"] = tail
                runs.append(run)
                progress.step("rep %d/%d %-18s %-24s %s" % (
                    rep + 1, reps, w, name,
                    error or "%8.2f ms" % (data["wall_ns"] / 1e6)))
    progress.finish()

    names = [a[0] for a in allocs]
    cells, summary = report.aggregate(runs, names, chosen_workloads, peak_live)
    sample = next((r for r in runs if r.get("timer")), {})
    if sample.get("timer"):
        t = sample["timer"]
        notes.append("latency timer: %s, one empty timer pair costs %.1f ns (subtracted from every sample), "
                     "resolution %.1f ns: values below it are quantised" % (t["source"], t["overhead_ns"], t["resolution_ns"]))
    results = {
        "schema": "stratalloc-compare/1",
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(workspace),
        "config": {"repetitions": reps, "quick": bool(args.quick), "scale": scale, "threads": args.threads,
                   "timeout_s": args.timeout, "driver_counts": DRIVER_COUNTS},
        "commands": {
            "orchestrator": orchestrator,
            "driver": {w: command_string(driver_cmd(args, args.driver, w, scale), {}) for w in chosen_workloads},
            "preload": {a[0]: a[2] for a in allocs},
        },
        "allocators": [{"name": n, "kind": k, "library": lib} for n, k, lib, _ in allocs],
        "workloads": [dict(w, peak_live_bytes=peak_live.get(w["name"])) for w in workload_list if w["name"] in chosen_workloads],
        "runs": runs,
        "cells": cells,
        "summary": summary,
        "notes": notes,
    }
    results["workloads"].sort(key=lambda w: chosen_workloads.index(w["name"]))
    if args.perf:
        with tempfile.TemporaryDirectory() as tmp:
            results["perf"] = run_perf(args, allocs, chosen_workloads, scale, tmp)
    if args.no_charts:
        notes.append("charts not drawn (--no-charts)")
        report.write_charts = lambda *a: []
    paths = report.write_report(results, out_dir)
    sys.stdout.write("\n" + report.terminal_table(results))
    if results.get("perf"):
        sys.stdout.write("\n" + report.perf_markdown(results["perf"]))
    sys.stdout.write("\nReport: %s\n" % "\n        ".join(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())

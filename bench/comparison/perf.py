"""--perf: perf stat (software events; hardware ones where the machine has
them) and perf record -e cpu-clock -g per allocator over every workload."""

import os
import re
import shlex
import shutil
import subprocess
import sys

from runner import command_string


def run_perf(allocs, workloads, workload_cmd, timeout, tmpdir):
    """allocs: [allocators.Allocator]; workload_cmd(name) -> the driver's
    command line for that workload."""
    perf = shutil.which("perf")
    result = {"events": [], "stat": {}, "top": {}, "commands": []}
    if not perf:
        result["error"] = "perf not found (Debian package linux-perf)"
        return result
    events = ["task-clock", "page-faults", "context-switches", "cpu-migrations", "cycles", "instructions"]
    result["events"] = events
    for alloc in allocs:
        name, lib = alloc.name, alloc.library
        env = {"LD_PRELOAD": lib} if lib else {}
        totals = {}
        for w in workloads:
            cmd = [perf, "stat", "-x", ",", "-e", ",".join(events), "--"] + workload_cmd(w) + ["--no-latency"]
            result["commands"].append(command_string(cmd, env))
            penv = dict(os.environ, **env)
            proc = subprocess.run(cmd, capture_output=True, text=True, env=penv, timeout=timeout)
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
        loop = " ; ".join(" ".join(shlex.quote(c) for c in workload_cmd(w) + ["--no-latency"]) + " >/dev/null" for w in workloads)
        cmd = [perf, "record", "-q", "-e", "cpu-clock", "-g", "-o", data, "--", "/bin/sh", "-c", loop]
        result["commands"].append(command_string(cmd, env))
        subprocess.run(cmd, capture_output=True, env=dict(os.environ, **env), timeout=timeout * len(workloads))
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

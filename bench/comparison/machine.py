"""The machine a comparison ran on, for the report: CPU, cores, kernel,
glibc, Debian version, memory, allocator package versions, git commit."""

import os
import platform
import subprocess

import allocators


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
    pkgs = allocators.PACKAGES
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

"""Running one measured process: the driver of a workload, or a user's
program through /bin/sh, under one allocator.

    res = run(cmd, env_extra, timeout, cwd=None, timeline=False, linger=None)

The child's own resource usage comes from wait4 on that child (user and
system CPU, peak RSS, page faults, context switches: the child and the
descendants it waited for, never the orchestrator). With timeline=True a
sampler thread reads the resident set of the child's whole process tree from
/proc every SAMPLE_S while the main thread blocks in wait4, so the exit is
seen at once and the wall time is the orchestrator's monotonic clock around
fork+exec+wait. With linger (a Lingerer), the child is expected to close its
stdout when its work is done and then wait: its RSS is read LINGER_S later
by the lingerer's thread while the next run already goes on (an idle
process costs the next run nothing), then it is killed.
"""

import json
import os
import shlex
import signal
import subprocess
import tempfile
import threading
import time

SAMPLE_S = 0.010
LINGER_S = 1.0
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
STDERR_TAIL_LINES = 5


def signal_name(num):
    try:
        return signal.Signals(num).name
    except ValueError:
        return "signal %d" % num


def command_string(cmd, env_extra):
    """The command as a user would type it, environment first."""
    return " ".join(["%s=%s" % (k, shlex.quote(v)) for k, v in env_extra.items()] + [shlex.quote(c) for c in cmd])


# ---- /proc -------------------------------------------------------------------

def _children(pid):
    """Direct children of pid (every thread's children file; needs Linux >= 3.5
    with CONFIG_PROC_CHILDREN, as Debian's kernels have)."""
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    kids.extend(int(x) for x in f.read().split())
            except (OSError, ValueError):
                pass
    except OSError:
        pass
    return kids


def rss_kb(pid):
    """Resident set of one process in kB (statm), or None when it is gone."""
    try:
        with open("/proc/%d/statm" % pid) as f:
            return int(f.read().split()[1]) * PAGE_KB
    except (OSError, ValueError, IndexError):
        return None


def tree_rss_kb(pid, max_procs=256):
    """(sum of the resident sets of pid and all its descendants in kB, process
    count). Shared pages (libraries) count once per process, as in top."""
    total, seen, todo = 0, 0, [pid]
    while todo and seen < max_procs:
        p = todo.pop()
        r = rss_kb(p)
        if r is None:
            continue
        total += r
        seen += 1
        todo.extend(_children(p))
    return total, seen


def status_kb(pid, key):
    """A "Key:  123 kB" field of /proc/pid/status, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class _Sampler(threading.Thread):
    """RSS of a process tree every SAMPLE_S until stop(): [(t_s, kB, procs)]."""

    def __init__(self, pid, t0):
        super().__init__(daemon=True)
        self.pid, self.t0 = pid, t0
        self.samples = []
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            kb, procs = tree_rss_kb(self.pid)
            if procs:
                self.samples.append((round(time.monotonic() - self.t0, 4), kb, procs))
            self._stop_event.wait(SAMPLE_S)

    def stop(self):
        self._stop_event.set()
        self.join()


# ---- lingering processes -------------------------------------------------------

class Lingerer:
    """Processes whose work is done: RSS read LINGER_S after they said so,
    then killed and reaped. results[key] = {"rss_idle_kb", "rss_done_kb"}."""

    def __init__(self):
        self.results = {}
        self._lock = threading.Lock()
        self._threads = []

    def add(self, key, proc, done_at):
        t = threading.Thread(target=self._watch, args=(key, proc, done_at), daemon=True)
        t.start()
        self._threads.append(t)

    def _watch(self, key, proc, done_at):
        done_kb = rss_kb(proc.pid)
        time.sleep(max(0.0, done_at + LINGER_S - time.monotonic()))
        idle_kb = rss_kb(proc.pid)
        try:
            proc.kill()
        except OSError:
            pass
        proc.wait()
        with self._lock:
            self.results[key] = {"rss_done_kb": done_kb, "rss_idle_kb": idle_kb}

    def finish(self):
        for t in self._threads:
            t.join()
        self._threads = []
        return self.results


# ---- one run -------------------------------------------------------------------

def driver_json(stdout):
    """The last line of a driver's stdout (bytes or text) that is a JSON
    object, parsed; None when there is none or it does not parse."""
    if isinstance(stdout, bytes):
        stdout = stdout.decode(errors="replace")
    lines = [l for l in stdout.splitlines() if l.startswith("{")]
    try:
        return json.loads(lines[-1]) if lines else None
    except ValueError:
        return None


def _environment(env_extra):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.update(env_extra)
    return env


def _tail(text):
    return text.strip().splitlines()[-STDERR_TAIL_LINES:]


def _usage_dict(ru):
    if ru is None:
        return {}
    return {"user_s": ru.ru_utime, "sys_s": ru.ru_stime, "cpu_s": ru.ru_utime + ru.ru_stime,
            "maxrss_kb": ru.ru_maxrss, "minflt": ru.ru_minflt, "majflt": ru.ru_majflt,
            "nvcsw": ru.ru_nvcsw, "nivcsw": ru.ru_nivcsw, "csw": ru.ru_nvcsw + ru.ru_nivcsw}


LINGER_MARK = b"linger\n"


def run(cmd, env_extra, timeout, cwd=None, timeline=False, linger=None, linger_key=None):
    """Runs cmd to its end, or with linger until it writes LINGER_MARK as the
    last line of its stdout and closes it (the driver's --linger: work done,
    now idle); the lingerer then reads its idle RSS and reaps it.

    Returns {"status": exit code or -signal (0 while lingering), "error":
    None or text, "wall_s", "stdout" (bytes), "stderr", "stderr_tail"
    (lines), "usage" (wait4 rusage of the child; empty for a lingering
    child), "timeline": [(t, kB, procs)] when asked}."""
    env = _environment(env_extra)
    timed_out = threading.Event()

    def on_timeout():
        timed_out.set()
        _kill_group(proc)

    with tempfile.TemporaryFile() as err:
        out = None if linger else tempfile.TemporaryFile()
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE if linger else out, stderr=err, env=env,
                                cwd=cwd, start_new_session=True)
        sampler = _Sampler(proc.pid, t0) if timeline else None
        if sampler:
            sampler.start()
        timer = threading.Timer(timeout, on_timeout)
        timer.start()
        status, usage, stdout = None, None, b""
        try:
            if linger:
                stdout = proc.stdout.read()  # EOF: the work is done, or the child died
                proc.stdout.close()
                wall = time.monotonic() - t0
                if stdout.endswith(LINGER_MARK):
                    stdout = stdout[: -len(LINGER_MARK)]
                    linger.add(linger_key, proc, time.monotonic())
                    status = 0
            if status is None:
                _, st, usage = os.wait4(proc.pid, 0)
                if not linger:
                    wall = time.monotonic() - t0
                proc.returncode = status = os.waitstatus_to_exitcode(st)  # reaped here, not by Popen
        finally:
            timer.cancel()
            if sampler:
                sampler.stop()
        if out is not None:
            out.seek(0)
            stdout = out.read()
            out.close()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    error = None
    if timed_out.is_set():
        error = "timeout after %g s" % timeout
    elif status < 0:
        error = "crashed: %s" % signal_name(-status)
    elif status:
        error = "exit status %d" % status
    return {"status": status, "error": error, "wall_s": wall, "stdout": stdout, "stderr": stderr,
            "stderr_tail": _tail(stderr), "usage": _usage_dict(usage),
            "timeline": sampler.samples if sampler else None}


def _kill_group(proc):
    """Timeout: the whole session of the child (a shell's children too)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass

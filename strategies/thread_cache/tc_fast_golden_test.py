#!/usr/bin/env python3
"""The thread cache's fast paths held to an instruction budget (golden).

Runs bench/compare_driver's malloc_free_loop (malloc(32) then free, in a
loop) under valgrind's callgrind with each thread-cache strategy preloaded,
as //bench:callgrind does, and fails if the instructions per malloc or per
free (Ir, exact and deterministic: not a timing) rise above the budget
below. The count includes the driver's adapter (sys_malloc, sys_free: a
move and a jump through the PLT, about 3 instructions). A change that
makes a fast path longer must either stay inside the budget or change it
here, in review, with the reason: as tcmalloc's fast-path goldens do.

    ./bazelw test //strategies/thread_cache:tc_fast_golden_test

Issue 12's target is 25 / 30 for thread_cache+segregated; README.md
("What the checks cost") says where the instructions go today.
"""

import os
import shutil
import sys
import tempfile

# {strategy: (Ir per malloc, Ir per free)}: the most each may take.
BUDGET = {
    "thread_cache+segregated": (25, 61),
}
COUNT = 20000  # N; the runs make N and 2N operations, the difference / N


def main():
    args = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
    bench = os.path.dirname(os.path.abspath(args["--callgrind"]))
    sys.path.insert(0, bench)
    import callgrind  # noqa: E402  (bench/comparison/callgrind.py)

    if not shutil.which("valgrind") or not shutil.which("callgrind_annotate"):
        print("valgrind is missing: ./bazelw installs the Debian package valgrind")
        return 1
    libs = dict(v.split("=", 1) for k, v in (a.split("=", 1) for a in sys.argv[1:]) if k == "--stratalloc")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, (max_malloc, max_free) in sorted(BUDGET.items()):
            lib = os.path.abspath(libs[name])
            per = callgrind.measure(os.path.abspath(args["--driver"]), lib, "malloc_free_loop", COUNT, tmp)
            for op, budget in (("malloc", max_malloc), ("free", max_free)):
                ir = per[op]
                verdict = "ok" if ir <= budget else "OVER BUDGET"
                print("%-26s %-6s %6.1f Ir (budget %d) %s" % (name, op, ir, budget, verdict))
                failures += ir > budget
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

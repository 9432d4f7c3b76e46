#!/usr/bin/env python3
"""Which time verdicts changed between two comparison reports.

    python3 bench/comparison/verdict_diff.py reports/A/results.json reports/B/results.json

For every (benchmark, allocator) cell present in both reports (the baseline
excluded): the verdict (faster, slower, no significant difference) in each
and whether either run marked it unstable. Prints the changed cells and one
line of counts: changed verdicts among all cells, among the cells stable in
both runs, and how many cells either run flagged. This is how the claim "two
consecutive default runs give the same verdicts, or say which cells are
unstable" is checked (bench/README.md).
"""

import json
import sys


def cells(path):
    with open(path) as f:
        data = json.load(f)
    base = data["config"].get("baseline", "glibc")
    return {(c["workload"], c["allocator"]): c["time"] for c in data["cells"] if c["allocator"] != base}


def diff(a, b):
    """(changed rows, counts) for two {cell: time comparison} maps."""
    rows, counts = [], {"cells": 0, "changed": 0, "stable_cells": 0, "stable_changed": 0, "flagged": 0}
    for key in sorted(set(a) & set(b)):
        x, y = a[key], b[key]
        if x["verdict"] is None or y["verdict"] is None:
            continue
        counts["cells"] += 1
        stable = not x["unstable"] and not y["unstable"]
        counts["stable_cells"] += stable
        counts["flagged"] += not stable
        if x["verdict"] != y["verdict"]:
            counts["changed"] += 1
            counts["stable_changed"] += stable
            rows.append((key, x, y, stable))
    return rows, counts


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    rows, counts = diff(cells(argv[0]), cells(argv[1]))
    for (w, alloc), x, y, stable in rows:
        print("%-20s %-24s %s %.2fx%s -> %s %.2fx%s%s" % (
            w, alloc, x["verdict"], x["ratio"], "?" if x["unstable"] else "", y["verdict"], y["ratio"],
            "?" if y["unstable"] else "", "" if stable else "   (flagged)"))
    print("%d of %d verdicts changed; %d of the %d cells stable in both runs changed; %d cells flagged unstable "
          "in either run" % (counts["changed"], counts["cells"], counts["stable_changed"], counts["stable_cells"],
                             counts["flagged"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

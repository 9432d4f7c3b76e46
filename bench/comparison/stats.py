"""Statistics of the comparison report: medians, percentiles, spreads, ratios.

Python 3 standard library only. Every function takes plain lists of numbers
and ignores None entries (a failed run has no value); an empty input gives
None rather than raising, so one failed cell never breaks a report.
"""

import math


def _clean(values):
    return [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]


def median(values):
    """Median; the mean of the two middle values for an even count."""
    v = sorted(_clean(values))
    n = len(v)
    if n == 0:
        return None
    mid = n // 2
    return v[mid] if n % 2 else (v[mid - 1] + v[mid]) / 2.0


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100): the smallest value with at least
    q % of the values at or below it. The same definition as compare_driver.c."""
    if not 0 <= q <= 100:
        raise ValueError("percentile q must be in [0, 100], got %r" % (q,))
    v = sorted(_clean(values))
    if not v:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(v) - 1e-9))
    return v[min(rank, len(v)) - 1]


def spread(values):
    """(min, max), or (None, None)."""
    v = _clean(values)
    return (min(v), max(v)) if v else (None, None)


def ratio(value, baseline):
    """value / baseline, or None when either is missing or baseline is 0."""
    if value is None or baseline is None or baseline == 0:
        return None
    return float(value) / float(baseline)


def paired_ratios(values, baselines):
    """Per-repetition ratios values[i] / baselines[i] (runs interleaved in the
    same repetition are paired); None where either run failed."""
    return [ratio(v, b) for v, b in zip(values, baselines)]


def geomean(values):
    """Geometric mean of the positive values, or None."""
    v = [x for x in _clean(values) if x > 0]
    if not v:
        return None
    return math.exp(sum(math.log(x) for x in v) / len(v))


def summarize(values):
    """{"median", "min", "max", "n"} of the values (None entries dropped)."""
    lo, hi = spread(values)
    return {"median": median(values), "min": lo, "max": hi, "n": len(_clean(values))}


# ---- significance and confidence ----------------------------------------------
#
# Timings on these shared 2-core VMs are bimodal (a run lands in a fast or a
# slow mode, for every allocator alike) and the modes mix by chance between
# repetitions, so a median of a few runs picks a mode at random. The
# comparison's estimator is therefore the LOW MEAN: the mean of the fastest
# half of the runs (at least one). It estimates the fast mode whenever at
# least half the runs reach it, stays a mean (not one extreme sample), and
# is what a CPU-bound workload costs when nothing else interferes. The
# verdict is Mann-Whitney U on all the runs (no assumption of normality, as
# Google Benchmark's compare.py reports it); the confidence interval is a
# paired bootstrap of the low-mean ratio over repetitions (runs of one
# repetition ran back to back and are resampled together).

ALPHA = 0.05
BOOTSTRAP_RESAMPLES = 1000
# A verdict that the same test gives on fewer than this share of bootstrap
# resamples of the repetitions is marked unstable. Measured with two
# consecutive default runs (bench/README.md, "Statistics"): 3 of the 124
# cells stable in both changed their verdict, 27 of the 119 flagged ones.
STABILITY_RESAMPLES = 200
MIN_STABILITY = 0.8


def low_mean(values, fraction=0.5):
    """Mean of the smallest ceil(fraction * n) values (at least one), or None."""
    v = sorted(_clean(values))
    if not v:
        return None
    k = max(1, int(math.ceil(fraction * len(v) - 1e-9)))
    return sum(v[:k]) / k


ESTIMATORS = {"low_mean": low_mean, "median": median, "min": lambda v: spread(v)[0]}


def _ranks(values):
    """Average ranks (1-based) of values, ties sharing the mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def _u_distribution(n1, n2):
    """Number of arrangements giving each U = 0..n1*n2 (no ties): the exact
    null distribution of Mann-Whitney U, by the recurrence on the largest
    element (it belongs to sample 1, adding n2 to U, or to sample 2)."""
    # f[a][b] = list of counts for sizes a, b
    prev = [[1]] + [[1] for _ in range(n2)]  # a = 0: U = 0 once, for every b
    for a in range(1, n1 + 1):
        cur = [[1]]  # b = 0: U = 0 once
        for b in range(1, n2 + 1):
            with_a = prev[b]            # largest in sample 1: U += b
            with_b = cur[b - 1]         # largest in sample 2: U unchanged
            size = a * b + 1
            counts = [0] * size
            for u, c in enumerate(with_b):
                counts[u] += c
            for u, c in enumerate(with_a):
                counts[u + b] += c
            cur.append(counts)
        prev = cur
    return prev[n2]


def mann_whitney_u(x, y):
    """Two-sided Mann-Whitney U test of x against y.

    Returns {"u": U of x, "p": p-value, "method": "exact" | "normal", "n": (n1, n2)}
    or None when either sample is empty. Exact null distribution without ties
    for n1 * n2 <= 400; otherwise the normal approximation with tie
    correction and continuity correction."""
    x, y = _clean(x), _clean(y)
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        return None
    ranks = _ranks(x + y)
    r1 = sum(ranks[:n1])
    u1 = r1 - n1 * (n1 + 1) / 2.0
    ties = len(set(x + y)) < n1 + n2
    if not ties and n1 * n2 <= 400:
        counts = _u_distribution(n1, n2)
        total = float(sum(counts))
        u_small = min(u1, n1 * n2 - u1)
        tail = sum(counts[: int(round(u_small)) + 1]) / total
        return {"u": u1, "p": min(1.0, 2.0 * tail), "method": "exact", "n": (n1, n2)}
    n = n1 + n2
    mu = n1 * n2 / 2.0
    tie_sum = 0.0
    for v in set(x + y):
        t = (x + y).count(v)
        tie_sum += t ** 3 - t
    var = n1 * n2 / 12.0 * ((n + 1) - tie_sum / (n * (n - 1))) if n > 1 else 0.0
    if var <= 0:
        return {"u": u1, "p": 1.0, "method": "normal", "n": (n1, n2)}
    z = (abs(u1 - mu) - 0.5) / math.sqrt(var)
    p = math.erfc(max(z, 0.0) / math.sqrt(2.0))
    return {"u": u1, "p": min(1.0, p), "method": "normal", "n": (n1, n2)}


class _Rng:
    """xorshift64*: a fixed stream, so a report's intervals are reproducible."""

    def __init__(self, seed):
        self.s = (seed or 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF

    def below(self, n):
        s = self.s
        s ^= (s >> 12)
        s ^= (s << 25) & 0xFFFFFFFFFFFFFFFF
        s ^= (s >> 27)
        self.s = s
        return ((s * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF) % n


def bootstrap_ratio_ci(pairs, estimator=low_mean, resamples=BOOTSTRAP_RESAMPLES, level=0.95, seed=1):
    """Percentile bootstrap interval of estimator(values) / estimator(baselines).

    pairs: [(value, baseline)] of one repetition each (None where a run
    failed: such a pair is dropped). Repetitions are resampled with
    replacement, both members of a pair together. Returns (lo, hi), or
    (None, None) with fewer than 2 complete pairs."""
    pairs = [(float(a), float(b)) for a, b in pairs if a is not None and b is not None]
    if len(pairs) < 2:
        return (None, None)
    rng = _Rng(seed)
    n = len(pairs)
    ratios = []
    for _ in range(resamples):
        pick = [pairs[rng.below(n)] for _ in range(n)]
        num = estimator([p[0] for p in pick])
        den = estimator([p[1] for p in pick])
        if num is not None and den:
            ratios.append(num / den)
    if not ratios:
        return (None, None)
    ratios.sort()
    lo_q = (1.0 - level) / 2.0
    lo = ratios[int(math.floor(lo_q * (len(ratios) - 1)))]
    hi = ratios[int(math.ceil((1.0 - lo_q) * (len(ratios) - 1)))]
    return (lo, hi)


def bimodal(values, gap=1.3):
    """True when the sorted values split into two groups of at least two runs
    each with a jump of more than `gap` x between neighbours: the sign of a
    cell whose runs landed in both of the machine's timing modes."""
    v = sorted(x for x in _clean(values) if x > 0)
    for i in range(1, len(v) - 2 + 1):
        if i >= 2 and len(v) - i >= 2 and v[i] / v[i - 1] > gap:
            return True
    return False


def verdict_of(values, baselines, estimator=low_mean, alpha=ALPHA):
    """(verdict, ratio, p): "faster" / "slower" when Mann-Whitney finds the
    values significantly different (p < alpha) and the estimator's ratio says
    which way, "same" otherwise; (None, ratio, None) when a side is empty."""
    r = ratio(estimator(values), estimator(baselines))
    test = mann_whitney_u(values, baselines)
    if r is None or test is None:
        return None, r, None
    if test["p"] < alpha and r != 1.0:
        return ("faster" if r < 1.0 else "slower"), r, test["p"]
    return "same", r, test["p"]


def verdict_stability(values, baselines, estimator=low_mean, alpha=ALPHA, resamples=STABILITY_RESAMPLES, seed=1):
    """Share of bootstrap resamples of the repetitions (pairs kept together)
    on which verdict_of gives the verdict of the full data: how likely the
    next run of the same cell reads the same. None with fewer than 2 pairs."""
    pairs = [(a, b) for a, b in zip(values, baselines) if a is not None and b is not None]
    if len(pairs) < 2:
        return None
    point = verdict_of([p[0] for p in pairs], [p[1] for p in pairs], estimator, alpha)[0]
    rng = _Rng(seed)
    n, agree = len(pairs), 0
    for _ in range(resamples):
        pick = [pairs[rng.below(n)] for _ in range(n)]
        agree += verdict_of([p[0] for p in pick], [p[1] for p in pick], estimator, alpha)[0] == point
    return agree / float(resamples)


def compare(values, baselines, estimator=low_mean, alpha=ALPHA, seed=1):
    """Everything a cell reports about values against its baseline.

    values, baselines: per-repetition numbers in repetition order (None for a
    failed run), paired by index. Returns {"ratio", "ci": [lo, hi], "p",
    "verdict": "faster" | "slower" | "same" | None, "n", "unstable"}: verdict
    "faster" when the values are significantly lower (p < alpha) and the
    ratio is below 1, "slower" when significantly higher, "same" otherwise;
    None when either side has no run. "stability": verdict_stability();
    "bimodal": either side's runs split into two groups (see bimodal());
    "unstable": stability below MIN_STABILITY or bimodal, so the cell may
    read differently next run."""
    verdict, ratio_v, p = verdict_of(values, baselines, estimator, alpha)
    lo, hi = bootstrap_ratio_ci(list(zip(values, baselines)), estimator, seed=seed)
    result = {"ratio": ratio_v, "ci": [lo, hi], "p": p, "verdict": verdict,
              "n": [len(_clean(values)), len(_clean(baselines))]}
    result.update(instability(values, baselines, verdict, estimator, alpha, seed))
    return result


def instability(values, baselines, verdict, estimator=low_mean, alpha=ALPHA, seed=1):
    """{"stability", "bimodal", "unstable"} of compare(), for the verdict
    already computed on these values (the orchestrator asks this alone to
    decide where to add repetitions)."""
    stab = verdict_stability(values, baselines, estimator, alpha, seed=seed)
    two_modes = bimodal(values) or bimodal(baselines)
    return {"stability": stab, "bimodal": two_modes,
            "unstable": verdict is not None and (two_modes or (stab is not None and stab < MIN_STABILITY))}

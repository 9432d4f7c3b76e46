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

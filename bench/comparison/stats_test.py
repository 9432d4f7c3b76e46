"""Unit tests of bench/comparison/stats.py: medians, percentiles, ratios."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stats  # noqa: E402


class MedianTest(unittest.TestCase):
    def test_odd_even_empty(self):
        self.assertEqual(stats.median([3, 1, 2]), 2)
        self.assertEqual(stats.median([4, 1, 3, 2]), 2.5)
        self.assertIsNone(stats.median([]))
        self.assertIsNone(stats.median([None, None]))

    def test_ignores_failed_runs(self):
        self.assertEqual(stats.median([None, 5, 1, None, 3]), 3)
        self.assertEqual(stats.median([float("nan"), 7]), 7)


class PercentileTest(unittest.TestCase):
    def test_nearest_rank(self):
        v = list(range(1, 101))  # 1..100
        self.assertEqual(stats.percentile(v, 50), 50)
        self.assertEqual(stats.percentile(v, 99), 99)
        self.assertEqual(stats.percentile(v, 99.9), 100)
        self.assertEqual(stats.percentile(v, 100), 100)
        self.assertEqual(stats.percentile(v, 0), 1)
        self.assertEqual(stats.percentile(list(range(1, 1001)), 99.9), 999)

    def test_unsorted_and_small(self):
        self.assertEqual(stats.percentile([5, 1, 4, 2, 3], 50), 3)
        self.assertEqual(stats.percentile([7], 99.9), 7)
        self.assertIsNone(stats.percentile([], 50))

    def test_bad_q(self):
        with self.assertRaises(ValueError):
            stats.percentile([1], 101)


class RatioTest(unittest.TestCase):
    def test_ratio(self):
        self.assertEqual(stats.ratio(3, 2), 1.5)
        self.assertIsNone(stats.ratio(1, 0))
        self.assertIsNone(stats.ratio(None, 2))
        self.assertIsNone(stats.ratio(2, None))

    def test_paired(self):
        self.assertEqual(stats.paired_ratios([2, 4, None], [1, 2, 3]), [2.0, 2.0, None])

    def test_geomean_spread_summarize(self):
        self.assertAlmostEqual(stats.geomean([0.5, 2.0]), 1.0)
        self.assertAlmostEqual(stats.geomean([1, 4, None]), 2.0)
        self.assertIsNone(stats.geomean([]))
        self.assertEqual(stats.spread([3, None, 1, 2]), (1, 3))
        self.assertEqual(stats.spread([]), (None, None))
        self.assertEqual(stats.summarize([1, 2, 3, None]), {"median": 2, "min": 1, "max": 3, "n": 3})


def brute_force_p(x, y):
    """Two-sided permutation p of U over every split of x + y (the exact
    Mann-Whitney null without ties, by enumeration)."""
    import itertools
    pooled = x + y
    n1 = len(x)

    def u_of(a, b):
        return sum(1.0 if ai > bi else 0.5 if ai == bi else 0.0 for ai in a for bi in b)
    mu = n1 * len(y) / 2.0
    observed = abs(u_of(x, y) - mu)
    hits = total = 0
    for idx in itertools.combinations(range(len(pooled)), n1):
        a = [pooled[i] for i in idx]
        b = [pooled[i] for i in range(len(pooled)) if i not in idx]
        total += 1
        hits += abs(u_of(a, b) - mu) >= observed - 1e-9
    return hits / total


class MannWhitneyTest(unittest.TestCase):
    def test_exact_known_values(self):
        # scipy.stats.mannwhitneyu(..., method="exact"): 2/252 and 0.6905
        r = stats.mann_whitney_u([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
        self.assertEqual(r["method"], "exact")
        self.assertAlmostEqual(r["p"], 2 / 252.0)
        self.assertEqual(r["u"], 0)
        self.assertAlmostEqual(stats.mann_whitney_u([1, 3, 5, 7, 9], [2, 4, 6, 8, 10])["p"], 0.6904761904, places=6)
        # three against three can never reach 0.05: 2/20 at best
        self.assertAlmostEqual(stats.mann_whitney_u([1, 2, 3], [4, 5, 6])["p"], 0.1)

    def test_exact_matches_enumeration(self):
        cases = [([1.5, 2.5, 9.0], [3.0, 4.0, 5.0, 6.0]), ([10.0, 11.0, 30.0, 31.0], [12.0, 13.0, 14.0, 32.0]),
                 ([5.0, 1.0, 7.0, 3.0, 8.0], [2.0, 4.0, 6.0, 9.0, 10.0, 11.0])]
        for x, y in cases:
            self.assertAlmostEqual(stats.mann_whitney_u(x, y)["p"], brute_force_p(x, y), places=9, msg=(x, y))

    def test_symmetric_and_empty(self):
        x, y = [1.0, 4.0, 6.0, 8.0], [2.0, 3.0, 9.0, 10.0, 12.0]
        self.assertAlmostEqual(stats.mann_whitney_u(x, y)["p"], stats.mann_whitney_u(y, x)["p"])
        self.assertIsNone(stats.mann_whitney_u([], [1.0]))

    def test_normal_approximation(self):
        x = [float(i) for i in range(25)]
        y = [float(i) + 100 for i in range(25)]
        r = stats.mann_whitney_u(x, y)
        self.assertEqual(r["method"], "normal")
        self.assertLess(r["p"], 1e-6)
        # ties go to the normal path; identical samples: no difference at all
        r = stats.mann_whitney_u([5.0] * 6, [5.0] * 6)
        self.assertEqual(r["p"], 1.0)
        # ties: close to the enumeration (the approximation is not exact)
        x, y = [1.0, 2.0, 2.0, 3.0, 5.0], [2.0, 4.0, 5.0, 6.0, 7.0, 7.0]
        self.assertAlmostEqual(stats.mann_whitney_u(x, y)["p"], brute_force_p(x, y), delta=0.03)


class EstimatorTest(unittest.TestCase):
    def test_low_mean(self):
        self.assertEqual(stats.low_mean([5, 1, 4, 2, 3]), 2.0)  # fastest 3 of 5
        self.assertEqual(stats.low_mean([4, 2, 3, 1]), 1.5)     # fastest 2 of 4
        self.assertEqual(stats.low_mean([7]), 7.0)
        self.assertIsNone(stats.low_mean([None]))
        # two modes: the fast one wins as soon as half the runs reach it
        self.assertAlmostEqual(stats.low_mean([24, 12, 25, 12.5, 11.5, 23]), 12.0)

    def test_bimodal(self):
        self.assertTrue(stats.bimodal([10, 10.5, 20, 21]))
        self.assertFalse(stats.bimodal([10, 11, 12, 13]))
        self.assertFalse(stats.bimodal([10, 10, 10, 20]))  # one outlier is not a mode
        self.assertFalse(stats.bimodal([]))

    def test_bootstrap_ci(self):
        pairs = [(2.0 * b, b) for b in (10.0, 12.0, 11.0, 13.0, 10.5)]
        self.assertEqual(stats.bootstrap_ratio_ci(pairs), (2.0, 2.0))  # every pair the same ratio
        pairs = [(9.0, 10.0), (12.0, 11.0), (10.0, 10.5), (8.0, 10.0), (11.0, 12.0), (10.0, 9.5)]
        lo, hi = stats.bootstrap_ratio_ci(pairs)
        point = stats.low_mean([p[0] for p in pairs]) / stats.low_mean([p[1] for p in pairs])
        self.assertLessEqual(lo, point)
        self.assertGreaterEqual(hi, point)
        self.assertLess(lo, hi)
        self.assertEqual((lo, hi), stats.bootstrap_ratio_ci(pairs))  # a fixed stream: reproducible
        self.assertEqual(stats.bootstrap_ratio_ci([(1.0, None), (2.0, 1.0)]), (None, None))

    def test_compare_verdicts(self):
        base = [10.0, 10.2, 9.9, 10.1, 10.3]
        self.assertEqual(stats.compare([5.0, 5.1, 4.9, 5.2, 5.0], base)["verdict"], "faster")
        self.assertEqual(stats.compare([20.0, 20.1, 19.9, 20.2, 20.4], base)["verdict"], "slower")
        same = stats.compare([10.1, 9.8, 10.2, 10.0, 10.4], base)
        self.assertEqual(same["verdict"], "same")
        self.assertGreater(same["p"], 0.05)
        self.assertFalse(same["unstable"])
        self.assertTrue(stats.compare([5.0, 5.1, 10.0, 10.2], base)["unstable"])
        self.assertIsNone(stats.compare([None, None], base)["verdict"])


if __name__ == "__main__":
    unittest.main(verbosity=2)

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


if __name__ == "__main__":
    unittest.main(verbosity=2)

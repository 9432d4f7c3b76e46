"""Unit tests of bench/comparison/allocators.py: which allocators a run takes."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allocators  # noqa: E402

REGISTERED = ["first_fit=/x/libsa_first_fit.so", "segregated=/x/libsa_segregated.so",
              "thread_cache+first_fit=/x/libsa_thread_cache_first_fit.so"]


def names(chosen):
    return [a.name for a in chosen]


class SelectTest(unittest.TestCase):
    def setUp(self):
        self.entries = allocators.catalogue(REGISTERED, ["mine=/y/libmine.so"])

    def test_default_keeps_system_user_and_the_stated_strategies(self):
        self.assertEqual(names(allocators.select(None, self.entries, ["segregated"])),
                         ["glibc", "jemalloc", "tcmalloc", "mimalloc", "segregated", "mine"])

    def test_no_stated_set_is_everything(self):
        self.assertEqual(names(allocators.select(None, self.entries, None)), names(self.entries))

    def test_all_and_names_reach_the_others(self):
        self.assertEqual(names(allocators.select("all", self.entries, ["segregated"])), names(self.entries))
        self.assertEqual(names(allocators.select("thread_cache+first_fit,glibc", self.entries, ["segregated"])),
                         ["thread_cache+first_fit", "glibc"])

    def test_a_default_that_is_not_registered_is_an_error(self):
        with self.assertRaisesRegex(allocators.AllocatorError, "nosuch.*registered: first_fit"):
            allocators.select(None, self.entries, ["nosuch"])


if __name__ == "__main__":
    unittest.main()

// The thread cache's batches in a phase of only mallocs or only frees (a
// table built, then torn down): a bin's fill takes all but 1/8 of its limit
// instead of half, so such a phase takes the back-end's lock about half as
// often (sequential_mt). Counted with the heap's own cache_misses (one per
// fill), in a fresh thread so that its cache starts empty: deterministic.
#include <string.h>

#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "stratalloc/stratalloc.h"
#include "stratalloc/strategy.h"

namespace {

uint64_t Misses(sa_heap_t* h) {
  sa_stats_t s;
  sa_heap_stats(h, &s);
  return s.cache_misses;
}

constexpr size_t kBlocks = 8192;
constexpr size_t kSize = 64;  // a bin of cache_flush_threshold (64) blocks

// Fills taken by a thread that allocates kBlocks blocks, frees one of every
// `free_every` right after it (0: none), then frees the rest.
uint64_t FillsOf(sa_heap_t* h, size_t free_every) {
  uint64_t fills = 0;
  std::thread t([&] {
    std::vector<void*> live;
    const uint64_t before = Misses(h);
    for (size_t i = 0; i < kBlocks; i++) {
      void* p = sa_malloc(h, kSize);
      ASSERT_NE(p, nullptr);
      memset(p, 1, kSize);
      if (free_every != 0 && i % free_every == 0) sa_free(h, p);
      else live.push_back(p);
    }
    fills = Misses(h) - before;
    for (void* p : live) sa_free(h, p);
  });
  t.join();
  return fills;
}

class ThreadCachePhase : public testing::TestWithParam<const char*> {};

TEST_P(ThreadCachePhase, OnlyMallocsFillAllButAnEighthOfTheBin) {
  const sa_strategy_t* s = sa_strategy_find(GetParam());
  ASSERT_NE(s, nullptr) << GetParam() << " is not registered";
  sa_config_t c;
  sa_config_default(&c);
  sa_heap_t* h = sa_heap_create(s, &c);
  ASSERT_NE(h, nullptr);
  // 56 blocks a fill (64 - 64/8); half a bin (32) would be 256 fills.
  const uint64_t phase = FillsOf(h, 0);
  EXPECT_LE(phase, kBlocks / 48) << GetParam();
  EXPECT_GE(phase, kBlocks / 64) << GetParam() << ": a fill took more than the bin holds";
  // A thread that frees between its fills is in no phase: half a bin.
  const uint64_t mixed = FillsOf(h, 4);
  EXPECT_GE(mixed, (kBlocks - kBlocks / 4) / 40) << GetParam();
  EXPECT_EQ(sa_check(h), 0u) << GetParam();
  sa_heap_destroy(h);
}

INSTANTIATE_TEST_SUITE_P(Stacks, ThreadCachePhase,
                         testing::Values("thread_cache+segregated", "thread_cache+first_fit",
                                         "thread_cache+buddy"),
                         [](const testing::TestParamInfo<const char*>& i) {
                           std::string n = i.param;
                           for (char& ch : n)
                             if (ch == '+') ch = '_';
                           return n;
                         });

}  // namespace

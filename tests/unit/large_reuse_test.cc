// Large objects and the segment cache (common/large.c, segment_cache.c), on
// every registered strategy: a freed large mapping serves the next large
// request of any nearby size without new pages (split, merged back, grown
// by mremap, glued from several), realloc grows and shrinks in place, and the decay gives back
// what goes unused, as of a time the test passes. The counters and sa_check
// stay exact throughout.
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "stratalloc/strategy.h"

namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kPage = 4096;

std::vector<const sa_strategy_t*> Strategies() {
  std::vector<const sa_strategy_t*> v;
  for (size_t i = 0; sa_registry[i] != nullptr; i++) v.push_back(sa_registry[i]);
  return v;
}

std::string ParamName(const testing::TestParamInfo<const sa_strategy_t*>& info) {
  std::string name = sa_strategy_name(info.param);
  for (char& c : name)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

uint64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

// The mapping a large request of `size` bytes needs: its 64-byte header and
// the bytes, in pages.
size_t Need(size_t size) { return (size + SA_SEGMENT_HEADER_SIZE + kPage - 1) / kPage * kPage; }

class LargeReuseTest : public testing::TestWithParam<const sa_strategy_t*> {
 protected:
  void SetUp() override {
    sa_config_default(&cfg_);
    cfg_.segment_decay_ms = 3600 * 1000;  // nothing decays unless the test says so
    cfg_.background_purge = 0;
  }
  void TearDown() override {
    if (h_) sa_heap_destroy(h_);
  }
  sa_heap_t* Create() {
    h_ = sa_heap_create(GetParam(), &cfg_);
    return h_;
  }
  sa_stats_t Stats() {
    sa_stats_t s;
    sa_heap_stats(h_, &s);
    return s;
  }
  void* Fill(size_t size, unsigned char byte) {
    void* p = sa_malloc(h_, size);
    if (p) memset(p, byte, size);
    return p;
  }
  // mapped_bytes is what the segments and the cache hold, and sa_check
  // agrees (it compares them under the lock).
  void ExpectExact(const char* where) {
    EXPECT_EQ(sa_check(h_), 0u) << where;
    sa_stats_t s = Stats();
    EXPECT_LE(s.segment_cache_bytes, s.mapped_bytes) << where;
    EXPECT_GE(s.total_mapped_bytes, s.peak_mapped_bytes) << where;
    EXPECT_GE(s.peak_mapped_bytes, s.mapped_bytes) << where;
  }
  sa_config_t cfg_;
  sa_heap_t* h_ = nullptr;
};

// A smaller request takes the head of a bigger cached span; the tail stays
// cached (resident, no unmap); freeing the head merges them back into one
// span that serves a request of nearly the whole size.
TEST_P(LargeReuseTest, ABiggerSpanIsSplitAndMergedBack) {
  ASSERT_NE(Create(), nullptr);
  void* big = Fill(20 * kMiB, 1);
  ASSERT_NE(big, nullptr);
  sa_free(h_, big);
  const sa_stats_t s0 = Stats();
  ASSERT_EQ(s0.segment_cache_bytes, Need(20 * kMiB));
  void* small = Fill(8 * kMiB, 2);
  ASSERT_NE(small, nullptr);
  sa_stats_t s1 = Stats();
  EXPECT_EQ(s1.total_mapped_bytes, s0.total_mapped_bytes) << "a new mapping instead of the cached span";
  EXPECT_EQ(s1.mapped_bytes, s0.mapped_bytes) << "the tail was unmapped";
  EXPECT_EQ(s1.segment_cache_bytes, Need(20 * kMiB) - Need(8 * kMiB));
  EXPECT_EQ(sa_usable_size(h_, small), Need(8 * kMiB) - SA_SEGMENT_HEADER_SIZE);
  EXPECT_EQ(s1.current_large_bytes, sa_usable_size(h_, small));
  ExpectExact("split");
  sa_free(h_, small);
  EXPECT_EQ(Stats().segment_cache_bytes, Need(20 * kMiB));
  void* again = Fill(19 * kMiB, 3);  // only the merged span fits it
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(Stats().total_mapped_bytes, s0.total_mapped_bytes) << "head and tail were not merged";
  EXPECT_EQ(big, again);
  ExpectExact("merged");
  sa_free(h_, again);
  // A span within 1/8 of the request is handed out whole.
  void* whole = sa_malloc(h_, 18 * kMiB);
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(sa_usable_size(h_, whole), Need(20 * kMiB) - SA_SEGMENT_HEADER_SIZE);
  EXPECT_EQ(Stats().segment_cache_bytes, 0u);
  sa_free(h_, whole);
  ExpectExact("whole");
}

// A request bigger than every cached span grows the largest one of at least
// half its size by mremap: only the missing pages are new. A much smaller
// span is left alone (a fresh mapping, the cache kept below its floor).
TEST_P(LargeReuseTest, ASmallerSpanGrowsByMremap) {
  ASSERT_NE(Create(), nullptr);
  unsigned char* p = static_cast<unsigned char*>(Fill(10 * kMiB, 0x5a));
  ASSERT_NE(p, nullptr);
  sa_free(h_, p);
  const sa_stats_t s0 = Stats();
  unsigned char* q = static_cast<unsigned char*>(sa_malloc(h_, 16 * kMiB));
  ASSERT_NE(q, nullptr);
  sa_stats_t s1 = Stats();
  EXPECT_EQ(s1.total_mapped_bytes - s0.total_mapped_bytes, Need(16 * kMiB) - Need(10 * kMiB));
  EXPECT_EQ(s1.segment_cache_bytes, 0u);
  EXPECT_EQ(s1.mapped_bytes, s0.mapped_bytes + Need(16 * kMiB) - Need(10 * kMiB));
  EXPECT_EQ(q[10 * kMiB - 1], 0x5a) << "the old pages did not come along";
  EXPECT_EQ(q[16 * kMiB - 1], 0) << "the new pages are not fresh";
  memset(q, 1, 16 * kMiB);
  ExpectExact("grown");
  sa_free(h_, q);
  ASSERT_GT(sa_heap_trim(h_), 0u);

  void* small = Fill(4 * kMiB, 1);
  ASSERT_NE(small, nullptr);
  sa_free(h_, small);
  const sa_stats_t s2 = Stats();
  void* big = Fill(20 * kMiB, 2);
  ASSERT_NE(big, nullptr);
  sa_stats_t s3 = Stats();
  // Any cached span grows rather than a fresh mapping beside it, which
  // would hold both resident.
  EXPECT_EQ(s3.segment_cache_bytes, 0u) << "a 4 MiB span not grown to 20 MiB";
  EXPECT_EQ(s3.total_mapped_bytes - s2.total_mapped_bytes, Need(20 * kMiB) - Need(4 * kMiB));
  sa_free(h_, big);
  ExpectExact("grown from 4 MiB");
}

// A request bigger than every cached span, with more than one cached, is
// glued: the largest span and the one that best covers the rest (split)
// move side by side by mremap, their pages with them, so no page is new;
// the unused tail stays cached. The glued object works as any other: every
// byte writable, sa_check clean, realloc past it copies (mremap cannot
// grow several VMAs), and once freed it serves the requests it fits.
TEST_P(LargeReuseTest, SpansAreGluedForARequestNoneHolds) {
  ASSERT_NE(Create(), nullptr);
  unsigned char* a = static_cast<unsigned char*>(Fill(8 * kMiB, 0x11));
  unsigned char* b = static_cast<unsigned char*>(Fill(14 * kMiB, 0x22));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  sa_free(h_, a);
  sa_free(h_, b);
  const sa_stats_t s0 = Stats();
  ASSERT_EQ(s0.segment_cache_bytes, Need(8 * kMiB) + Need(14 * kMiB));
  unsigned char* q = static_cast<unsigned char*>(sa_malloc(h_, 20 * kMiB));
  ASSERT_NE(q, nullptr);
  sa_stats_t s1 = Stats();
  EXPECT_EQ(s1.total_mapped_bytes, s0.total_mapped_bytes) << "new pages where cached ones would do";
  EXPECT_EQ(s1.mapped_bytes, s0.mapped_bytes);
  EXPECT_EQ(s1.segment_cache_bytes, Need(8 * kMiB) + Need(14 * kMiB) - Need(20 * kMiB))
      << "the 8 MiB span's tail is kept";
  EXPECT_EQ(sa_usable_size(h_, q), Need(20 * kMiB) - SA_SEGMENT_HEADER_SIZE);
  EXPECT_EQ(q[kMiB], 0x22) << "the largest span comes first, its pages with it";
  EXPECT_EQ(q[Need(14 * kMiB) + kMiB], 0x11) << "the second span follows";
  memset(q, 3, 20 * kMiB);
  ExpectExact("glued");
  unsigned char* r = static_cast<unsigned char*>(sa_realloc(h_, q, 30 * kMiB));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r[0], 3);
  EXPECT_EQ(r[20 * kMiB - 1], 3);
  memset(r, 4, 30 * kMiB);
  ExpectExact("glued, then grown");
  sa_free(h_, r);
  ExpectExact("freed");
}

// A glued span is a piece again where the kernel moves a range of several
// VMAs in one mremap (Linux 6.17 on); elsewhere that mremap fails, the span
// goes back to the cache, and the request gets fresh pages for that part.
// Either way the result is a working object and the counters are exact.
TEST_P(LargeReuseTest, AGluedSpanIsGluedAgainOrLeftCached) {
  ASSERT_NE(Create(), nullptr);
  void* a = Fill(8 * kMiB, 1);
  void* b = Fill(14 * kMiB, 2);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  sa_free(h_, a);
  sa_free(h_, b);
  unsigned char* glued = static_cast<unsigned char*>(Fill(21 * kMiB, 5));
  ASSERT_NE(glued, nullptr);
  void* c = Fill(10 * kMiB, 6);
  ASSERT_NE(c, nullptr);
  sa_free(h_, glued);
  sa_free(h_, c);
  const sa_stats_t s0 = Stats();
  unsigned char* q = static_cast<unsigned char*>(sa_malloc(h_, 30 * kMiB));
  ASSERT_NE(q, nullptr);
  const sa_stats_t s1 = Stats();
  const uint64_t fresh = s1.total_mapped_bytes - s0.total_mapped_bytes;
  EXPECT_TRUE(fresh == 0 || fresh >= 10 * kMiB) << fresh;
  EXPECT_EQ(q[kMiB], fresh == 0 ? 5 : 6) << "the glued span first where it moves, else the 10 MiB one";
  memset(q, 7, 30 * kMiB);
  ExpectExact("glued again");
  sa_free(h_, q);
  ExpectExact("freed");
}

// realloc of a large object: shrinking leaves the tail in the cache and
// keeps the address; growing takes that tail back (no system call, no new
// page); growing past it moves by mremap with the contents.
TEST_P(LargeReuseTest, ReallocGrowsAndShrinksInPlace) {
  ASSERT_NE(Create(), nullptr);
  unsigned char* p = static_cast<unsigned char*>(sa_malloc(h_, 8 * kMiB));
  ASSERT_NE(p, nullptr);
  for (size_t i = 0; i < 8 * kMiB; i += kPage) p[i] = static_cast<unsigned char>(i / kPage);
  const sa_stats_t s0 = Stats();
  unsigned char* r = static_cast<unsigned char*>(sa_realloc(h_, p, 3 * kMiB));
  ASSERT_EQ(r, p) << "a shrink moved";
  sa_stats_t s1 = Stats();
  EXPECT_EQ(s1.mapped_bytes, s0.mapped_bytes);
  EXPECT_EQ(s1.segment_cache_bytes, Need(8 * kMiB) - Need(3 * kMiB));
  EXPECT_EQ(sa_usable_size(h_, r), Need(3 * kMiB) - SA_SEGMENT_HEADER_SIZE);
  EXPECT_EQ(s1.current_large_bytes, sa_usable_size(h_, r));
  ExpectExact("shrunk");
  r = static_cast<unsigned char*>(sa_realloc(h_, r, 7 * kMiB));
  ASSERT_EQ(r, p) << "the cached tail was not taken back";
  sa_stats_t s2 = Stats();
  EXPECT_EQ(s2.total_mapped_bytes, s0.total_mapped_bytes);
  EXPECT_EQ(s2.mapped_bytes, s0.mapped_bytes);
  EXPECT_EQ(s2.segment_cache_bytes, Need(8 * kMiB) - Need(7 * kMiB)) << "the rest of the tail stays";
  EXPECT_EQ(sa_usable_size(h_, r), Need(7 * kMiB) - SA_SEGMENT_HEADER_SIZE);
  EXPECT_EQ(s2.current_large_bytes, sa_usable_size(h_, r));
  for (size_t i = 0; i < 3 * kMiB; i += kPage) ASSERT_EQ(r[i], static_cast<unsigned char>(i / kPage)) << i;
  ExpectExact("regrown");
  unsigned char* m = static_cast<unsigned char*>(sa_realloc(h_, r, 40 * kMiB));
  ASSERT_NE(m, nullptr);
  sa_stats_t s3 = Stats();
  EXPECT_EQ(s3.total_mapped_bytes - s2.total_mapped_bytes, Need(40 * kMiB) - Need(7 * kMiB))
      << "mremap grows by the missing pages only";
  for (size_t i = 0; i < 3 * kMiB; i += kPage) ASSERT_EQ(m[i], static_cast<unsigned char>(i / kPage)) << i;
  memset(m, 7, 40 * kMiB);
  EXPECT_EQ(s3.current_large_bytes, sa_usable_size(h_, m));
  EXPECT_EQ(s3.large_allocations, s0.large_allocations) << "a realloc in place is not an allocation";
  ExpectExact("moved");
  // Shrinking to a size the strategy serves copies into its block.
  void* tiny = sa_realloc(h_, m, 100);
  ASSERT_NE(tiny, nullptr);
  EXPECT_EQ(static_cast<unsigned char*>(tiny)[99], 7);
  EXPECT_EQ(Stats().current_large_bytes, 0u);
  sa_free(h_, tiny);
  ExpectExact("small");
}

// An over-aligned large object keeps its address (and alignment) when it
// grows and shrinks in place; when it cannot, it is copied.
TEST_P(LargeReuseTest, OverAlignedReallocKeepsItsContents) {
  ASSERT_NE(Create(), nullptr);
  const size_t align = 2 * kMiB;
  unsigned char* p = static_cast<unsigned char*>(sa_memalign(h_, align, 6 * kMiB));
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u);
  memset(p, 0x33, 6 * kMiB);
  unsigned char* r = static_cast<unsigned char*>(sa_realloc(h_, p, 2 * kMiB));
  ASSERT_EQ(r, p);
  ExpectExact("aligned shrunk");
  r = static_cast<unsigned char*>(sa_realloc(h_, r, 5 * kMiB));
  ASSERT_EQ(r, p);
  EXPECT_EQ(r[2 * kMiB - 1], 0x33);
  r = static_cast<unsigned char*>(sa_realloc(h_, r, 30 * kMiB));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r[0], 0x33);
  EXPECT_EQ(r[2 * kMiB - 1], 0x33);
  memset(r, 1, 30 * kMiB);
  ExpectExact("aligned grown");
  sa_free(h_, r);
  ExpectExact("aligned freed");
}

// A loop of random large buffers (the large_objects workload, smaller):
// after the first few, almost every request is served from what the cache
// keeps, and every counter stays exact.
TEST_P(LargeReuseTest, ALoopOfRandomSizesStopsMapping) {
  ASSERT_NE(Create(), nullptr);
  void* slot[4] = {};
  uint64_t x = 88172645463325252ull;
  uint64_t warm_total = 0;
  const int kIters = 200;
  for (int i = 0; i < kIters; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t k = x % 4, size = 2 * kMiB + (x >> 8) % (6 * kMiB);
    if (slot[k]) sa_free(h_, slot[k]);
    slot[k] = sa_malloc(h_, size);
    ASSERT_NE(slot[k], nullptr);
    static_cast<unsigned char*>(slot[k])[size - 1] = 1;
    if (i == 20) warm_total = Stats().total_mapped_bytes;
    if (i % 50 == 0) ExpectExact("loop");
  }
  sa_stats_t s = Stats();
  size_t live = 0;
  for (void* p : slot) live += sa_usable_size(h_, p);
  EXPECT_EQ(s.current_large_bytes, live);
  EXPECT_EQ(s.current_blocks, 4u);
  EXPECT_EQ(s.large_allocations, size_t(kIters));
  // 180 requests of 2..8 MiB after the warm-up: without reuse about 900 MiB
  // of new pages; with it, a small fraction.
  EXPECT_LT(s.total_mapped_bytes - warm_total, 180 * 5 * kMiB / 4);
  for (void* p : slot) sa_free(h_, p);
  EXPECT_EQ(Stats().current_large_bytes, 0u);
  ExpectExact("loop end");
}

// The decay as of a given time: nothing is due before 7/8 of
// segment_decay_ms after a release, everything after.
TEST_P(LargeReuseTest, DecayGivesBackWhatWentUnused) {
  cfg_.segment_decay_ms = 1000;
  ASSERT_NE(Create(), nullptr);
  const uint64_t base = Stats().mapped_bytes;
  const uint64_t t0 = NowMs();  // before every release
  std::vector<void*> live;
  for (size_t size : {3 * kMiB, 5 * kMiB, 200 * size_t{1024}}) live.push_back(Fill(size, 4));
  for (void* p : live) sa_free(h_, p);
  const uint64_t t1 = NowMs();
  const uint64_t cached = Stats().segment_cache_bytes;
  ASSERT_GT(cached, 8 * kMiB);
  EXPECT_EQ(sa_segment_cache_decay(h_, t0 + 800), 0u) << "released after t0: none is due at t0 + 800";
  EXPECT_EQ(Stats().segment_cache_bytes, cached);
  EXPECT_EQ(sa_segment_cache_decay(h_, t1 + 875), cached) << "all are due 7/8 of the period on";
  sa_stats_t s = Stats();
  EXPECT_EQ(s.segment_cache_bytes, 0u);
  EXPECT_EQ(s.mapped_bytes, base);
  ExpectExact("decayed");
  EXPECT_EQ(sa_segment_cache_decay(h_, UINT64_MAX / 2), 0u);
}

INSTANTIATE_TEST_SUITE_P(Registry, LargeReuseTest, testing::ValuesIn(Strategies()), ParamName);

}  // namespace

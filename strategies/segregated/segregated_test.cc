// segregated specifics: the size-class table, slab state transitions, the
// return-to-OS policy, error detection, walk/check, threads.
//
// Facts of segregated this test relies on (strategies/segregated/README.md):
//   - malloc(n) for 1 <= n <= SA_SEGREGATED_SMALL_MAX returns a slot of the
//     smallest class >= n; usable size == class size; no per-object header;
//   - a slab holds sa_segregated_slab_slots(cls) slots; the walk reports every
//     slot of every slab (used or free) with size == class size;
//   - an emptied slab goes to its class's empty cache if the cache holds fewer
//     than config.retain_empty_slabs slabs, else back to the OS.
#include "strategies/segregated/segregated.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include <unistd.h>

#include "gtest/gtest.h"
#include "stratalloc/stratalloc.h"
#include "stratalloc/strategy.h"
#include "strategies/size_class/size_class.h"

namespace {

struct Slot {
  uintptr_t ptr;
  size_t size;
  bool used;
};

std::vector<Slot> Walk(sa_heap_t* h) {
  std::vector<Slot> out;
  sa_walk(
      h,
      [](void* p, size_t size, sa_block_state_t state, void* arg) {
        static_cast<std::vector<Slot>*>(arg)->push_back(
            Slot{reinterpret_cast<uintptr_t>(p), size, state == SA_BLOCK_USED});
      },
      &out);
  return out;
}

sa_segregated_class_stats_t ClassStats(sa_heap_t* h, size_t cls) {
  sa_segregated_class_stats_t st;
  EXPECT_EQ(sa_segregated_class_stats(h, cls, &st), 0);
  return st;
}

uint64_t Mapped(sa_heap_t* h) {
  sa_stats_t st;
  sa_heap_stats(h, &st);
  return st.mapped_bytes;
}

class SegregatedTest : public ::testing::Test {
 protected:
  void SetUp() override { sa_config_default(&cfg_); }
  void TearDown() override {
    for (sa_heap_t* h : heaps_) sa_heap_destroy(h);
  }
  sa_heap_t* Create() {
    sa_heap_t* h = sa_heap_create(&sa_segregated, &cfg_);
    if (h) heaps_.push_back(h);
    return h;
  }
  sa_config_t cfg_;
  std::vector<sa_heap_t*> heaps_;
};

// ---------------------------------------------------------------------------
// The size-class table
// ---------------------------------------------------------------------------

TEST(SizeClasses, TableIsFineThenFourThenEightPerPowerOfTwo) {
  const size_t n = sa_segregated_class_count();
  ASSERT_EQ(n, 76u);
  for (size_t c = 0; c < 8; c++) EXPECT_EQ(sa_segregated_class_size(c), 16 * (c + 1));
  for (size_t c = 8; c < 20; c++) {
    size_t lo = size_t{128} << ((c - 8) / 4);  // the group (lo, 2 lo], lo <= 512
    EXPECT_EQ(sa_segregated_class_size(c), lo + (lo / 4) * ((c - 8) % 4 + 1)) << "class " << c;
  }
  for (size_t c = 20; c < n; c++) {
    size_t lo = size_t{1024} << ((c - 20) / 8);  // the group (lo, 2 lo], lo >= 1024
    EXPECT_EQ(sa_segregated_class_size(c), lo + (lo / 8) * ((c - 20) % 8 + 1)) << "class " << c;
  }
  EXPECT_EQ(sa_segregated_class_size(n - 1), SA_SEGREGATED_SMALL_MAX);
  EXPECT_EQ(sa_segregated_class_size(n), 0u);
  for (size_t c = 0; c < n; c++) {
    EXPECT_EQ(sa_segregated_class_size(c) % 16, 0u);
    if (c) {
      EXPECT_GT(sa_segregated_class_size(c), sa_segregated_class_size(c - 1));
    }
  }
  // The constant the thread cache sizes its bins with.
  for (size_t lg = 7; lg <= 17; lg++)
    EXPECT_EQ(sa_segregated_class_size(SA_SC_POW2_CLASS(lg)), size_t{1} << lg) << lg;
}

// The proof, by exhaustion: every size maps to the smallest class that fits.
// Worst-case internal waste (class size - request):
//   n <= 128: at most 15 bytes (n = 16k + 1);
//   128 < n <= 1024: below 25% of the request (n = 2^k + 1, the class being
//   1.25 * 2^k: 24.8% at n = 513), below 20% of the block;
//   n > 1024: at most 12.5% of the request (n = 2^k + 1, the class being
//   1.125 * 2^k: 12.498% at n = 65537), below 1/9 of the block. A sqlite
//   page buffer (4096 + its header) takes 4608 bytes.
TEST(SizeClasses, EverySizeMapsToTheSmallestClassThatFits) {
  const size_t n = sa_segregated_class_count();
  double worst_of_request = 0, worst_of_block = 0, worst_fine = 0, worst_fine_block = 0;
  size_t worst_at = 0, worst_small = 0, worst_fine_at = 0;
  for (size_t size = 1; size <= SA_SEGREGATED_SMALL_MAX; size++) {
    size_t c = sa_segregated_size_class(size);
    ASSERT_LT(c, n) << size;
    size_t cs = sa_segregated_class_size(c);
    ASSERT_GE(cs, size) << "size " << size << " class " << c;
    if (c > 0) {
      ASSERT_LT(sa_segregated_class_size(c - 1), size) << "size " << size;
    }
    size_t waste = cs - size;
    double r = double(waste) / double(size), b = double(waste) / double(cs);
    if (size <= 128) {
      worst_small = std::max(worst_small, waste);
    } else if (size <= 1024) {
      if (r > worst_of_request) worst_of_request = r, worst_at = size;
      worst_of_block = std::max(worst_of_block, b);
    } else {
      if (r > worst_fine) worst_fine = r, worst_fine_at = size;
      worst_fine_block = std::max(worst_fine_block, b);
    }
  }
  EXPECT_EQ(sa_segregated_size_class(0), n);
  EXPECT_EQ(sa_segregated_size_class(SA_SEGREGATED_SMALL_MAX + 1), n);
  EXPECT_EQ(sa_segregated_class_size(sa_segregated_size_class(4096 + 264)), 4608u);
  EXPECT_EQ(worst_small, 15u);
  EXPECT_LT(worst_of_request, 0.25);
  EXPECT_LT(worst_of_block, 0.20);
  EXPECT_EQ(worst_at, 513u);
  EXPECT_LE(worst_fine, 0.125);
  EXPECT_LT(worst_fine_block, 1.0 / 9);
  EXPECT_EQ(worst_fine_at, 65537u);
  printf("worst-case waste: <= %zu B for n <= 128; %.3f%% of the request (n = %zu), %.3f%% of "
         "the block for 128 < n <= 1024; %.3f%% (n = %zu), %.3f%% above\n",
         worst_small, 100 * worst_of_request, worst_at, 100 * worst_of_block, 100 * worst_fine,
         worst_fine_at, 100 * worst_fine_block);
}

TEST(SizeClasses, SlabGeometry) {
  for (size_t c = 0; c < sa_segregated_class_count(); c++) {
    size_t bytes = sa_segregated_slab_bytes(c), slots = sa_segregated_slab_slots(c);
    size_t size = sa_segregated_class_size(c);
    EXPECT_EQ(bytes % 4096, 0u) << c;
    EXPECT_GE(bytes, size_t{64} * 1024) << c;
    EXPECT_GE(slots, 4u) << c;
    EXPECT_LE(slots * size, bytes) << c;
    // Header, bitmap, alignment pad and tail: at most one page or 1/16.
    EXPECT_LE(bytes - slots * size, std::max<size_t>(4096, bytes / 16)) << c;
  }
}

// Front-ends find a freed block's index, and tell a block start from any
// other address, with sa_slab_index's one multiplication: held here against
// a division for every offset of every class's slab (and past it, and below
// its first block), through the header a real slab carries.
TEST_F(SegregatedTest, SlabIndexIsExactForEveryOffsetOfEveryClass) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  for (size_t c = 0; c < sa_segregated_class_count(); c++) {
    const size_t size = sa_segregated_class_size(c), slots = sa_segregated_slab_slots(c);
    void* p = sa_malloc(h, size);
    ASSERT_NE(p, nullptr) << c;
    const sa_segment_t* seg = sa_segment_of(p);
    ASSERT_NE(seg, nullptr) << c;
    const uintptr_t user = reinterpret_cast<uintptr_t>(seg->user);
    size_t wrong = 0;
    auto expect = [&](uintptr_t q, uint32_t want) {
      wrong += sa_slab_index(seg, reinterpret_cast<const void*>(q)) != want;
    };
    for (size_t off = 0; off < (slots + 2) * size; off++)
      expect(user + off, off % size == 0 && off / size < slots ? static_cast<uint32_t>(off / size) : UINT32_MAX);
    for (size_t back = 1; back <= 4096; back++) expect(user - back, UINT32_MAX);
    for (size_t k = 0; k < 64; k++) expect(user + (uintptr_t{1} << 32) + k * size, UINT32_MAX);
    EXPECT_EQ(wrong, 0u) << "class " << c << " (" << size << " bytes)";
    sa_free(h, p);
  }
}

TEST_F(SegregatedTest, EveryClassBoundaryGetsItsClass) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  std::vector<void*> live;
  for (size_t c = 0; c < sa_segregated_class_count(); c++) {
    size_t cs = sa_segregated_class_size(c);
    for (size_t n : {cs - 15, cs, cs + 1}) {
      if (n > SA_SEGREGATED_SMALL_MAX || n > cfg_.mmap_threshold) continue;
      void* p = sa_malloc(h, n);
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u);
      size_t want = sa_segregated_class_size(sa_segregated_size_class(n));
      EXPECT_EQ(sa_usable_size(h, p), want) << "malloc(" << n << ")";
      memset(p, 0xab, want);
      live.push_back(p);
    }
  }
  EXPECT_EQ(sa_check(h), 0u);
  for (void* p : live) sa_free(h, p);
  EXPECT_EQ(sa_check(h), 0u);
}

// ---------------------------------------------------------------------------
// Slabs: full / partial / empty, and the return policy
// ---------------------------------------------------------------------------

TEST_F(SegregatedTest, SlabFullAndEmptyTransitions) {
  cfg_.retain_empty_slabs = 1;
  cfg_.segment_cache_bytes = 0;  // a slab past the retained one is unmapped at once
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const size_t cls = sa_segregated_size_class(100);  // 112
  const size_t slots = sa_segregated_slab_slots(cls);
  const uint64_t base = Mapped(h);

  std::vector<void*> first;
  for (size_t i = 0; i < slots; i++) first.push_back(sa_malloc(h, 100));
  auto st = ClassStats(h, cls);
  EXPECT_EQ(st.full_slabs, 1u);
  EXPECT_EQ(st.partial_slabs, 0u);
  EXPECT_EQ(st.slabs_mapped, 1u);
  EXPECT_DOUBLE_EQ(st.utilisation_pct, 100.0);
  EXPECT_EQ(Mapped(h) - base, sa_segregated_slab_bytes(cls));
  // One slab: all slots contiguous, no header between them.
  std::vector<uintptr_t> sorted;
  for (void* p : first) sorted.push_back(reinterpret_cast<uintptr_t>(p));
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 1; i < sorted.size(); i++) EXPECT_EQ(sorted[i] - sorted[i - 1], 112u);

  void* extra = sa_malloc(h, 100);  // a second slab
  st = ClassStats(h, cls);
  EXPECT_EQ(st.full_slabs, 1u);
  EXPECT_EQ(st.partial_slabs, 1u);
  EXPECT_EQ(st.slabs_mapped, 2u);

  sa_free(h, first[0]);  // full -> partial
  st = ClassStats(h, cls);
  EXPECT_EQ(st.full_slabs, 0u);
  EXPECT_EQ(st.partial_slabs, 2u);
  void* again = sa_malloc(h, 100);  // LIFO: the slot just freed comes back
  EXPECT_EQ(again, first[0]);
  sa_free(h, again);
  EXPECT_EQ(sa_check(h), 0u);

  sa_free(h, extra);  // second slab empty -> the cache (retain 1)
  st = ClassStats(h, cls);
  EXPECT_EQ(st.empty_slabs, 1u);
  EXPECT_EQ(st.slabs_unmapped, 0u);
  for (size_t i = 1; i < slots; i++) sa_free(h, first[i]);  // first empty -> OS
  st = ClassStats(h, cls);
  EXPECT_EQ(st.slabs, 1u);
  EXPECT_EQ(st.empty_slabs, 1u);
  EXPECT_EQ(st.slabs_unmapped, 1u);
  EXPECT_EQ(st.live_objects, 0u);
  EXPECT_EQ(st.requests, slots + 2);
  EXPECT_EQ(st.frees, slots + 2);
  EXPECT_EQ(Mapped(h) - base, sa_segregated_slab_bytes(cls));
  EXPECT_EQ(sa_check(h), 0u);

  // The retained slab is reused before anything is mapped.
  void* p = sa_malloc(h, 100);
  st = ClassStats(h, cls);
  EXPECT_EQ(st.slabs_mapped, 2u);
  EXPECT_EQ(st.partial_slabs, 1u);
  sa_free(h, p);
}

// A request the segment cache cannot serve maps afresh and gives back at
// least as many cached bytes, beyond a 16 MiB floor: freed spans of the
// wrong sizes do not pile up on top of new mappings.
TEST_F(SegregatedTest, ACacheMissGivesBackAsMuchAsItMaps) {
  cfg_.segment_decay_ms = 60 * 1000;
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const size_t kMiB = 1 << 20;
  std::vector<void*> ptrs;
  for (size_t i = 0; i < 40; i++) ptrs.push_back(sa_malloc(h, kMiB + i * 16 * 4096));
  for (void* p : ptrs) sa_free(h, p);
  sa_stats_t before;
  sa_heap_stats(h, &before);
  ASSERT_GT(before.segment_cache_bytes, 40 * kMiB);
  void* big = sa_malloc(h, 8 * kMiB);  // larger than every cached span
  ASSERT_NE(big, nullptr);
  sa_stats_t after;
  sa_heap_stats(h, &after);
  EXPECT_LE(after.segment_cache_bytes, before.segment_cache_bytes - 8 * kMiB);
  EXPECT_GE(after.segment_cache_bytes, 16 * kMiB) << "the floor was given back too";
  EXPECT_EQ(sa_check(h), 0u);
  sa_free(h, big);
  // Below the floor a miss keeps the cache. (Spans of at most
  // SA_SEGMENT_CACHE_MAX: a bigger one would be grown rather than missed.)
  EXPECT_GT(sa_heap_trim(h), 0u);
  for (size_t i = 0; i < 4; i++) sa_free(h, sa_malloc(h, 256 * 1024 + i * 192 * 1024));
  sa_heap_stats(h, &before);
  ASSERT_GT(before.segment_cache_bytes, 2 * kMiB);
  void* other = sa_malloc(h, 20 * kMiB);
  sa_heap_stats(h, &after);
  EXPECT_EQ(after.segment_cache_bytes, before.segment_cache_bytes);
  sa_free(h, other);
  EXPECT_EQ(sa_check(h), 0u);
}

TEST_F(SegregatedTest, TrimGivesReleasedSlabsBackAtOnce) {
  cfg_.retain_empty_slabs = 0;
  cfg_.segment_decay_ms = 60 * 1000;
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const uint64_t base = Mapped(h);
  const size_t cls = sa_segregated_size_class(1000), nslabs = 5;
  std::vector<void*> ptrs;
  for (size_t i = 0; i < nslabs * sa_segregated_slab_slots(cls); i++) ptrs.push_back(sa_malloc(h, 1000));
  for (void* p : ptrs) sa_free(h, p);
  sa_stats_t st;
  sa_heap_stats(h, &st);
  ASSERT_EQ(st.segment_cache_bytes, nslabs * sa_segregated_slab_bytes(cls));
  EXPECT_EQ(sa_heap_trim(h), nslabs * sa_segregated_slab_bytes(cls));
  sa_heap_stats(h, &st);
  EXPECT_EQ(st.segment_cache_bytes, 0u);
  EXPECT_EQ(Mapped(h), base);
  EXPECT_EQ(sa_heap_trim(h), 0u) << "nothing left to give back";
  EXPECT_EQ(sa_check(h), 0u);
  void* p = sa_malloc(h, 1000);  // maps afresh after a trim
  ASSERT_NE(p, nullptr);
  sa_free(h, p);
  EXPECT_EQ(sa_check(h), 0u);
}

class ReturnPolicyTest : public SegregatedTest, public ::testing::WithParamInterface<size_t> {};

TEST_P(ReturnPolicyTest, EmptySlabsBeyondTheRetainedOnesGoBackToTheOs) {
  const size_t retain = GetParam();
  cfg_.retain_empty_slabs = retain;
  cfg_.segment_cache_bytes = 0;  // no heap-wide segment cache behind the class
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const uint64_t base = Mapped(h);
  const size_t cls = sa_segregated_size_class(1000);  // 1024
  const size_t slots = sa_segregated_slab_slots(cls), slab = sa_segregated_slab_bytes(cls);
  const size_t nslabs = 6;
  std::vector<void*> ptrs;
  for (size_t i = 0; i < nslabs * slots; i++) ptrs.push_back(sa_malloc(h, 1000));
  EXPECT_EQ(ClassStats(h, cls).full_slabs, nslabs);
  EXPECT_EQ(Mapped(h) - base, nslabs * slab);
  for (void* p : ptrs) sa_free(h, p);
  auto st = ClassStats(h, cls);
  const size_t kept = std::min(retain, nslabs);
  EXPECT_EQ(st.empty_slabs, kept);
  EXPECT_EQ(st.slabs_unmapped, nslabs - kept);
  EXPECT_EQ(Mapped(h) - base, kept * slab);
  EXPECT_EQ(sa_check(h), 0u);
}

INSTANTIATE_TEST_SUITE_P(Retain, ReturnPolicyTest, ::testing::Values(0, 1, 3, 100));

// Slabs past the retained ones go to the heap's segment cache
// (common/segment_cache.c): still mapped, reused by any class whose slabs
// have the same size, given back to the OS past segment_cache_bytes or
// after segment_decay_ms.
TEST_F(SegregatedTest, ReleasedSlabsAreReusedThenDecayToTheOs) {
  cfg_.retain_empty_slabs = 0;
  cfg_.segment_cache_bytes = 64 << 20;
  cfg_.segment_decay_ms = 60 * 1000;  // nothing decays during the test
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const size_t a = sa_segregated_size_class(1000), b = sa_segregated_size_class(48);
  ASSERT_EQ(sa_segregated_slab_bytes(a), sa_segregated_slab_bytes(b));
  const size_t slab = sa_segregated_slab_bytes(a), nslabs = 6;
  const uint64_t base = Mapped(h);
  std::vector<void*> ptrs;
  for (size_t i = 0; i < nslabs * sa_segregated_slab_slots(a); i++) ptrs.push_back(sa_malloc(h, 1000));
  sa_stats_t st;
  sa_heap_stats(h, &st);
  const uint64_t total = st.total_mapped_bytes;
  for (void* p : ptrs) sa_free(h, p);
  ptrs.clear();
  sa_heap_stats(h, &st);
  EXPECT_EQ(st.segment_cache_bytes, nslabs * slab);
  EXPECT_EQ(Mapped(h) - base, nslabs * slab) << "released slabs stay mapped in the cache";
  EXPECT_EQ(ClassStats(h, a).slabs_unmapped, nslabs);
  EXPECT_EQ(sa_check(h), 0u);

  // Another class with the same slab size takes them back: nothing new mapped.
  for (size_t i = 0; i < nslabs * sa_segregated_slab_slots(b); i++) {
    void* p = sa_malloc(h, 48);
    ASSERT_NE(p, nullptr);
    memset(p, 0xab, 48);
    ptrs.push_back(p);
  }
  sa_heap_stats(h, &st);
  EXPECT_EQ(st.segment_cache_bytes, 0u);
  EXPECT_EQ(st.total_mapped_bytes, total) << "a cached slab was not reused";
  EXPECT_EQ(ClassStats(h, b).slabs_mapped, nslabs);
  EXPECT_EQ(sa_check(h), 0u);
  for (void* p : ptrs) sa_free(h, p);

  // Over segment_cache_bytes the whole cache goes back at once.
  cfg_.segment_cache_bytes = 3 * slab;
  h = Create();
  ASSERT_NE(h, nullptr);
  const uint64_t base2 = Mapped(h);
  ptrs.clear();
  for (size_t i = 0; i < nslabs * sa_segregated_slab_slots(a); i++) ptrs.push_back(sa_malloc(h, 1000));
  for (void* p : ptrs) sa_free(h, p);
  sa_heap_stats(h, &st);
  EXPECT_LE(st.segment_cache_bytes, 3 * slab);
  EXPECT_EQ(Mapped(h) - base2, st.segment_cache_bytes);
  EXPECT_EQ(sa_check(h), 0u);

  // segment_decay_ms 0: a release gives back what was released before it.
  cfg_.segment_cache_bytes = 64 << 20;
  cfg_.segment_decay_ms = 0;
  h = Create();
  ASSERT_NE(h, nullptr);
  ptrs.clear();
  for (size_t i = 0; i < nslabs * sa_segregated_slab_slots(a); i++) ptrs.push_back(sa_malloc(h, 1000));
  for (void* p : ptrs) sa_free(h, p);
  sa_heap_stats(h, &st);
  EXPECT_LE(st.segment_cache_bytes, slab);
  EXPECT_EQ(sa_check(h), 0u);
}

// A class left sparse (most of its slots freed at random, no slab empty)
// gives the whole pages of its free slots back while another class grows;
// the live blocks keep their bytes, and purged slots serve malloc again.
TEST_F(SegregatedTest, SparseSlabsGiveTheirFreePagesBackWhileAnotherClassGrows) {
  cfg_.segment_decay_ms = 60 * 1000;  // the purge of a growing heap, not the decay (below)
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const size_t big = 4360, cls = sa_segregated_size_class(big);  // a sqlite page: 4608
  const size_t slots = sa_segregated_slab_slots(cls), nslabs = 64;
  std::vector<unsigned char*> blocks;
  for (size_t i = 0; i < nslabs * slots; i++) {
    auto* p = static_cast<unsigned char*>(sa_malloc(h, big));
    ASSERT_NE(p, nullptr);
    memset(p, int(i & 0xff), big);
    blocks.push_back(p);
  }
  ASSERT_EQ(ClassStats(h, cls).slabs, nslabs);
  // Keep one block of every slab (the first of each run of `slots`).
  std::vector<unsigned char*> kept;
  for (size_t i = 0; i < blocks.size(); i++) {
    if (i % slots == 0) kept.push_back(blocks[i]);
    else sa_free(h, blocks[i]);
  }
  sa_segregated_class_stats_t st = ClassStats(h, cls);
  EXPECT_EQ(st.slabs, nslabs);
  EXPECT_EQ(st.sparse_slabs, nslabs);
  EXPECT_EQ(st.purges, 0u);
  // Another class grows: each new slab lets twice its size be purged.
  const size_t small = 1000, scls = sa_segregated_size_class(small);
  std::vector<void*> others;
  for (size_t i = 0; i < 8 * sa_segregated_slab_slots(scls); i++) {
    void* p = sa_malloc(h, small);
    ASSERT_NE(p, nullptr);
    memset(p, 0x5a, small);
    others.push_back(p);
  }
  st = ClassStats(h, cls);
  EXPECT_GT(st.purges, 0u);
  EXPECT_LT(st.sparse_slabs, nslabs);
  EXPECT_GE(st.purged_bytes, st.purges * (slots - 2) * (big - 4096 + 1) / 2);
  EXPECT_EQ(sa_check(h), 0u);
  for (size_t k = 0; k < kept.size(); k++) {
    unsigned char want = (unsigned char)((k * slots) & 0xff);
    for (size_t j = 0; j < big; j += 512) ASSERT_EQ(kept[k][j], want) << k;
    ASSERT_EQ(kept[k][big - 1], want) << k;
  }
  // The purged slots serve malloc again (zero pages, written as usual).
  std::vector<void*> again;
  for (size_t i = 0; i < nslabs * (slots - 1); i++) {
    void* p = sa_malloc(h, big);
    ASSERT_NE(p, nullptr);
    memset(p, 0xc3, big);
    again.push_back(p);
  }
  EXPECT_EQ(ClassStats(h, cls).slabs, nslabs);
  EXPECT_EQ(sa_check(h), 0u);
  for (void* p : again) sa_free(h, p);
  for (void* p : others) sa_free(h, p);
  for (unsigned char* p : kept) sa_free(h, p);
  EXPECT_EQ(sa_check(h), 0u);
  EXPECT_EQ(ClassStats(h, cls).sparse_slabs, 0u);
}

// A heap that only grows and then only shrinks never purges.
TEST_F(SegregatedTest, GrowThenShrinkNeverPurges) {
  cfg_.segment_decay_ms = 60 * 1000;  // while it works: the decay (below) comes later
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  std::mt19937 rng(7);
  std::vector<void*> live;
  for (int i = 0; i < 20000; i++) live.push_back(sa_malloc(h, 1 + rng() % 8192));
  std::shuffle(live.begin(), live.end(), rng);
  for (void* p : live) sa_free(h, p);
  for (size_t c = 0; c < sa_segregated_class_count(); c++) EXPECT_EQ(ClassStats(h, c).purges, 0u) << c;
  EXPECT_EQ(sa_check(h), 0u);
}

// What a heap that stops growing keeps unused goes back a decay later
// without a further call (the background purger's visit, seg_decay): the
// free pages of its sparse slabs, and the pages of the empty slabs it
// retains. Polls without calling the heap; no time is asserted.
uint64_t Purged(sa_heap_t* h, size_t cls) { return ClassStats(h, cls).purged_bytes; }
bool WaitForPurge(sa_heap_t* h, size_t cls, uint64_t above) {
  for (int i = 0; i < 6000 && Purged(h, cls) <= above; i++) usleep(10 * 1000);
  return Purged(h, cls) > above;
}
// Fills nslabs slabs of size's class (each block written 0x77), then frees
// every block but the first of each slab, which keeps its slab sparse.
std::vector<void*> KeepOnePerSlab(sa_heap_t* h, size_t size, size_t nslabs) {
  const size_t slots = sa_segregated_slab_slots(sa_segregated_size_class(size));
  std::vector<void*> blocks, kept;
  for (size_t i = 0; i < nslabs * slots; i++) {
    void* p = sa_malloc(h, size);
    EXPECT_NE(p, nullptr);
    if (p == nullptr) break;
    memset(p, 0x77, size);
    blocks.push_back(p);
  }
  for (size_t i = 0; i < blocks.size(); i++) {
    if (i % slots == 0) kept.push_back(blocks[i]);
    else sa_free(h, blocks[i]);
  }
  return kept;
}

TEST_F(SegregatedTest, AnIdleHeapGivesSparseAndRetainedEmptySlabsBack) {
  cfg_.segment_decay_ms = 50;
  cfg_.retain_empty_slabs = 1;
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const size_t size = 1000, cls = sa_segregated_size_class(size), slots = sa_segregated_slab_slots(cls);
  std::vector<void*> kept = KeepOnePerSlab(h, size, 4);
  ASSERT_EQ(kept.size(), 4u);
  ASSERT_TRUE(WaitForPurge(h, cls, 0)) << "sparse slabs kept their free pages";
  EXPECT_GE(Purged(h, cls), 4 * (slots - 2) * size / 2);
  for (void* p : kept) EXPECT_EQ(*static_cast<unsigned char*>(p), 0x77);
  EXPECT_EQ(sa_check(h), 0u);
  // The retained empty slab: its pages go back as well, once.
  for (void* p : kept) sa_free(h, p);
  ASSERT_EQ(ClassStats(h, cls).empty_slabs, 1u);
  const uint64_t sparse = Purged(h, cls);
  ASSERT_TRUE(WaitForPurge(h, cls, sparse)) << "the retained empty slab kept its pages";
  EXPECT_EQ(sa_check(h), 0u);
  // And it serves malloc again.
  void* p = sa_malloc(h, size);
  ASSERT_NE(p, nullptr);
  memset(p, 0x11, size);
  sa_free(h, p);
  EXPECT_EQ(sa_check(h), 0u);
}

TEST_F(SegregatedTest, WithoutTheBackgroundPurgerNothingDecays) {
  cfg_.segment_decay_ms = 10;
  cfg_.background_purge = 0;
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const size_t size = 1000, cls = sa_segregated_size_class(size);
  std::vector<void*> kept = KeepOnePerSlab(h, size, 4);
  ASSERT_EQ(kept.size(), 4u);
  usleep(300 * 1000);  // 30 decays: a purger would have been and gone
  EXPECT_EQ(Purged(h, cls), 0u);
  for (void* p : kept) sa_free(h, p);
  EXPECT_EQ(sa_check(h), 0u);
}

TEST_F(SegregatedTest, DestroyReturnsEverything) {
  sa_heap_t* h = sa_heap_create(&sa_segregated, &cfg_);
  ASSERT_NE(h, nullptr);
  for (int i = 0; i < 10000; i++) ASSERT_NE(sa_malloc(h, 1 + (i * 7919) % 20000), nullptr);
  EXPECT_EQ(sa_check(h), 0u);
  sa_heap_destroy(h);  // ASan/LSan-clean, and common unmaps every segment
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

// A heap's background purger may be running (a thread): each death test
// re-runs the binary rather than forking a multi-threaded process.
class SegregatedDeathTest : public SegregatedTest {
 protected:
  void SetUp() override {
    SegregatedTest::SetUp();
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
};

TEST_F(SegregatedDeathTest, DoubleFreeIsReported) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  void* keep = sa_malloc(h, 48);
  void* p = sa_malloc(h, 48);
  sa_free(h, p);
  EXPECT_DEATH(sa_free(h, p), "stratalloc: double free of 0x[0-9a-f]+ \\(segregated\\)");
  // Also when the slab is empty and sits in the cache.
  sa_free(h, keep);
  EXPECT_DEATH(sa_free(h, keep), "stratalloc: double free of 0x[0-9a-f]+ \\(segregated\\)");
}

TEST_F(SegregatedDeathTest, PointersThatAreNoSlotStartAreInvalid) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  char* p = static_cast<char*>(sa_malloc(h, 100));  // class 112
  ASSERT_NE(p, nullptr);
  const char* re = "stratalloc: invalid free of 0x[0-9a-f]+ \\(segregated\\)";
  EXPECT_DEATH(sa_free(h, p + 16), re);
  EXPECT_DEATH(sa_free(h, p + 112 + 8), re);
  EXPECT_DEATH(sa_free(h, p + 112), re);  // a slot start never handed out
  EXPECT_DEATH(sa_usable_size(h, p + 1), "invalid malloc_usable_size");
  EXPECT_DEATH(sa_realloc(h, p + 16, 10), "invalid realloc");
  sa_free(h, p);
}

TEST_F(SegregatedDeathTest, DirectObjectsCheckTheirPointer) {
  cfg_.mmap_threshold = 1 << 20;
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  char* p = static_cast<char*>(sa_malloc(h, 300000));
  ASSERT_NE(p, nullptr);
  EXPECT_DEATH(sa_free(h, p + 4096), "stratalloc: invalid free of 0x[0-9a-f]+ \\(segregated\\)");
  sa_free(h, p);
}

// ---------------------------------------------------------------------------
// walk and check
// ---------------------------------------------------------------------------

TEST_F(SegregatedTest, WalkVisitsEverySlotOnceAndCheckAgrees) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  std::mt19937_64 rng(7);
  std::map<uintptr_t, size_t> live;
  std::vector<void*> ptrs;
  for (int i = 0; i < 5000; i++) {
    size_t n = 1 + rng() % 3000;
    void* p = sa_malloc(h, n);
    ASSERT_NE(p, nullptr);
    ptrs.push_back(p);
  }
  std::shuffle(ptrs.begin(), ptrs.end(), rng);
  for (size_t i = 0; i < ptrs.size() / 2; i++) sa_free(h, ptrs[i]);
  for (size_t i = ptrs.size() / 2; i < ptrs.size(); i++)
    live[reinterpret_cast<uintptr_t>(ptrs[i])] = sa_usable_size(h, ptrs[i]);

  auto slots = Walk(h);
  size_t expected_slots = 0;
  for (size_t c = 0; c < sa_segregated_class_count(); c++)
    expected_slots += ClassStats(h, c).slabs * sa_segregated_slab_slots(c);
  EXPECT_EQ(slots.size(), expected_slots);
  std::set<uintptr_t> seen;
  size_t used = 0;
  for (const Slot& s : slots) {
    EXPECT_TRUE(seen.insert(s.ptr).second) << "slot visited twice";
    auto it = live.find(s.ptr);
    EXPECT_EQ(s.used, it != live.end()) << std::hex << s.ptr;
    if (it != live.end()) {
      EXPECT_EQ(s.size, it->second);
      used++;
    }
  }
  EXPECT_EQ(used, live.size());
  EXPECT_EQ(sa_check(h), 0u);
  for (auto& kv : live) sa_free(h, reinterpret_cast<void*>(kv.first));
  EXPECT_EQ(sa_check(h), 0u);
}

// Free slots are found in the slab bitmap, never through links stored in
// the slots: a write into a freed block (use after free) cannot redirect a
// later malloc. The freed slot comes back (lowest hole first) and the next
// one is a fresh slot.
TEST_F(SegregatedTest, WritesIntoFreedSlotsCannotCorruptTheSlab) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  void* a = sa_malloc(h, 64);
  void* b = sa_malloc(h, 64);
  void* c = sa_malloc(h, 64);
  sa_free(h, b);
  memset(b, 0xa5, 64);  // use after free: clobber what a free list would hold
  EXPECT_EQ(sa_check(h), 0u);
  void* again = sa_malloc(h, 64);
  EXPECT_EQ(again, b);
  void* fresh = sa_malloc(h, 64);
  EXPECT_NE(fresh, a);
  EXPECT_NE(fresh, b);
  EXPECT_NE(fresh, c);
  EXPECT_EQ(sa_check(h), 0u);
  for (void* p : {a, again, c, fresh}) sa_free(h, p);
}

TEST_F(SegregatedTest, CountersAreUsableSizes) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  void* p = sa_malloc(h, 17);
  void* q = sa_malloc(h, 129);
  sa_stats_t st;
  sa_heap_stats(h, &st);
  EXPECT_EQ(st.current_allocated_bytes, 32u + 160u);
  EXPECT_EQ(st.current_blocks, 2u);
  EXPECT_EQ(st.total_allocations, 2u);
  sa_free(h, p);
  sa_free(h, q);
  sa_heap_stats(h, &st);
  EXPECT_EQ(st.current_allocated_bytes, 0u);
  EXPECT_EQ(st.total_frees, 2u);
  EXPECT_EQ(sa_check(h), 0u);
  sa_segregated_class_stats_t cs;
  EXPECT_EQ(sa_segregated_class_stats(h, sa_segregated_class_count() + 1, &cs), -1);
  EXPECT_EQ(errno, EINVAL);
}

// ---------------------------------------------------------------------------
// memalign, realloc, direct objects
// ---------------------------------------------------------------------------

TEST_F(SegregatedTest, MemalignUpTo64KiBWithinSmallSizes) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  std::vector<void*> live;
  for (size_t a = 32; a <= 64 * 1024; a <<= 1) {
    for (size_t n : {size_t{1}, size_t{24}, size_t{100}, size_t{1000}, size_t{5000}, size_t{40000}}) {
      if (n + a > cfg_.mmap_threshold) continue;
      void* p = sa_memalign(h, a, n);
      ASSERT_NE(p, nullptr) << a << " " << n;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % a, 0u) << "memalign(" << a << ", " << n << ")";
      size_t u = sa_usable_size(h, p);
      EXPECT_GE(u, n);
      memset(p, 0x11, u);
      live.push_back(p);
    }
  }
  // Alignments up to a page come from a class whose size is a multiple.
  void* p = sa_memalign(h, 4096, 100);
  EXPECT_EQ(sa_usable_size(h, p), 4096u);
  live.push_back(p);
  EXPECT_EQ(sa_check(h), 0u);
  for (void* q : live) sa_free(h, q);
  EXPECT_EQ(sa_check(h), 0u);
  sa_stats_t st;
  sa_heap_stats(h, &st);
  EXPECT_EQ(st.current_blocks, 0u);
}

TEST_F(SegregatedTest, ReallocStaysInPlaceWithinAClass) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  char* p = static_cast<char*>(sa_malloc(h, 100));
  for (int i = 0; i < 100; i++) p[i] = static_cast<char>(i);
  EXPECT_EQ(sa_realloc(h, p, 112), p);
  EXPECT_EQ(sa_realloc(h, p, 97), p);
  char* q = static_cast<char*>(sa_realloc(h, p, 5000));
  ASSERT_NE(q, nullptr);
  for (int i = 0; i < 97; i++) ASSERT_EQ(q[i], static_cast<char>(i));
  char* r = static_cast<char*>(sa_realloc(h, q, 20));
  for (int i = 0; i < 20; i++) ASSERT_EQ(r[i], static_cast<char>(i));
  EXPECT_EQ(sa_usable_size(h, r), 32u);
  sa_free(h, r);
  EXPECT_EQ(sa_check(h), 0u);
}

TEST_F(SegregatedTest, MidSizesAboveTheClassesUseDirectSegments) {
  cfg_.mmap_threshold = 4 << 20;
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const size_t direct = sa_segregated_class_count();
  void* p = sa_malloc(h, SA_SEGREGATED_SMALL_MAX + 1);
  ASSERT_NE(p, nullptr);
  EXPECT_GE(sa_usable_size(h, p), SA_SEGREGATED_SMALL_MAX + 1);
  memset(p, 3, SA_SEGREGATED_SMALL_MAX + 1);
  void* big = sa_malloc(h, 3 << 20);
  ASSERT_NE(big, nullptr);
  memset(big, 4, 3 << 20);
  auto st = ClassStats(h, direct);
  EXPECT_EQ(st.live_objects, 2u);
  EXPECT_EQ(st.slabs, 2u);
  sa_stats_t hs;
  sa_heap_stats(h, &hs);
  EXPECT_EQ(hs.large_allocations, 0u) << "below mmap_threshold: not common's large path";
  // Stays in place: fits the segment's usable bytes and wastes < half.
  void* q = sa_realloc(h, p, SA_SEGREGATED_SMALL_MAX + 2000);
  EXPECT_EQ(q, p);
  q = sa_realloc(h, q, 1000);  // back to a class
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(static_cast<char*>(q)[999], 3);
  EXPECT_EQ(sa_check(h), 0u);
  sa_free(h, q);
  sa_free(h, big);
  st = ClassStats(h, direct);
  EXPECT_EQ(st.live_objects, 0u);
  EXPECT_EQ(st.slabs_unmapped, 2u);
  EXPECT_EQ(sa_check(h), 0u);
}

// ---------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------

TEST_F(SegregatedTest, FourThreadsWithCrossThreadFreesKeepCheckClean) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  constexpr int kThreads = 4, kRounds = 20000;
  std::vector<std::vector<void*>> handoff(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(t + 1);
      std::vector<void*> mine(256, nullptr);
      for (int i = 0; i < kRounds; i++) {
        size_t k = rng() % mine.size();
        if (mine[k]) {
          sa_free(h, mine[k]);
          mine[k] = nullptr;
        } else {
          size_t n = 1 + rng() % (rng() % 8 ? 1024 : 100000);
          mine[k] = sa_malloc(h, n);
          ASSERT_NE(mine[k], nullptr);
          memset(mine[k], t, std::min<size_t>(n, 64));
        }
      }
      handoff[t] = mine;
    });
  }
  for (auto& th : ts) th.join();
  ts.clear();
  for (int t = 0; t < kThreads; t++) {  // thread t frees what t+1 allocated
    ts.emplace_back([&, t] {
      for (void* p : handoff[(t + 1) % kThreads]) sa_free(h, p);
    });
  }
  for (auto& th : ts) th.join();
  EXPECT_EQ(sa_check(h), 0u);
  sa_stats_t st;
  sa_heap_stats(h, &st);
  EXPECT_EQ(st.current_blocks, 0u);
  EXPECT_EQ(st.total_allocations, st.total_frees);
}

}  // namespace

// Unit tests of the buddy strategy: geometry, split and merge at every order,
// merge cascades, address arithmetic at the arena edges, realloc in place,
// memalign, arena retention, blocks above the maximum order, error reports,
// walk/check, threads, and the internal fragmentation figure.
#include "strategies/buddy/buddy.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "stratalloc/stratalloc.h"

namespace {

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = 1024 * 1024;

class BuddyTest : public testing::Test {
 protected:
  void SetUp() override { sa_config_default(&cfg_); }
  void TearDown() override {
    for (sa_heap_t* h : heaps_) sa_heap_destroy(h);
  }
  sa_heap_t* Create() {
    sa_heap_t* h = sa_heap_create(&sa_buddy, &cfg_);
    if (h) heaps_.push_back(h);
    return h;
  }
  static sa_buddy_stats_t Stats(sa_heap_t* h) {
    sa_buddy_stats_t s;
    EXPECT_EQ(sa_buddy_stats(h, &s), 0);
    return s;
  }
  static uintptr_t Addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

  sa_config_t cfg_;
  std::vector<sa_heap_t*> heaps_;
};

// Orders of the default geometry: 32 B .. 128 KiB blocks in 1 MiB arenas.
constexpr unsigned kMin = 5, kMax = 17;

TEST_F(BuddyTest, GeometryFollowsTheConfig) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  sa_buddy_stats_t s = Stats(h);
  EXPECT_EQ(s.min_block, 32u);
  EXPECT_EQ(s.max_block, 128 * kKiB);
  EXPECT_EQ(s.arena_size, 1 * kMiB);
  // segment header 64 + arena header 32 + one meta byte per 32-byte block
  EXPECT_EQ(s.arena_reserved, 96 + kMiB / 32);
  EXPECT_EQ(s.arenas, 0u);

  cfg_.mmap_threshold = 100000;  // not a power of two: rounded up
  cfg_.min_block_size = 48;
  cfg_.heap_extension_size = 64 * kKiB;  // arenas hold at least two max blocks
  h = Create();
  s = Stats(h);
  EXPECT_EQ(s.min_block, 64u);
  EXPECT_EQ(s.max_block, 128 * kKiB);
  EXPECT_EQ(s.arena_size, 256 * kKiB);
  EXPECT_EQ(sa_buddy_stats(nullptr, &s), -1);
}

// A fresh arena: the reserved prefix (32 KiB + 64 + 32 bytes, as blocks of
// those sizes) leaves one free block per set bit of 128 KiB - prefix in the
// first max block (orders 5, 7..14, 16), then seven free 128 KiB blocks.
TEST_F(BuddyTest, FreshArenaLayout) {
  sa_heap_t* h = Create();
  void* p = sa_malloc(h, 1);
  ASSERT_NE(p, nullptr);
  sa_free(h, p);
  sa_buddy_stats_t s = Stats(h);
  EXPECT_EQ(s.arenas, 1u);
  EXPECT_EQ(s.empty_arenas, 1u);
  const size_t rest = 128 * kKiB - s.arena_reserved;
  EXPECT_EQ(rest, 98208u);
  for (unsigned k = kMin; k < kMax; k++)
    EXPECT_EQ(s.free_blocks[k], (rest >> k) & 1) << "order " << k;
  EXPECT_EQ(s.free_blocks[kMax], 7u);
  EXPECT_EQ(s.free_bytes, kMiB - s.arena_reserved);
  EXPECT_EQ(sa_check(h), 0u);
}

TEST_F(BuddyTest, SplitAndMergeAtEveryOrder) {
  sa_heap_t* h = Create();
  sa_free(h, sa_malloc(h, 1));
  sa_buddy_stats_t base = Stats(h);
  for (unsigned k = kMin; k <= kMax; k++) {
    for (size_t size : {(size_t(1) << k) / 2 + 1, size_t(1) << k}) {
      if (size > cfg_.mmap_threshold || (k == kMin && size < 17)) continue;
      void* p = sa_malloc(h, size);
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(sa_usable_size(h, p), size_t(1) << k) << size;
      EXPECT_EQ(Addr(p) % (size_t(1) << k), 0u) << "naturally aligned, order " << k;
      memset(p, 0xab, size_t(1) << k);
      sa_buddy_stats_t s = Stats(h);
      EXPECT_EQ(s.free_bytes + (size_t(1) << k), base.free_bytes);
      EXPECT_EQ(sa_check(h), 0u);
      sa_free(h, p);
      s = Stats(h);
      for (unsigned j = 0; j < SA_BUDDY_MAX_ORDERS; j++)
        EXPECT_EQ(s.free_blocks[j], base.free_blocks[j]) << "order " << j << " after " << k;
    }
  }
  EXPECT_EQ(sa_check(h), 0u);
}

// Fills one arena with min blocks, then frees one 128 KiB region's 4096
// blocks in several orders: the merges must cascade to one max block.
TEST_F(BuddyTest, MergeCascadesUpToTheMaximumOrder) {
  cfg_.retain_empty_chunks = 1;
  sa_heap_t* h = Create();
  const size_t per_arena = (kMiB - Stats(h).arena_reserved) / 32;
  std::vector<char*> blocks;
  for (size_t i = 0; i < per_arena; i++) {
    char* p = static_cast<char*>(sa_malloc(h, 32));
    ASSERT_NE(p, nullptr);
    blocks.push_back(p);
  }
  sa_buddy_stats_t s = Stats(h);
  ASSERT_EQ(s.arenas, 1u) << "exactly one arena is full";
  EXPECT_EQ(s.free_bytes, 0u);
  const uintptr_t arena = Addr(blocks[0]) & ~(kMiB - 1);
  for (char* p : blocks) ASSERT_EQ(Addr(p) & ~(kMiB - 1), arena);

  std::mt19937 rng(7);
  for (int pass = 0; pass < 3; pass++) {
    const uintptr_t region = arena + (1 + pass) * 128 * kKiB;
    std::vector<char*> mine;
    for (char* p : blocks)
      if (Addr(p) >= region && Addr(p) < region + 128 * kKiB) mine.push_back(p);
    ASSERT_EQ(mine.size(), 4096u);
    if (pass == 0) std::sort(mine.begin(), mine.end());
    if (pass == 1) std::sort(mine.rbegin(), mine.rend());
    if (pass == 2) std::shuffle(mine.begin(), mine.end(), rng);
    for (size_t i = 0; i < mine.size(); i++) {
      sa_free(h, mine[i]);
      if (i % 1024 == 1023) {
        ASSERT_EQ(sa_check(h), 0u);
      }
    }
    s = Stats(h);
    for (unsigned k = kMin; k < kMax; k++) EXPECT_EQ(s.free_blocks[k], 0u) << "order " << k;
    EXPECT_EQ(s.free_blocks[kMax], size_t(pass) + 1) << "pass " << pass;
    // The merged block serves a max-order request at the region's address
    // (the most recently freed max block is at the head of its list).
    void* big = sa_malloc(h, 128 * kKiB);
    EXPECT_EQ(Addr(big), region);
    sa_free(h, big);
  }
  for (char* p : blocks)
    if (Addr(p) < arena + 128 * kKiB || Addr(p) >= arena + 4 * 128 * kKiB) sa_free(h, p);
  s = Stats(h);
  EXPECT_EQ(s.arenas, 1u);
  EXPECT_EQ(s.empty_arenas, 1u);
  EXPECT_EQ(s.free_blocks[kMax], 7u);
  EXPECT_EQ(sa_check(h), 0u);
}

// The first usable block sits right after the reserved prefix (its buddy is
// reserved and must never merge), the last one ends at the arena's end.
TEST_F(BuddyTest, AddressArithmeticAtTheArenaEdges) {
  sa_heap_t* h = Create();
  const size_t reserved = Stats(h).arena_reserved;
  const size_t per_arena = (kMiB - reserved) / 32;
  std::vector<char*> blocks;
  for (size_t i = 0; i < per_arena; i++) blocks.push_back(static_cast<char*>(sa_malloc(h, 32)));
  const uintptr_t arena = Addr(blocks[0]) & ~(kMiB - 1);
  char* first = nullptr;
  char* last = nullptr;
  char* last_buddy = nullptr;
  for (char* p : blocks) {
    ASSERT_NE(p, nullptr);
    if (Addr(p) == arena + reserved) first = p;
    if (Addr(p) == arena + kMiB - 32) last = p;
    if (Addr(p) == arena + kMiB - 64) last_buddy = p;
  }
  ASSERT_TRUE(first && last && last_buddy);
  memset(last, 0x5a, 32);  // the arena's last byte is ours
  EXPECT_EQ(sa_usable_size(h, last), 32u);

  sa_free(h, first);  // buddy (arena + reserved - 32) is the reserved tail
  EXPECT_EQ(Stats(h).free_blocks[kMin], 1u);
  EXPECT_EQ(sa_check(h), 0u);
  EXPECT_EQ(sa_malloc(h, 32), first);

  sa_free(h, last);
  sa_free(h, last_buddy);  // merges with the arena's last min block
  sa_buddy_stats_t s = Stats(h);
  EXPECT_EQ(s.free_blocks[kMin], 0u);
  EXPECT_EQ(s.free_blocks[kMin + 1], 1u);
  void* pair = sa_malloc(h, 64);
  EXPECT_EQ(pair, last_buddy);
  EXPECT_EQ(sa_usable_size(h, pair), 64u);
  EXPECT_EQ(sa_check(h), 0u);
  for (char* p : blocks)
    if (p != last && p != last_buddy) sa_free(h, p);
  sa_free(h, pair);
  EXPECT_EQ(sa_check(h), 0u);
}

TEST_F(BuddyTest, ReallocShrinksAndGrowsInPlace) {
  sa_heap_t* h = Create();
  char* p = static_cast<char*>(sa_malloc(h, 128 * kKiB));
  ASSERT_NE(p, nullptr);
  for (size_t i = 0; i < 1000; i++) p[i] = static_cast<char>(i * 7);
  // Shrink: the upper halves go back to the free lists.
  EXPECT_EQ(sa_realloc(h, p, 1000), p);
  EXPECT_EQ(sa_usable_size(h, p), 1024u);
  EXPECT_EQ(sa_check(h), 0u);
  // Grow: every upper buddy is free, so the block grows where it is.
  EXPECT_EQ(sa_realloc(h, p, 100 * kKiB), p);
  EXPECT_EQ(sa_usable_size(h, p), 128 * kKiB);
  for (size_t i = 0; i < 1000; i++) ASSERT_EQ(p[i], static_cast<char>(i * 7));
  EXPECT_EQ(sa_check(h), 0u);
  // Grow with the upper buddy in use: the block moves, contents kept.
  EXPECT_EQ(sa_realloc(h, p, 512), p);
  char* blocker = static_cast<char*>(sa_malloc(h, 512));
  ASSERT_EQ(blocker, p + 512) << "the freed upper half is the smallest fit";
  char* q = static_cast<char*>(sa_realloc(h, p, 600));
  ASSERT_NE(q, nullptr);
  EXPECT_NE(q, p);
  for (size_t i = 0; i < 512; i++) ASSERT_EQ(q[i], static_cast<char>(i * 7));
  EXPECT_EQ(sa_usable_size(h, q), 1024u);
  sa_free(h, blocker);
  sa_free(h, q);
  EXPECT_EQ(sa_check(h), 0u);
  sa_stats_t st;
  sa_heap_stats(h, &st);
  EXPECT_EQ(st.current_allocated_bytes, 0u);
  EXPECT_EQ(st.current_blocks, 0u);
}

TEST_F(BuddyTest, MemalignIsFreeUpToTheBlockSize) {
  sa_heap_t* h = Create();
  std::vector<void*> keep;
  for (size_t align = 32; align <= 64 * kKiB; align *= 2) {
    for (size_t size : {size_t(1), size_t(24), align / 2, align, align + 1}) {
      if (size + align > cfg_.mmap_threshold) continue;
      void* p = sa_memalign(h, align, size);
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(Addr(p) % align, 0u) << align;
      EXPECT_GE(sa_usable_size(h, p), size);
      EXPECT_GE(sa_usable_size(h, p), align) << "a block is at least its alignment";
      keep.push_back(p);
    }
    keep.push_back(sa_malloc(h, 48));  // disturb the free lists
  }
  EXPECT_EQ(sa_check(h), 0u);
  for (void* p : keep) sa_free(h, p);
  EXPECT_EQ(sa_check(h), 0u);
}

TEST_F(BuddyTest, EmptyArenasBeyondTheRetainedOnesAreUnmapped) {
  for (size_t retain : {0, 1, 2}) {
    cfg_.retain_empty_chunks = retain;
    sa_heap_t* h = Create();
    std::vector<void*> blocks;
    for (int i = 0; i < 4 * 8; i++) blocks.push_back(sa_malloc(h, 128 * kKiB));  // 4+ arenas
    sa_buddy_stats_t s = Stats(h);
    EXPECT_GE(s.arenas, 4u);
    EXPECT_EQ(s.empty_arenas, 0u);
    for (void* p : blocks) sa_free(h, p);
    s = Stats(h);
    EXPECT_EQ(s.arenas, retain) << "retain " << retain;
    EXPECT_EQ(s.empty_arenas, retain);
    sa_stats_t st;
    sa_heap_stats(h, &st);
    EXPECT_EQ(st.mapped_bytes, retain * kMiB);
    EXPECT_EQ(sa_check(h), 0u);
  }
}

// Thresholds above the 16 MiB block cap: buddy lowers small_limit, so bigger
// requests become common's large objects.
TEST_F(BuddyTest, RequestsAboveTheOrderCapAreLargeObjects) {
  cfg_.mmap_threshold = 256 * kMiB;
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  sa_buddy_stats_t s = Stats(h);
  EXPECT_EQ(s.max_block, 16 * kMiB);
  EXPECT_EQ(s.arena_size, 32 * kMiB);
  char* big = static_cast<char*>(sa_malloc(h, 20 * kMiB));
  ASSERT_NE(big, nullptr);
  big[20 * kMiB - 1] = 1;
  void* aligned = sa_memalign(h, 1 * kMiB, 15 * kMiB + 1);  // block + alignment > 16 MiB
  ASSERT_NE(aligned, nullptr);
  EXPECT_EQ(Addr(aligned) % kMiB, 0u);
  void* top = sa_malloc(h, 16 * kMiB);  // exactly the cap: an arena block
  ASSERT_NE(top, nullptr);
  EXPECT_EQ(sa_usable_size(h, top), 16 * kMiB);
  sa_stats_t st;
  sa_heap_stats(h, &st);
  EXPECT_EQ(st.large_allocations, 2u);
  EXPECT_EQ(Stats(h).live_block_bytes, 16 * kMiB);
  EXPECT_EQ(sa_check(h), 0u);
  big = static_cast<char*>(sa_realloc(h, big, 1000));  // large -> buddy block
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(sa_usable_size(h, big), 1024u);
  top = static_cast<char*>(sa_realloc(h, top, 17 * kMiB));  // buddy block -> large
  ASSERT_NE(top, nullptr);
  EXPECT_EQ(sa_check(h), 0u);
  sa_free(h, big);
  sa_free(h, aligned);
  sa_free(h, top);
  EXPECT_EQ(sa_check(h), 0u);
}

TEST_F(BuddyTest, SmallestAndLargestGeometries) {
  cfg_.mmap_threshold = 4096;
  cfg_.min_block_size = 4096;
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  void* a = sa_malloc(h, 1);
  void* b = sa_malloc(h, 4096);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(sa_usable_size(h, a), 4096u);
  EXPECT_EQ(sa_check(h), 0u);
  sa_free(h, a);
  sa_free(h, b);
  EXPECT_EQ(sa_check(h), 0u);
}

TEST_F(BuddyTest, HundredThousandLiveBlocksNeverOverlap) {
  sa_heap_t* h = Create();
  std::mt19937 rng(42);
  std::vector<std::pair<uintptr_t, size_t>> live;
  for (int i = 0; i < 100000; i++) {
    size_t size = 1 + rng() % (rng() % 8 == 0 ? 8192 : 256);
    void* p = sa_malloc(h, size);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(Addr(p) % 16, 0u);
    live.emplace_back(Addr(p), sa_usable_size(h, p));
  }
  std::sort(live.begin(), live.end());
  for (size_t i = 1; i < live.size(); i++)
    ASSERT_LE(live[i - 1].first + live[i - 1].second, live[i].first);
  EXPECT_EQ(sa_check(h), 0u);
  std::shuffle(live.begin(), live.end(), rng);
  for (auto& b : live) sa_free(h, reinterpret_cast<void*>(b.first));
  EXPECT_EQ(sa_check(h), 0u);
  sa_buddy_stats_t s = Stats(h);
  EXPECT_LE(s.arenas, cfg_.retain_empty_chunks);
}

struct WalkTotals {
  size_t used = 0, free = 0, used_blocks = 0, free_blocks = 0;
  bool all_powers_of_two = true, all_aligned = true;
};

void Visit(void* ptr, size_t size, sa_block_state_t state, void* arg) {
  auto* t = static_cast<WalkTotals*>(arg);
  if (size & (size - 1)) t->all_powers_of_two = false;
  if (reinterpret_cast<uintptr_t>(ptr) % size) t->all_aligned = false;
  if (state == SA_BLOCK_USED) {
    t->used += size;
    t->used_blocks++;
  } else {
    t->free += size;
    t->free_blocks++;
  }
}

TEST_F(BuddyTest, WalkSeesEveryBlockAndCheckFindsDamage) {
  sa_heap_t* h = Create();
  std::mt19937 rng(3);
  std::vector<void*> blocks;
  for (int i = 0; i < 5000; i++) blocks.push_back(sa_malloc(h, 1 + rng() % 3000));
  for (size_t i = 0; i < blocks.size(); i += 3) {
    sa_free(h, blocks[i]);
    blocks[i] = nullptr;
  }
  WalkTotals t;
  sa_walk(h, Visit, &t);
  sa_buddy_stats_t s = Stats(h);
  sa_stats_t st;
  sa_heap_stats(h, &st);
  EXPECT_TRUE(t.all_powers_of_two);
  EXPECT_TRUE(t.all_aligned);
  EXPECT_EQ(t.used + t.free, s.arenas * (s.arena_size - s.arena_reserved));
  EXPECT_EQ(t.used, st.current_allocated_bytes);
  EXPECT_EQ(t.used_blocks, st.current_blocks);
  EXPECT_EQ(t.free, s.free_bytes);
  EXPECT_EQ(sa_check(h), 0u);

  // A use after free that cuts a free list short is found. On a fresh heap:
  // a takes the free min block after the reserved prefix (its buddy is
  // reserved), g1 and b split the next order-6 block, g2 the one after; a and
  // b then stay unmerged, b at the head of the order-5 list.
  sa_heap_t* f = Create();
  void* a = sa_malloc(f, 32);
  void* g1 = sa_malloc(f, 32);
  void* b = sa_malloc(f, 32);
  void* g2 = sa_malloc(f, 32);
  ASSERT_EQ(static_cast<char*>(b), static_cast<char*>(g1) + 32);
  const size_t before = Stats(f).free_blocks[kMin];
  sa_free(f, a);
  sa_free(f, b);
  ASSERT_EQ(Stats(f).free_blocks[kMin], before + 2);
  void** head_next = static_cast<void**>(b);
  void* saved = *head_next;
  *head_next = nullptr;
  testing::internal::CaptureStderr();
  EXPECT_GT(sa_check(f), 0u);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("stratalloc: check: buddy: free list and meta bytes disagree"),
            std::string::npos)
      << err;
  *head_next = saved;
  EXPECT_EQ(sa_check(f), 0u);
  sa_free(f, g1);
  sa_free(f, g2);
  EXPECT_EQ(sa_check(f), 0u);
}

TEST_F(BuddyTest, InternalFragmentationOfRandomSizes) {
  sa_heap_t* h = Create();
  srand(1);
  std::vector<void*> blocks;
  size_t requested = 0, rounded = 0;
  for (int i = 0; i < 100000; i++) {
    size_t size = 16 + rand() % 1024;
    size_t block = 32;
    while (block < size) block *= 2;
    requested += size;
    rounded += block;
    blocks.push_back(sa_malloc(h, size));
  }
  sa_buddy_stats_t s = Stats(h);
  EXPECT_EQ(sa_buddy_requested_bytes(h), requested);
  EXPECT_EQ(s.requested_bytes, requested);
  EXPECT_EQ(s.block_bytes, rounded);
  EXPECT_EQ(s.live_block_bytes, rounded);
  double internal = 100.0 * double(rounded - requested) / double(rounded);
  EXPECT_DOUBLE_EQ(s.internal_fragmentation_pct, internal);
  sa_heap_info_t info;
  sa_heap_info(h, &info);
  sa_stats_t st;
  sa_heap_stats(h, &st);
  printf("buddy, 100000 x (16 + rand() %% 1024) live: requested %zu B, blocks %zu B, "
         "internal fragmentation %.1f%%, external fragmentation %.1f%%, mapped %llu B "
         "(overhead %.1f%% over requested)\n",
         requested, rounded, s.internal_fragmentation_pct, info.external_fragmentation_pct,
         static_cast<unsigned long long>(st.mapped_bytes),
         100.0 * (double(st.mapped_bytes) - double(requested)) / double(requested));
  RecordProperty("internal_fragmentation_pct", std::to_string(s.internal_fragmentation_pct));
  EXPECT_GT(s.internal_fragmentation_pct, 15.0);
  EXPECT_LT(s.internal_fragmentation_pct, 40.0);
  for (void* p : blocks) sa_free(h, p);
  EXPECT_EQ(sa_check(h), 0u);
}

TEST_F(BuddyTest, FourThreadsThenCheck) {
  sa_heap_t* h = Create();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++)
    threads.emplace_back([h, t] {
      std::mt19937 rng(100 + t);
      std::vector<char*> mine(512, nullptr);
      for (int i = 0; i < 40000; i++) {
        size_t slot = rng() % mine.size();
        if (mine[slot]) {
          ASSERT_EQ(mine[slot][0], static_cast<char>(slot));
          if (rng() % 4 == 0) {
            mine[slot] = static_cast<char*>(sa_realloc(h, mine[slot], 1 + rng() % 4096));
            ASSERT_NE(mine[slot], nullptr);
            ASSERT_EQ(mine[slot][0], static_cast<char>(slot));
            continue;
          }
          sa_free(h, mine[slot]);
          mine[slot] = nullptr;
        } else {
          size_t size = 1 + rng() % (rng() % 16 == 0 ? 60000 : 512);
          mine[slot] = static_cast<char*>(rng() % 8 == 0 ? sa_memalign(h, 256, size)
                                                         : sa_malloc(h, size));
          ASSERT_NE(mine[slot], nullptr);
          mine[slot][0] = static_cast<char>(slot);
        }
      }
      for (char* p : mine) sa_free(h, p);
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(sa_check(h), 0u);
  sa_stats_t st;
  sa_heap_stats(h, &st);
  EXPECT_EQ(st.current_blocks, 0u);
}

// ---- error reports ---------------------------------------------------------

class BuddyDeathTest : public BuddyTest {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    BuddyTest::SetUp();
  }
};

TEST_F(BuddyDeathTest, DoubleFreeIsReported) {
  sa_heap_t* h = Create();
  void* a = sa_malloc(h, 64);
  void* p = sa_malloc(h, 64);
  void* b = sa_malloc(h, 64);
  sa_free(h, p);
  EXPECT_DEATH(sa_free(h, p), "stratalloc: double free of 0x[0-9a-f]+ \\(buddy\\)");
  sa_free(h, a);
  sa_free(h, b);
}

TEST_F(BuddyDeathTest, DoubleFreeAfterMergingIsStillADoubleFree) {
  sa_heap_t* h = Create();
  std::vector<void*> v;
  for (int i = 0; i < 64; i++) v.push_back(sa_malloc(h, 100));
  for (void* p : v) sa_free(h, p);  // everything merged back
  EXPECT_DEATH(sa_free(h, v[5]), "stratalloc: double free of 0x[0-9a-f]+ \\(buddy\\)");
  EXPECT_DEATH(sa_usable_size(h, v[5]),
               "stratalloc: malloc_usable_size of freed pointer 0x[0-9a-f]+ \\(buddy\\)");
  EXPECT_DEATH(sa_realloc(h, v[5], 10),
               "stratalloc: realloc of freed pointer 0x[0-9a-f]+ \\(buddy\\)");
}

TEST_F(BuddyDeathTest, PointersNotAtABlockStartAreInvalid) {
  sa_heap_t* h = Create();
  char* p = static_cast<char*>(sa_malloc(h, 1000));
  const char* re = "stratalloc: invalid free of 0x[0-9a-f]+ \\(buddy\\)";
  EXPECT_DEATH(sa_free(h, p + 8), re);
  EXPECT_DEATH(sa_free(h, p + 32), re);   // a min-block boundary inside a used block
  EXPECT_DEATH(sa_free(h, p + 512), re);  // where its upper half would start
  const uintptr_t arena = Addr(p) & ~(kMiB - 1);
  const size_t reserved = Stats(h).arena_reserved;
  EXPECT_DEATH(sa_free(h, reinterpret_cast<void*>(arena + 96)), re);  // meta bytes
  EXPECT_DEATH(sa_free(h, reinterpret_cast<void*>(arena + reserved - 32)), re);
  EXPECT_DEATH(sa_realloc(h, p + 16, 10),
               "stratalloc: invalid realloc of 0x[0-9a-f]+ \\(buddy\\)");
  sa_free(h, p);
}

// ---- free-list integrity and large blocks: exact messages -----------------

std::string Hex(const void* p) {
  char buf[32];
  snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(reinterpret_cast<uintptr_t>(p)));
  return buf;
}

// "fast" (fork, no exec): the child sees the parent's heap at the same
// addresses, which the expected messages name.
class BuddyForkDeathTest : public BuddyTest {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "fast");
    BuddyTest::SetUp();
  }
};

// A write after free over a free block's links (its first 16 bytes): the
// next unlink of it (a merge with its buddy, a malloc that pops it) or of
// its list neighbour reports it, naming the block written into, before a
// single write through the links.
TEST_F(BuddyForkDeathTest, WriteAfterFreeOverTheLinksIsACorruptedFreeList) {
  for (uint64_t garbage : {uint64_t{0}, uint64_t{0x4141414141414141}, ~uint64_t{0},
                           uint64_t{0x7f0000000040}}) {
    SCOPED_TRACE(garbage);
    sa_heap_t* h = Create();
    char* v[8];
    for (char*& p : v) p = static_cast<char*>(sa_malloc(h, 64));
    // Buddies pair up as (v0,v1) (v2,v3) ... when they split one block.
    ASSERT_EQ(Addr(v[2]) ^ Addr(v[3]), 64u);
    ASSERT_EQ(Addr(v[4]) ^ Addr(v[5]), 64u);
    sa_free(h, v[0]);
    sa_free(h, v[2]);
    sa_free(h, v[4]);  // order 6 list: v4 -> v2 -> v0 (-> ...)
    uint64_t two[2] = {garbage, garbage};
    memcpy(v[2], two, sizeof two);
    const std::string at = "stratalloc: corrupted free list at ";
    // free(v3) merges it with its buddy v2, which comes off its list.
    EXPECT_DEATH(sa_free(h, v[3]), at + Hex(v[2]) + " \\(buddy\\), found by the free of " +
                                       Hex(v[3]));
    // free(v5) merges with v4 (the head), whose successor v2 lost its prev.
    EXPECT_DEATH(sa_free(h, v[5]), at + Hex(v[2]) + " \\(buddy\\), found by the free of " +
                                       Hex(v[5]));
    // malloc(64) pops v4, the same.
    EXPECT_DEATH(sa_malloc(h, 64), at + Hex(v[2]) + " \\(buddy\\)");
    memcpy(v[4], two, sizeof two);  // now the head itself
    if (garbage != 0) {
      EXPECT_DEATH(sa_malloc(h, 64), at + Hex(v[4]) + " \\(buddy\\)");
    } else {  // a head with no neighbours: the rest of its list is lost, nothing written
      EXPECT_EQ(sa_malloc(h, 64), v[4]);
    }
    sa_heap_destroy(h);
    heaps_.pop_back();
  }
}

TEST_F(BuddyForkDeathTest, LargeBlocksDoubleFreeAndInterior) {
  sa_heap_t* h = Create();
  char* big = static_cast<char*>(sa_malloc(h, 300 * kKiB));
  char* live = static_cast<char*>(sa_malloc(h, 300 * kKiB));
  memset(big, 1, 300 * kKiB);
  sa_free(h, big);
  EXPECT_DEATH(sa_free(h, big), "stratalloc: double free of " + Hex(big) + " \\(buddy\\)");
  EXPECT_DEATH(sa_realloc(h, big, 10),
               "stratalloc: realloc of freed pointer " + Hex(big) + " \\(buddy\\)");
  EXPECT_DEATH(sa_usable_size(h, big),
               "stratalloc: malloc_usable_size of freed pointer " + Hex(big) + " \\(buddy\\)");
  for (size_t off : {16, 4096, 8192})
    EXPECT_DEATH(sa_free(h, live + off), "stratalloc: invalid free of " + Hex(live + off) +
                                             " \\(buddy\\): not the start of a block");
  sa_free(h, live);
}

TEST_F(BuddyForkDeathTest, BadPointersNameTheirFault) {
  sa_heap_t* h = Create();
  char* p = static_cast<char*>(sa_malloc(h, 48));
  char* q = static_cast<char*>(sa_malloc(h, 5000));
  sa_free(h, p);
  EXPECT_DEATH(sa_free(h, p), "stratalloc: double free of " + Hex(p) + " \\(buddy\\)");
  EXPECT_DEATH(sa_realloc(h, p, 100),
               "stratalloc: realloc of freed pointer " + Hex(p) + " \\(buddy\\)");
  EXPECT_DEATH(sa_usable_size(h, p),
               "stratalloc: malloc_usable_size of freed pointer " + Hex(p) + " \\(buddy\\)");
  for (size_t off : {16, 32, 4096})
    EXPECT_DEATH(sa_free(h, q + off), "stratalloc: invalid free of " + Hex(q + off) +
                                          " \\(buddy\\): not the start of a block");
  EXPECT_DEATH(sa_usable_size(h, q + 16), "stratalloc: invalid malloc_usable_size of " +
                                              Hex(q + 16) + " \\(buddy\\): not the start");
  // Past the end of the arena's blocks in use: the untouched end.
  const uintptr_t arena = Addr(q) & ~(kMiB - 1);
  void* untouched = reinterpret_cast<void*>(arena + kMiB - 128 * kKiB);
  EXPECT_DEATH(sa_free(h, untouched), "stratalloc: invalid free of " + Hex(untouched) +
                                          " \\(buddy\\): not the start of a block");
  sa_free(h, q);
}

// heap_extension_size sets the arena (a power of two, at most 1 GiB): at
// the ends of its range, and the 1g of the issue, malloc works, and an
// arena costs the pages its blocks use (the page map's 8 bytes per page
// aside), not its meta bytes and links written all over it.
size_t ResidentBytes() {
  FILE* f = fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
  fclose(f);
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

TEST_F(BuddyTest, HeapExtensionSizeAtTheEndsOfItsRange) {
  for (size_t ext : {size_t{64} << 10, size_t{1} << 30, size_t{32} << 30, size_t{1} << 40}) {
    SCOPED_TRACE(ext);
    cfg_.heap_extension_size = ext;
    const size_t before = ResidentBytes();
    sa_heap_t* h = Create();
    ASSERT_NE(h, nullptr);
    void* small = sa_malloc(h, 100);
    ASSERT_NE(small, nullptr);
    memset(small, 1, 100);
    const size_t grown = ResidentBytes() - before;
    sa_buddy_stats_t s = Stats(h);
    EXPECT_EQ(s.arena_size, std::max(256 * kKiB, std::min(ext, size_t{1} << 30)));
    // 2 MiB of page map for a 1 GiB arena, a few pages of blocks. (A
    // sanitizer's shadow of the page map makes RSS meaningless there.)
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    EXPECT_LT(grown, 6 * kMiB) << "resident bytes grew by " << grown;
#else
    (void)grown;
#endif
    std::vector<void*> v;
    for (size_t n : {1, 100, 5000, 100000, 128 * 1024})
      for (int i = 0; i < 20; i++) {
        void* p = sa_malloc(h, n);
        ASSERT_NE(p, nullptr);
        memset(p, 0x33, n);
        v.push_back(p);
      }
    EXPECT_EQ(sa_check(h), 0u);
    for (void* p : v) sa_free(h, p);
    sa_free(h, small);
    EXPECT_EQ(sa_check(h), 0u);
    sa_heap_destroy(h);
    heaps_.pop_back();
  }
}

}  // namespace

// first_fit specifics, observed through sa_walk, sa_heap_info and the stats.
//
// Layout facts of first_fit this test relies on (strategies/first_fit):
//   - an 8-byte header before each payload; block sizes are multiples of 16;
//     the smallest block is config.min_block_size (32 by default), so the
//     usable size of malloc(n) is max(min_block, round_up(n + 8, 16)) - 8;
//   - the walk reports each block's payload address and its usable size
//     (block size - 8), in address order within a chunk, so consecutive
//     blocks of one chunk satisfy next.ptr == ptr + usable + 8;
//   - chunks of heap_extension_size are mapped on demand; requests above
//     mmap_threshold are mapped directly (the walk shows them as used blocks,
//     stats.large_allocations counts them);
//   - free blocks are kept in bins by block size: one bin per 16 bytes below
//     1024, then 8 bins per power of two (BinMin below); a bin is LIFO; a
//     free block's payload starts with its next and prev links (pointers to
//     block headers, payload - 8).
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "stratalloc/stratalloc.h"
#include "stratalloc/strategy.h"

extern "C" const sa_strategy_t sa_first_fit;

namespace {

constexpr size_t kHeader = 8;

size_t RoundUp16(size_t n) { return (n + 15) & ~size_t{15}; }

// Usable size first_fit gives malloc(n) for n >= 1.
size_t ExpectedUsable(size_t n, size_t min_block = 32) {
  return std::max(min_block, RoundUp16(n + kHeader)) - kHeader;
}

struct Blk {
  uintptr_t ptr;
  size_t usable;
  bool used;
  size_t block() const { return usable + kHeader; }
  uintptr_t end() const { return ptr + usable + kHeader; }  // next block's payload
};

std::vector<Blk> Walk(sa_heap_t* h) {
  std::vector<Blk> out;
  sa_walk(
      h,
      [](void* p, size_t size, sa_block_state_t state, void* arg) {
        static_cast<std::vector<Blk>*>(arg)->push_back(
            Blk{reinterpret_cast<uintptr_t>(p), size, state == SA_BLOCK_USED});
      },
      &out);
  return out;
}

// Splits a walk into runs of contiguous blocks: the chunks (a large object is
// a run of its own).
std::vector<std::vector<Blk>> Runs(const std::vector<Blk>& blocks) {
  std::vector<std::vector<Blk>> runs;
  for (const Blk& b : blocks) {
    if (runs.empty() || runs.back().back().end() != b.ptr) runs.emplace_back();
    runs.back().push_back(b);
  }
  return runs;
}

// The run (chunk) holding payload p.
std::vector<Blk> ChunkOf(sa_heap_t* h, const void* p) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  for (auto& run : Runs(Walk(h)))
    for (const Blk& b : run)
      if (b.ptr == a) return run;
  return {};
}

const Blk* Find(const std::vector<Blk>& blocks, const void* p) {
  for (const Blk& b : blocks)
    if (b.ptr == reinterpret_cast<uintptr_t>(p)) return &b;
  return nullptr;
}

size_t CountFree(const std::vector<Blk>& blocks) {
  return static_cast<size_t>(
      std::count_if(blocks.begin(), blocks.end(), [](const Blk& b) { return !b.used; }));
}

size_t RunBytes(const std::vector<Blk>& run) {
  size_t sum = 0;
  for (const Blk& b : run) sum += b.block();
  return sum;
}

std::string Describe(const std::vector<Blk>& blocks) {
  std::string s;
  char line[96];
  for (const Blk& b : blocks) {
    snprintf(line, sizeof line, "  %#lx %zu %s\n", static_cast<unsigned long>(b.ptr), b.usable,
             b.used ? "used" : "free");
    s += line;
  }
  return s;
}

sa_stats_t Stats(sa_heap_t* h) {
  sa_stats_t st;
  memset(&st, 0, sizeof st);
  sa_heap_stats(h, &st);
  return st;
}

// sa_check is clean and the stats and heap_info agree with the walk.
void ExpectConsistent(sa_heap_t* h, const char* phase) {
  SCOPED_TRACE(phase);
  EXPECT_EQ(sa_check(h), 0u);
  std::vector<Blk> blocks = Walk(h);
  size_t used = 0, used_bytes = 0, nfree = 0, free_bytes = 0, largest = 0;
  for (const Blk& b : blocks) {
    EXPECT_EQ(b.ptr % 16, 0u) << "payload not 16-aligned";
    if (b.used) {
      used++;
      used_bytes += b.usable;
    } else {
      nfree++;
      free_bytes += b.usable;
      largest = std::max(largest, b.usable);
    }
  }
  sa_stats_t st = Stats(h);
  EXPECT_EQ(st.current_blocks, used);
  EXPECT_EQ(st.current_allocated_bytes, used_bytes);
  EXPECT_EQ(st.free_bytes, free_bytes);
  EXPECT_EQ(st.largest_free_bytes, largest);
  sa_heap_info_t info;
  sa_heap_info(h, &info);
  EXPECT_EQ(info.used_blocks, used);
  EXPECT_EQ(info.used_bytes, used_bytes);
  EXPECT_EQ(info.free_blocks, nfree);
  EXPECT_EQ(info.free_bytes, free_bytes);
  EXPECT_EQ(info.largest_free_block, largest);
  if (free_bytes > 0) {
    EXPECT_NEAR(info.external_fragmentation_pct,
                100.0 * static_cast<double>(free_bytes - largest) / static_cast<double>(free_bytes),
                1e-6);
  }
}

// Blocks of every chunk are multiples of 16, at least min_block, and (with
// aggressive coalescing) never two free neighbours.
void ExpectChunkShape(sa_heap_t* h, size_t min_block, bool aggressive, size_t threshold) {
  for (auto& run : Runs(Walk(h))) {
    if (run.size() == 1 && run[0].used && run[0].usable > threshold) continue;  // large object
    for (size_t i = 0; i < run.size(); i++) {
      EXPECT_EQ(run[i].block() % 16, 0u) << Describe(run);
      EXPECT_GE(run[i].block(), min_block) << Describe(run);
      if (aggressive && i > 0) {
        EXPECT_FALSE(!run[i - 1].used && !run[i].used) << "two free neighbours\n" << Describe(run);
      }
    }
  }
}

class FirstFitTest : public testing::Test {
 protected:
  void SetUp() override { sa_config_default(&cfg_); }
  void TearDown() override {
    if (heap_ != nullptr) sa_heap_destroy(heap_);
  }
  sa_heap_t* Create() {
    heap_ = sa_heap_create(&sa_first_fit, &cfg_);
    EXPECT_NE(heap_, nullptr);
    return heap_;
  }
  void* Malloc(size_t n) {
    void* p = sa_malloc(heap_, n);
    EXPECT_NE(p, nullptr) << "malloc(" << n << ")";
    return p;
  }
  // Allocates the whole free remainder of p's chunk (the last free block of
  // the run), so later requests can only be served from holes.
  void* FillChunkOf(const void* p) {
    std::vector<Blk> run = ChunkOf(heap_, p);
    EXPECT_FALSE(run.empty());
    if (run.empty() || run.back().used) return nullptr;
    const Blk tail = run.back();
    EXPECT_LE(tail.usable, cfg_.mmap_threshold) << "use a small heap_extension_size";
    void* q = Malloc(tail.usable);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(q), tail.ptr) << "the remainder was not used";
    EXPECT_EQ(CountFree(ChunkOf(heap_, p)), 0u) << Describe(ChunkOf(heap_, p));
    return q;
  }

  sa_config_t cfg_;
  sa_heap_t* heap_ = nullptr;
};

TEST(FirstFitName, IsFirstFit) { EXPECT_STREQ(sa_strategy_name(&sa_first_fit), "first_fit"); }

TEST_F(FirstFitTest, UsableSizeIsBlockMinusHeader) {
  Create();
  for (size_t n = 1; n <= 3000; n++) {
    void* p = Malloc(n);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(sa_usable_size(heap_, p), ExpectedUsable(n)) << "malloc(" << n << ")";
    const std::vector<Blk> blocks = Walk(heap_);
    const Blk* b = Find(blocks, p);
    ASSERT_NE(b, nullptr) << "the walk does not show malloc(" << n << ")";
    EXPECT_TRUE(b->used);
    EXPECT_EQ(b->usable, ExpectedUsable(n));
    sa_free(heap_, p);
  }
  ExpectConsistent(heap_, "after sizes");
}

TEST_F(FirstFitTest, SplitLeavesAUsedBlockThenAFreeRemainder) {
  Create();
  void* p = Malloc(100);
  std::vector<Blk> blocks = Walk(heap_);
  ASSERT_EQ(blocks.size(), 2u) << Describe(blocks);
  EXPECT_TRUE(blocks[0].used);
  EXPECT_EQ(blocks[0].ptr, reinterpret_cast<uintptr_t>(p));
  EXPECT_EQ(blocks[0].usable, ExpectedUsable(100));
  EXPECT_FALSE(blocks[1].used);
  EXPECT_EQ(blocks[1].ptr, blocks[0].end()) << "the remainder follows the block";
  EXPECT_LE(RunBytes(blocks), cfg_.heap_extension_size);
  EXPECT_GE(RunBytes(blocks), cfg_.heap_extension_size - 4096);

  // A second request splits the remainder again, right after the first.
  void* q = Malloc(1000);
  blocks = Walk(heap_);
  ASSERT_EQ(blocks.size(), 3u) << Describe(blocks);
  EXPECT_EQ(blocks[1].ptr, reinterpret_cast<uintptr_t>(q));
  EXPECT_EQ(blocks[1].usable, ExpectedUsable(1000));
  EXPECT_FALSE(blocks[2].used);
  ExpectConsistent(heap_, "two splits");
}

// A, B, C, D then the free remainder R, all in one chunk.
class CoalesceTest : public FirstFitTest {
 protected:
  void SetUp() override {
    FirstFitTest::SetUp();
    cfg_.heap_extension_size = 64 * 1024;  // the whole chunk stays below the threshold
    ASSERT_NE(Create(), nullptr);
    a_ = Malloc(100);   // block 112
    b_ = Malloc(200);   // block 208
    c_ = Malloc(300);   // block 320
    d_ = Malloc(50);    // block 64
    std::vector<Blk> blocks = Walk(heap_);
    ASSERT_EQ(blocks.size(), 5u) << Describe(blocks);
    for (int i = 0; i < 4; i++) ASSERT_TRUE(blocks[i].used);
    ASSERT_FALSE(blocks[4].used);
    ASSERT_EQ(blocks[0].ptr, reinterpret_cast<uintptr_t>(a_));
    ASSERT_EQ(blocks[3].ptr, reinterpret_cast<uintptr_t>(d_));
    area_ = RunBytes(blocks);
    rest_ = blocks[4].block();
  }
  // Expects the walk to be exactly these (payload, block size, used) triples.
  void ExpectLayout(const std::vector<std::tuple<void*, size_t, bool>>& want) {
    std::vector<Blk> blocks = Walk(heap_);
    ASSERT_EQ(blocks.size(), want.size()) << Describe(blocks);
    for (size_t i = 0; i < want.size(); i++) {
      EXPECT_EQ(blocks[i].ptr, reinterpret_cast<uintptr_t>(std::get<0>(want[i])))
          << "block " << i << "\n" << Describe(blocks);
      EXPECT_EQ(blocks[i].block(), std::get<1>(want[i])) << "block " << i << "\n"
                                                          << Describe(blocks);
      EXPECT_EQ(blocks[i].used, std::get<2>(want[i])) << "block " << i << "\n"
                                                       << Describe(blocks);
    }
    EXPECT_EQ(RunBytes(blocks), area_) << "blocks no longer tile the chunk";
    ExpectConsistent(heap_, "layout");
  }
  void *a_, *b_, *c_, *d_;
  size_t area_ = 0, rest_ = 0;
};

TEST_F(CoalesceTest, NoMergeBetweenUsedNeighbours) {
  sa_free(heap_, b_);
  ExpectLayout({{a_, 112, true}, {b_, 208, false}, {c_, 320, true}, {d_, 64, true},
                {static_cast<char*>(d_) + 64, rest_, false}});
}

TEST_F(CoalesceTest, MergesWithTheRightNeighbour) {
  sa_free(heap_, c_);
  sa_free(heap_, b_);
  ExpectLayout({{a_, 112, true}, {b_, 208 + 320, false}, {d_, 64, true},
                {static_cast<char*>(d_) + 64, rest_, false}});
}

TEST_F(CoalesceTest, MergesWithTheLeftNeighbour) {
  sa_free(heap_, a_);
  sa_free(heap_, b_);
  ExpectLayout({{a_, 112 + 208, false}, {c_, 320, true}, {d_, 64, true},
                {static_cast<char*>(d_) + 64, rest_, false}});
}

TEST_F(CoalesceTest, MergesWithBothNeighbours) {
  sa_free(heap_, a_);
  sa_free(heap_, c_);
  sa_free(heap_, b_);
  ExpectLayout({{a_, 112 + 208 + 320, false}, {d_, 64, true},
                {static_cast<char*>(d_) + 64, rest_, false}});
}

TEST_F(CoalesceTest, MergesWithTheFreeRemainder) {
  sa_free(heap_, d_);
  ExpectLayout({{a_, 112, true}, {b_, 208, true}, {c_, 320, true}, {d_, 64 + rest_, false}});
  sa_free(heap_, c_);
  ExpectLayout({{a_, 112, true}, {b_, 208, true}, {c_, 320 + 64 + rest_, false}});
}

TEST_F(CoalesceTest, FreeingEverythingLeavesOneFreeBlock) {
  sa_free(heap_, b_);
  sa_free(heap_, d_);
  sa_free(heap_, a_);
  sa_free(heap_, c_);
  // One chunk is kept mapped (retain_empty_chunks = 1): one free block.
  std::vector<Blk> blocks = Walk(heap_);
  ASSERT_EQ(blocks.size(), 1u) << Describe(blocks);
  EXPECT_FALSE(blocks[0].used);
  EXPECT_EQ(blocks[0].ptr, reinterpret_cast<uintptr_t>(a_));
  EXPECT_EQ(blocks[0].block(), area_);
  ExpectConsistent(heap_, "empty");
  // The merged block serves a request that needs all of it.
  void* p = Malloc(area_ - kHeader);
  EXPECT_EQ(p, a_);
  sa_free(heap_, p);
}

TEST_F(FirstFitTest, AggressiveCoalescingNeverLeavesFreeNeighbours) {
  Create();
  std::mt19937 rng(7);
  std::vector<void*> live;
  for (int op = 0; op < 20000; op++) {
    if (!live.empty() && rng() % 2 == 0) {
      size_t i = rng() % live.size();
      sa_free(heap_, live[i]);
      live[i] = live.back();
      live.pop_back();
    } else {
      live.push_back(Malloc(1 + rng() % 3000));
    }
    if (op % 2000 == 0) {
      ExpectChunkShape(heap_, 32, true, cfg_.mmap_threshold);
      ExpectConsistent(heap_, "random workload");
    }
  }
  for (void* p : live) sa_free(heap_, p);
  ExpectChunkShape(heap_, 32, true, cfg_.mmap_threshold);
  ExpectConsistent(heap_, "all freed");
  EXPECT_EQ(Stats(heap_).current_allocated_bytes, 0u);
}

TEST_F(FirstFitTest, DeferredCoalescingKeepsFreeNeighboursUntilNeeded) {
  cfg_.enable_aggressive_coalescing = 0;
  cfg_.heap_extension_size = 64 * 1024;
  ASSERT_NE(Create(), nullptr);
  void* a = Malloc(100);
  void* b = Malloc(20000);
  void* c = Malloc(20000);
  void* d = Malloc(100);
  void* e = FillChunkOf(a);
  ASSERT_TRUE(a && b && c && d && e);
  const uint64_t mapped = Stats(heap_).mapped_bytes;
  const size_t bb = ExpectedUsable(20000) + kHeader;

  sa_free(heap_, b);
  sa_free(heap_, c);
  std::vector<Blk> run = ChunkOf(heap_, a);
  ASSERT_EQ(run.size(), 5u) << "adjacent free blocks stay apart until needed\n" << Describe(run);
  EXPECT_FALSE(run[1].used);
  EXPECT_FALSE(run[2].used);
  EXPECT_EQ(run[1].ptr, reinterpret_cast<uintptr_t>(b));
  EXPECT_EQ(run[2].ptr, reinterpret_cast<uintptr_t>(c));
  ExpectConsistent(heap_, "deferred: two free neighbours");
  ExpectChunkShape(heap_, 32, false, cfg_.mmap_threshold);

  // Only the merged space fits this request: it is served there, without
  // growing the heap.
  const size_t n = 2 * bb - kHeader;
  void* m = Malloc(n);
  EXPECT_EQ(m, b) << "a request that fits only the merged neighbours was not served there";
  EXPECT_EQ(Stats(heap_).mapped_bytes, mapped) << "the heap grew instead of merging";
  run = ChunkOf(heap_, a);
  EXPECT_EQ(CountFree(run), 0u) << Describe(run);
  ExpectConsistent(heap_, "deferred: merged and reused");

  // Frees of everything, then one request needing the whole chunk.
  size_t area = RunBytes(ChunkOf(heap_, a));
  for (void* p : {a, m, d, e}) sa_free(heap_, p);
  ExpectConsistent(heap_, "deferred: all free");
  void* all = Malloc(area - kHeader);
  EXPECT_EQ(all, a) << "the whole chunk merged back into one block";
  EXPECT_EQ(Stats(heap_).mapped_bytes, mapped);
  sa_free(heap_, all);
  ExpectConsistent(heap_, "deferred: end");
}

TEST_F(FirstFitTest, DeferredCoalescingRandomWorkloadStaysConsistent) {
  cfg_.enable_aggressive_coalescing = 0;
  cfg_.heap_extension_size = 64 * 1024;
  Create();
  std::mt19937 rng(11);
  std::vector<void*> live;
  for (int op = 0; op < 20000; op++) {
    if (!live.empty() && rng() % 2 == 0) {
      size_t i = rng() % live.size();
      sa_free(heap_, live[i]);
      live[i] = live.back();
      live.pop_back();
    } else {
      live.push_back(Malloc(1 + rng() % 5000));
    }
    if (op % 2000 == 0) ExpectConsistent(heap_, "deferred random workload");
  }
  for (void* p : live) sa_free(heap_, p);
  ExpectConsistent(heap_, "deferred: all freed");
  EXPECT_EQ(Stats(heap_).current_blocks, 0u);
}

TEST_F(FirstFitTest, HeapGrowsInExtensionSizedSteps) {
  cfg_.heap_extension_size = 64 * 1024;
  cfg_.retain_empty_chunks = 1;
  Create();
  const uint64_t m0 = Stats(heap_).mapped_bytes;
  std::vector<void*> live;
  std::vector<uint64_t> steps;
  uint64_t last = m0, m1 = 0;
  while (live.size() * 1000 < 5 * cfg_.heap_extension_size) {
    live.push_back(Malloc(1000));
    uint64_t now = Stats(heap_).mapped_bytes;
    if (live.size() == 1) m1 = now;
    if (now != last) {
      EXPECT_GT(now, last) << "mapped_bytes fell while only allocating";
      steps.push_back(now - last);
      last = now;
    }
  }
  EXPECT_GE(steps.size(), 4u) << "5 extensions' worth of data needs new chunks";
  for (uint64_t s : steps) {
    EXPECT_GE(s, cfg_.heap_extension_size);
    EXPECT_LT(s, 2 * cfg_.heap_extension_size);
  }
  EXPECT_EQ(Stats(heap_).large_allocations, 0u);
  ExpectConsistent(heap_, "grown");

  // A request above the extension size (below the threshold) gets a chunk
  // of its own size.
  uint64_t before = Stats(heap_).mapped_bytes;
  void* big = Malloc(100000);
  EXPECT_GE(sa_usable_size(heap_, big), 100000u);
  EXPECT_GE(Stats(heap_).mapped_bytes - before, 100000u);
  EXPECT_EQ(Stats(heap_).large_allocations, 0u);
  sa_free(heap_, big);

  // Empty chunks go back to the OS, but for retain_empty_chunks of them.
  for (void* p : live) sa_free(heap_, p);
  EXPECT_LE(Stats(heap_).mapped_bytes, m1 + 64 * 1024)
      << "empty chunks beyond retain_empty_chunks were kept";
  ExpectConsistent(heap_, "shrunk");
}

TEST_F(FirstFitTest, RetainNoEmptyChunks) {
  cfg_.heap_extension_size = 64 * 1024;
  cfg_.retain_empty_chunks = 0;
  Create();
  const uint64_t m0 = Stats(heap_).mapped_bytes;
  std::vector<void*> live;
  for (int i = 0; i < 300; i++) live.push_back(Malloc(1000));
  EXPECT_GT(Stats(heap_).mapped_bytes, m0 + 4 * 64 * 1024);
  for (void* p : live) sa_free(heap_, p);
  EXPECT_EQ(Stats(heap_).mapped_bytes, m0) << "retain_empty_chunks=0 keeps nothing mapped";
  EXPECT_EQ(Walk(heap_).size(), 0u);
  ExpectConsistent(heap_, "nothing retained");
}

TEST_F(FirstFitTest, RequestsAboveTheThresholdAreMappedDirectly) {
  Create();
  const size_t T = cfg_.mmap_threshold;
  void* warm = Malloc(16);  // the first chunk
  sa_stats_t s0 = Stats(heap_);

  void* at = Malloc(T);  // not above the threshold: from a chunk
  sa_stats_t s1 = Stats(heap_);
  EXPECT_EQ(s1.large_allocations, s0.large_allocations);
  EXPECT_EQ(s1.current_large_bytes, 0u);
  EXPECT_EQ(sa_usable_size(heap_, at), ExpectedUsable(T));

  void* big = Malloc(T + 1);
  sa_stats_t s2 = Stats(heap_);
  EXPECT_EQ(s2.large_allocations, s1.large_allocations + 1);
  EXPECT_GE(s2.mapped_bytes, s1.mapped_bytes + T + 1);
  EXPECT_EQ(s2.current_large_bytes, sa_usable_size(heap_, big));
  EXPECT_GE(sa_usable_size(heap_, big), T + 1);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big) % 16, 0u);
  std::vector<Blk> blocks = Walk(heap_);
  const Blk* b = Find(blocks, big);
  ASSERT_NE(b, nullptr) << "the walk does not show the large object\n" << Describe(blocks);
  EXPECT_TRUE(b->used);
  EXPECT_EQ(b->usable, sa_usable_size(heap_, big));
  ExpectConsistent(heap_, "large live");
  memset(big, 0x3c, T + 1);

  sa_free(heap_, big);
  sa_stats_t s3 = Stats(heap_);
  // The freed mapping waits in the heap's segment cache (still mapped,
  // counted in segment_cache_bytes) for the next large request.
  EXPECT_GE(s3.segment_cache_bytes, T + 1);
  EXPECT_EQ(s3.mapped_bytes - s3.segment_cache_bytes, s1.mapped_bytes)
      << "a freed large object is neither unmapped nor cached";
  EXPECT_EQ(s3.current_large_bytes, 0u);
  EXPECT_EQ(s3.large_allocations, s2.large_allocations) << "large_allocations is a counter";
  ExpectConsistent(heap_, "large freed");
  sa_free(heap_, at);
  sa_free(heap_, warm);
}

TEST_F(FirstFitTest, MinBlockSizeIsHonoured) {
  cfg_.min_block_size = 64;
  Create();
  EXPECT_EQ(sa_usable_size(heap_, Malloc(1)), 56u);
  for (size_t n = 1; n <= 500; n++) {
    void* p = Malloc(n);
    EXPECT_EQ(sa_usable_size(heap_, p), ExpectedUsable(n, 64)) << "malloc(" << n << ")";
    if (n % 3 != 0) sa_free(heap_, p);
  }
  ExpectChunkShape(heap_, 64, true, cfg_.mmap_threshold);
  ExpectConsistent(heap_, "min_block 64");
}

// A hole of block 112 (usable 104), the rest of the chunk used: a request
// of block 64 leaves 48 bytes, which is split off only if min_block <= 48.
class SplitRuleTest : public FirstFitTest {
 protected:
  void Run(size_t min_block) {
    cfg_.min_block_size = min_block;
    cfg_.heap_extension_size = 64 * 1024;
    ASSERT_NE(Create(), nullptr);
    void* g0 = Malloc(100);
    void* hole = Malloc(100);
    void* g1 = Malloc(100);
    ASSERT_NE(FillChunkOf(g0), nullptr);
    sa_free(heap_, hole);
    std::vector<Blk> run = ChunkOf(heap_, g0);
    ASSERT_EQ(CountFree(run), 1u) << Describe(run);
    void* p = Malloc(50);  // block 64
    EXPECT_EQ(p, hole) << "the only fitting free block is the hole";
    usable_ = sa_usable_size(heap_, p);
    run = ChunkOf(heap_, g0);
    free_after_ = CountFree(run);
    ExpectChunkShape(heap_, min_block, true, cfg_.mmap_threshold);
    ExpectConsistent(heap_, "split rule");
    (void)g1;
  }
  size_t usable_ = 0, free_after_ = 0;
};

TEST_F(SplitRuleTest, RemainderAtLeastMinBlockIsSplitOff) {
  Run(32);
  EXPECT_EQ(usable_, 56u);
  EXPECT_EQ(free_after_, 1u) << "a 48-byte remainder >= min_block 32 becomes a free block";
}

TEST_F(SplitRuleTest, RemainderBelowMinBlockStaysWithTheBlock) {
  Run(64);
  EXPECT_EQ(usable_, 104u) << "a 48-byte remainder < min_block 64 is not split off";
  EXPECT_EQ(free_after_, 0u);
}

// Holes separated by used guards in one full chunk.
class FirstFitOrderTest : public FirstFitTest {
 protected:
  // Holes of malloc(n) for each n, each followed by a used 32-byte guard.
  void MakeHoles(const std::vector<size_t>& sizes, size_t extension = 64 * 1024) {
    cfg_.heap_extension_size = extension;
    cfg_.mmap_threshold = std::max(cfg_.mmap_threshold, extension);
    ASSERT_NE(Create(), nullptr);
    first_ = Malloc(32);
    for (size_t n : sizes) {
      holes_.push_back(Malloc(n));
      guards_.push_back(Malloc(32));
    }
    ASSERT_NE(FillChunkOf(first_), nullptr);
  }
  void* first_ = nullptr;
  std::vector<void*> holes_, guards_;
};

// Freed from the highest address down, the lowest hole is both the lowest
// address and the most recently freed: first fit in address order and on a
// LIFO free list agree.
TEST_F(FirstFitOrderTest, ServesTheFirstFittingHole) {
  MakeHoles({200, 200, 200});
  for (int i = 2; i >= 0; i--) sa_free(heap_, holes_[i]);
  ExpectConsistent(heap_, "three holes");
  void* p = Malloc(200);
  EXPECT_EQ(p, holes_[0]);
  void* q = Malloc(200);
  EXPECT_TRUE(q == holes_[1] || q == holes_[2]) << "served from outside the holes";
  ExpectConsistent(heap_, "holes reused");
}

// Holes of 112, 320 and 320 bytes; freed 3rd, 1st, 2nd: a request that the
// first hole cannot hold lands in the second in both orders.
TEST_F(FirstFitOrderTest, SkipsHolesThatAreTooSmall) {
  MakeHoles({100, 300, 300});
  sa_free(heap_, holes_[2]);
  sa_free(heap_, holes_[0]);
  sa_free(heap_, holes_[1]);
  void* p = Malloc(250);
  EXPECT_EQ(p, holes_[1]);
  void* q = Malloc(250);
  EXPECT_EQ(q, holes_[2]) << "the only hole left that fits";
  void* r = Malloc(90);
  EXPECT_EQ(r, holes_[0]);
  ExpectConsistent(heap_, "holes by size");
}

TEST_F(FirstFitOrderTest, AnyFittingHoleForArbitraryFreeOrder) {
  MakeHoles({400, 400, 400, 400});
  sa_free(heap_, holes_[1]);
  sa_free(heap_, holes_[3]);
  sa_free(heap_, holes_[0]);
  sa_free(heap_, holes_[2]);
  for (int i = 0; i < 4; i++) {
    void* p = Malloc(400);
    EXPECT_NE(std::find(holes_.begin(), holes_.end(), p), holes_.end())
        << "request " << i << " not served from a hole";
  }
  std::vector<Blk> run = ChunkOf(heap_, first_);
  EXPECT_EQ(CountFree(run), 0u) << Describe(run);
  ExpectConsistent(heap_, "all holes reused");
}

// ---- Bins --------------------------------------------------------------

// The smallest block size bin i holds: bins 2..63 hold exactly i * 16; then 8
// bins per power of two, from 1024 (bin 64) up.
size_t BinMin(size_t i) {
  if (i < 64) return i * 16;
  size_t log2 = 10 + (i - 64) / 8, sub = (i - 64) % 8;
  return (8 + sub) << (log2 - 3);
}

// One hole per bin, its block size the bin's smallest (or, with top = true,
// its largest) size, for every bin from block 32 to 2^17: freed in ascending
// size order, so every larger hole is more recently freed than the smaller
// ones; requests of each hole's exact size, in ascending order, must each get
// their own hole: a bin holding the wrong sizes, or a search that skips a
// request's own bin, hands out a larger (more recent) hole instead.
class FirstFitBinTest : public FirstFitOrderTest {
 protected:
  void Run(bool top) {
    std::vector<size_t> blocks;
    for (size_t i = 2; BinMin(i + 1) <= (size_t{1} << 17); i++)
      blocks.push_back(top ? BinMin(i + 1) - 16 : BinMin(i));
    ASSERT_EQ(blocks.size(), 62u + 7 * 8);
    std::vector<size_t> requests;
    for (size_t b : blocks) requests.push_back(b - kHeader);
    MakeHoles(requests, 4 * 1024 * 1024);
    ASSERT_EQ(holes_.size(), blocks.size());
    for (size_t i = 0; i < holes_.size(); i++) {
      ASSERT_EQ(sa_usable_size(heap_, holes_[i]), requests[i]);
      std::vector<Blk> run = ChunkOf(heap_, holes_[i]);
      ASSERT_FALSE(run.empty());
      ASSERT_EQ(run.front().ptr, reinterpret_cast<uintptr_t>(first_)) << "holes in one chunk";
    }
    for (void* p : holes_) sa_free(heap_, p);
    EXPECT_EQ(CountFree(ChunkOf(heap_, first_)), holes_.size());
    ExpectConsistent(heap_, "one hole per bin");
    for (size_t i = 0; i < holes_.size(); i++) {
      void* p = Malloc(requests[i]);
      EXPECT_EQ(p, holes_[i]) << "block " << blocks[i] << " did not come back from its bin";
    }
    EXPECT_EQ(CountFree(ChunkOf(heap_, first_)), 0u);
    ExpectConsistent(heap_, "every hole reused");
  }
};

TEST_F(FirstFitBinTest, EveryBinStartComesBackByFirstFit) { Run(false); }
TEST_F(FirstFitBinTest, EveryBinEndComesBackByFirstFit) { Run(true); }

// A request whose own bin is empty takes the head of the lowest non-empty
// larger bin, splitting it, even when a larger hole was freed more recently;
// the remainder goes to the bin of its own size.
TEST_F(FirstFitOrderTest, EmptyBinServedFromTheNextLargerOne) {
  MakeHoles({56, 200, 120, 2000});  // blocks 64, 208, 128, 2016
  sa_free(heap_, holes_[1]);
  sa_free(heap_, holes_[0]);
  sa_free(heap_, holes_[3]);
  sa_free(heap_, holes_[2]);
  // Block 112: bin 7 is empty, bin 8 holds the 128, taken whole (a 16-byte
  // rest is below min_block).
  void* p = Malloc(100);
  EXPECT_EQ(p, holes_[2]);
  EXPECT_EQ(sa_usable_size(heap_, p), 120u);
  // Again: bins 7..12 are empty, 13 holds the 208, split into 112 + 96.
  void* q = Malloc(100);
  EXPECT_EQ(q, holes_[1]);
  EXPECT_EQ(sa_usable_size(heap_, q), ExpectedUsable(100));
  std::vector<Blk> run = ChunkOf(heap_, first_);
  const Blk* rest = Find(run, static_cast<char*>(q) + 112);
  ASSERT_NE(rest, nullptr) << Describe(run);
  EXPECT_FALSE(rest->used);
  EXPECT_EQ(rest->block(), 208u - 112u);
  ExpectConsistent(heap_, "split 208");
  // The 96-byte remainder is in bin 6, below block 112's bin 7, and the 64
  // in bin 4: the next request of block 112 finds the 2016 (bin 64, the
  // next word of the bitmap).
  EXPECT_EQ(Malloc(100), holes_[3]);
  EXPECT_EQ(Malloc(88), static_cast<char*>(q) + 112) << "96 bytes exactly: the remainder";
  EXPECT_EQ(Malloc(56), holes_[0]);
  ExpectConsistent(heap_, "bins used up");
}

// Bin [1024, 1152) holds blocks of 1040, 1120 and 1088: a request scans it
// from the head (the most recent free) and takes the first block that fits,
// not the best fitting one, and not the larger bin's block freed last.
TEST_F(FirstFitOrderTest, FirstFitWithinTheRequestsBin) {
  MakeHoles({1120 - 8, 1088 - 8, 1040 - 8, 2048 - 8});
  for (void* p : holes_) sa_free(heap_, p);  // bin: 1040, 1088, 1120 (LIFO)
  // need 1104: 1040 does not fit, 1088 does not either; 1120 does.
  EXPECT_EQ(Malloc(1104 - 8), holes_[0]);
  // need 1072: 1040 does not fit; 1088 is the first that does.
  EXPECT_EQ(Malloc(1072 - 8), holes_[1]);
  // need 1024: the head, 1040 (the bin's only one left).
  EXPECT_EQ(Malloc(1024 - 8), holes_[2]);
  EXPECT_EQ(sa_usable_size(heap_, holes_[2]), 1040u - 8) << "a 16-byte rest stays in the block";
  ExpectConsistent(heap_, "first fit in a bin");

  // Two fitting blocks: the more recently freed one is taken, even though
  // the other fits better (first fit in LIFO order).
  sa_free(heap_, holes_[1]);  // 1088
  sa_free(heap_, holes_[0]);  // 1120, now the head
  EXPECT_EQ(Malloc(1088 - 8), holes_[0]);
  EXPECT_EQ(Malloc(1088 - 8), holes_[1]);
  ExpectConsistent(heap_, "LIFO within a bin");
}

// Moves a free block into the wrong bin by rewriting free-list links: check
// must report that (and only that), and be clean again once undone.
TEST_F(FirstFitOrderTest, CheckFindsABlockInTheWrongBin) {
  MakeHoles({104, 312, 312});  // blocks 112 (bin 7), 320 and 320 (bin 20)
  char* a = static_cast<char*>(holes_[0]);
  char* b = static_cast<char*>(holes_[1]);
  char* c = static_cast<char*>(holes_[2]);
  sa_free(heap_, a);
  sa_free(heap_, b);
  sa_free(heap_, c);  // bin 20: c, b
  ASSERT_EQ(sa_check(heap_), 0u);
  auto next = [](char* p) { return reinterpret_cast<char**>(p); };
  auto prev = [](char* p) { return reinterpret_cast<char**>(p + 8); };
  // The layout this corruption relies on: links to block headers, LIFO.
  ASSERT_EQ(*next(a), nullptr);
  ASSERT_EQ(*prev(a), nullptr);
  ASSERT_EQ(*next(c), b - kHeader);
  ASSERT_EQ(*prev(b), c - kHeader);
  ASSERT_EQ(*next(b), nullptr);

  // Splice b out of bin 20 and behind a in bin 7: every link stays
  // consistent and the bins still hold all free blocks and bytes.
  *next(c) = nullptr;
  *next(a) = b - kHeader;
  *prev(b) = a - kHeader;
  testing::internal::CaptureStderr();
  size_t failures = sa_check(heap_);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(failures, 1u) << err;
  EXPECT_NE(err.find("free block in the wrong bin"), std::string::npos) << err;
  char where[32];
  snprintf(where, sizeof where, "%#lx", static_cast<unsigned long>(
                                            reinterpret_cast<uintptr_t>(b - kHeader)));
  EXPECT_NE(err.find(where), std::string::npos) << "the report names b's block\n" << err;

  // Undo: clean again.
  *next(a) = nullptr;
  *prev(b) = c - kHeader;
  *next(c) = b - kHeader;
  EXPECT_EQ(sa_check(heap_), 0u);
}

// Deferred mode: frees go unmerged into their bins; a request no bin can
// serve merges everything first.
TEST_F(FirstFitOrderTest, DeferredFreesLandInTheirBins) {
  cfg_.enable_aggressive_coalescing = 0;
  MakeHoles({200, 200, 1000});
  sa_free(heap_, holes_[0]);
  sa_free(heap_, guards_[0]);  // free neighbours of holes_[0], left unmerged
  sa_free(heap_, holes_[1]);
  sa_free(heap_, holes_[2]);
  ExpectConsistent(heap_, "deferred holes");
  EXPECT_EQ(CountFree(ChunkOf(heap_, first_)), 4u);
  EXPECT_EQ(Malloc(32), guards_[0]) << "block 48 has a bin of its own";
  EXPECT_EQ(Malloc(200), holes_[1]) << "the more recent of the two 208s";
  EXPECT_EQ(Malloc(200), holes_[0]);
  EXPECT_EQ(Malloc(1000), holes_[2]);
  ExpectConsistent(heap_, "deferred holes reused");
}

TEST_F(FirstFitTest, FragmentationIsReportedFromTheWalk) {
  cfg_.heap_extension_size = 64 * 1024;
  Create();
  void* first = Malloc(32);
  std::vector<void*> ptrs;
  for (int i = 0; i < 40; i++) ptrs.push_back(Malloc(200 + 16 * i));
  ASSERT_NE(FillChunkOf(first), nullptr);
  for (size_t i = 0; i < ptrs.size(); i += 2) sa_free(heap_, ptrs[i]);
  sa_heap_info_t info;
  sa_heap_info(heap_, &info);
  EXPECT_EQ(info.free_blocks, 20u);
  EXPECT_EQ(info.largest_free_block, ExpectedUsable(200 + 16 * 38));
  EXPECT_GT(info.external_fragmentation_pct, 50.0);
  sa_stats_t st = Stats(heap_);
  EXPECT_NEAR(st.fragmentation_pct, info.external_fragmentation_pct, 1e-6);
  ExpectConsistent(heap_, "fragmented");
}

TEST_F(FirstFitTest, AlignedRequestsKeepTheChunkTiled) {
  cfg_.heap_extension_size = 256 * 1024;
  Create();
  void* first = Malloc(16);
  size_t area = RunBytes(ChunkOf(heap_, first));
  std::vector<void*> ptrs;
  for (size_t a = 32; a <= 8192; a <<= 1) {
    void* p = sa_memalign(heap_, a, 100);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % a, 0u);
    ptrs.push_back(p);
  }
  EXPECT_EQ(RunBytes(ChunkOf(heap_, first)), area) << "alignment gaps must stay blocks";
  ExpectChunkShape(heap_, 32, true, cfg_.mmap_threshold);
  ExpectConsistent(heap_, "aligned");
  for (void* p : ptrs) sa_free(heap_, p);
  EXPECT_EQ(RunBytes(ChunkOf(heap_, first)), area);
  ExpectConsistent(heap_, "aligned freed");
}

// ---- error reports: the pointer, the fault and the strategy ---------------

// The address as the reports print it.
std::string Hex(const void* p) {
  char buf[32];
  snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(reinterpret_cast<uintptr_t>(p)));
  return buf;
}
const void* At(const void* p, ptrdiff_t off) { return static_cast<const char*>(p) + off; }

constexpr const char* kFF = " \\(first_fit\\)";
std::string Freed(const std::string& op, const void* p) {
  return "stratalloc: " + op + " " + Hex(p) + kFF;
}
std::string Interior(const std::string& op, const void* p) {
  return "stratalloc: invalid " + op + " of " + Hex(p) + kFF + ": not the start of a block";
}
std::string Corrupt(const std::string& what, const void* where, const std::string& op = "",
                    const void* p = nullptr) {
  std::string re = "stratalloc: corrupted " + what + " at " + Hex(where) + kFF;
  if (!op.empty()) re += ", found by the " + op + " of " + Hex(p);
  return re;
}

// "fast" (fork, no exec): the child sees the parent's heap at the same
// addresses, which the expected messages name.
class FirstFitDeathTest : public FirstFitTest {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "fast");
    FirstFitTest::SetUp();
  }
  // Three blocks of 40 usable bytes (48-byte blocks) side by side in a fresh
  // chunk, then a guard: a[40..48) is b's header, b[32..40) b's footer when
  // b is free.
  void Three(char** a, char** b, char** c) {
    *a = static_cast<char*>(Malloc(40));
    *b = static_cast<char*>(Malloc(40));
    *c = static_cast<char*>(Malloc(40));
    Malloc(40);
    ASSERT_EQ(*b, *a + 48);
    ASSERT_EQ(*c, *b + 48);
  }
};

TEST_F(FirstFitDeathTest, DoubleFreeNamesThePointer) {
  Create();
  char *a, *p, *b;
  Three(&a, &p, &b);
  sa_free(heap_, p);
  EXPECT_DEATH(sa_free(heap_, p), Freed("double free of", p));
  EXPECT_DEATH(sa_realloc(heap_, p, 100), Freed("realloc of freed pointer", p));
  EXPECT_DEATH(sa_usable_size(heap_, p), Freed("malloc_usable_size of freed pointer", p));
}

// A freed block merged into its free neighbour (before or after it) is no
// block any more: a second free of it is still a double free.
TEST_F(FirstFitDeathTest, DoubleFreeAfterMergingIsADoubleFree) {
  Create();
  char *a, *p, *b;
  Three(&a, &p, &b);
  sa_free(heap_, a);
  sa_free(heap_, p);  // merges into a
  EXPECT_DEATH(sa_free(heap_, p), Freed("double free of", p));
  EXPECT_DEATH(sa_realloc(heap_, p, 10), Freed("realloc of freed pointer", p));
  sa_free(heap_, b);  // a, p and b: one free block starting at a
  EXPECT_DEATH(sa_free(heap_, b), Freed("double free of", b));
  EXPECT_DEATH(sa_free(heap_, a), Freed("double free of", a));
}

TEST_F(FirstFitDeathTest, DoubleFreeInDeferredMode) {
  cfg_.enable_aggressive_coalescing = 0;
  Create();
  char *a, *p, *b;
  Three(&a, &p, &b);
  sa_free(heap_, a);
  sa_free(heap_, p);
  EXPECT_DEATH(sa_free(heap_, p), Freed("double free of", p));
  EXPECT_DEATH(sa_usable_size(heap_, a), Freed("malloc_usable_size of freed pointer", a));
}

TEST_F(FirstFitDeathTest, InteriorPointersAreInvalid) {
  Create();
  char* before = static_cast<char*>(Malloc(48));
  char* p = static_cast<char*>(Malloc(48));
  char* big = static_cast<char*>(Malloc(5000));
  Malloc(48);
  memset(p, 0, 48);
  memset(big, 0x5a, 5000);
  EXPECT_DEATH(sa_free(heap_, p + 8), Interior("free", p + 8));  // misaligned
  EXPECT_DEATH(sa_free(heap_, p + 16), Interior("free", p + 16));
  EXPECT_DEATH(sa_free(heap_, p + 32), Interior("free", p + 32));
  EXPECT_DEATH(sa_free(heap_, p - 16), Interior("free", p - 16));  // inside `before`
  EXPECT_DEATH(sa_free(heap_, big + 4096), Interior("free", big + 4096));
  EXPECT_DEATH(sa_realloc(heap_, big + 16, 10), Interior("realloc", big + 16));
  EXPECT_DEATH(sa_usable_size(heap_, p + 16), Interior("malloc_usable_size", p + 16));
  sa_free(heap_, before);
  sa_free(heap_, p);
  sa_free(heap_, big);
  ExpectConsistent(heap_, "after the bad frees (in children)");
}

// Above mmap_threshold: common's large objects, whose freed spans the
// segment cache holds for a while.
TEST_F(FirstFitDeathTest, LargeBlocksDoubleFreeAndInterior) {
  Create();
  char* big = static_cast<char*>(Malloc(300 * 1024));
  char* live = static_cast<char*>(Malloc(300 * 1024));
  memset(big, 1, 300 * 1024);
  sa_free(heap_, big);
  EXPECT_DEATH(sa_free(heap_, big), Freed("double free of", big));
  EXPECT_DEATH(sa_realloc(heap_, big, 10), Freed("realloc of freed pointer", big));
  EXPECT_DEATH(sa_usable_size(heap_, big), Freed("malloc_usable_size of freed pointer", big));
  EXPECT_DEATH(sa_free(heap_, live + 16), Interior("free", live + 16));
  EXPECT_DEATH(sa_free(heap_, live + 8192), Interior("free", live + 8192));  // past its first page
  EXPECT_DEATH(sa_usable_size(heap_, live + 4096), Interior("malloc_usable_size", live + 4096));
  sa_free(heap_, live);
}

// An overflow out of a used block into its successor's header: the valid
// pointer on either side is reported as what it is, a damaged header at the
// successor's address, whoever finds it (free, realloc, usable_size of
// either, malloc when the successor was free).
TEST_F(FirstFitDeathTest, OverflowIntoTheNextHeaderIsACorruptedHeader) {
  for (uint64_t garbage : {uint64_t{0}, uint64_t{0x4141414141414141}, ~uint64_t{0},
                           uint64_t{0x30}, uint64_t{0x7ffff0}}) {
    SCOPED_TRACE(garbage);
    Create();
    char *a, *b, *c;
    Three(&a, &b, &c);
    const void* header = b - 8;
    memcpy(a + 40, &garbage, 8);  // 8 bytes past a's 40
    EXPECT_DEATH(sa_free(heap_, a), Corrupt("block header", header, "free", a));
    EXPECT_DEATH(sa_free(heap_, b), Corrupt("block header", header, "free", b));
    EXPECT_DEATH(sa_realloc(heap_, b, 10), Corrupt("block header", header, "realloc", b));
    EXPECT_DEATH(sa_usable_size(heap_, b),
                 Corrupt("block header", header, "malloc_usable_size", b));
    sa_free(heap_, c);  // c's own header is intact, and b is no free block to merge with
    sa_heap_destroy(heap_);
    heap_ = nullptr;
  }
  for (uint64_t garbage : {uint64_t{0}, uint64_t{0x4141414141414141}, ~uint64_t{0}}) {
    SCOPED_TRACE(garbage);
    Create();
    char *a, *b, *c;
    Three(&a, &b, &c);
    sa_free(heap_, b);  // a free 48-byte block between two used ones
    memcpy(a + 40, &garbage, 8);
    EXPECT_DEATH(sa_malloc(heap_, 40), Corrupt("block header", b - 8));
    EXPECT_DEATH(sa_free(heap_, a), Corrupt("block header", b - 8, "free", a));
    sa_heap_destroy(heap_);
    heap_ = nullptr;
  }
}

// A write after free over a free block's footer: the merge that would
// follow it (the free of its successor) reports it instead.
TEST_F(FirstFitDeathTest, WriteAfterFreeOverAFooter) {
  Create();
  char *a, *b, *c;
  Three(&a, &b, &c);
  sa_free(heap_, a);
  memset(a + 32, 0x41, 8);  // a's footer: the last 8 of its 40 bytes
  EXPECT_DEATH(sa_free(heap_, b), Corrupt("block footer", a + 32, "free", b));
}

// A write after free over a free block's links: the next unlink of it or of
// a neighbour on its list reports it before it writes through them; the
// report names the block the program wrote into.
TEST_F(FirstFitDeathTest, WriteAfterFreeOverTheLinksIsACorruptedFreeList) {
  for (uint64_t garbage : {uint64_t{0}, uint64_t{0x4141414141414141}, ~uint64_t{0},
                           uint64_t{0x7f0000000008}}) {
    SCOPED_TRACE(garbage);
    Create();
    char* v[7];
    for (char*& p : v) p = static_cast<char*>(Malloc(40));
    sa_free(heap_, v[0]);
    sa_free(heap_, v[2]);
    sa_free(heap_, v[4]);  // bin of 48-byte blocks: v4 -> v2 -> v0
    uint64_t two[2] = {garbage, garbage};
    memcpy(v[2], two, 16);
    // malloc takes v4 off the head: v4's next is v2, whose prev is garbage.
    EXPECT_DEATH(sa_malloc(heap_, 40), Corrupt("free list", v[2]));
    // free(v3) merges v2 and v4 into it: v2 comes off its list.
    EXPECT_DEATH(sa_free(heap_, v[3]), Corrupt("free list", v[2], "free", v[3]));
    // realloc(v1) in place takes v2, its free right neighbour.
    EXPECT_DEATH(sa_realloc(heap_, v[1], 80), Corrupt("free list", v[2], "realloc", v[1]));
    sa_heap_destroy(heap_);
    heap_ = nullptr;
  }
  // Above 1 KiB a bin spans sizes: malloc walks the list, checking each link.
  Create();
  char* w[6];
  for (char*& p : w) p = static_cast<char*>(Malloc(1500));
  sa_free(heap_, w[0]);
  sa_free(heap_, w[2]);
  sa_free(heap_, w[4]);
  memset(w[4], 0x41, 16);
  EXPECT_DEATH(sa_malloc(heap_, 1500), Corrupt("free list", w[4]));
}

// heap_extension_size at both ends of its range (and the 32g of the issue,
// which the OS refuses as one mapping): chunks are capped at 1 GiB and
// halved while the OS refuses them, so malloc works.
TEST_F(FirstFitTest, HeapExtensionSizeAtTheEndsOfItsRange) {
  for (size_t ext : {size_t{64} << 10, size_t{32} << 30, size_t{1} << 40}) {
    SCOPED_TRACE(ext);
    cfg_.heap_extension_size = ext;
    Create();
    std::vector<void*> v;
    for (size_t n : {1, 100, 5000, 100000, 128 * 1024})
      for (int i = 0; i < 20; i++) {
        void* p = Malloc(n);
        ASSERT_NE(p, nullptr);
        memset(p, 0x33, n);
        v.push_back(p);
      }
    sa_stats_t st = Stats(heap_);
    EXPECT_LE(st.mapped_bytes, std::max(ext, size_t{4} << 20) + (size_t{1} << 30));
    ExpectConsistent(heap_, "filled");
    for (void* p : v) sa_free(heap_, p);
    ExpectConsistent(heap_, "emptied");
    sa_heap_destroy(heap_);
    heap_ = nullptr;
  }
}

}  // namespace

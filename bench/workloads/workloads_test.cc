// //bench/workloads:workloads_test: every row of wl_workloads[] (the table is
// iterated, so a new row is covered by being added), at small counts, over
// test allocators that wrap libc malloc with a 16-byte header:
//   - Frees everything: live blocks and live bytes are 0 after the call, ops
//     is > 0 and not WL_FAILED, the checkpoint is called at most once and
//     with something live; with and without a driver's scratch table, and
//     for threaded rows also with 1 and 3 threads.
//   - Deterministic: the per-thread sequences of (call, size), hashed and
//     combined independently of thread order, are the same for two runs with
//     one seed, and differ for another seed (the same for rows flagged
//     WL_F_UNSEEDED).
//   - Fails cleanly: when allocation K (counted over all threads) and every
//     later one returns NULL, the workload returns WL_FAILED and leaks
//     nothing, for K = 0, half and the last of its allocations.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/workloads/allocator.h"
#include "bench/workloads/workloads.h"

namespace {

constexpr size_t kHeader = 16;
constexpr size_t kMaxThreads = 1024;
enum Kind : uint64_t { kMalloc = 1, kFree = 2, kRealloc = 3 };

std::atomic<uint64_t> g_run_ids{1};

// One allocator for all three checks: counts live blocks and bytes, can fail
// every allocation after the first fail_after, can record per-thread hashes.
struct TestAllocator {
  std::atomic<long> live_blocks{0};
  std::atomic<long> live_bytes{0};
  std::atomic<size_t> alloc_calls{0};  // malloc and realloc, failed ones too
  size_t fail_after = SIZE_MAX;        // allocation calls that succeed
  bool record = false;
  uint64_t run_id = g_run_ids.fetch_add(1);
  std::atomic<size_t> threads{0};
  uint64_t hash[kMaxThreads] = {};  // each written by its own thread only
  std::atomic<int> checkpoints{0};
  long live_at_checkpoint = -1;
  sa_bench_allocator_t iface{};

  TestAllocator();
  uint64_t CombinedHash() const;
};

thread_local uint64_t tl_run_id = 0;
thread_local size_t tl_index = 0;

uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 31);
}

void Record(TestAllocator *t, Kind kind, size_t size) {
  if (!t->record) return;
  if (tl_run_id != t->run_id) {  // first call of this thread in this run
    tl_run_id = t->run_id;
    tl_index = t->threads.fetch_add(1);
    if (tl_index >= kMaxThreads) abort();
    t->hash[tl_index] = 0x1234;
  }
  t->hash[tl_index] = Mix(t->hash[tl_index], (static_cast<uint64_t>(kind) << 56) ^ size);
}

bool MayAllocate(TestAllocator *t) { return t->alloc_calls.fetch_add(1) < t->fail_after; }

void *Wrap(TestAllocator *t, void *raw, size_t size) {
  *static_cast<size_t *>(raw) = size;
  t->live_blocks.fetch_add(1);
  t->live_bytes.fetch_add(static_cast<long>(size));
  return static_cast<char *>(raw) + kHeader;
}

void *TestMalloc(void *ctx, size_t size) {
  auto *t = static_cast<TestAllocator *>(ctx);
  Record(t, kMalloc, size);
  if (!MayAllocate(t)) return nullptr;
  void *raw = malloc(size + kHeader);
  return raw != nullptr ? Wrap(t, raw, size) : nullptr;
}

void TestFree(void *ctx, void *ptr) {
  auto *t = static_cast<TestAllocator *>(ctx);
  if (ptr == nullptr) {
    Record(t, kFree, 0);
    return;
  }
  char *raw = static_cast<char *>(ptr) - kHeader;
  size_t size = *reinterpret_cast<size_t *>(raw);
  Record(t, kFree, size);
  t->live_blocks.fetch_sub(1);
  t->live_bytes.fetch_sub(static_cast<long>(size));
  free(raw);
}

void *TestRealloc(void *ctx, void *ptr, size_t size) {
  auto *t = static_cast<TestAllocator *>(ctx);
  Record(t, kRealloc, size);
  if (!MayAllocate(t)) return nullptr;  // ptr stays valid, as realloc's
  if (ptr == nullptr) {
    void *raw = malloc(size + kHeader);
    return raw != nullptr ? Wrap(t, raw, size) : nullptr;
  }
  char *raw = static_cast<char *>(ptr) - kHeader;
  size_t old = *reinterpret_cast<size_t *>(raw);
  void *grown = realloc(raw, size + kHeader);
  if (grown == nullptr) return nullptr;
  t->live_blocks.fetch_sub(1);
  t->live_bytes.fetch_sub(static_cast<long>(old));
  return Wrap(t, grown, size);
}

TestAllocator::TestAllocator() {
  iface.name = "test";
  iface.ctx = this;
  iface.malloc = TestMalloc;
  iface.free = TestFree;
  iface.realloc = TestRealloc;
}

// Order-independent over threads: the sorted per-thread hashes, folded.
uint64_t TestAllocator::CombinedHash() const {
  std::vector<uint64_t> h(hash, hash + threads.load());
  std::sort(h.begin(), h.end());
  uint64_t all = h.size();
  for (uint64_t x : h) all = Mix(all, x);
  return all;
}

void OnCheckpoint(void *arg) {
  auto *t = static_cast<TestAllocator *>(arg);
  t->checkpoints.fetch_add(1);
  t->live_at_checkpoint = t->live_blocks.load();
}

// The row's defaults at a small count (a 64th, at least 16) and at most 4
// write passes: every row in well under a second.
wl_params_t SmallParams(const wl_workload_t *w) {
  wl_params_t p;
  wl_params_default(w, &p);
  p.count = std::max<size_t>(p.count / 64, 16);
  if (p.repeat > 4) p.repeat = 4;
  return p;
}

struct RunResult {
  size_t ops;
  long live_blocks, live_bytes;
  size_t alloc_calls;
  int checkpoints;
  long live_at_checkpoint;
  uint64_t hash;
};

// One call over a fresh test allocator; scratch: a driver's table, as
// compare_driver and the benchmarks pass one.
RunResult RunOnce(const wl_workload_t *w, wl_params_t p, bool scratch, bool record = false,
            size_t fail_after = SIZE_MAX) {
  TestAllocator t;
  t.record = record;
  t.fail_after = fail_after;
  std::vector<void *> table(scratch ? wl_scratch_slots(w, &p) : 0);
  p.scratch = table.empty() ? nullptr : table.data();
  p.scratch_cap = table.size();
  p.checkpoint = OnCheckpoint;
  p.checkpoint_arg = &t;
  RunResult r;
  r.ops = w->run(&t.iface, &p);
  r.live_blocks = t.live_blocks.load();
  r.live_bytes = t.live_bytes.load();
  r.alloc_calls = t.alloc_calls.load();
  r.checkpoints = t.checkpoints.load();
  r.live_at_checkpoint = t.live_at_checkpoint;
  r.hash = t.CombinedHash();
  return r;
}

std::vector<const wl_workload_t *> AllRows() {
  std::vector<const wl_workload_t *> rows;
  for (const wl_workload_t *w = wl_workloads; w->name != nullptr; w++) rows.push_back(w);
  return rows;
}

class Workload : public ::testing::TestWithParam<const wl_workload_t *> {};

void ExpectClean(const RunResult &r, const std::string &what) {
  EXPECT_NE(r.ops, WL_FAILED) << what;
  EXPECT_GT(r.ops, 0u) << what;
  EXPECT_EQ(r.live_blocks, 0) << what << ": blocks leaked";
  EXPECT_EQ(r.live_bytes, 0) << what << ": bytes leaked";
  EXPECT_LE(r.checkpoints, 1) << what << ": checkpoint more than once";
  if (r.checkpoints == 1) {
    EXPECT_GT(r.live_at_checkpoint, 0) << what << ": checkpoint with nothing live";
  }
}

TEST_P(Workload, FreesEverything) {
  const wl_workload_t *w = GetParam();
  const wl_params_t p = SmallParams(w);
  ExpectClean(RunOnce(w, p, true), "with scratch");
  ExpectClean(RunOnce(w, p, false), "without scratch");
  if (w->defaults.threads > 0) {
    for (size_t threads : {1, 3}) {
      wl_params_t q = p;
      q.threads = threads;
      ExpectClean(RunOnce(w, q, true), "threads=" + std::to_string(threads));
    }
  }
}

TEST_P(Workload, DeterministicUnderItsSeed) {
  const wl_workload_t *w = GetParam();
  const wl_params_t p = SmallParams(w);
  const RunResult a = RunOnce(w, p, true, true);
  const RunResult b = RunOnce(w, p, true, true);
  ASSERT_NE(a.ops, WL_FAILED);
  EXPECT_EQ(a.ops, b.ops);
  EXPECT_EQ(a.hash, b.hash) << "same seed, different calls";
  wl_params_t other = p;
  other.seed = p.seed + 1;
  const RunResult c = RunOnce(w, other, true, true);
  if (w->flags & WL_F_UNSEEDED)
    EXPECT_EQ(a.hash, c.hash) << "flagged WL_F_UNSEEDED, but the calls depend on the seed";
  else
    EXPECT_NE(a.hash, c.hash) << "another seed, the same calls (flag the row WL_F_UNSEEDED?)";
}

TEST_P(Workload, FailsCleanlyOnNull) {
  const wl_workload_t *w = GetParam();
  const wl_params_t p = SmallParams(w);
  const RunResult full = RunOnce(w, p, true);
  ASSERT_NE(full.ops, WL_FAILED);
  ASSERT_GT(full.alloc_calls, 0u);
  for (size_t k : {size_t{0}, full.alloc_calls / 2, full.alloc_calls - 1}) {
    const RunResult r = RunOnce(w, p, true, false, k);
    const std::string what = "NULL from allocation " + std::to_string(k) + " of " +
                             std::to_string(full.alloc_calls);
    EXPECT_EQ(r.ops, WL_FAILED) << what;
    EXPECT_EQ(r.live_blocks, 0) << what << ": blocks leaked";
    EXPECT_EQ(r.live_bytes, 0) << what << ": bytes leaked";
  }
}

INSTANTIATE_TEST_SUITE_P(AllRows, Workload, ::testing::ValuesIn(AllRows()),
                         [](const ::testing::TestParamInfo<const wl_workload_t *> &info) {
                           return std::string(info.param->name);
                         });

TEST(WorkloadTable, NamesAreUniqueAndFound) {
  std::vector<std::string> names;
  for (const wl_workload_t *w = wl_workloads; w->name != nullptr; w++) {
    EXPECT_EQ(wl_find(w->name), w);
    names.push_back(w->name);
  }
  EXPECT_GE(names.size(), 22u);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
}

}  // namespace

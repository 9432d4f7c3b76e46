// The background purger (common/purge.c): a heap that goes idle gives its
// segment cache back without a further call; background_purge:0 leaves it
// to the heap's own calls; heaps come and go while it runs; a forked child
// gets a purger of its own. No timing is asserted: the waits poll with a
// generous bound, and "nothing happened" is checked only where nothing
// could have happened.
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "stratalloc/stratalloc.h"
#include "stratalloc/strategy.h"

namespace {

constexpr size_t kMiB = size_t{1} << 20;

uint64_t CacheBytes(sa_heap_t* h) {
  sa_stats_t s;
  sa_heap_stats(h, &s);
  return s.segment_cache_bytes;
}

// Polls (without calling the allocator of h) until its cache is empty;
// false after 60 s.
bool WaitForEmptyCache(sa_heap_t* h) {
  for (int i = 0; i < 6000; i++) {
    if (CacheBytes(h) == 0) return true;
    usleep(10 * 1000);
  }
  return CacheBytes(h) == 0;
}

// The heap of a registered strategy (a test that names one that is not
// fails here rather than testing another).
sa_heap_t* Create(const char* strategy, size_t decay_ms, bool background) {
  const sa_strategy_t* s = sa_strategy_find(strategy);
  EXPECT_NE(s, nullptr) << strategy << " is not registered";
  if (s == nullptr) return nullptr;
  sa_config_t c;
  sa_config_default(&c);
  c.segment_decay_ms = decay_ms;
  c.background_purge = background ? 1 : 0;
  return sa_heap_create(s, &c);
}

// Bytes the cache has given back so far (white box: under its lock).
uint64_t PurgedBytes(sa_heap_t* h) {
  pthread_mutex_lock(&h->segment_lock);
  uint64_t bytes = h->segment_cache.purged_bytes;
  pthread_mutex_unlock(&h->segment_lock);
  return bytes;
}

// Three large objects, all live at once, then all freed: about 10 MiB for
// the cache.
void FreeSome(sa_heap_t* h) {
  std::vector<void*> live;
  for (size_t size : {3 * kMiB, 7 * kMiB, 300 * size_t{1024}}) {
    void* p = sa_malloc(h, size);
    ASSERT_NE(p, nullptr);
    memset(p, 1, size);
    live.push_back(p);
  }
  for (void* p : live) sa_free(h, p);
}

TEST(Purge, AnIdleHeapGivesItsCacheBack) {
  for (const char* s : {"segregated", "first_fit", "thread_cache+buddy"}) {
    sa_heap_t* h = Create(s, 50, true);
    ASSERT_NE(h, nullptr);
    sa_stats_t before;
    sa_heap_stats(h, &before);
    FreeSome(h);
    // (the purger may have started giving it back already)
    EXPECT_TRUE(WaitForEmptyCache(h)) << s << ": still " << CacheBytes(h) << " bytes cached";
    EXPECT_GT(PurgedBytes(h), 10 * kMiB) << s << ": nothing was cached";
    sa_stats_t after;
    sa_heap_stats(h, &after);
    EXPECT_EQ(after.mapped_bytes, before.mapped_bytes) << s;
    EXPECT_EQ(sa_check(h), 0u) << s;
    // And again, after the purger took the heap off its list.
    FreeSome(h);
    EXPECT_TRUE(WaitForEmptyCache(h)) << s;
    EXPECT_EQ(sa_check(h), 0u) << s;
    sa_heap_destroy(h);
  }
}

TEST(Purge, OffLeavesTheDecayToTheHeapsCalls) {
  sa_heap_t* h = Create("segregated", 200, false);
  ASSERT_NE(h, nullptr);
  FreeSome(h);
  const uint64_t cached = CacheBytes(h);
  ASSERT_GT(cached, 10 * kMiB);
  usleep(600 * 1000);  // 3 periods: no call, no purger, so nothing can go
  EXPECT_EQ(CacheBytes(h), cached);
  // The next call that touches the cache decays it.
  void* p = sa_malloc(h, 200 * 1024);
  ASSERT_NE(p, nullptr);
  EXPECT_LT(CacheBytes(h), 4 * kMiB);
  sa_free(h, p);
  EXPECT_EQ(sa_check(h), 0u);
  sa_heap_destroy(h);
}

// Heaps created, filled, freed and destroyed on several threads while the
// purger visits them (tsan: no race; every build: no use after destroy).
TEST(Purge, HeapsComeAndGoWhileItRuns) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; t++)
    threads.emplace_back([t] {
      for (int i = 0; i < 30; i++) {
        sa_heap_t* h = Create(t == 0 ? "segregated" : t == 1 ? "buddy" : "thread_cache+first_fit",
                              i % 3, true);
        ASSERT_NE(h, nullptr);
        FreeSome(h);
        if (i % 2) usleep(1000);
        EXPECT_EQ(sa_check(h), 0u);
        sa_heap_destroy(h);
      }
    });
  for (auto& t : threads) t.join();
  sa_heap_t* h = Create("segregated", 10, true);
  FreeSome(h);
  EXPECT_TRUE(WaitForEmptyCache(h));
  sa_heap_destroy(h);
}

// A child forked while the purger runs has none (threads do not survive a
// fork) and gets one once it caches something; the parent's goes on.
TEST(Purge, AForkedChildGetsAPurgerOfItsOwn) {
#ifdef __SANITIZE_THREAD__
  GTEST_SKIP() << "tsan starts no thread in the child of a multi-threaded fork";
#endif
  sa_heap_t* h = Create("segregated", 30, true);
  ASSERT_NE(h, nullptr);
  FreeSome(h);  // starts the purger
  ASSERT_TRUE(WaitForEmptyCache(h));
  void* keep = sa_malloc(h, 5 * kMiB);
  ASSERT_NE(keep, nullptr);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    sa_free(h, keep);  // the child's copy of the heap caches it
    int ok = CacheBytes(h) > 0 && WaitForEmptyCache(h) && sa_check(h) == 0;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  sa_free(h, keep);
  EXPECT_TRUE(WaitForEmptyCache(h));
  EXPECT_EQ(sa_check(h), 0u);
  sa_heap_destroy(h);
}

}  // namespace

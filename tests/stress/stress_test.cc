// Multi-threaded stress over every registered strategy, through the sa_ API:
// more threads than cores doing random malloc/free/realloc with content
// checks; producer/consumer with every free on another thread; thousands of
// short threads (some never allocate). After all threads join, sa_check is
// clean and the heap's live bytes equal exactly what the test still holds.
#include <string.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "stratalloc/stratalloc.h"

namespace {

// Content: every byte derived from a tag, so a block overwritten by another
// thread (or handed out twice) is noticed.
void Fill(void* p, size_t n, uint64_t tag) {
  unsigned char* b = static_cast<unsigned char*>(p);
  for (size_t i = 0; i < n; i++) b[i] = static_cast<unsigned char>((tag * 131 + i * 7) >> 3);
}

bool Verify(const void* p, size_t n, uint64_t tag) {
  const unsigned char* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i++)
    if (b[i] != static_cast<unsigned char>((tag * 131 + i * 7) >> 3)) return false;
  return true;
}

struct Held {
  void* p;
  size_t n;
  uint64_t tag;
};

std::string ParamName(const testing::TestParamInfo<const sa_strategy_t*>& info) {
  std::string name = sa_strategy_name(info.param);
  for (char& c : name)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

// Sizes: mostly small, some medium, a few above the mmap threshold.
size_t PickSize(std::mt19937_64& rng, size_t threshold) {
  uint64_t r = rng();
  switch (r % 64) {
    case 0: return threshold + 1 + (r >> 8) % threshold;
    case 1: case 2: case 3: return 1 + (r >> 8) % 40000;
    default: return 1 + (r >> 8) % 600;
  }
}

class StressTest : public testing::TestWithParam<const sa_strategy_t*> {
 protected:
  void SetUp() override {
    sa_config_default(&cfg_);
    heap_ = sa_heap_create(GetParam(), &cfg_);
    ASSERT_NE(heap_, nullptr);
  }
  void TearDown() override {
    if (heap_ != nullptr) sa_heap_destroy(heap_);
  }
  // After every thread joined: check clean, live bytes and blocks are what
  // `held` holds, contents intact; then frees them and checks again.
  void ExpectHeld(std::vector<Held>& held, const char* phase) {
    SCOPED_TRACE(phase);
    EXPECT_EQ(sa_check(heap_), 0u);
    size_t bytes = 0;
    for (const Held& h : held) {
      ASSERT_TRUE(Verify(h.p, h.n, h.tag)) << "held block " << h.p << " overwritten";
      bytes += sa_usable_size(heap_, h.p);
    }
    sa_stats_t st;
    sa_heap_stats(heap_, &st);
    EXPECT_EQ(st.current_blocks, held.size());
    EXPECT_EQ(st.current_allocated_bytes, bytes);
    EXPECT_EQ(st.total_allocations - st.total_frees, st.current_blocks);
    EXPECT_GE(st.peak_allocated_bytes, st.current_allocated_bytes);
    sa_heap_info_t info;
    sa_heap_info(heap_, &info);
    EXPECT_EQ(info.used_blocks, held.size());
    EXPECT_EQ(info.used_bytes, bytes);
    for (const Held& h : held) sa_free(heap_, h.p);
    held.clear();
    sa_heap_stats(heap_, &st);
    EXPECT_EQ(st.current_blocks, 0u);
    EXPECT_EQ(st.current_allocated_bytes, 0u);
    EXPECT_EQ(sa_check(heap_), 0u);
  }

  sa_config_t cfg_;
  sa_heap_t* heap_ = nullptr;
};

// N > cores threads, each a table of slots: malloc, free, realloc at random,
// every block checked before it is freed or grown. Each thread leaves a few
// blocks behind for the main thread.
TEST_P(StressTest, RandomMallocFreeReallocOnManyThreads) {
  const int kThreads = 8, kOps = 30000, kSlots = 200;
  std::vector<std::vector<Held>> left(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  const size_t T = cfg_.mmap_threshold;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([this, t, T, &left, &failures] {
      std::mt19937_64 rng(0xabc0 + t);
      std::vector<Held> slot(kSlots, Held{nullptr, 0, 0});
      uint64_t serial = static_cast<uint64_t>(t) << 40;
      for (int op = 0; op < kOps; op++) {
        Held& s = slot[rng() % kSlots];
        if (s.p != nullptr && !Verify(s.p, s.n, s.tag)) failures++;
        size_t n = PickSize(rng, T);
        switch (rng() % 4) {
          case 0: {  // realloc keeps the prefix
            void* q = sa_realloc(heap_, s.p, n);
            if (q == nullptr) {
              failures++;
              continue;
            }
            size_t keep = s.p != nullptr ? std::min(s.n, n) : 0;
            if (keep > 0 && !Verify(q, keep, s.tag)) failures++;
            s.p = q;
            break;
          }
          case 1:
            sa_free(heap_, s.p);
            s.p = nullptr;
            continue;
          default:
            sa_free(heap_, s.p);
            s.p = sa_malloc(heap_, n);
            if (s.p == nullptr) {
              failures++;
              continue;
            }
        }
        if (sa_usable_size(heap_, s.p) < n) failures++;
        s.n = n;
        s.tag = ++serial;
        Fill(s.p, n, s.tag);
      }
      for (int i = 0; i < kSlots; i++) {
        if (slot[i].p == nullptr) continue;
        if (!Verify(slot[i].p, slot[i].n, slot[i].tag)) failures++;
        if (i % 10 == 0) left[t].push_back(slot[i]);
        else sa_free(heap_, slot[i].p);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::vector<Held> held;
  for (auto& v : left) held.insert(held.end(), v.begin(), v.end());
  ExpectHeld(held, "after random threads");
}

// Producers allocate and fill; consumers verify and free: every free is on
// another thread than its malloc. Some blocks stay with the main thread.
TEST_P(StressTest, ProducerConsumerFreesOnAnotherThread) {
  const int kPairs = 3, kItems = 40000;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Held> queue;
  int producers_left = kPairs;
  std::atomic<int> failures{0};
  std::vector<Held> kept;
  std::mutex kept_mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < kPairs; t++) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(77 + t);
      std::vector<Held> batch;
      for (int i = 0; i < kItems; i++) {
        size_t n = PickSize(rng, cfg_.mmap_threshold);
        void* p = sa_malloc(heap_, n);
        if (p == nullptr) {
          failures++;
          continue;
        }
        uint64_t tag = (static_cast<uint64_t>(t) << 32) | static_cast<uint64_t>(i);
        Fill(p, n, tag);
        batch.push_back(Held{p, n, tag});
        if (batch.size() == 64 || i + 1 == kItems) {
          std::lock_guard<std::mutex> lock(mu);
          queue.insert(queue.end(), batch.begin(), batch.end());
          batch.clear();
          cv.notify_one();
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      producers_left--;
      cv.notify_all();
    });
  }
  for (int t = 0; t < kPairs; t++) {
    threads.emplace_back([&] {
      size_t consumed = 0;
      for (;;) {
        std::vector<Held> work;
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return !queue.empty() || producers_left == 0; });
          if (queue.empty()) return;
          size_t take = std::min<size_t>(queue.size(), 64);
          work.assign(queue.begin(), queue.begin() + static_cast<long>(take));
          queue.erase(queue.begin(), queue.begin() + static_cast<long>(take));
        }
        for (const Held& h : work) {
          if (!Verify(h.p, h.n, h.tag)) failures++;
          if (++consumed % 997 == 0) {
            std::lock_guard<std::mutex> lock(kept_mu);
            kept.push_back(h);
          } else {
            sa_free(heap_, h.p);
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(queue.empty());
  ExpectHeld(kept, "after producer/consumer");
}

// Thousands of short threads, a few at a time: each allocates and frees a
// little (every third one nothing at all), and hands one block to the main
// thread, which frees some of them while threads come and go. Memory cached
// by a thread that exits must go back to the back-end.
TEST_P(StressTest, ThousandsOfShortThreads) {
  const int kThreads = 2000, kConcurrent = 6;
  std::mutex mu;
  std::vector<Held> handed;
  std::atomic<int> failures{0};
  for (int base = 0; base < kThreads; base += kConcurrent) {
    std::vector<std::thread> threads;
    for (int t = base; t < base + kConcurrent && t < kThreads; t++) {
      threads.emplace_back([&, t] {
        if (t % 3 == 0) return;  // never allocates
        std::mt19937_64 rng(t);
        void* local[32];
        size_t len[32];
        for (int i = 0; i < 32; i++) {
          len[i] = 1 + rng() % 2000;
          local[i] = sa_malloc(heap_, len[i]);
          if (local[i] == nullptr) {
            failures++;
            return;
          }
          Fill(local[i], len[i], static_cast<uint64_t>(t * 64 + i));
        }
        for (int i = 1; i < 32; i++) {
          if (!Verify(local[i], len[i], static_cast<uint64_t>(t * 64 + i))) failures++;
          sa_free(heap_, local[i]);
        }
        std::lock_guard<std::mutex> lock(mu);
        handed.push_back(Held{local[0], len[0], static_cast<uint64_t>(t * 64)});
      });
    }
    for (auto& th : threads) th.join();
    // The main thread frees some handed-over blocks (cross-thread frees of
    // blocks whose thread is gone).
    std::lock_guard<std::mutex> lock(mu);
    while (handed.size() > 100) {
      Held h = handed.back();
      handed.pop_back();
      if (!Verify(h.p, h.n, h.tag)) failures++;
      sa_free(heap_, h.p);
    }
  }
  EXPECT_EQ(failures.load(), 0);
  sa_stats_t st;
  sa_heap_stats(heap_, &st);
  // Every exited thread's cache went back: nothing is cached but what the
  // main thread's own cache holds, and the mapping stays bounded.
  EXPECT_LT(st.mapped_bytes, size_t{64} << 20);
  ExpectHeld(handed, "after thread churn");
}

INSTANTIATE_TEST_SUITE_P(Registry, StressTest,
                         testing::ValuesIn(sa_registry, sa_registry + sa_registry_count()),
                         ParamName);

}  // namespace

// Writes after free, adversarially: garbage over the first 16..32 bytes of
// freed blocks of every size range of first_fit and buddy (their free-list
// links, first_fit's footers of its smallest blocks and the header after
// them), then more mallocs, reallocs and frees. Each scenario runs in a
// forked child, which either gets to the end with every pointer it was given
// a valid block (inside one of this heap's segments, as sa_segment_of says,
// overlapping no other live block, writable) or dies with the "corrupted
// free list / block header / block footer" report. A SIGSEGV, a hang, a bad
// pointer or any other end fails the test.
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "stratalloc/stratalloc.h"
#include "stratalloc/strategy.h"
#include "strategies/buddy/buddy.h"

extern "C" const sa_strategy_t sa_first_fit;

namespace {

struct Scenario {
  const sa_strategy_t* strategy;
  size_t lo, hi;     // request sizes
  bool deferred;     // first_fit: enable_aggressive_coalescing:0
  size_t write_len;  // garbage bytes written from the start of a freed block (0: none)
  bool one;          // one freed block written per round (else a quarter of them)
  unsigned seed;
};

enum : int { kClean = 0, kOutside = 3, kOverlap = 4, kNoMemory = 5 };

[[noreturn]] void Fail(int code, const char* what, const void* p) {
  fprintf(stderr, "scenario: %s %p\n", what, p);
  _exit(code);
}

// The child: never returns.
[[noreturn]] void Run(const Scenario& sc) {
  alarm(30);
  sa_config_t cfg;
  sa_config_default(&cfg);
  cfg.heap_extension_size = 256 * 1024;    // several chunks: links across them
  cfg.retain_empty_chunks = size_t{1} << 20;  // freed memory stays mapped to write into
  if (sc.deferred) cfg.enable_aggressive_coalescing = 0;
  sa_heap_t* h = sa_heap_create(sc.strategy, &cfg);
  if (h == nullptr) Fail(kNoMemory, "heap", nullptr);
  std::mt19937_64 rng(sc.seed);
  std::map<uintptr_t, size_t> live;  // payload -> usable bytes
  auto size = [&] { return sc.lo + rng() % (sc.hi - sc.lo + 1); };
  auto admit = [&](void* p) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    const sa_segment_t* seg = sa_segment_of(p);
    if (seg == nullptr || seg->heap != h) Fail(kOutside, "pointer outside the heap's segments", p);
    const size_t u = sa_usable_size(h, p);
    if (a < reinterpret_cast<uintptr_t>(seg) + SA_SEGMENT_HEADER_SIZE ||
        a + u > reinterpret_cast<uintptr_t>(seg) + seg->size)
      Fail(kOutside, "block overruns its segment", p);
    auto it = live.lower_bound(a);
    if (it != live.end() && it->first < a + u) Fail(kOverlap, "block overlaps a live block", p);
    if (it != live.begin() && std::prev(it)->first + std::prev(it)->second > a)
      Fail(kOverlap, "block overlaps a live block", p);
    memset(p, 0x5a, u);
    live[a] = u;
  };
  auto malloc_one = [&] {
    void* p = sa_malloc(h, size());
    if (p == nullptr) Fail(kNoMemory, "malloc failed", nullptr);
    admit(p);
  };
  auto pick = [&] {
    auto it = live.begin();
    std::advance(it, static_cast<long>(rng() % live.size()));
    return it;
  };
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < 150; i++) malloc_one();
    std::vector<uintptr_t> freed;
    for (auto it = live.begin(); it != live.end();) {
      if (rng() % 2) {
        sa_free(h, reinterpret_cast<void*>(it->first));
        freed.push_back(it->first);
        it = live.erase(it);
      } else {
        ++it;
      }
    }
    // The writes after free: every freed block is still free memory here
    // (nothing was allocated since), merged into a neighbour or not.
    const size_t chosen = freed.empty() ? 0 : rng() % freed.size();
    for (size_t k = 0; k < freed.size(); k++) {
      const uintptr_t f = freed[k];
      if (sc.one ? k != chosen : rng() % 4 != 0) continue;
      unsigned char garbage[32];
      switch (rng() % 4) {
        case 0:
          for (unsigned char& g : garbage) g = static_cast<unsigned char>(rng());
          break;
        case 1:
          memset(garbage, 0, sizeof garbage);
          break;
        case 2:
          memset(garbage, 0xff, sizeof garbage);
          break;
        default: {  // plausible pointers: other freed blocks, live blocks, off by a little
          for (size_t w = 0; w < 4; w++) {
            uintptr_t v = freed[rng() % freed.size()];
            if (!live.empty() && rng() % 2) v = pick()->first;
            v += (rng() % 5) * 8 - 16;
            memcpy(garbage + 8 * w, &v, 8);
          }
        }
      }
      memcpy(reinterpret_cast<void*>(f), garbage, sc.write_len);
    }
    for (int i = 0; i < 300; i++) {
      unsigned op = rng() % 10;
      if (op < 6 || live.empty()) {
        malloc_one();
      } else if (op < 9) {
        auto it = pick();
        void* p = reinterpret_cast<void*>(it->first);
        live.erase(it);
        sa_free(h, p);
      } else {
        auto it = pick();
        void* p = reinterpret_cast<void*>(it->first);
        live.erase(it);
        void* q = sa_realloc(h, p, size());
        if (q == nullptr) Fail(kNoMemory, "realloc failed", p);
        admit(q);
      }
    }
  }
  if (sa_check(h) != 0) fprintf(stderr, "scenario: sa_check found damage (reported above)\n");
  fprintf(stderr, "scenario ok\n");
  _exit(kClean);
}

struct Outcome {
  bool clean = false, reported = false;
  std::string err;
  int status = 0;
};

Outcome Fork(const Scenario& sc) {
  int fds[2];
  Outcome out;
  if (pipe(fds) != 0) return out;
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 2);
    Run(sc);
  }
  close(fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.err.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  waitpid(pid, &out.status, 0);
  const std::string name = sa_strategy_name(sc.strategy);
  static const std::regex report(
      "stratalloc: corrupted (free list|block header|block footer) at 0x[0-9a-f]+ \\(([a-z_]+)\\)");
  std::smatch m;
  out.clean = WIFEXITED(out.status) && WEXITSTATUS(out.status) == kClean &&
              out.err.find("scenario ok") != std::string::npos &&
              out.err.find("sa_check found damage") == std::string::npos;
  out.reported = WIFSIGNALED(out.status) && WTERMSIG(out.status) == SIGABRT &&
                 std::regex_search(out.err, m, report) && m[2] == name;
  return out;
}

void RunAll(const sa_strategy_t* strategy, const std::vector<std::pair<size_t, size_t>>& ranges,
            const std::vector<bool>& modes) {
  size_t clean = 0, reported = 0;
  for (auto range : ranges)
    for (bool deferred : modes)
      for (size_t len : {0, 16, 24, 32})
        for (unsigned seed = 1; seed <= 8; seed++) {
          Scenario sc{strategy, range.first, range.second, deferred, len, seed % 2 == 0, seed};
          Outcome o = Fork(sc);
          if (o.clean) clean++;
          if (o.reported) reported++;
          if (len == 0) EXPECT_TRUE(o.clean) << "no write after free, yet:\n" << o.err;
          EXPECT_TRUE(o.clean || o.reported)
              << "sizes " << range.first << ".." << range.second << (deferred ? " deferred" : "")
              << ", " << len << " bytes of garbage, seed " << seed << ": status " << o.status
              << (WIFSIGNALED(o.status) ? " (signal " + std::to_string(WTERMSIG(o.status)) + ")" : "")
              << ", stderr:\n"
              << o.err;
        }
  printf("%s: %zu scenarios ran clean, %zu reported the damage\n", sa_strategy_name(strategy),
         clean, reported);
  EXPECT_GT(reported, 0u) << "the garbage was never noticed";
}

TEST(FreeListIntegrity, FirstFitWritesAfterFreeNeverEscapeTheHeap) {
  RunAll(&sa_first_fit, {{1, 1000}, {1024, 16384}, {16384, 120000}}, {false, true});
}

TEST(FreeListIntegrity, BuddyWritesAfterFreeNeverEscapeTheHeap) {
  RunAll(&sa_buddy, {{1, 256}, {257, 8192}, {8193, 120000}}, {false});
}

}  // namespace

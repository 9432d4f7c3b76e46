// The libc entry points of a strategy linked into the program
// (//strategies/<name>:malloc): every libc name, errno rules, overflow,
// allocation before constructors, at thread exit and after fork, libc
// functions that allocate internally, and the heap's own check at the end.
// GoogleTest itself allocates through this malloc, which is part of the test.
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "stratalloc/stratalloc.h"

extern "C" {
// glibc's internal names, defined by the override as aliases.
void *__libc_malloc(size_t);
void __libc_free(void *);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
}

namespace {

// Sizes read through a volatile so the compiler cannot fold calls away.
size_t Opaque(size_t n) {
  volatile size_t v = n;
  return v;
}

// True if ptr is a used block of the process heap (the walk sees it).
struct FindArg {
  const void *ptr;
  bool found_used;
};

void FindVisitor(void *ptr, size_t size, sa_block_state_t state, void *arg) {
  FindArg *f = static_cast<FindArg *>(arg);
  const char *p = static_cast<const char *>(ptr);
  const char *q = static_cast<const char *>(f->ptr);
  if (state == SA_BLOCK_USED && q >= p && q < p + (size ? size : 1)) f->found_used = true;
}

bool InProcessHeap(const void *ptr) {
  sa_heap_t *heap = sa_process_heap();
  if (heap == nullptr) return false;
  FindArg f = {ptr, false};
  sa_walk(heap, FindVisitor, &f);
  return f.found_used;
}

uint64_t TotalAllocations() {
  sa_stats_t stats;
  memset(&stats, 0, sizeof stats);
  sa_heap_stats(sa_process_heap(), &stats);
  return stats.total_allocations;
}

bool Aligned(const void *p, size_t alignment) {
  return (reinterpret_cast<uintptr_t>(p) & (alignment - 1)) == 0;
}

// ---- before main: a constructor with the first user priority -------------

void *g_early_ptr = nullptr;
size_t g_early_usable = 0;
bool g_early_ran = false;
bool g_early_saw_heap = false;

__attribute__((constructor(101))) void EarlyConstructor() {
  g_early_ran = true;
  g_early_ptr = malloc(100);
  if (g_early_ptr != nullptr) {
    memset(g_early_ptr, 0x5A, 100);
    g_early_usable = malloc_usable_size(g_early_ptr);
  }
  g_early_saw_heap = sa_process_heap() != nullptr;
  // something libc allocates on our behalf before main
  char *dup = strdup("early");
  if (dup == nullptr || strcmp(dup, "early") != 0) abort();
  free(dup);
}

// A later constructor (default priority) sees the early one already done.
bool g_default_ctor_after_early = false;
__attribute__((constructor)) void DefaultConstructor() {
  g_default_ctor_after_early = g_early_ran && g_early_ptr != nullptr;
}

TEST(Override, ConstructorPriority101Allocates) {
  ASSERT_TRUE(g_early_ran);
  ASSERT_NE(g_early_ptr, nullptr);
  EXPECT_TRUE(g_default_ctor_after_early);
  EXPECT_TRUE(g_early_saw_heap);
  EXPECT_GE(g_early_usable, 100u);
  EXPECT_TRUE(InProcessHeap(g_early_ptr));
  const unsigned char *p = static_cast<const unsigned char *>(g_early_ptr);
  for (int i = 0; i < 100; i++) ASSERT_EQ(p[i], 0x5A) << i;
  free(g_early_ptr);
  g_early_ptr = nullptr;
}

// ---- every libc name --------------------------------------------------------

TEST(Override, ProcessHeapIsOurs) {
  ASSERT_NE(sa_process_heap(), nullptr);
  uint64_t before = TotalAllocations();
  void *p = malloc(Opaque(777));
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(InProcessHeap(p));
  EXPECT_GT(TotalAllocations(), before);
  free(p);
  // C++ new goes through malloc too (libstdc++)
  std::string *s = new std::string(1000, 'x');
  EXPECT_TRUE(InProcessHeap(s));
  delete s;
}

TEST(Override, MallocFree) {
  EXPECT_EQ(malloc_usable_size(nullptr), 0u);
  free(nullptr);
  std::vector<void *> ptrs;
  for (size_t n : {0, 1, 15, 16, 17, 100, 1000, 4096, 65536, 200000, 4 << 20}) {
    void *p = malloc(Opaque(n));
    ASSERT_NE(p, nullptr) << n;
    EXPECT_TRUE(Aligned(p, 16)) << n;
    EXPECT_GE(malloc_usable_size(p), n);
    memset(p, 0xCD, malloc_usable_size(p));
    EXPECT_TRUE(InProcessHeap(p)) << n;
    ptrs.push_back(p);
  }
  for (void *p : ptrs) free(p);
}

TEST(Override, Calloc) {
  for (size_t n : {1, 7, 100, 5000, 300000}) {
    // dirty some memory first so that a reused block must be zeroed
    void *d = malloc(Opaque(n * 4));
    ASSERT_NE(d, nullptr);
    memset(d, 0xFF, n * 4);
    free(d);
    unsigned char *p = static_cast<unsigned char *>(calloc(Opaque(n), 4));
    ASSERT_NE(p, nullptr);
    for (size_t i = 0; i < n * 4; i++) ASSERT_EQ(p[i], 0) << "n=" << n << " i=" << i;
    free(p);
  }
  void *z = calloc(Opaque(0), 10);
  free(z);  // NULL or a unique pointer; both fine
}

TEST(Override, Realloc) {
  char *p = static_cast<char *>(realloc(nullptr, Opaque(10)));  // = malloc
  ASSERT_NE(p, nullptr);
  memcpy(p, "0123456789", 10);
  size_t n = 10;
  for (size_t next : {20, 100, 5000, 200000, 3 << 20, 1000, 50, 11}) {
    char *q = static_cast<char *>(realloc(p, Opaque(next)));
    ASSERT_NE(q, nullptr) << next;
    ASSERT_EQ(memcmp(q, "0123456789", 10), 0) << "content lost growing/shrinking to " << next;
    EXPECT_GE(malloc_usable_size(q), next);
    if (next > n) memset(q + 10, 'z', next - 10);
    n = next;
    p = q;
  }
  free(p);
}

TEST(Override, ReallocArray) {
  int *a = static_cast<int *>(reallocarray(nullptr, Opaque(100), sizeof(int)));
  ASSERT_NE(a, nullptr);
  for (int i = 0; i < 100; i++) a[i] = i;
  int *b = static_cast<int *>(reallocarray(a, Opaque(100000), sizeof(int)));
  ASSERT_NE(b, nullptr);
  for (int i = 0; i < 100; i++) ASSERT_EQ(b[i], i);
  errno = 0;
  void *volatile b_copy = b;  // (hides the intended use after a failed reallocarray)
  void *c = reallocarray(b_copy, Opaque(SIZE_MAX / 2), 3);
  EXPECT_EQ(c, nullptr);
  EXPECT_EQ(errno, ENOMEM);
  for (int i = 0; i < 100; i++) ASSERT_EQ(b[i], i) << "failed reallocarray changed the block";
  free(b);
}

TEST(Override, AlignedFamily) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  for (size_t align = 8; align <= (1u << 21); align *= 2) {
    for (size_t n : {1, 100, 5000, 300000}) {
      void *a = memalign(align, Opaque(n));
      ASSERT_NE(a, nullptr) << align << " " << n;
      EXPECT_TRUE(Aligned(a, align)) << align;
      EXPECT_GE(malloc_usable_size(a), n);
      memset(a, 1, n);

      void *b = nullptr;
      if (align >= sizeof(void *)) {
        ASSERT_EQ(posix_memalign(&b, align, Opaque(n)), 0) << align << " " << n;
        EXPECT_TRUE(Aligned(b, align)) << align;
        memset(b, 2, n);
      }
      void *c = aligned_alloc(align, Opaque((n + align - 1) & ~(align - 1)));
      ASSERT_NE(c, nullptr) << align << " " << n;
      EXPECT_TRUE(Aligned(c, align)) << align;
      memset(c, 3, n);
      EXPECT_TRUE(InProcessHeap(a));
      free(a);
      free(b);
      free(c);
    }
  }
  void *v = valloc(Opaque(100));
  ASSERT_NE(v, nullptr);
  EXPECT_TRUE(Aligned(v, page));
  memset(v, 4, 100);
  free(v);
  void *pv = pvalloc(Opaque(page + 1));
  ASSERT_NE(pv, nullptr);
  EXPECT_TRUE(Aligned(pv, page));
  EXPECT_GE(malloc_usable_size(pv), 2 * page);  // rounded up to whole pages
  memset(pv, 5, 2 * page);
  free(pv);

  // invalid alignments
  void *out = reinterpret_cast<void *>(0x1);
  EXPECT_EQ(posix_memalign(&out, Opaque(3), 16), EINVAL);
  EXPECT_EQ(posix_memalign(&out, Opaque(sizeof(void *) / 2), 16), EINVAL);
  EXPECT_EQ(posix_memalign(&out, Opaque(48), 16), EINVAL);
  errno = 0;
  EXPECT_EQ(memalign(Opaque(SIZE_MAX / 2 + 1), 16), nullptr);
  // not a power of two: glibc >= 2.38 fails with EINVAL, older ones round up
  errno = 0;
  void *odd = aligned_alloc(Opaque(24), 48);
  if (odd == nullptr) {
    EXPECT_EQ(errno, EINVAL);
  } else {
    EXPECT_TRUE(Aligned(odd, 8));
    free(odd);
  }
  void *big = nullptr;
  EXPECT_EQ(posix_memalign(&big, 64, Opaque(SIZE_MAX - 10)), ENOMEM);
}

TEST(Override, LibcInternalNames) {
  void *a = __libc_malloc(Opaque(50));
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(InProcessHeap(a));
  a = __libc_realloc(a, Opaque(5000));
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(InProcessHeap(a));
  unsigned char *c = static_cast<unsigned char *>(__libc_calloc(Opaque(10), 10));
  ASSERT_NE(c, nullptr);
  for (int i = 0; i < 100; i++) ASSERT_EQ(c[i], 0);
  void *m = __libc_memalign(256, Opaque(300));
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(Aligned(m, 256));
  free(a);  // mixing the names is fine: one heap
  __libc_free(c);
  __libc_free(m);
}

// ---- errno ----------------------------------------------------------------------

TEST(Override, FreePreservesErrno) {
  std::vector<void *> ptrs;
  for (size_t n : {1, 64, 1000, 100000, 1 << 20, 64 << 20}) ptrs.push_back(malloc(Opaque(n)));
  ptrs.push_back(calloc(1, Opaque(10 << 20)));
  ptrs.push_back(memalign(4096, Opaque(1 << 20)));
  ptrs.push_back(nullptr);
  for (void *p : ptrs) {
    errno = 1234;
    free(p);
    EXPECT_EQ(errno, 1234) << "free(" << p << ") changed errno";
  }
}

TEST(Override, MallocHugeFailsWithENOMEM) {
  errno = 0;
  EXPECT_EQ(malloc(Opaque(SIZE_MAX)), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(malloc(Opaque(SIZE_MAX - 4096)), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(malloc(Opaque(PTRDIFF_MAX) + 1), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  void *p = malloc(Opaque(16));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(realloc(p, Opaque(SIZE_MAX)), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  free(p);  // a failed realloc leaves the block alone
}

TEST(Override, CallocOverflowFailsWithENOMEM) {
  errno = 0;
  EXPECT_EQ(calloc(Opaque(SIZE_MAX / 2), 3), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(calloc(Opaque(1) << 33, Opaque(1) << 33), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(calloc(Opaque(SIZE_MAX), 1), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

// ---- threads ---------------------------------------------------------------------

std::atomic<int> g_key_destructor_runs{0};
std::atomic<int> g_key_destructor_ok{0};

void KeyDestructor(void *value) {
  g_key_destructor_runs++;
  // free the thread's value and allocate more during thread exit
  char *s = static_cast<char *>(value);
  bool ok = strcmp(s, "thread value") == 0;
  free(s);
  char *more = static_cast<char *>(malloc(Opaque(3000)));
  ok = ok && more != nullptr;
  if (more) memset(more, 7, 3000);
  char *dup = strdup("in destructor");
  ok = ok && dup != nullptr;
  free(dup);
  free(more);
  if (ok) g_key_destructor_ok++;
}

std::atomic<int> g_tls_object_destroyed{0};

struct ThreadObject {
  std::vector<std::string> strings;
  char *raw = nullptr;
  ThreadObject() {
    raw = static_cast<char *>(malloc(Opaque(500)));
    for (int i = 0; i < 50; i++) strings.push_back(std::string(100 + i, 'a' + i % 26));
  }
  ~ThreadObject() {
    free(raw);
    strings.clear();
    strings.shrink_to_fit();
    void *p = malloc(Opaque(12345));  // allocation inside a thread_local destructor
    if (p) memset(p, 1, 12345);
    free(p);
    g_tls_object_destroyed++;
  }
};

thread_local ThreadObject t_object;

TEST(Override, ThreadExitAllocations) {
  pthread_key_t key;
  ASSERT_EQ(pthread_key_create(&key, KeyDestructor), 0);
  const int kThreads = 16;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; i++) {
    threads.emplace_back([key] {
      pthread_setspecific(key, strdup("thread value"));
      t_object.strings.push_back("touch");  // constructs the thread_local
      std::vector<void *> v;
      for (int j = 0; j < 1000; j++) v.push_back(malloc(Opaque(j % 700 + 1)));
      for (void *p : v) free(p);
    });
  }
  for (auto &t : threads) t.join();
  EXPECT_EQ(g_key_destructor_runs.load(), kThreads);
  EXPECT_EQ(g_key_destructor_ok.load(), kThreads);
  EXPECT_EQ(g_tls_object_destroyed.load(), kThreads);
  pthread_key_delete(key);
}

TEST(Override, CrossThreadFree) {
  const int kBlocks = 20000;
  std::vector<void *> blocks(kBlocks);
  std::thread producer([&] {
    for (int i = 0; i < kBlocks; i++) {
      blocks[i] = malloc(Opaque(i % 1000 + 1));
      memset(blocks[i], i & 0xFF, i % 1000 + 1);
    }
  });
  producer.join();
  std::vector<std::thread> consumers;
  for (int t = 0; t < 4; t++) {
    consumers.emplace_back([&, t] {
      for (int i = t; i < kBlocks; i += 4) {
        const unsigned char *p = static_cast<const unsigned char *>(blocks[i]);
        if (p[0] != (i & 0xFF) || p[i % 1000] != (i & 0xFF)) abort();
        free(blocks[i]);
      }
    });
  }
  for (auto &t : consumers) t.join();
}

// ---- fork in a multi-threaded program ----------------------------------------

TEST(Override, ForkWithThreadsChildAllocates) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; t++) {
    workers.emplace_back([&stop, t] {
      unsigned x = 12345u + t;
      void *slots[64] = {};
      while (!stop.load(std::memory_order_relaxed)) {
        x = x * 1103515245u + 12345u;
        unsigned i = (x >> 8) % 64;
        free(slots[i]);
        size_t n = (x >> 16) % 16 == 0 ? 200000 : (x >> 16) % 2000 + 1;
        slots[i] = malloc(n);
        if (slots[i]) memset(slots[i], 1, n);
      }
      for (void *p : slots) free(p);
    });
  }
  int failures = 0;
  for (int i = 0; i < 50; i++) {
    fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
      ADD_FAILURE() << "fork: " << strerror(errno);
      break;
    }
    if (pid == 0) {
      alarm(20);  // a deadlocked child dies instead of hanging the test
      int rc = 0;
      std::vector<char *> v;
      for (int j = 0; j < 200; j++) {
        char *p = static_cast<char *>(malloc(Opaque(j * 97 % 5000 + 1)));
        if (p == nullptr) rc = 1;
        else memset(p, j, j * 97 % 5000 + 1);
        v.push_back(p);
      }
      char *big = nullptr;
      if (asprintf(&big, "child %d %0*d", i, 100000, i) < 0) rc = 2;
      for (char *p : v) free(p);
      free(big);
      std::string s(5000, 'c');
      s += std::to_string(i);
      if (sa_check(sa_process_heap()) != 0) rc = 3;
      _exit(rc);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
      ADD_FAILURE() << "waitpid: " << strerror(errno);
      break;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      failures++;
      ADD_FAILURE() << "child " << i << ": "
                    << (WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                            : "exit " + std::to_string(WEXITSTATUS(status)));
    }
    if (failures >= 3) break;
  }
  stop = true;
  for (auto &t : workers) t.join();
}

// ---- libc functions that allocate internally --------------------------------------

TEST(Override, LibcFunctionsThatAllocate) {
  std::string big(1 << 20, 'q');
  char *d = strdup(big.c_str());
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(strlen(d), big.size());
  EXPECT_TRUE(InProcessHeap(d));
  free(d);
  char *nd = strndup(big.c_str(), 1000);
  ASSERT_NE(nd, nullptr);
  EXPECT_EQ(strlen(nd), 1000u);
  free(nd);

  char *s = nullptr;
  ASSERT_EQ(asprintf(&s, "%s-%d-%s", big.c_str(), 42, "end"),
            static_cast<int>(big.size() + 7));
  EXPECT_TRUE(InProcessHeap(s));
  EXPECT_EQ(strcmp(s + big.size(), "-42-end"), 0);
  free(s);

  // printf of big strings through stdio buffers
  FILE *f = tmpfile();
  ASSERT_NE(f, nullptr);
  for (int i = 0; i < 5; i++) ASSERT_GT(fprintf(f, "%s %d\n", big.c_str(), i), 0);
  for (int i = 0; i < 1000; i++) fprintf(f, "short line %d\n", i);
  fprintf(f, "%0*d\n", 300000, 7);
  rewind(f);
  // getline with long lines (its buffer grows by realloc)
  char *line = nullptr;
  size_t cap = 0;
  ssize_t len;
  int lines = 0;
  size_t longest = 0;
  while ((len = getline(&line, &cap, f)) != -1) {
    lines++;
    if (static_cast<size_t>(len) > longest) longest = len;
  }
  EXPECT_EQ(lines, 1006);
  EXPECT_EQ(longest, big.size() + 3);
  free(line);
  fclose(f);

  // open_memstream reallocs as it grows
  char *buf = nullptr;
  size_t size = 0;
  FILE *ms = open_memstream(&buf, &size);
  ASSERT_NE(ms, nullptr);
  for (int i = 0; i < 100000; i++) fprintf(ms, "%d,", i);
  fclose(ms);
  EXPECT_GT(size, 400000u);
  free(buf);

  // qsort of a large array (glibc allocates a merge buffer)
  const size_t n = 1 << 20;
  std::vector<uint32_t> a(n);
  uint32_t x = 1;
  for (auto &e : a) e = x = x * 1664525u + 1013904223u;
  qsort(a.data(), n, sizeof(uint32_t), [](const void *l, const void *r) {
    uint32_t u = *static_cast<const uint32_t *>(l), v = *static_cast<const uint32_t *>(r);
    return u < v ? -1 : u > v;
  });
  for (size_t i = 1; i < n; i++) ASSERT_LE(a[i - 1], a[i]);

  // snprintf into /dev/null-sized and a big printf to a pipe-less sink
  char small[8];
  EXPECT_EQ(snprintf(small, sizeof small, "%s", big.c_str()), static_cast<int>(big.size()));
  FILE *null = fopen("/dev/null", "w");
  ASSERT_NE(null, nullptr);
  EXPECT_EQ(fprintf(null, "%s%s", big.c_str(), big.c_str()), static_cast<int>(2 * big.size()));
  fclose(null);
}

// malloc_trim(3): what the process heap keeps for reuse goes back at once.
// Strategies whose slabs go through the segment cache hold released memory
// after a burst is freed; trim gives it back and says so (1), otherwise 0.
TEST(Override, MallocTrimGivesCachedMemoryBack) {
  sa_heap_t *heap = sa_process_heap();
  ASSERT_NE(heap, nullptr);
  std::vector<void *> blocks;
  for (int i = 0; i < 20000; i++) {
    void *p = malloc(200 + i % 800);
    ASSERT_NE(p, nullptr);
    memset(p, 1, 200);
    blocks.push_back(p);
  }
  for (void *p : blocks) free(p);
  blocks.clear();
  blocks.shrink_to_fit();
  sa_stats_t before, after;
  sa_heap_stats(heap, &before);
  const int trimmed = malloc_trim(0);
  sa_heap_stats(heap, &after);
  EXPECT_EQ(trimmed, before.segment_cache_bytes > 0 ? 1 : 0);
  EXPECT_EQ(after.segment_cache_bytes, 0u);
  EXPECT_LE(after.mapped_bytes + before.segment_cache_bytes, before.mapped_bytes + (1u << 20))
      << "trim did not unmap the cached bytes";
  EXPECT_EQ(sa_check(heap), 0u);
  void *p = malloc(100);  // the heap works on after a trim
  ASSERT_NE(p, nullptr);
  free(p);
}

// ---- last: the process heap passes its own check -------------------------------------

TEST(ZZ_Final, ProcessHeapCheck) {
  sa_heap_t *heap = sa_process_heap();
  ASSERT_NE(heap, nullptr);
  EXPECT_EQ(sa_check(heap), 0u);
  sa_stats_t stats;
  memset(&stats, 0, sizeof stats);
  sa_heap_stats(heap, &stats);
  EXPECT_GT(stats.total_allocations, 0u);
  EXPECT_GE(stats.total_allocations, stats.total_frees);
  EXPECT_GT(stats.mapped_bytes, 0u);
  // the exporters write without trouble (to stderr, the test log)
  EXPECT_EQ(sa_stats_write(heap, SA_FORMAT_TEXT, 2), 0);
}

}  // namespace

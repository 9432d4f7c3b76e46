// The conformance suite: what every registered strategy promises through the
// public sa_ API (libc semantics on a heap instance, introspection, stats,
// exporters, error reporting). Parameterized over sa_registry, so a strategy
// gets the whole suite by being registered in strategies/variants.bzl.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "stratalloc/stratalloc.h"

namespace {

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

std::string StrategyName(const sa_strategy_t* s) { return sa_strategy_name(s); }

// Parameter names: alphanumerics and '_' only ("thread_cache+first_fit" ->
// "thread_cache_first_fit").
std::string ParamName(const testing::TestParamInfo<const sa_strategy_t*>& info) {
  std::string name = sa_strategy_name(info.param);
  for (char& c : name)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

// Escapes a literal for a POSIX extended regex (GoogleTest on Linux).
std::string RegexEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (strchr(".[]{}()\\*+?^$|", c) != nullptr) out += '\\';
    out += c;
  }
  return out;
}

bool IsAligned(const void* p, size_t alignment) {
  return (reinterpret_cast<uintptr_t>(p) & (alignment - 1)) == 0;
}

struct Block {
  uintptr_t addr;
  size_t size;
  sa_block_state_t state;
};

std::vector<Block> Walk(sa_heap_t* heap) {
  std::vector<Block> blocks;
  blocks.reserve(1024);
  sa_walk(
      heap,
      [](void* ptr, size_t size, sa_block_state_t state, void* arg) {
        static_cast<std::vector<Block>*>(arg)->push_back(
            Block{reinterpret_cast<uintptr_t>(ptr), size, state});
      },
      &blocks);
  return blocks;
}

struct WalkSummary {
  size_t used_blocks = 0, used_bytes = 0, free_blocks = 0, free_bytes = 0, largest_free = 0;
};

WalkSummary Summarize(const std::vector<Block>& blocks) {
  WalkSummary s;
  for (const Block& b : blocks) {
    if (b.state == SA_BLOCK_USED) {
      s.used_blocks++;
      s.used_bytes += b.size;
    } else {
      s.free_blocks++;
      s.free_bytes += b.size;
      s.largest_free = std::max(s.largest_free, b.size);
    }
  }
  return s;
}

// sa_check is clean, and the counters agree with what a walk sees.
void ExpectConsistent(sa_heap_t* heap, const char* phase) {
  SCOPED_TRACE(phase);
  EXPECT_EQ(sa_check(heap), 0u) << "sa_check reported failures (see stderr)";
  std::vector<Block> blocks = Walk(heap);
  WalkSummary w = Summarize(blocks);
  sa_stats_t st;
  memset(&st, 0, sizeof st);
  sa_heap_stats(heap, &st);
  EXPECT_EQ(w.used_blocks, st.current_blocks);
  EXPECT_EQ(w.used_bytes, st.current_allocated_bytes);
  EXPECT_EQ(w.free_bytes, st.free_bytes);
  EXPECT_EQ(w.largest_free, st.largest_free_bytes);
  EXPECT_GE(st.peak_allocated_bytes, st.current_allocated_bytes);
  EXPECT_GE(st.peak_mapped_bytes, st.mapped_bytes);
  EXPECT_GE(st.total_mapped_bytes, st.peak_mapped_bytes);
  EXPECT_GE(st.total_allocations, st.total_frees);
  EXPECT_EQ(st.total_allocations - st.total_frees, st.current_blocks);
  EXPECT_LE(st.current_large_bytes, st.current_allocated_bytes);

  sa_heap_info_t info;
  memset(&info, 0, sizeof info);
  sa_heap_info(heap, &info);
  EXPECT_EQ(info.used_blocks, w.used_blocks);
  EXPECT_EQ(info.used_bytes, w.used_bytes);
  EXPECT_EQ(info.free_blocks, w.free_blocks);
  EXPECT_EQ(info.free_bytes, w.free_bytes);
  EXPECT_EQ(info.largest_free_block, w.largest_free);
  if (w.free_bytes > 0) {
    double frag = 100.0 * static_cast<double>(w.free_bytes - w.largest_free) /
                  static_cast<double>(w.free_bytes);
    EXPECT_NEAR(info.external_fragmentation_pct, frag, 1e-6);
  }

  // Blocks never overlap.
  std::sort(blocks.begin(), blocks.end(),
            [](const Block& a, const Block& b) { return a.addr < b.addr; });
  for (size_t i = 1; i < blocks.size(); i++) {
    ASSERT_LE(blocks[i - 1].addr + blocks[i - 1].size, blocks[i].addr)
        << "walk reports overlapping blocks at index " << i;
  }
}

// What VmSize may grow by that is not the allocator's: ThreadSanitizer maps
// its metadata for new memory and new locks as the program runs (680 kB
// across one heap's create+use+destroy, in any strategy); a heap that kept
// its mappings would keep tens of MB.
#if defined(__SANITIZE_THREAD__)
constexpr long kRuntimeGrowthKb = 2048;
#else
constexpr long kRuntimeGrowthKb = 0;
#endif

// Reads VmSize (kB) from /proc/self/status without allocating.
long VmSizeKb() {
  char buf[8192];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  const char* p = strstr(buf, "VmSize:");
  if (p == nullptr) return -1;
  return strtol(p + 7, nullptr, 10);
}

std::string TempPath(const std::string& leaf) {
  const char* dir = getenv("TEST_TMPDIR");
  std::string d = dir != nullptr ? dir : "/tmp";
  return d + "/" + leaf + "." + std::to_string(getpid());
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  lseek(fd, 0, SEEK_SET);
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Runs writer(fd) on a fresh temporary file; returns what it wrote.
template <typename F>
std::string CaptureFd(const std::string& leaf, F writer, int* rc) {
  std::string path = TempPath(leaf);
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    ADD_FAILURE() << "cannot open " << path << ": " << strerror(errno);
    return "";
  }
  *rc = writer(fd);
  std::string text = ReadAll(fd);
  close(fd);
  unlink(path.c_str());
  return text;
}

// ---- a tiny JSON validator: syntax, and every "key": scalar pair -----------

class Json {
 public:
  explicit Json(const std::string& s) : s_(s) {}
  // True if the text is exactly one JSON object (with surrounding space).
  bool ParseObjectDocument() {
    Skip();
    if (Peek() != '{') return Fail("document is not an object");
    if (!Value("")) return false;
    Skip();
    if (pos_ != s_.size()) return Fail("trailing characters");
    return true;
  }
  const std::string& error() const { return error_; }
  // Every key seen at any depth -> its scalar value text (strings unquoted);
  // "{" / "[" for containers.
  const std::multimap<std::string, std::string>& pairs() const { return pairs_; }

 private:
  char Peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void Skip() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' ||
                                s_[pos_] == '\r'))
      pos_++;
  }
  bool Fail(const std::string& why) {
    if (error_.empty()) error_ = why + " at offset " + std::to_string(pos_);
    return false;
  }
  bool String(std::string* out) {
    if (Peek() != '"') return Fail("expected string");
    pos_++;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_];
      if (static_cast<unsigned char>(c) < 0x20) return Fail("control character in string");
      if (c == '\\') {
        pos_++;
        if (pos_ >= s_.size()) return Fail("bad escape");
        char e = s_[pos_];
        if (e == 'u') {
          for (int i = 0; i < 4; i++) {
            pos_++;
            if (pos_ >= s_.size() || !isxdigit(static_cast<unsigned char>(s_[pos_])))
              return Fail("bad \\u escape");
          }
          c = '?';
        } else if (strchr("\"\\/bfnrt", e) != nullptr) {
          c = e;
        } else {
          return Fail("bad escape");
        }
      }
      out->push_back(c);
      pos_++;
    }
    if (Peek() != '"') return Fail("unterminated string");
    pos_++;
    return true;
  }
  bool Number(std::string* out) {
    size_t start = pos_;
    if (Peek() == '-') pos_++;
    if (!isdigit(static_cast<unsigned char>(Peek()))) return Fail("bad number");
    if (Peek() == '0') {
      pos_++;
    } else {
      while (isdigit(static_cast<unsigned char>(Peek()))) pos_++;
    }
    if (Peek() == '.') {
      pos_++;
      if (!isdigit(static_cast<unsigned char>(Peek()))) return Fail("bad fraction");
      while (isdigit(static_cast<unsigned char>(Peek()))) pos_++;
    }
    if (Peek() == 'e' || Peek() == 'E') {
      pos_++;
      if (Peek() == '+' || Peek() == '-') pos_++;
      if (!isdigit(static_cast<unsigned char>(Peek()))) return Fail("bad exponent");
      while (isdigit(static_cast<unsigned char>(Peek()))) pos_++;
    }
    *out = s_.substr(start, pos_ - start);
    return true;
  }
  bool Literal(const char* word) {
    size_t n = strlen(word);
    if (s_.compare(pos_, n, word) != 0) return Fail("bad literal");
    pos_ += n;
    return true;
  }
  bool Value(const std::string& key) {
    if (++depth_ > 64) return Fail("too deep");
    Skip();
    std::string scalar;
    char c = Peek();
    bool ok;
    if (c == '{') {
      scalar = "{";
      pos_++;
      Skip();
      ok = true;
      if (Peek() == '}') {
        pos_++;
      } else {
        for (;;) {
          Skip();
          std::string k;
          if (!String(&k)) return false;
          Skip();
          if (Peek() != ':') return Fail("expected ':'");
          pos_++;
          if (!Value(k)) return false;
          Skip();
          if (Peek() == ',') {
            pos_++;
            continue;
          }
          if (Peek() == '}') {
            pos_++;
            break;
          }
          return Fail("expected ',' or '}'");
        }
      }
    } else if (c == '[') {
      scalar = "[";
      pos_++;
      Skip();
      ok = true;
      if (Peek() == ']') {
        pos_++;
      } else {
        for (;;) {
          if (!Value("")) return false;
          Skip();
          if (Peek() == ',') {
            pos_++;
            continue;
          }
          if (Peek() == ']') {
            pos_++;
            break;
          }
          return Fail("expected ',' or ']'");
        }
      }
    } else if (c == '"') {
      ok = String(&scalar);
    } else if (c == 't') {
      ok = Literal("true");
      scalar = "true";
    } else if (c == 'f') {
      ok = Literal("false");
      scalar = "false";
    } else if (c == 'n') {
      ok = Literal("null");
      scalar = "null";
    } else {
      ok = Number(&scalar);
    }
    depth_--;
    if (ok && !key.empty()) pairs_.emplace(key, scalar);
    return ok;
  }

  const std::string& s_;
  size_t pos_ = 0;
  int depth_ = 0;
  std::string error_;
  std::multimap<std::string, std::string> pairs_;
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Fills [p, p+n) with a pattern derived from tag; Verify checks it.
void Fill(void* p, size_t n, uint64_t tag) {
  unsigned char* b = static_cast<unsigned char*>(p);
  memset(b, static_cast<int>((tag * 131 + 7) & 0xff), n);
  if (n >= sizeof tag) memcpy(b, &tag, sizeof tag);
}

bool Verify(const void* p, size_t n, uint64_t tag) {
  // A thread-safe static: every byte value repeated over 4 KiB.
  using Row = unsigned char[4096];
  static const Row* const ref = [] {
    Row* r = new Row[256];
    for (int v = 0; v < 256; v++) memset(r[v], v, sizeof r[v]);
    return r;
  }();
  const unsigned char* b = static_cast<const unsigned char*>(p);
  size_t off = 0;
  if (n >= sizeof tag) {
    if (memcmp(b, &tag, sizeof tag) != 0) return false;
    off = sizeof tag;
  }
  const unsigned char* r = ref[(tag * 131 + 7) & 0xff];
  while (off < n) {
    size_t chunk = std::min(n - off, sizeof ref[0]);
    if (memcmp(b + off, r, chunk) != 0) return false;
    off += chunk;
  }
  return true;
}

bool AllZero(const void* p, size_t n) {
  static const unsigned char zero[4096] = {0};
  const unsigned char* b = static_cast<const unsigned char*>(p);
  for (size_t off = 0; off < n; off += sizeof zero) {
    size_t chunk = std::min(n - off, sizeof zero);
    if (memcmp(b + off, zero, chunk) != 0) return false;
  }
  return true;
}

void FillBytes(void* p, size_t n, uint32_t seed) {
  unsigned char* b = static_cast<unsigned char*>(p);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    b[i] = static_cast<unsigned char>(x >> 16);
  }
}

bool CheckBytes(const void* p, size_t n, uint32_t seed) {
  const unsigned char* b = static_cast<const unsigned char*>(p);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    if (b[i] != static_cast<unsigned char>(x >> 16)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Fixture: a fresh heap of the strategy under test, destroyed after the test.
// ---------------------------------------------------------------------------

class ConformanceTest : public testing::TestWithParam<const sa_strategy_t*> {
 protected:
  void SetUp() override {
    strategy_ = GetParam();
    name_ = StrategyName(strategy_);
    sa_config_default(&cfg_);
  }
  void TearDown() override {
    if (heap_ != nullptr) sa_heap_destroy(heap_);
    heap_ = nullptr;
  }
  sa_heap_t* Create() {
    heap_ = sa_heap_create(strategy_, &cfg_);
    EXPECT_NE(heap_, nullptr) << "sa_heap_create failed: " << strerror(errno);
    return heap_;
  }
  sa_stats_t Stats() {
    sa_stats_t st;
    memset(&st, 0, sizeof st);
    sa_heap_stats(heap_, &st);
    return st;
  }

  const sa_strategy_t* strategy_ = nullptr;
  std::string name_;
  sa_config_t cfg_;
  sa_heap_t* heap_ = nullptr;
};

// ---------------------------------------------------------------------------
// Registry and heap identity
// ---------------------------------------------------------------------------

TEST(Registry, ListsEveryStrategyOnceAndFindsThem) {
  size_t n = sa_registry_count();
  ASSERT_GE(n, 1u);
  EXPECT_EQ(sa_registry[n], nullptr);
  std::set<std::string> names;
  for (size_t i = 0; i < n; i++) {
    ASSERT_NE(sa_registry[i], nullptr);
    std::string name = sa_strategy_name(sa_registry[i]);
    EXPECT_FALSE(name.empty());
    EXPECT_TRUE(names.insert(name).second) << "duplicate strategy " << name;
    EXPECT_EQ(sa_strategy_find(name.c_str()), sa_registry[i]);
  }
  EXPECT_NE(sa_strategy_find("first_fit"), nullptr);
  EXPECT_EQ(sa_strategy_find("no_such_strategy"), nullptr);
  EXPECT_EQ(sa_strategy_find(nullptr), nullptr);
}

TEST_P(ConformanceTest, CreateReportsStrategyAndConfig) {
  cfg_.mmap_threshold = 64 * 1024;
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(sa_heap_strategy(h), strategy_);
  ASSERT_NE(sa_heap_config(h), nullptr);
  EXPECT_EQ(sa_heap_config(h)->mmap_threshold, 64u * 1024);
  sa_stats_t st = Stats();
  ASSERT_NE(st.strategy, nullptr);
  EXPECT_EQ(std::string(st.strategy), name_);
  EXPECT_EQ(st.current_blocks, 0u);
  EXPECT_EQ(st.current_allocated_bytes, 0u);
  ExpectConsistent(h, "fresh heap");
}

// ---------------------------------------------------------------------------
// malloc, alignment, usable size
// ---------------------------------------------------------------------------

TEST_P(ConformanceTest, MallocZeroGivesUniqueFreeablePointers) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  std::vector<void*> ptrs;
  for (int i = 0; i < 64; i++) {
    void* p = sa_malloc(h, 0);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(IsAligned(p, 16)) << p;
    ptrs.push_back(p);
  }
  std::set<void*> unique(ptrs.begin(), ptrs.end());
  EXPECT_EQ(unique.size(), ptrs.size()) << "malloc(0) returned the same pointer twice";
  ExpectConsistent(h, "64 live malloc(0)");
  for (void* p : ptrs) sa_free(h, p);
  EXPECT_EQ(Stats().current_allocated_bytes, 0u);
  ExpectConsistent(h, "after freeing malloc(0) blocks");
}

TEST_P(ConformanceTest, EveryPointerIs16ByteAlignedAndUsableSizeIsWritable) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  std::vector<size_t> sizes;
  for (size_t s = 0; s <= 1024; s++) sizes.push_back(s);
  for (size_t s = 1025; s <= 300000; s += s / 8) sizes.push_back(s);
  sizes.push_back(cfg_.mmap_threshold - 1);
  sizes.push_back(cfg_.mmap_threshold);
  sizes.push_back(cfg_.mmap_threshold + 1);
  sizes.push_back(300000);

  std::vector<std::pair<void*, size_t>> live;
  for (size_t i = 0; i < sizes.size(); i++) {
    size_t n = sizes[i];
    void* p = sa_malloc(h, n);
    ASSERT_NE(p, nullptr) << "malloc(" << n << ")";
    EXPECT_TRUE(IsAligned(p, 16)) << "malloc(" << n << ") = " << p;
    size_t usable = sa_usable_size(h, p);
    EXPECT_GE(usable, n) << "malloc(" << n << ")";
    Fill(p, usable, i);
    live.emplace_back(p, usable);
  }
  ExpectConsistent(h, "all sizes live");
  for (size_t i = 0; i < live.size(); i++) {
    ASSERT_TRUE(Verify(live[i].first, live[i].second, i)) << "block " << i << " overwritten";
    EXPECT_EQ(sa_usable_size(h, live[i].first), live[i].second);
  }
  for (auto& b : live) sa_free(h, b.first);
  EXPECT_EQ(Stats().current_allocated_bytes, 0u);
  EXPECT_EQ(Stats().current_blocks, 0u);
  ExpectConsistent(h, "all freed");
}

TEST_P(ConformanceTest, UsableSizeMatchesStats) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  size_t sum = 0;
  std::vector<void*> ptrs;
  const size_t sizes[] = {1, 7, 16, 17, 100, 1000, 4095, 65536, cfg_.mmap_threshold + 1};
  for (size_t n : sizes) {
    void* p = sa_malloc(h, n);
    ASSERT_NE(p, nullptr);
    sum += sa_usable_size(h, p);
    ptrs.push_back(p);
  }
  sa_stats_t st = Stats();
  EXPECT_EQ(st.current_allocated_bytes, sum) << "byte counts are usable bytes";
  EXPECT_EQ(st.current_blocks, ptrs.size());
  EXPECT_GE(st.large_allocations, 1u);
  EXPECT_GE(st.current_large_bytes, cfg_.mmap_threshold + 1);
  for (void* p : ptrs) sa_free(h, p);
  st = Stats();
  EXPECT_EQ(st.current_allocated_bytes, 0u);
  EXPECT_EQ(st.current_large_bytes, 0u);
  EXPECT_GE(st.peak_allocated_bytes, sum);
  ExpectConsistent(h, "after free");
}

TEST_P(ConformanceTest, MallocImpossibleSizesFailWithEnomem) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const size_t sizes[] = {SIZE_MAX,
                          SIZE_MAX - 16,
                          SIZE_MAX - 4096,
                          static_cast<size_t>(PTRDIFF_MAX) + 1,
                          static_cast<size_t>(PTRDIFF_MAX),
                          size_t{1} << 62,
                          size_t{1} << 48};
  for (size_t n : sizes) {
    errno = 0;
    void* p = sa_malloc(h, n);
    EXPECT_EQ(p, nullptr) << "malloc(" << n << ")";
    EXPECT_EQ(errno, ENOMEM) << "malloc(" << n << ")";
  }
  ExpectConsistent(h, "after failed mallocs");
  // The heap still works.
  void* p = sa_malloc(h, 100);
  ASSERT_NE(p, nullptr);
  sa_free(h, p);
}

// ---------------------------------------------------------------------------
// Aligned allocation
// ---------------------------------------------------------------------------

TEST_P(ConformanceTest, MemalignAndAlignedAllocHonourEveryPowerOfTwo) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const size_t sizes[] = {1, 24, 100, 1000, 5000, 70000, 200000};
  std::vector<std::pair<void*, size_t>> live;
  uint64_t tag = 0;
  for (size_t align = 1; align <= (size_t{1} << 20); align <<= 1) {
    for (size_t n : sizes) {
      void* p = sa_memalign(h, align, n);
      ASSERT_NE(p, nullptr) << "memalign(" << align << ", " << n << ")";
      EXPECT_TRUE(IsAligned(p, std::max<size_t>(align, 16)))
          << "memalign(" << align << ", " << n << ") = " << p;
      size_t usable = sa_usable_size(h, p);
      EXPECT_GE(usable, n);
      Fill(p, usable, ++tag);
      live.emplace_back(p, usable);

      void* q = sa_aligned_alloc(h, align, n);
      ASSERT_NE(q, nullptr) << "aligned_alloc(" << align << ", " << n << ")";
      EXPECT_TRUE(IsAligned(q, std::max<size_t>(align, 16)))
          << "aligned_alloc(" << align << ", " << n << ") = " << q;
      usable = sa_usable_size(h, q);
      EXPECT_GE(usable, n);
      Fill(q, usable, ++tag);
      live.emplace_back(q, usable);
    }
  }
  ExpectConsistent(h, "aligned blocks live");
  tag = 0;
  for (auto& b : live) EXPECT_TRUE(Verify(b.first, b.second, ++tag)) << "block " << tag;
  for (auto& b : live) sa_free(h, b.first);
  EXPECT_EQ(Stats().current_allocated_bytes, 0u);
  ExpectConsistent(h, "aligned blocks freed");
}

TEST_P(ConformanceTest, ReallocOfAlignedBlocksKeepsContents) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const size_t T = cfg_.mmap_threshold;
  uint32_t seed = 0;
  for (size_t align : {size_t{64}, size_t{4096}, size_t{1} << 16, size_t{1} << 20}) {
    for (size_t n : {size_t{100}, size_t{5000}, T / 2, T + 100}) {
      for (size_t m : {size_t{40}, n / 2 + 1, n * 3, T * 3}) {
        seed++;
        void* p = sa_memalign(h, align, n);
        ASSERT_NE(p, nullptr);
        ASSERT_TRUE(IsAligned(p, align));
        FillBytes(p, n, seed);
        void* q = sa_realloc(h, p, m);
        ASSERT_NE(q, nullptr) << "realloc(memalign(" << align << ", " << n << "), " << m << ")";
        EXPECT_TRUE(IsAligned(q, 16));
        EXPECT_GE(sa_usable_size(h, q), m);
        EXPECT_TRUE(CheckBytes(q, std::min(n, m), seed))
            << "realloc(memalign(" << align << ", " << n << "), " << m << ") lost contents";
        memset(q, 0xee, m);
        sa_free(h, q);
      }
    }
  }
  EXPECT_EQ(Stats().current_blocks, 0u);
  ExpectConsistent(h, "after aligned reallocs");
}

TEST_P(ConformanceTest, PosixMemalignChecksItsArguments) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  void* const sentinel = reinterpret_cast<void*>(0x1234);
  const size_t bad[] = {0, 1, 2, 3, 4, 12, 24, 48, 100, 4095, (size_t{1} << 20) + 8};
  for (size_t a : bad) {
    void* out = sentinel;
    EXPECT_EQ(sa_posix_memalign(h, &out, a, 64), EINVAL) << "alignment " << a;
    EXPECT_EQ(out, sentinel) << "alignment " << a << ": *out changed on error";
  }
  for (size_t a = sizeof(void*); a <= (size_t{1} << 20); a <<= 1) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{64}, size_t{5000}, size_t{150000}}) {
      void* out = sentinel;
      ASSERT_EQ(sa_posix_memalign(h, &out, a, n), 0) << "alignment " << a << " size " << n;
      ASSERT_NE(out, nullptr);
      ASSERT_NE(out, sentinel);
      EXPECT_TRUE(IsAligned(out, a));
      memset(out, 0x5a, n);
      sa_free(h, out);
    }
  }
  void* out = sentinel;
  EXPECT_EQ(sa_posix_memalign(h, &out, 64, SIZE_MAX), ENOMEM);
  EXPECT_EQ(sa_posix_memalign(h, &out, 4096, size_t{1} << 62), ENOMEM);
  ExpectConsistent(h, "after posix_memalign");
}

TEST_P(ConformanceTest, MemalignOfImpossibleSizesFailsWithEnomem) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const size_t aligns[] = {16, 64, 4096, size_t{1} << 20};
  const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 4096, SIZE_MAX - (size_t{1} << 20),
                          static_cast<size_t>(PTRDIFF_MAX) + 1, size_t{1} << 62};
  for (size_t a : aligns) {
    for (size_t n : sizes) {
      errno = 0;
      EXPECT_EQ(sa_memalign(h, a, n), nullptr) << "memalign(" << a << ", " << n << ")";
      EXPECT_EQ(errno, ENOMEM) << "memalign(" << a << ", " << n << ")";
      errno = 0;
      EXPECT_EQ(sa_aligned_alloc(h, a, n), nullptr) << "aligned_alloc(" << a << ", " << n << ")";
      EXPECT_EQ(errno, ENOMEM) << "aligned_alloc(" << a << ", " << n << ")";
    }
  }
  errno = 0;
  EXPECT_EQ(sa_valloc(h, SIZE_MAX), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(sa_pvalloc(h, SIZE_MAX), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  ExpectConsistent(h, "after failed memaligns");
}

TEST_P(ConformanceTest, VallocAndPvallocArePageAligned) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  for (size_t n : {size_t{1}, size_t{100}, page, page + 1, size_t{200000}}) {
    void* p = sa_valloc(h, n);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(IsAligned(p, page)) << "valloc(" << n << ") = " << p;
    EXPECT_GE(sa_usable_size(h, p), n);
    memset(p, 1, n);
    void* q = sa_pvalloc(h, n);
    ASSERT_NE(q, nullptr);
    EXPECT_TRUE(IsAligned(q, page)) << "pvalloc(" << n << ") = " << q;
    size_t rounded = (n + page - 1) / page * page;
    EXPECT_GE(sa_usable_size(h, q), rounded) << "pvalloc rounds the size up to pages";
    memset(q, 2, rounded);
    sa_free(h, p);
    sa_free(h, q);
  }
  ExpectConsistent(h, "after valloc/pvalloc");
}

// ---------------------------------------------------------------------------
// calloc
// ---------------------------------------------------------------------------

TEST_P(ConformanceTest, CallocZeroesFreshAndRecycledMemory) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  std::vector<size_t> sizes = {1, 8, 16, 24, 32, 100, 257, 1000, 4096, 10000, 65536,
                               cfg_.mmap_threshold - 8, cfg_.mmap_threshold + 1,
                               2 * cfg_.mmap_threshold + 123};
  for (int round = 0; round < 3; round++) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::vector<void*> ptrs;
    // Dirty memory of every size, then free it.
    for (size_t n : sizes) {
      for (int k = 0; k < 4; k++) {
        void* p = sa_malloc(h, n);
        ASSERT_NE(p, nullptr);
        memset(p, 0xAB, sa_usable_size(h, p));
        ptrs.push_back(p);
      }
    }
    for (void* p : ptrs) sa_free(h, p);
    ptrs.clear();
    // calloc the same sizes: must be zero however it was recycled.
    for (size_t n : sizes) {
      for (int k = 0; k < 4; k++) {
        void* p = (k & 1) ? sa_calloc(h, 1, n) : sa_calloc(h, n, 1);
        ASSERT_NE(p, nullptr) << "calloc of " << n;
        EXPECT_TRUE(IsAligned(p, 16));
        EXPECT_TRUE(AllZero(p, n)) << "calloc(" << n << ") not zeroed, round";
        ptrs.push_back(p);
      }
    }
    // count * size with count > 1.
    void* p = sa_calloc(h, 1000, 24);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(AllZero(p, 24000));
    ptrs.push_back(p);
    ExpectConsistent(h, "callocs live");
    for (void* q : ptrs) {
      memset(q, 0xAB, sa_usable_size(h, q));
      sa_free(h, q);
    }
  }
  // calloc(0, n) and calloc(n, 0) behave like malloc(0).
  void* a = sa_calloc(h, 0, 16);
  void* b = sa_calloc(h, 16, 0);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  sa_free(h, a);
  sa_free(h, b);
  EXPECT_EQ(Stats().current_allocated_bytes, 0u);
  ExpectConsistent(h, "after callocs");
}

TEST_P(ConformanceTest, CallocOverflowFailsWithEnomem) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const std::pair<size_t, size_t> cases[] = {
      {SIZE_MAX / 2 + 1, 2},
      {2, SIZE_MAX / 2 + 1},
      {SIZE_MAX, SIZE_MAX},
      {size_t{1} << 32, size_t{1} << 32},
      {SIZE_MAX, 2},
      {(SIZE_MAX / 16) + 1, 16},
      {size_t{1} << 62, 1},  // no overflow, but impossible
  };
  for (auto& c : cases) {
    errno = 0;
    EXPECT_EQ(sa_calloc(h, c.first, c.second), nullptr)
        << "calloc(" << c.first << ", " << c.second << ")";
    EXPECT_EQ(errno, ENOMEM) << "calloc(" << c.first << ", " << c.second << ")";
  }
  EXPECT_EQ(Stats().current_blocks, 0u);
  ExpectConsistent(h, "after failed callocs");
}

// ---------------------------------------------------------------------------
// realloc
// ---------------------------------------------------------------------------

TEST_P(ConformanceTest, ReallocKeepsContentsAcrossSizeClasses) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const size_t T = cfg_.mmap_threshold;
  // A chain of sizes: small->small (grow, shrink), small->large, large->larger,
  // large->smaller large, large->small, and back up.
  const size_t chain[] = {100, 200, 50, 1000, 40, T + 100, 4 * T, 2 * T + 7, 100, 3 * T, 8,
                          64,  T - 16, T + 1, 16};
  for (uint32_t seed = 1; seed <= 4; seed++) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    // Seeds 3 and 4 allocate a guard before each step, so a block cannot
    // simply grow into free space behind it and has to move.
    const bool guarded = seed > 2;
    std::vector<void*> guards;
    size_t cur = chain[0];
    void* p = sa_malloc(h, cur);
    ASSERT_NE(p, nullptr);
    FillBytes(p, cur, seed);
    for (size_t i = 1; i < sizeof chain / sizeof chain[0]; i++) {
      size_t next = chain[i];
      if (guarded) {
        guards.push_back(sa_malloc(h, 24));
        ASSERT_NE(guards.back(), nullptr);
        FillBytes(guards.back(), 24, 1000 + static_cast<uint32_t>(guards.size()));
      }
      void* q = sa_realloc(h, p, next);
      ASSERT_NE(q, nullptr) << "realloc " << cur << " -> " << next;
      EXPECT_TRUE(IsAligned(q, 16));
      EXPECT_GE(sa_usable_size(h, q), next);
      ASSERT_TRUE(CheckBytes(q, std::min(cur, next), seed))
          << "contents lost by realloc " << cur << " -> " << next;
      FillBytes(q, next, seed);
      p = q;
      cur = next;
    }
    // A neighbour allocated in between must not be disturbed by realloc.
    void* other = sa_malloc(h, 300);
    ASSERT_NE(other, nullptr);
    FillBytes(other, 300, 99);
    void* q = sa_realloc(h, p, 5000);
    ASSERT_NE(q, nullptr);
    EXPECT_TRUE(CheckBytes(q, cur, seed));
    EXPECT_TRUE(CheckBytes(other, 300, 99));
    for (size_t g = 0; g < guards.size(); g++) {
      EXPECT_TRUE(CheckBytes(guards[g], 24, 1000 + static_cast<uint32_t>(g + 1)))
          << "realloc overwrote a neighbour";
      sa_free(h, guards[g]);
    }
    sa_free(h, other);
    sa_free(h, q);
    ExpectConsistent(h, "after realloc chain");
  }
  EXPECT_EQ(Stats().current_allocated_bytes, 0u);
}

TEST_P(ConformanceTest, ReallocNullIsMallocAndZeroIsFree) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  void* p = sa_realloc(h, nullptr, 100);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(IsAligned(p, 16));
  EXPECT_GE(sa_usable_size(h, p), 100u);
  EXPECT_EQ(Stats().current_blocks, 1u);
  memset(p, 1, 100);

  void* big = sa_realloc(h, nullptr, cfg_.mmap_threshold * 2);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(Stats().current_blocks, 2u);

  errno = 0;
  EXPECT_EQ(sa_realloc(h, p, 0), nullptr) << "realloc(p, 0) frees p and returns NULL";
  EXPECT_EQ(Stats().current_blocks, 1u);
  EXPECT_EQ(sa_realloc(h, big, 0), nullptr);
  sa_stats_t st = Stats();
  EXPECT_EQ(st.current_blocks, 0u);
  EXPECT_EQ(st.current_allocated_bytes, 0u);
  ExpectConsistent(h, "after realloc to 0");

  // realloc(NULL, 0) behaves as malloc(0).
  void* z = sa_realloc(h, nullptr, 0);
  ASSERT_NE(z, nullptr);
  sa_free(h, z);
  ExpectConsistent(h, "after realloc(NULL, 0)");
}

TEST_P(ConformanceTest, FailedReallocLeavesTheBlockIntact) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  for (size_t n : {size_t{100}, size_t{5000}, cfg_.mmap_threshold + 5000}) {
    void* p = sa_malloc(h, n);
    ASSERT_NE(p, nullptr);
    FillBytes(p, n, static_cast<uint32_t>(n));
    size_t usable = sa_usable_size(h, p);
    for (size_t huge : {SIZE_MAX, SIZE_MAX - 16, static_cast<size_t>(PTRDIFF_MAX) + 1,
                        size_t{1} << 62}) {
      errno = 0;
      EXPECT_EQ(sa_realloc(h, p, huge), nullptr) << "realloc(" << n << " -> " << huge << ")";
      EXPECT_EQ(errno, ENOMEM);
      EXPECT_TRUE(CheckBytes(p, n, static_cast<uint32_t>(n))) << "old block changed";
      EXPECT_EQ(sa_usable_size(h, p), usable);
    }
    ExpectConsistent(h, "after failed realloc");
    void* q = sa_realloc(h, p, n * 2);  // still a live, reallocatable block
    ASSERT_NE(q, nullptr);
    EXPECT_TRUE(CheckBytes(q, n, static_cast<uint32_t>(n)));
    sa_free(h, q);
  }
  EXPECT_EQ(Stats().current_blocks, 0u);
  ExpectConsistent(h, "end");
}

// ---------------------------------------------------------------------------
// Many live blocks: no overlap, contents preserved, stats agree with a walk
// ---------------------------------------------------------------------------

TEST_P(ConformanceTest, HundredThousandLiveBlocksNeverOverlap) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const size_t kBlocks = 100000;
  std::mt19937_64 rng(0x5eed1234u);
  std::uniform_int_distribution<size_t> small(1, 4096);
  struct Live {
    void* p;
    size_t usable;
  };
  std::vector<Live> live(kBlocks);
  size_t requested_large = 0;
  for (size_t i = 0; i < kBlocks; i++) {
    size_t n = small(rng);
    if (i % 10007 == 0) {  // a few above the mmap threshold
      n = cfg_.mmap_threshold + 1 + (rng() % (3 * cfg_.mmap_threshold));
      requested_large++;
    }
    void* p = sa_malloc(h, n);
    ASSERT_NE(p, nullptr) << "malloc #" << i << " of " << n;
    ASSERT_TRUE(IsAligned(p, 16));
    size_t usable = sa_usable_size(h, p);
    ASSERT_GE(usable, n);
    Fill(p, usable, i);
    live[i] = Live{p, usable};
  }
  ASSERT_GE(requested_large, 5u);

  auto verify_all = [&](const std::vector<bool>& alive, const char* phase) {
    SCOPED_TRACE(phase);
    std::vector<std::pair<uintptr_t, size_t>> ranges;
    ranges.reserve(kBlocks);
    for (size_t i = 0; i < kBlocks; i++) {
      if (!alive[i]) continue;
      ASSERT_TRUE(Verify(live[i].p, live[i].usable, i)) << "block " << i << " overwritten";
      ranges.emplace_back(reinterpret_cast<uintptr_t>(live[i].p), live[i].usable);
    }
    std::sort(ranges.begin(), ranges.end());
    for (size_t k = 1; k < ranges.size(); k++)
      ASSERT_LE(ranges[k - 1].first + ranges[k - 1].second, ranges[k].first)
          << "live blocks overlap";
  };

  std::vector<bool> alive(kBlocks, true);
  verify_all(alive, "all allocated");
  sa_stats_t st = Stats();
  EXPECT_EQ(st.current_blocks, kBlocks);
  EXPECT_GT(st.mapped_bytes, 0u);
  EXPECT_GE(st.large_allocations, requested_large);
  size_t sum = 0;
  for (auto& l : live) sum += l.usable;
  EXPECT_EQ(st.current_allocated_bytes, sum);
  ExpectConsistent(h, "100k live");

  // Free half in random order.
  std::vector<size_t> order(kBlocks);
  for (size_t i = 0; i < kBlocks; i++) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  for (size_t k = 0; k < kBlocks / 2; k++) {
    size_t i = order[k];
    sa_free(h, live[i].p);
    alive[i] = false;
  }
  verify_all(alive, "half freed");
  EXPECT_EQ(Stats().current_blocks, kBlocks - kBlocks / 2);
  ExpectConsistent(h, "half freed");

  // Reuse the holes, then check again.
  for (size_t k = 0; k < kBlocks / 4; k++) {
    size_t i = order[k];
    size_t n = small(rng);
    void* p = sa_malloc(h, n);
    ASSERT_NE(p, nullptr);
    size_t usable = sa_usable_size(h, p);
    Fill(p, usable, i);
    live[i] = Live{p, usable};
    alive[i] = true;
  }
  verify_all(alive, "holes reused");
  ExpectConsistent(h, "holes reused");

  for (size_t i = 0; i < kBlocks; i++)
    if (alive[i]) sa_free(h, live[i].p);
  st = Stats();
  EXPECT_EQ(st.current_allocated_bytes, 0u);
  EXPECT_EQ(st.current_blocks, 0u);
  EXPECT_EQ(st.current_large_bytes, 0u);
  ExpectConsistent(h, "all freed");
}

// A freed large object's mapping is kept in the heap's segment cache and
// serves the next large request of about its size: no new mapping, and
// calloc still returns zeroes from the dirty span. Off with
// segment_cache_bytes 0: every large free unmaps.
TEST_P(ConformanceTest, FreedLargeObjectsAreReusedAndCallocStillZeroes) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const size_t big = 4 * cfg_.mmap_threshold + 12345;
  unsigned char* p = static_cast<unsigned char*>(sa_malloc(h, big));
  ASSERT_NE(p, nullptr);
  memset(p, 0xee, sa_usable_size(h, p));
  sa_free(h, p);
  const uint64_t total = Stats().total_mapped_bytes;
  const uint64_t cached = Stats().segment_cache_bytes;
  EXPECT_GE(cached, big) << "the freed mapping was not kept";
  unsigned char* z = static_cast<unsigned char*>(sa_calloc(h, 1, big - 4096));
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(Stats().total_mapped_bytes, total) << "a new mapping instead of the cached one";
  EXPECT_GE(sa_usable_size(h, z), big - 4096);
  for (size_t i = 0; i < big - 4096; i++) {
    if (z[i] != 0) {
      ADD_FAILURE() << "calloc byte " << i << " is " << int(z[i]);
      break;
    }
  }
  unsigned char* q = static_cast<unsigned char*>(sa_malloc(h, big));  // cache empty now: fresh
  ASSERT_NE(q, nullptr);
  memset(q, 1, big);
  EXPECT_EQ(sa_check(h), 0u);
  sa_free(h, z);
  sa_free(h, q);
  EXPECT_EQ(Stats().current_large_bytes, 0u);
  EXPECT_EQ(sa_check(h), 0u);
  EXPECT_GT(sa_heap_trim(h), 0u);
  EXPECT_EQ(Stats().segment_cache_bytes, 0u);
}

TEST_P(ConformanceTest, CountersCountEveryCall) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  sa_stats_t before = Stats();
  std::vector<void*> ptrs;
  size_t bytes = 0;
  for (int i = 0; i < 1000; i++) {
    void* p = sa_malloc(h, 1 + i * 3);
    ASSERT_NE(p, nullptr);
    bytes += sa_usable_size(h, p);
    ptrs.push_back(p);
  }
  sa_stats_t mid = Stats();
  EXPECT_EQ(mid.total_allocations - before.total_allocations, 1000u);
  EXPECT_EQ(mid.total_allocated_bytes - before.total_allocated_bytes, bytes);
  EXPECT_EQ(mid.current_allocated_bytes, bytes);
  EXPECT_EQ(mid.peak_allocated_bytes, bytes);
  EXPECT_GT(mid.mapped_bytes, bytes);
  for (int i = 0; i < 600; i++) sa_free(h, ptrs[i]);
  sa_stats_t after = Stats();
  EXPECT_EQ(after.total_frees - before.total_frees, 600u);
  EXPECT_EQ(after.current_blocks, 400u);
  EXPECT_EQ(after.peak_allocated_bytes, bytes);
  EXPECT_GE(after.total_allocations, after.total_frees);
  if (after.total_allocations > 0) {
    EXPECT_NEAR(after.average_allocation_size,
                static_cast<double>(after.total_allocated_bytes) /
                    static_cast<double>(after.total_allocations),
                1e-6);
  }
  ExpectConsistent(h, "after counters");
  for (int i = 600; i < 1000; i++) sa_free(h, ptrs[i]);
  EXPECT_EQ(Stats().current_allocated_bytes, 0u);
}

TEST_P(ConformanceTest, PeakBoundsEveryCurrentSeen) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  // stats.h: the peak is the sum of each part's peak (size classes, large
  // objects, ...): never below any current seen, never above the sum of the
  // totals that were live at some moment.
  void* big = sa_malloc(h, 2 * cfg_.mmap_threshold);
  ASSERT_NE(big, nullptr);
  const uint64_t big_bytes = Stats().current_allocated_bytes;
  EXPECT_GE(Stats().peak_allocated_bytes, big_bytes);
  sa_free(h, big);
  std::vector<void*> ptrs;
  uint64_t small_bytes = 0;
  for (int i = 0; i < 100; i++) {
    ptrs.push_back(sa_malloc(h, 1000));
    ASSERT_NE(ptrs.back(), nullptr);
    small_bytes += sa_usable_size(h, ptrs.back());
  }
  sa_stats_t st = Stats();
  EXPECT_EQ(st.current_allocated_bytes, small_bytes);
  EXPECT_GE(st.peak_allocated_bytes, std::max(big_bytes, small_bytes));
  EXPECT_LE(st.peak_allocated_bytes, big_bytes + small_bytes);
  for (void* p : ptrs) sa_free(h, p);
  // Only small blocks from here: the small part's peak does not move.
  const uint64_t peak = Stats().peak_allocated_bytes;
  for (int i = 0; i < 50; i++) sa_free(h, sa_malloc(h, 1000));
  EXPECT_EQ(Stats().peak_allocated_bytes, peak);
}

TEST_P(ConformanceTest, NullPointersAreNoOps) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  sa_free(h, nullptr);
  EXPECT_EQ(sa_usable_size(h, nullptr), 0u);
  sa_stats_t st = Stats();
  EXPECT_EQ(st.total_frees, 0u);
  EXPECT_EQ(st.current_blocks, 0u);
  ExpectConsistent(h, "after NULL frees");
}

TEST_P(ConformanceTest, MemalignRoundsAnAlignmentUpToAPowerOfTwo) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  // glibc's memalign rounds a non-power-of-two alignment up.
  for (size_t a : {size_t{24}, size_t{48}, size_t{100}, size_t{3000}, size_t{5000}}) {
    size_t pow2 = 1;
    while (pow2 < a) pow2 <<= 1;
    void* p = sa_memalign(h, a, 100);
    ASSERT_NE(p, nullptr) << "memalign(" << a << ")";
    EXPECT_TRUE(IsAligned(p, pow2)) << "memalign(" << a << ") = " << p;
    sa_free(h, p);
  }
  ExpectConsistent(h, "after memalign");
}

// ---------------------------------------------------------------------------
// destroy gives every byte back to the OS
// ---------------------------------------------------------------------------

TEST_P(ConformanceTest, DestroyReturnsEveryMappedByte) {
  // The heap's own mappings: no background purger, a process-wide thread
  // whose stack and sanitizer runtime data come and go with its idle exits
  // (ASan's per-thread data grew VmSize by 244 kB when it started mid-round).
  cfg_.background_purge = 0;
  std::vector<void*> ptrs;
  ptrs.reserve(20000);
  auto use = [&](sa_heap_t* h, sa_stats_t* during, long* vm_during) {
    for (size_t i = 0; i < 20000; i++) {
      size_t n = 1 + (i * 7919) % 3000;
      if (i % 1000 == 0) n = cfg_.mmap_threshold * 2 + i;
      void* p = sa_malloc(h, n);
      if (p == nullptr) return false;
      memset(p, 0x77, n);
      ptrs.push_back(p);
    }
    for (size_t i = 0; i < ptrs.size(); i += 3) sa_free(h, ptrs[i]);  // leave the rest live
    for (int i = 0; i < 50; i++) {
      void* p = sa_memalign(h, size_t{4096} << (i % 6), 1000 + i);
      if (p == nullptr) return false;
    }
    memset(during, 0, sizeof *during);
    sa_heap_stats(h, during);
    *vm_during = VmSizeKb();
    return true;
  };

  // Warm up: the first heap may set up process-wide state (page map, locks).
  {
    sa_heap_t* h = sa_heap_create(strategy_, &cfg_);
    ASSERT_NE(h, nullptr);
    sa_stats_t st;
    long vm;
    ASSERT_TRUE(use(h, &st, &vm));
    sa_heap_destroy(h);
    ptrs.clear();
  }
  for (int round = 0; round < 2; round++) {
    SCOPED_TRACE("round " + std::to_string(round));
    long before = VmSizeKb();
    ASSERT_GT(before, 0);
    sa_heap_t* h = sa_heap_create(strategy_, &cfg_);
    ASSERT_NE(h, nullptr);
    sa_stats_t during;
    long vm_during = 0;
    ASSERT_TRUE(use(h, &during, &vm_during));
    EXPECT_GT(during.mapped_bytes, 0u);
    EXPECT_GT(during.mapped_bytes, during.current_allocated_bytes);
    EXPECT_GE(during.peak_mapped_bytes, during.mapped_bytes);
    EXPECT_GE(static_cast<uint64_t>(vm_during - before) * 1024, during.mapped_bytes / 2)
        << "mapped_bytes is not reflected in the address space";
    sa_heap_destroy(h);
    ptrs.clear();
    long after = VmSizeKb();
    EXPECT_LE(after, before + kRuntimeGrowthKb) << "address space grew by " << (after - before)
                             << " kB across create+use+destroy (mapped during use: "
                             << during.mapped_bytes / 1024 << " kB)";
  }
}

// ---------------------------------------------------------------------------
// Exporters
// ---------------------------------------------------------------------------

class ExportTest : public ConformanceTest {
 protected:
  void Populate() {
    ASSERT_NE(Create(), nullptr);
    for (int i = 0; i < 200; i++) {
      void* p = sa_malloc(heap_, 16 + i * 13);
      ASSERT_NE(p, nullptr);
      ptrs_.push_back(p);
    }
    ptrs_.push_back(sa_malloc(heap_, cfg_.mmap_threshold + 1));
    ASSERT_NE(ptrs_.back(), nullptr);
    for (size_t i = 0; i < ptrs_.size(); i += 4) {
      sa_free(heap_, ptrs_[i]);
      ptrs_[i] = nullptr;
    }
  }
  void TearDown() override {
    for (void* p : ptrs_)
      if (p != nullptr) sa_free(heap_, p);
    ConformanceTest::TearDown();
  }
  std::vector<void*> ptrs_;
};

TEST_P(ExportTest, TextReport) {
  Populate();
  int rc = -2;
  std::string text =
      CaptureFd("stats.txt", [&](int fd) { return sa_stats_write(heap_, SA_FORMAT_TEXT, fd); }, &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_FALSE(text.empty());
  EXPECT_NE(text.find(name_), std::string::npos) << text;
}

TEST_P(ExportTest, JsonIsOneValidObject) {
  Populate();
  sa_stats_t st = Stats();
  int rc = -2;
  std::string text =
      CaptureFd("stats.json", [&](int fd) { return sa_stats_write(heap_, SA_FORMAT_JSON, fd); }, &rc);
  EXPECT_EQ(rc, 0);
  Json json(text);
  ASSERT_TRUE(json.ParseObjectDocument()) << json.error() << "\n" << text;
  // Balanced braces (outside strings the parser already checked this).
  EXPECT_EQ(std::count(text.begin(), text.end(), '{'), std::count(text.begin(), text.end(), '}'));
  const auto& pairs = json.pairs();
  auto strat = pairs.equal_range("strategy");
  bool found = false;
  for (auto it = strat.first; it != strat.second; ++it) found |= it->second == name_;
  EXPECT_TRUE(found) << "no \"strategy\":\"" << name_ << "\" in\n" << text;
  auto cur = pairs.find("current_allocated_bytes");
  ASSERT_NE(cur, pairs.end()) << text;
  EXPECT_EQ(strtod(cur->second.c_str(), nullptr),
            static_cast<double>(st.current_allocated_bytes));
  auto blocks = pairs.find("current_blocks");
  ASSERT_NE(blocks, pairs.end()) << text;
  EXPECT_EQ(strtod(blocks->second.c_str(), nullptr), static_cast<double>(st.current_blocks));
  EXPECT_NE(pairs.find("mapped_bytes"), pairs.end()) << text;
  EXPECT_NE(pairs.find("total_allocations"), pairs.end()) << text;
}

bool ValidMetricName(const std::string& s) {
  if (s.empty() || !(isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_' || s[0] == ':'))
    return false;
  for (char c : s)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':')) return false;
  return true;
}

TEST_P(ExportTest, PrometheusTextExposition) {
  Populate();
  sa_stats_t st = Stats();
  int rc = -2;
  std::string text = CaptureFd(
      "stats.prom", [&](int fd) { return sa_stats_write(heap_, SA_FORMAT_PROMETHEUS, fd); }, &rc);
  EXPECT_EQ(rc, 0);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "the exposition ends with a newline";

  std::map<std::string, std::string> types;  // metric family -> type
  std::set<std::string> helps;
  size_t samples = 0;
  bool saw_current_allocated = false;
  const std::string label = "strategy=\"" + name_ + "\"";
  for (const std::string& line : Lines(text)) {
    if (line.empty()) continue;
    if (line.rfind("# HELP ", 0) == 0) {
      std::string rest = line.substr(7);
      std::string metric = rest.substr(0, rest.find(' '));
      EXPECT_TRUE(ValidMetricName(metric)) << line;
      helps.insert(metric);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::string rest = line.substr(7);
      size_t sp = rest.find(' ');
      ASSERT_NE(sp, std::string::npos) << line;
      std::string metric = rest.substr(0, sp), type = rest.substr(sp + 1);
      EXPECT_TRUE(ValidMetricName(metric)) << line;
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "untyped" ||
                  type == "summary" || type == "histogram")
          << line;
      EXPECT_TRUE(types.emplace(metric, type).second) << "TYPE given twice: " << line;
      if (type == "counter") {
        EXPECT_TRUE(EndsWith(metric, "_total")) << line;
      }
      if (type == "gauge" && metric.find("bytes") != std::string::npos) {
        EXPECT_TRUE(EndsWith(metric, "_bytes")) << line;
      }
      continue;
    }
    if (line[0] == '#') continue;
    // A sample: name{labels} value
    samples++;
    size_t brace = line.find('{');
    size_t sp = line.rfind(' ');
    ASSERT_NE(sp, std::string::npos) << line;
    std::string metric = line.substr(0, std::min(brace, line.find(' ')));
    EXPECT_TRUE(ValidMetricName(metric)) << line;
    EXPECT_NE(line.find(label), std::string::npos) << "sample without " << label << ": " << line;
    std::string value = line.substr(sp + 1);
    char* end = nullptr;
    strtod(value.c_str(), &end);
    EXPECT_TRUE(end != nullptr && *end == '\0' && !value.empty()) << "bad value: " << line;
    EXPECT_TRUE(types.count(metric) == 1) << "sample before/without # TYPE: " << line;
    EXPECT_TRUE(helps.count(metric) == 1) << "sample without # HELP: " << line;
    if (metric.find("current_allocated_bytes") != std::string::npos) {
      saw_current_allocated = true;
      EXPECT_EQ(strtod(value.c_str(), nullptr), static_cast<double>(st.current_allocated_bytes))
          << line;
    }
  }
  EXPECT_GE(samples, 10u);
  EXPECT_FALSE(helps.empty());
  EXPECT_TRUE(saw_current_allocated) << text;
  bool has_counter = false;
  for (auto& t : types) has_counter |= t.second == "counter";
  EXPECT_TRUE(has_counter) << "allocations and frees are counters";
}

TEST_P(ExportTest, JsonOfAnEmptyHeap) {
  ASSERT_NE(Create(), nullptr);
  int rc = -2;
  std::string text =
      CaptureFd("empty.json", [&](int fd) { return sa_stats_write(heap_, SA_FORMAT_JSON, fd); }, &rc);
  EXPECT_EQ(rc, 0);
  Json json(text);
  ASSERT_TRUE(json.ParseObjectDocument()) << json.error() << "\n" << text;
  auto cur = json.pairs().find("current_allocated_bytes");
  ASSERT_NE(cur, json.pairs().end());
  EXPECT_EQ(cur->second, "0");
}

TEST_P(ExportTest, WriteErrorsAreReported) {
  Populate();
  // A descriptor open for reading only: every write fails with EBADF.
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  for (sa_format_t f : {SA_FORMAT_TEXT, SA_FORMAT_JSON, SA_FORMAT_PROMETHEUS}) {
    errno = 0;
    EXPECT_EQ(sa_stats_write(heap_, f, fd), -1) << "format " << f;
    EXPECT_EQ(errno, EBADF) << "format " << f;
  }
  errno = 0;
  EXPECT_EQ(sa_heap_dump(heap_, fd), -1);
  EXPECT_EQ(errno, EBADF);
  close(fd);
}

TEST_P(ExportTest, NegativeDescriptorIsAWriteError) {
  Populate();
  // Nothing can be written to fd -1: reporting success would be a lie.
  for (sa_format_t f : {SA_FORMAT_TEXT, SA_FORMAT_JSON, SA_FORMAT_PROMETHEUS}) {
    errno = 0;
    EXPECT_EQ(sa_stats_write(heap_, f, -1), -1) << "format " << f;
    EXPECT_EQ(errno, EBADF) << "format " << f;
  }
  errno = 0;
  EXPECT_EQ(sa_heap_dump(heap_, -1), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST_P(ExportTest, WritesIntoAPipe) {
  Populate();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  // Small reports fit in the pipe buffer (64 KiB).
  EXPECT_EQ(sa_stats_write(heap_, SA_FORMAT_JSON, fds[1]), 0);
  close(fds[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  Json json(text);
  EXPECT_TRUE(json.ParseObjectDocument()) << json.error() << "\n" << text;
}

TEST_P(ExportTest, HeapDumpListsEveryBlock) {
  Populate();
  std::vector<Block> blocks = Walk(heap_);
  ASSERT_FALSE(blocks.empty());
  int rc = -2;
  std::string text = CaptureFd("dump.txt", [&](int fd) { return sa_heap_dump(heap_, fd); }, &rc);
  EXPECT_EQ(rc, 0);
  std::set<uintptr_t> walked;
  for (const Block& b : blocks) walked.insert(b.addr);
  std::set<uintptr_t> dumped;
  size_t block_lines = 0;
  // One line per block; a header line (naming the heap, say) is allowed.
  for (const std::string& line : Lines(text)) {
    size_t at = line.find("0x");
    if (at == std::string::npos) continue;
    uintptr_t addr = static_cast<uintptr_t>(strtoull(line.c_str() + at, nullptr, 16));
    if (walked.count(addr) == 0) continue;
    block_lines++;
    EXPECT_TRUE(dumped.insert(addr).second) << "block listed twice: " << line;
  }
  EXPECT_EQ(block_lines, blocks.size()) << text.substr(0, 2000);
  EXPECT_EQ(dumped, walked) << "the dump and the walk disagree on block addresses";
}

// ---------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------

TEST_P(ConformanceTest, FourThreadsOnOneHeap) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const int kThreads = 4, kOps = 20000, kSlots = 256;
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  const size_t T = cfg_.mmap_threshold;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([h, t, T, &failures] {
      std::mt19937 rng(1000 + t);
      void* slot[kSlots] = {};
      size_t len[kSlots] = {};
      for (int op = 0; op < kOps; op++) {
        int s = static_cast<int>(rng() % kSlots);
        if (slot[s] != nullptr) {
          if (!Verify(slot[s], len[s], static_cast<uint64_t>(t) << 32 | static_cast<uint64_t>(s)))
            failures[t]++;
          sa_free(h, slot[s]);
          slot[s] = nullptr;
        } else {
          size_t n = 1 + rng() % 2048;
          if (rng() % 1000 == 0) n = T + 1 + rng() % T;
          slot[s] = sa_malloc(h, n);
          if (slot[s] == nullptr) {
            failures[t]++;
            continue;
          }
          len[s] = n;
          Fill(slot[s], n, static_cast<uint64_t>(t) << 32 | static_cast<uint64_t>(s));
        }
      }
      for (int s = 0; s < kSlots; s++) {
        if (slot[s] == nullptr) continue;
        if (!Verify(slot[s], len[s], static_cast<uint64_t>(t) << 32 | static_cast<uint64_t>(s)))
          failures[t]++;
        sa_free(h, slot[s]);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; t++) EXPECT_EQ(failures[t], 0) << "thread " << t;
  EXPECT_EQ(sa_check(h), 0u);
  sa_stats_t st = Stats();
  EXPECT_EQ(st.current_blocks, 0u);
  EXPECT_EQ(st.current_allocated_bytes, 0u);
  EXPECT_EQ(st.total_allocations, st.total_frees);
  ExpectConsistent(h, "after threads");
}

TEST_P(ConformanceTest, FreesFromOtherThreads) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const int kThreads = 4, kPerThread = 5000;
  std::vector<std::vector<void*>> blocks(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([h, t, &blocks] {
      for (int i = 0; i < kPerThread; i++) {
        size_t n = 8 + static_cast<size_t>((i * 37 + t) % 700);
        void* p = sa_malloc(h, n);
        if (p != nullptr) Fill(p, n, static_cast<uint64_t>(i));
        blocks[t].push_back(p);
      }
    });
  }
  for (auto& th : threads) th.join();
  threads.clear();
  for (int t = 0; t < kThreads; t++)
    for (void* p : blocks[t]) ASSERT_NE(p, nullptr);
  ExpectConsistent(h, "allocated by 4 threads");
  // Each thread frees the blocks another thread allocated.
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([h, t, &blocks] {
      for (void* p : blocks[(t + 1) % kThreads]) sa_free(h, p);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(sa_check(h), 0u);
  sa_stats_t st = Stats();
  EXPECT_EQ(st.current_blocks, 0u);
  EXPECT_EQ(st.current_allocated_bytes, 0u);
  ExpectConsistent(h, "freed by other threads");
}

// Every entry point at once, with introspection running beside the
// allocating threads (the walk, stats and check take the heap's locks).
TEST_P(ConformanceTest, FourThreadsMixedCallsWithIntrospection) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const int kThreads = 4, kOps = 10000, kSlots = 128;
  const size_t T = cfg_.mmap_threshold;
  std::vector<int> failures(kThreads + 1, 0);
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([h, t, T, &failures] {
      std::mt19937 rng(77 + t);
      void* slot[kSlots] = {};
      size_t len[kSlots] = {};
      auto tag = [t](int s) { return static_cast<uint64_t>(t) << 32 | static_cast<uint64_t>(s); };
      for (int op = 0; op < kOps; op++) {
        int s = static_cast<int>(rng() % kSlots);
        size_t n = 1 + rng() % 3000;
        if (rng() % 500 == 0) n = T + rng() % T;
        if (slot[s] != nullptr && !Verify(slot[s], len[s], tag(s))) failures[t]++;
        switch (rng() % 6) {
          case 0:
          case 1:
            sa_free(h, slot[s]);
            slot[s] = sa_malloc(h, n);
            break;
          case 2: {
            size_t keep = slot[s] != nullptr ? std::min(len[s], n) : 0;
            void* q = sa_realloc(h, slot[s], n);
            if (q == nullptr) {  // the old block stays valid
              failures[t]++;
              continue;
            }
            slot[s] = q;
            if (keep >= 8 && !Verify(q, keep, tag(s))) failures[t]++;
            break;
          }
          case 3:
            sa_free(h, slot[s]);
            slot[s] = sa_calloc(h, 1, n);
            if (slot[s] != nullptr && !AllZero(slot[s], n)) failures[t]++;
            break;
          case 4:
            sa_free(h, slot[s]);
            slot[s] = sa_memalign(h, size_t{32} << (rng() % 8), n);
            break;
          default:
            sa_free(h, slot[s]);
            slot[s] = nullptr;
            continue;
        }
        if (slot[s] == nullptr) {
          failures[t]++;
          continue;
        }
        if (sa_usable_size(h, slot[s]) < n) failures[t]++;
        len[s] = n;
        Fill(slot[s], n, tag(s));
      }
      for (int s = 0; s < kSlots; s++) sa_free(h, slot[s]);
    });
  }
  std::thread observer([h, &done, &failures] {
    while (!done.load()) {
      sa_stats_t st;
      sa_heap_stats(h, &st);
      if (st.peak_allocated_bytes < st.current_allocated_bytes) failures[kThreads]++;
      sa_heap_info_t info;
      sa_heap_info(h, &info);
      size_t blocks = 0;
      sa_walk(
          h, [](void*, size_t, sa_block_state_t, void* arg) { ++*static_cast<size_t*>(arg); },
          &blocks);
      std::this_thread::yield();
    }
  });
  for (auto& th : threads) th.join();
  done.store(true);
  observer.join();
  for (int t = 0; t <= kThreads; t++) EXPECT_EQ(failures[t], 0) << "thread " << t;
  sa_stats_t st = Stats();
  EXPECT_EQ(st.current_blocks, 0u);
  EXPECT_EQ(st.current_allocated_bytes, 0u);
  ExpectConsistent(h, "after mixed threads");
}

// ---------------------------------------------------------------------------
// Errors: double and invalid frees abort with a message
// ---------------------------------------------------------------------------

class ConformanceDeathTest : public ConformanceTest {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    ConformanceTest::SetUp();
  }
  std::string Re(const std::string& what) {
    return "stratalloc: " + what + " free of 0x[0-9a-f]+ \\(" + RegexEscape(name_) + "\\)";
  }
};

TEST_P(ConformanceDeathTest, DoubleFreeOfASmallBlockAborts) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  void* a = sa_malloc(h, 64);
  void* p = sa_malloc(h, 64);
  void* b = sa_malloc(h, 64);
  ASSERT_TRUE(a && p && b);
  sa_free(h, p);
  EXPECT_DEATH(sa_free(h, p), Re("double"));
  sa_free(h, a);
  sa_free(h, b);
}

TEST_P(ConformanceDeathTest, DoubleFreeAfterCoalescingAborts) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  void* a = sa_malloc(h, 200);
  void* p = sa_malloc(h, 200);
  void* b = sa_malloc(h, 200);
  void* guard = sa_malloc(h, 200);
  ASSERT_TRUE(a && p && b && guard);
  sa_free(h, a);
  sa_free(h, b);
  sa_free(h, p);  // may merge with both neighbours
  EXPECT_DEATH(sa_free(h, p), "stratalloc: (double|invalid) free of 0x[0-9a-f]+ \\(" +
                                  RegexEscape(name_) + "\\)");
  sa_free(h, guard);
}

TEST_P(ConformanceDeathTest, DoubleFreeOfALargeBlockAborts) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  void* p = sa_malloc(h, cfg_.mmap_threshold * 2);
  ASSERT_NE(p, nullptr);
  sa_free(h, p);
  EXPECT_DEATH(sa_free(h, p), "stratalloc: (double|invalid) free of 0x[0-9a-f]+");
}

TEST_P(ConformanceDeathTest, FreeOfAStackAddressAborts) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  alignas(16) char local[64];
  memset(local, 0, sizeof local);
  EXPECT_DEATH(sa_free(h, local), Re("invalid"));
}

TEST_P(ConformanceDeathTest, FreeOfAnInteriorPointerAborts) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  char* p = static_cast<char*>(sa_malloc(h, 100));
  ASSERT_NE(p, nullptr);
  EXPECT_DEATH(sa_free(h, p + 8), Re("invalid"));
  char* big = static_cast<char*>(sa_malloc(h, cfg_.mmap_threshold * 2));
  ASSERT_NE(big, nullptr);
  EXPECT_DEATH(sa_free(h, big + 8), Re("invalid"));
  EXPECT_DEATH(sa_free(h, big + 4096), Re("invalid"));
  sa_free(h, big);
  sa_free(h, p);
}

TEST_P(ConformanceDeathTest, ReallocAndUsableSizeOfBadPointersAbort) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  const std::string any = "stratalloc: [a-z_ ]+ 0x[0-9a-f]+ \\(" + RegexEscape(name_) + "\\)";
  alignas(16) char local[64];
  memset(local, 0, sizeof local);
  EXPECT_DEATH(sa_realloc(h, local, 100), any);
  EXPECT_DEATH(sa_usable_size(h, local), any);
  void* a = sa_malloc(h, 64);
  void* p = sa_malloc(h, 64);
  void* b = sa_malloc(h, 64);
  ASSERT_TRUE(a && p && b);
  sa_free(h, p);
  EXPECT_DEATH(sa_realloc(h, p, 1000), any);
  EXPECT_DEATH(sa_usable_size(h, p), any);
  sa_free(h, a);
  sa_free(h, b);
}

TEST_P(ConformanceDeathTest, FreeOfAnotherHeapsPointerAborts) {
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  sa_heap_t* other = sa_heap_create(strategy_, &cfg_);
  ASSERT_NE(other, nullptr);
  void* p = sa_malloc(other, 100);
  ASSERT_NE(p, nullptr);
  EXPECT_DEATH(sa_free(h, p), Re("invalid"));
  sa_free(other, p);
  sa_heap_destroy(other);
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

TEST(Config, DefaultsMatchTheTable) {
  sa_config_t c;
  memset(&c, 0xff, sizeof c);
  sa_config_default(&c);
  EXPECT_EQ(c.mmap_threshold, 128u * 1024);
  EXPECT_EQ(c.heap_extension_size, 1024u * 1024);
  EXPECT_EQ(c.min_block_size, 32u);
  EXPECT_EQ(c.enable_aggressive_coalescing, 1u);
  EXPECT_EQ(c.enable_thread_cache, 1u);
  EXPECT_EQ(c.cache_fill_threshold, 32u);
  EXPECT_EQ(c.cache_flush_threshold, 64u);
}

TEST(Config, ParseSetsFields) {
  sa_config_t c;
  sa_config_default(&c);
  EXPECT_EQ(sa_config_parse(&c, "mmap_threshold:64k,enable_aggressive_coalescing:0"), 0);
  EXPECT_EQ(c.mmap_threshold, 64u * 1024);
  EXPECT_EQ(c.enable_aggressive_coalescing, 0u);
  EXPECT_EQ(c.heap_extension_size, 1024u * 1024) << "other fields keep their defaults";

  EXPECT_EQ(sa_config_parse(&c, "heap_extension_size:2m,enable_thread_cache:false,"
                                "cache_fill_threshold:7,enable_aggressive_coalescing:true"),
            0);
  EXPECT_EQ(c.heap_extension_size, 2u * 1024 * 1024);
  EXPECT_EQ(c.enable_thread_cache, 0u);
  EXPECT_EQ(c.cache_fill_threshold, 7u);
  EXPECT_EQ(c.enable_aggressive_coalescing, 1u);

  EXPECT_EQ(sa_config_parse(&c, "mmap_threshold:1g"), 0);
  EXPECT_EQ(c.mmap_threshold, size_t{1} << 30);
  EXPECT_EQ(sa_config_parse(&c, "mmap_threshold:65536"), 0);
  EXPECT_EQ(c.mmap_threshold, 65536u);
  EXPECT_EQ(sa_config_parse(&c, ""), 0);
  EXPECT_EQ(c.mmap_threshold, 65536u);

  EXPECT_EQ(sa_config_set(&c, "min_block_size", "64"), 0);
  EXPECT_EQ(c.min_block_size, 64u);
}

TEST(Config, BadKeyIsNamedAndSkipped) {
  sa_config_t c;
  sa_config_default(&c);
  testing::internal::CaptureStderr();
  int bad = sa_config_parse(&c, "bogus:1");
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(bad, 0);
  EXPECT_NE(err.find("bogus"), std::string::npos) << "stderr: " << err;
  sa_config_t d;
  sa_config_default(&d);
  EXPECT_EQ(memcmp(&c, &d, sizeof c), 0) << "a bad key changed the config";
}

TEST(Config, BadValueIsNamedAndDefaultKept) {
  sa_config_t c;
  sa_config_default(&c);
  testing::internal::CaptureStderr();
  int bad = sa_config_parse(&c, "mmap_threshold:abc");
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(bad, 0);
  EXPECT_NE(err.find("abc"), std::string::npos) << "stderr: " << err;
  EXPECT_EQ(c.mmap_threshold, 128u * 1024);

  // Out of the table's range, trailing garbage, bad booleans.
  for (const char* text : {"mmap_threshold:1", "mmap_threshold:12q", "mmap_threshold:",
                           "enable_aggressive_coalescing:2", "enable_thread_cache:maybe",
                           "heap_extension_size:-5"}) {
    sa_config_t e;
    sa_config_default(&e);
    testing::internal::CaptureStderr();
    int n = sa_config_parse(&e, text);
    std::string msg = testing::internal::GetCapturedStderr();
    EXPECT_EQ(n, 1) << text;
    EXPECT_FALSE(msg.empty()) << text;
    sa_config_t d;
    sa_config_default(&d);
    EXPECT_EQ(memcmp(&e, &d, sizeof e), 0) << text << " changed the config";
  }
}

TEST(Config, EachBadPairIsCountedAndGoodOnesApplied) {
  sa_config_t c;
  sa_config_default(&c);
  testing::internal::CaptureStderr();
  int bad = sa_config_parse(&c, "bogus:1,mmap_threshold:64k,mmap_threshold:abc,nokey");
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(bad, 3) << err;
  EXPECT_EQ(c.mmap_threshold, 64u * 1024);
  testing::internal::CaptureStderr();
  EXPECT_EQ(sa_config_set(&c, "bogus", "1"), -1);
  EXPECT_EQ(sa_config_set(&c, "mmap_threshold", "abc"), -1);
  err = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(err.empty());
  EXPECT_EQ(c.mmap_threshold, 64u * 1024);
}

TEST(Config, FromEnvReadsSaConf) {
  setenv("SA_CONF", "mmap_threshold:256k,enable_aggressive_coalescing:0", 1);
  sa_config_t c;
  sa_config_from_env(&c);
  EXPECT_EQ(c.mmap_threshold, 256u * 1024);
  EXPECT_EQ(c.enable_aggressive_coalescing, 0u);
  EXPECT_EQ(c.heap_extension_size, 1024u * 1024);

  sa_config_t d;
  sa_config_default(&d);
  EXPECT_EQ(d.mmap_threshold, 128u * 1024) << "sa_config_default ignores SA_CONF";

  unsetenv("SA_CONF");
  sa_config_from_env(&c);
  EXPECT_EQ(c.mmap_threshold, 128u * 1024);
  EXPECT_EQ(c.enable_aggressive_coalescing, 1u);
}

TEST_P(ConformanceTest, NullConfigReadsSaConf) {
  setenv("SA_CONF", "mmap_threshold:256k", 1);
  sa_heap_t* h = sa_heap_create(strategy_, nullptr);
  unsetenv("SA_CONF");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(sa_heap_config(h)->mmap_threshold, 256u * 1024);
  void* p = sa_malloc(h, 200 * 1024);  // below the configured threshold
  ASSERT_NE(p, nullptr);
  sa_stats_t st;
  sa_heap_stats(h, &st);
  EXPECT_EQ(st.large_allocations, 0u);
  sa_free(h, p);
  sa_heap_destroy(h);
}

TEST_P(ConformanceTest, HonoursASmallMmapThreshold) {
  cfg_.mmap_threshold = 16 * 1024;
  sa_heap_t* h = Create();
  ASSERT_NE(h, nullptr);
  void* small = sa_malloc(h, 16 * 1024);
  void* large = sa_malloc(h, 16 * 1024 + 1);
  ASSERT_TRUE(small && large);
  sa_stats_t st = Stats();
  EXPECT_EQ(st.large_allocations, 1u) << "only requests above the threshold are large";
  EXPECT_GE(st.current_large_bytes, 16u * 1024 + 1);
  ExpectConsistent(h, "threshold 16k");
  sa_free(h, small);
  sa_free(h, large);
  EXPECT_EQ(Stats().current_large_bytes, 0u);
}

// ---------------------------------------------------------------------------
// Every strategy under each configuration knob
// ---------------------------------------------------------------------------

struct ConfigVariant {
  const char* name;
  const char* conf;  // applied with sa_config_parse over the defaults
};

const ConfigVariant kVariants[] = {
    {"deferred_coalescing", "enable_aggressive_coalescing:0"},
    {"small_chunks_small_threshold", "heap_extension_size:64k,mmap_threshold:16k"},
    {"min_block_64", "min_block_size:64"},
    {"retain_no_chunks", "retain_empty_chunks:0"},
    {"big_threshold", "mmap_threshold:1m,heap_extension_size:4m"},
    {"no_thread_cache", "enable_thread_cache:0,cache_fill_threshold:1,cache_flush_threshold:2"},
};

class ConfigVariantTest
    : public testing::TestWithParam<std::tuple<const sa_strategy_t*, ConfigVariant>> {};

TEST_P(ConfigVariantTest, RandomWorkloadStaysConsistent) {
  const sa_strategy_t* strategy = std::get<0>(GetParam());
  const ConfigVariant& v = std::get<1>(GetParam());
  sa_config_t cfg;
  sa_config_default(&cfg);
  ASSERT_EQ(sa_config_parse(&cfg, v.conf), 0) << v.conf;
  sa_heap_t* h = sa_heap_create(strategy, &cfg);
  ASSERT_NE(h, nullptr);
  const size_t T = cfg.mmap_threshold;
  const int kSlots = 2000, kOps = 30000;
  std::vector<void*> slot(kSlots, nullptr);
  std::vector<size_t> len(kSlots, 0);
  std::mt19937 rng(4242);
  for (int op = 0; op < kOps; op++) {
    int s = static_cast<int>(rng() % kSlots);
    size_t n = 1 + rng() % 2000;
    if (rng() % 100 == 0) n = 1 + rng() % (2 * T);
    if (slot[s] != nullptr) {
      ASSERT_TRUE(Verify(slot[s], len[s], static_cast<uint64_t>(s))) << "slot " << s << " op " << op;
    }
    switch (rng() % 5) {
      case 0: {
        size_t keep = slot[s] != nullptr ? std::min(len[s], n) : 0;
        void* q = sa_realloc(h, slot[s], n);
        ASSERT_NE(q, nullptr);
        if (keep >= 8) {
          ASSERT_TRUE(Verify(q, keep, static_cast<uint64_t>(s))) << "realloc lost contents";
        }
        slot[s] = q;
        break;
      }
      case 1:
        sa_free(h, slot[s]);
        slot[s] = sa_calloc(h, n, 1);
        ASSERT_NE(slot[s], nullptr);
        ASSERT_TRUE(AllZero(slot[s], n));
        break;
      case 2:
        sa_free(h, slot[s]);
        slot[s] = sa_memalign(h, size_t{16} << (rng() % 9), n);
        ASSERT_NE(slot[s], nullptr);
        break;
      case 3:
        sa_free(h, slot[s]);
        slot[s] = nullptr;
        continue;
      default:
        sa_free(h, slot[s]);
        slot[s] = sa_malloc(h, n);
        ASSERT_NE(slot[s], nullptr);
        break;
    }
    ASSERT_TRUE(IsAligned(slot[s], 16));
    ASSERT_GE(sa_usable_size(h, slot[s]), n);
    len[s] = n;
    Fill(slot[s], n, static_cast<uint64_t>(s));
    if (op % 5000 == 0) ExpectConsistent(h, v.name);
  }
  ExpectConsistent(h, v.name);
  for (void* p : slot) sa_free(h, p);
  sa_stats_t st;
  sa_heap_stats(h, &st);
  EXPECT_EQ(st.current_blocks, 0u);
  EXPECT_EQ(st.current_allocated_bytes, 0u);
  ExpectConsistent(h, "all freed");
  sa_heap_destroy(h);
}

std::string VariantParamName(
    const testing::TestParamInfo<std::tuple<const sa_strategy_t*, ConfigVariant>>& info) {
  std::string name = sa_strategy_name(std::get<0>(info.param));
  name += "_";
  name += std::get<1>(info.param).name;
  for (char& c : name)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(
    Registry, ConfigVariantTest,
    testing::Combine(testing::ValuesIn(sa_registry, sa_registry + sa_registry_count()),
                     testing::ValuesIn(kVariants)),
    VariantParamName);

INSTANTIATE_TEST_SUITE_P(Registry, ConformanceTest,
                         testing::ValuesIn(sa_registry, sa_registry + sa_registry_count()),
                         ParamName);
INSTANTIATE_TEST_SUITE_P(Registry, ExportTest,
                         testing::ValuesIn(sa_registry, sa_registry + sa_registry_count()),
                         ParamName);
INSTANTIATE_TEST_SUITE_P(Registry, ConformanceDeathTest,
                         testing::ValuesIn(sa_registry, sa_registry + sa_registry_count()),
                         ParamName);

}  // namespace

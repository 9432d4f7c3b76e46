#include "tests/fuzz/fuzz_core.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <vector>

namespace safuzz {

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

uint8_t Input::Byte() {
  if (data_ != nullptr) return pos_ < size_ ? data_[pos_++] : 0;
  if (have_ == 0) {  // splitmix64
    uint64_t z = (prng_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    bits_ = z ^ (z >> 31);
    have_ = 8;
  }
  uint8_t b = static_cast<uint8_t>(bits_);
  bits_ >>= 8;
  have_--;
  return b;
}

// ---------------------------------------------------------------------------
// Variants: the settings of config.h that change code paths
// ---------------------------------------------------------------------------

const Variant kVariants[] = {
    {"default", ""},
    // Most requests become large objects (common/large.c), across the limit.
    {"small_mmap_threshold", "mmap_threshold:16k"},
    // The heap grows in the smallest steps: many chunks, arenas, slabs.
    {"small_heap_extension", "heap_extension_size:64k"},
    // The thread cache fills and flushes on nearly every call.
    {"tiny_cache", "cache_fill_threshold:1,cache_flush_threshold:2"},
    {"no_thread_cache", "enable_thread_cache:0"},
    // first_fit defers merging free neighbours.
    {"lazy_coalescing", "enable_aggressive_coalescing:0"},
    // Nothing kept for reuse: every empty chunk, slab and large object goes
    // back to the OS at once.
    {"no_retention",
     "retain_empty_chunks:0,retain_empty_slabs:0,segment_cache_bytes:0,segment_decay_ms:0"},
    // Bigger minimum blocks (first_fit's split, buddy's smallest order).
    {"big_min_block", "min_block_size:256,heap_extension_size:128k"},
};
const size_t kVariantCount = sizeof kVariants / sizeof kVariants[0];

// ---------------------------------------------------------------------------
// Counts
// ---------------------------------------------------------------------------

void Counts::Add(const Counts& o) {
  total += o.total;
  malloc += o.malloc;
  calloc += o.calloc;
  realloc += o.realloc;
  free += o.free;
  memalign += o.memalign;
  posix_memalign += o.posix_memalign;
  aligned_alloc += o.aligned_alloc;
  usable_size += o.usable_size;
  verify += o.verify;
  must_fail += o.must_fail;
  checks += o.checks;
  large += o.large;
}

std::string Counts::ToString() const {
  std::ostringstream s;
  s << total << " ops (malloc " << malloc << ", calloc " << calloc << ", realloc " << realloc
    << ", free " << free << ", memalign " << memalign << ", posix_memalign " << posix_memalign
    << ", aligned_alloc " << aligned_alloc << ", usable_size " << usable_size << ", verify "
    << verify << ", must-fail " << must_fail << "; " << large << " above mmap_threshold; "
    << checks << " sa_check+walk)";
  return s.str();
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

namespace {

constexpr size_t kSlots = 1024;

struct Block {
  char* p = nullptr;
  size_t size = 0;    // asked for
  size_t usable = 0;  // sa_usable_size at allocation
  uint64_t id = 0;
};

// Byte i of a block's pattern: byte (i & 7) of word (i >> 3).
inline uint64_t PatternWord(uint64_t id, size_t k) {
  uint64_t seed = id * 0xd6e8feb86659fd93ull ^ 0xa5a5a5a5a5a5a5a5ull;
  return seed + k * 0x9e3779b97f4a7c15ull;
}
inline uint8_t PatternByte(uint64_t id, size_t i) {
  return static_cast<uint8_t>(PatternWord(id, i >> 3) >> (8 * (i & 7)));
}

void Fill(char* p, size_t from, size_t to, uint64_t id) {
  size_t i = from;
  for (; i < to && (i & 7); i++) p[i] = static_cast<char>(PatternByte(id, i));
  for (; i + 8 <= to; i += 8) {
    uint64_t w = PatternWord(id, i >> 3);
    memcpy(p + i, &w, 8);
  }
  for (; i < to; i++) p[i] = static_cast<char>(PatternByte(id, i));
}

// The first offset in [from, to) that does not hold the pattern, or to.
size_t Mismatch(const char* p, size_t from, size_t to, uint64_t id) {
  size_t i = from;
  for (; i < to && (i & 7); i++)
    if (static_cast<uint8_t>(p[i]) != PatternByte(id, i)) return i;
  for (; i + 8 <= to; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    if (w != PatternWord(id, i >> 3)) break;
  }
  for (; i < to; i++)
    if (static_cast<uint8_t>(p[i]) != PatternByte(id, i)) return i;
  return to;
}

std::string Hex(const void* p) {
  char buf[32];
  snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(reinterpret_cast<uintptr_t>(p)));
  return buf;
}

struct WalkEntry {
  uintptr_t addr;
  size_t size;
};

class Fuzzer {
 public:
  Fuzzer(sa_heap_t* heap, Input* in, Counts* counts)
      : heap_(heap), in_(in), n_(counts), threshold_(sa_heap_config(heap)->mmap_threshold) {}

  // Returns false once a failure is recorded in error_.
  bool Step();
  bool Check();
  bool FreeAll();
  const std::string& error() const { return error_; }
  uint64_t op() const { return op_; }

 private:
  bool Fail(const std::string& what) {
    if (error_.empty()) {
      std::ostringstream s;
      s << "operation " << op_ << ": " << what;
      error_ = s.str();
    }
    return false;
  }
  size_t Size();
  size_t Alignment();
  bool Verify(const Block& b, const char* when);
  // id 0: a new block; else realloc's, whose first `kept` bytes hold its pattern.
  bool Adopt(Block* slot, void* p, size_t size, size_t alignment, const char* call, bool zeroed,
             uint64_t id = 0, size_t kept = 0);
  bool Forget(Block* slot);
  bool Free(Block* slot);
  bool Realloc(Block* slot, size_t size);
  bool MustFail();

  sa_heap_t* heap_;
  Input* in_;
  Counts* n_;
  size_t threshold_;
  Block slots_[kSlots];
  std::map<uintptr_t, uintptr_t> live_;  // [start, end) of every live block's usable bytes
  uint64_t next_id_ = 1, op_ = 0;
  std::string error_;
};

// Sizes: tiny, small, medium, large and across the heap's mmap_threshold.
size_t Fuzzer::Size() {
  uint8_t kind = in_->Byte() % 100;
  uint32_t r = in_->U32();
  auto log_uniform = [&](size_t lo, size_t hi) {  // lo..hi, every octave alike
    int lo_bits = 63 - __builtin_clzl(lo), hi_bits = 63 - __builtin_clzl(hi);
    int bits = lo_bits + static_cast<int>(r % static_cast<uint32_t>(hi_bits - lo_bits + 1));
    size_t base = static_cast<size_t>(1) << bits;
    size_t n = base + (static_cast<size_t>(r >> 8) % base);
    return std::min(std::max(n, lo), hi);
  };
  if (kind < 2) return 0;
  if (kind < 30) return 1 + r % 16;
  if (kind < 68) return 17 + r % 496;
  if (kind < 88) return log_uniform(513, 32768);
  if (kind < 96) return log_uniform(32769, std::max<size_t>(threshold_, 65536));
  if (kind < 98) {  // at the limit
    static const long kDelta[] = {-64, -16, -1, 0, 1, 16, 64, 4096};
    long d = kDelta[r % 8];
    return static_cast<size_t>(static_cast<long>(threshold_) + d);
  }
  return log_uniform(threshold_ / 2, threshold_ * 4);
}

size_t Fuzzer::Alignment() {
  static const size_t kAlign[] = {8, 16, 32, 64, 64, 128, 256, 512, 1024, 4096, 4096, 65536};
  return kAlign[in_->Byte() % (sizeof kAlign / sizeof kAlign[0])];
}

bool Fuzzer::Verify(const Block& b, const char* when) {
  size_t bad = Mismatch(b.p, 0, b.usable, b.id);
  if (bad != b.usable) {
    std::ostringstream s;
    s << "block " << Hex(b.p) << " (id " << b.id << ", " << b.size << " bytes asked, "
      << b.usable << " usable) changed at offset " << bad << " (" << Hex(b.p + bad) << "), found "
      << when;
    return Fail(s.str());
  }
  return true;
}

// Checks a new block and records it in slot (which must be empty).
bool Fuzzer::Adopt(Block* slot, void* ptr, size_t size, size_t alignment, const char* call,
                   bool zeroed, uint64_t id, size_t kept) {
  std::ostringstream what;
  what << call << "(" << size;
  if (alignment) what << ", alignment " << alignment;
  what << ") = " << Hex(ptr);
  if (ptr == nullptr) return Fail(what.str() + ": NULL, errno " + std::to_string(errno));
  uintptr_t a = reinterpret_cast<uintptr_t>(ptr);
  if (a % 16 != 0) return Fail(what.str() + ": not 16-aligned");
  if (alignment && a % alignment != 0) return Fail(what.str() + ": not aligned as asked");
  size_t usable = sa_usable_size(heap_, ptr);
  if (usable < size)
    return Fail(what.str() + ": usable size " + std::to_string(usable) + " < size asked");
  char* p = static_cast<char*>(ptr);
  if (zeroed) {
    size_t i = 0;
    for (uint64_t w; i + 8 <= size; i += 8) {
      memcpy(&w, p + i, 8);
      if (w != 0) break;
    }
    for (; i < size; i++)
      if (p[i] != 0) return Fail(what.str() + ": byte " + std::to_string(i) + " not zero");
  }
  uintptr_t end = a + std::max<size_t>(usable, 1);
  auto next = live_.lower_bound(a);
  if (next != live_.end() && next->first < end)
    return Fail(what.str() + " overlaps the live block at " + Hex(reinterpret_cast<void*>(next->first)));
  if (next != live_.begin()) {
    auto prev = std::prev(next);
    if (prev->second > a)
      return Fail(what.str() + " overlaps the live block at " + Hex(reinterpret_cast<void*>(prev->first)) +
                  " (ends at " + Hex(reinterpret_cast<void*>(prev->second)) + ")");
  }
  live_.emplace(a, end);
  slot->p = p;
  slot->size = size;
  slot->usable = usable;
  slot->id = id ? id : next_id_++;
  Fill(p, kept, usable, slot->id);
  if (size > threshold_) n_->large++;
  return true;
}

bool Fuzzer::Forget(Block* slot) {
  auto it = live_.find(reinterpret_cast<uintptr_t>(slot->p));
  if (it == live_.end()) return Fail("model lost " + Hex(slot->p));
  live_.erase(it);
  *slot = Block();
  return true;
}

bool Fuzzer::Free(Block* slot) {
  if (!Verify(*slot, "before its free")) return false;
  n_->free++;
  sa_free(heap_, slot->p);
  return Forget(slot);
}

bool Fuzzer::Realloc(Block* slot, size_t size) {
  n_->realloc++;
  if (slot->p == nullptr) {
    void* p = sa_realloc(heap_, nullptr, size);
    return Adopt(slot, p, size, 0, "realloc(NULL)", false);
  }
  if (!Verify(*slot, "before its realloc")) return false;
  Block old = *slot;
  if (size == 0) {  // frees, returns NULL (glibc)
    void* q = sa_realloc(heap_, old.p, 0);
    if (q != nullptr) return Fail("realloc(" + Hex(old.p) + ", 0) = " + Hex(q) + ", not NULL");
    return Forget(slot);
  }
  void* q = sa_realloc(heap_, old.p, size);
  if (q == nullptr)
    return Fail("realloc(" + Hex(old.p) + ", " + std::to_string(size) + ") = NULL");
  if (!Forget(slot)) return false;
  // The kept prefix still holds the old pattern (same id): check it, then
  // adopt the block under its id and fill the rest.
  size_t keep = std::min(old.usable, size);
  size_t bad = Mismatch(static_cast<char*>(q), 0, keep, old.id);
  if (bad != keep) {
    std::ostringstream s;
    s << "realloc(" << Hex(old.p) << " [" << old.size << " asked, " << old.usable
      << " usable], " << size << ") = " << Hex(q) << " lost byte " << bad << " of the prefix";
    return Fail(s.str());
  }
  return Adopt(slot, q, size, 0, "realloc", false, old.id, keep);
}

// Calls that must fail and leave the heap alone.
bool Fuzzer::MustFail() {
  n_->must_fail++;
  const size_t huge = static_cast<size_t>(PTRDIFF_MAX) + 1;
  switch (in_->Byte() % 7) {
    case 0: {
      errno = 0;
      void* p = sa_malloc(heap_, huge);
      if (p != nullptr || errno != ENOMEM) return Fail("malloc(PTRDIFF_MAX + 1) = " + Hex(p));
      return true;
    }
    case 1: {
      errno = 0;
      void* p = sa_calloc(heap_, SIZE_MAX / 2, 3);
      if (p != nullptr || errno != ENOMEM) return Fail("calloc(SIZE_MAX / 2, 3) = " + Hex(p));
      return true;
    }
    case 2: {
      void* out = reinterpret_cast<void*>(0x1234);
      int rc = sa_posix_memalign(heap_, &out, 24, 100);
      if (rc != EINVAL || out != reinterpret_cast<void*>(0x1234))
        return Fail("posix_memalign(alignment 24) = " + std::to_string(rc));
      return true;
    }
    case 3: {
      errno = 0;
      void* p = sa_aligned_alloc(heap_, 48, 96);
      if (p != nullptr || errno != EINVAL) return Fail("aligned_alloc(48, 96) = " + Hex(p));
      return true;
    }
    case 4: {
      errno = 0;
      void* p = sa_memalign(heap_, static_cast<size_t>(1) << 63, 8);
      if (p != nullptr || errno != EINVAL) return Fail("memalign(2^63, 8) = " + Hex(p));
      return true;
    }
    case 5: {  // realloc too big: NULL, the block untouched
      Block* b = &slots_[in_->U16() % kSlots];
      if (b->p == nullptr) return true;
      errno = 0;
      void* q = sa_realloc(heap_, b->p, huge);
      if (q != nullptr || errno != ENOMEM)
        return Fail("realloc(" + Hex(b->p) + ", PTRDIFF_MAX + 1) = " + Hex(q));
      return Verify(*b, "after a failed realloc");
    }
    default: {
      errno = 0;
      void* p = sa_malloc(heap_, SIZE_MAX);
      if (p != nullptr || errno != ENOMEM) return Fail("malloc(SIZE_MAX) = " + Hex(p));
      return true;
    }
  }
}

bool Fuzzer::Step() {
  op_++;
  n_->total++;
  uint8_t kind = in_->Byte() % 100;
  Block* slot = &slots_[in_->U16() % kSlots];
  if (kind < 31 || (kind >= 72 && kind < 82)) {
    // An allocation into this slot: free what it holds first.
    if (slot->p != nullptr && !Free(slot)) return false;
    size_t size = Size();
    if (kind < 25) {
      n_->malloc++;
      return Adopt(slot, sa_malloc(heap_, size), size, 0, "malloc", false);
    }
    if (kind < 31) {
      n_->calloc++;
      size_t count = 1 + in_->Byte() % 8;
      size_t each = (size + count - 1) / count;
      return Adopt(slot, sa_calloc(heap_, count, each), count * each, 0, "calloc", true);
    }
    size_t alignment = Alignment();
    if (kind < 76) {
      n_->memalign++;
      return Adopt(slot, sa_memalign(heap_, alignment, size), size,
                   alignment < 16 ? 16 : alignment, "memalign", false);
    }
    if (kind < 80) {
      n_->posix_memalign++;
      void* p = nullptr;
      int rc = sa_posix_memalign(heap_, &p, alignment, size);
      if (rc != 0) return Fail("posix_memalign(" + std::to_string(size) + ") = " + std::to_string(rc));
      return Adopt(slot, p, size, alignment, "posix_memalign", false);
    }
    n_->aligned_alloc++;
    return Adopt(slot, sa_aligned_alloc(heap_, alignment, size), size, alignment,
                 "aligned_alloc", false);
  }
  if (kind < 47) return Realloc(slot, Size());
  if (kind < 72) {
    if (slot->p == nullptr) return true;
    return Free(slot);
  }
  if (kind < 90) {
    if (slot->p == nullptr) return true;
    n_->usable_size++;
    size_t u = sa_usable_size(heap_, slot->p);
    if (u != slot->usable)
      return Fail("usable_size(" + Hex(slot->p) + ") = " + std::to_string(u) + ", was " +
                  std::to_string(slot->usable) + " when it was allocated");
    return true;
  }
  if (kind < 98) {
    if (slot->p == nullptr) return true;
    n_->verify++;
    return Verify(*slot, "by a check of a live block");
  }
  return MustFail();
}

// sa_check, and a walk that sees exactly the model's live blocks as used.
bool Fuzzer::Check() {
  n_->checks++;
  size_t failures = sa_check(heap_);
  if (failures != 0) return Fail("sa_check reported " + std::to_string(failures) + " failures (stderr)");
  std::vector<WalkEntry> used;
  used.reserve(live_.size() + 16);
  sa_walk(
      heap_,
      [](void* ptr, size_t size, sa_block_state_t state, void* arg) {
        if (state == SA_BLOCK_USED)
          static_cast<std::vector<WalkEntry>*>(arg)->push_back(
              WalkEntry{reinterpret_cast<uintptr_t>(ptr), size});
      },
      &used);
  std::sort(used.begin(), used.end(),
            [](const WalkEntry& a, const WalkEntry& b) { return a.addr < b.addr; });
  if (used.size() != live_.size())
    return Fail("the walk sees " + std::to_string(used.size()) + " used blocks, the model has " +
                std::to_string(live_.size()) + " live");
  size_t i = 0;
  for (const auto& b : live_) {
    if (used[i].addr != b.first)
      return Fail("the walk's used block " + std::to_string(i) + " is " +
                  Hex(reinterpret_cast<void*>(used[i].addr)) + ", the model's " +
                  Hex(reinterpret_cast<void*>(b.first)));
    i++;
  }
  for (const Block& b : slots_) {
    if (b.p == nullptr) continue;
    auto it = std::lower_bound(used.begin(), used.end(), reinterpret_cast<uintptr_t>(b.p),
                               [](const WalkEntry& e, uintptr_t a) { return e.addr < a; });
    if (it->size != b.usable)
      return Fail("the walk gives " + Hex(b.p) + " " + std::to_string(it->size) +
                  " bytes, usable_size " + std::to_string(b.usable));
  }
  return true;
}

bool Fuzzer::FreeAll() {
  for (Block& b : slots_)
    if (b.p != nullptr && !Free(&b)) return false;
  return true;
}

}  // namespace

std::string Run(const sa_strategy_t* strategy, const sa_config_t* config, Input* in,
                uint64_t max_ops, uint64_t check_every, Counts* counts) {
  sa_heap_t* heap = sa_heap_create(strategy, config);
  if (heap == nullptr) return "sa_heap_create failed";
  std::string error;
  {
    Fuzzer f(heap, in, counts);
    bool ok = true;
    while (ok && f.op() < max_ops && !in->Done()) {
      ok = f.Step();
      if (ok && check_every && f.op() % check_every == 0) ok = f.Check();
    }
    if (ok) ok = f.Check() && f.FreeAll() && f.Check();
    error = f.error();
  }
  // After a failure the heap may be broken: leave it (the process ends).
  if (error.empty()) sa_heap_destroy(heap);
  return error;
}

}  // namespace safuzz

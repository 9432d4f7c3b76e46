// The differential fuzzer's core: a stream of operations (malloc, calloc,
// realloc, free, memalign, posix_memalign, aligned_alloc, usable_size) on a
// fresh heap of one strategy, checked against a shadow model of every live
// block. Shared by the CI test (fuzz_test.cc: operations from a seeded PRNG)
// and the libFuzzer target (libfuzzer.cc: operations from the input bytes).
//
// What is checked, on every operation:
//   - every pointer is non-NULL (unless the call must fail), 16-aligned, and
//     for the aligned calls aligned as asked;
//   - usable_size(p) >= the size asked, and stays what it was while p lives;
//   - no two live blocks' [p, p + usable) overlap (an ordered map of them);
//   - each live block's usable bytes hold a pattern derived from its id,
//     checked in full before it is freed or reallocated and when an
//     operation picks it to check: any write of the allocator into a live
//     block, or a block handed out twice, breaks it;
//   - calloc's bytes are zero; realloc keeps the prefix;
//   - calls that must fail (calloc overflow, huge sizes, bad alignments)
//     return NULL / EINVAL / ENOMEM and leave the heap as it was.
// And every check_every operations and at the end: sa_check(heap) == 0, and
// a walk of the heap sees exactly the model's live blocks as used blocks,
// each with its usable size.
#ifndef STRATALLOC_TESTS_FUZZ_FUZZ_CORE_H
#define STRATALLOC_TESTS_FUZZ_FUZZ_CORE_H

#include <stddef.h>
#include <stdint.h>

#include <string>

#include "stratalloc/stratalloc.h"

namespace safuzz {

// Where the operations come from: the bytes of a libFuzzer input (then the
// stream ends with them), or an endless seeded PRNG.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  explicit Input(uint64_t seed) : prng_(seed ^ 0x6a09e667f3bcc909ull) {}
  bool Done() const { return data_ != nullptr && pos_ >= size_; }
  uint8_t Byte();
  uint32_t U16() { return Byte() | static_cast<uint32_t>(Byte()) << 8; }
  uint32_t U32() { return U16() | U16() << 16; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0, pos_ = 0;
  uint64_t prng_ = 0, bits_ = 0;
  int have_ = 0;
};

// Heap settings the fuzzer runs under (sa_config_parse text over the defaults).
struct Variant {
  const char* name;
  const char* conf;
};
extern const Variant kVariants[];
extern const size_t kVariantCount;

// Operations done, by kind.
struct Counts {
  uint64_t total = 0;
  uint64_t malloc = 0, calloc = 0, realloc = 0, free = 0, memalign = 0, posix_memalign = 0,
           aligned_alloc = 0, usable_size = 0, verify = 0, must_fail = 0, checks = 0;
  uint64_t large = 0;  // allocations above the heap's mmap_threshold
  void Add(const Counts& o);
  std::string ToString() const;
};

// Runs up to max_ops operations (or until in ends) on a fresh heap of
// strategy under config, then frees every live block (checked) and destroys
// the heap. Returns "" or what went wrong, with the operation number; stops
// at the first failure. sa_check and a walk every check_every operations.
std::string Run(const sa_strategy_t* strategy, const sa_config_t* config, Input* in,
                uint64_t max_ops, uint64_t check_every, Counts* counts);

}  // namespace safuzz

#endif

// The fuzzer's core under libFuzzer (built with --config=fuzz: clang,
// -fsanitize=fuzzer,address; see README.md). An input is an operation
// stream: byte 0 picks the strategy (registry order; SA_FUZZ_STRATEGY=NAME
// pins it and the byte is not read), byte 1 the variant (kVariants), the
// rest the operations as fuzz_core.cc decodes them. A failed check prints
// what it found and aborts, which libFuzzer records as a crash.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "stratalloc/stratalloc.h"
#include "tests/fuzz/fuzz_core.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const sa_strategy_t* pinned = [] {
    const char* name = getenv("SA_FUZZ_STRATEGY");
    if (name == nullptr || *name == '\0') return static_cast<const sa_strategy_t*>(nullptr);
    const sa_strategy_t* s = sa_strategy_find(name);
    if (s == nullptr) {
      fprintf(stderr, "fuzz: SA_FUZZ_STRATEGY=%s is not a registered strategy\n", name);
      abort();
    }
    return s;
  }();
  safuzz::Input in(data, size);
  const sa_strategy_t* strategy = pinned ? pinned : sa_registry[in.Byte() % sa_registry_count()];
  const safuzz::Variant& v = safuzz::kVariants[in.Byte() % safuzz::kVariantCount];
  sa_config_t config;
  sa_config_default(&config);
  if (sa_config_parse(&config, v.conf) != 0) abort();
  safuzz::Counts counts;
  std::string error = safuzz::Run(strategy, &config, &in, UINT64_MAX, 256, &counts);
  if (!error.empty()) {
    fprintf(stderr, "fuzz: %s, variant %s: %s\n", sa_strategy_name(strategy), v.name,
            error.c_str());
    abort();
  }
  return 0;
}

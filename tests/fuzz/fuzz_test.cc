// The differential fuzzer in CI: for one strategy (--strategy=NAME, set per
// target by the BUILD file), every variant of fuzz_core.cc's kVariants runs
// a deterministic stream of operations from its own seed; together at least
// 10^6 operations per strategy. Prints what each variant did and the total.
//
//   FUZZ_OPS=N   operations per variant (default 250000: 8 variants x 250000 = 2 x 10^6)
//   FUZZ_SEED=S  the base seed (default 1); the seeds run are printed
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chrono>
#include <string>

#include "gtest/gtest.h"
#include "stratalloc/stratalloc.h"
#include "tests/fuzz/fuzz_core.h"

namespace {

std::string g_strategy_name;
const sa_strategy_t* g_strategy;
safuzz::Counts g_total;
double g_seconds;
uint64_t g_default_ops = 250000; /* --ops=N (the BUILD's, under tsan); FUZZ_OPS wins */

uint64_t EnvU64(const char* name, uint64_t fallback) {
  const char* v = getenv(name);
  return v && *v ? strtoull(v, nullptr, 0) : fallback;
}

class FuzzTest : public testing::TestWithParam<size_t> {};

TEST_P(FuzzTest, Operations) {
  const safuzz::Variant& v = safuzz::kVariants[GetParam()];
  sa_config_t config;
  sa_config_default(&config);
  ASSERT_EQ(sa_config_parse(&config, v.conf), 0) << "variant " << v.name << ": '" << v.conf << "'";
  const uint64_t ops = EnvU64("FUZZ_OPS", g_default_ops);
  const uint64_t seed = EnvU64("FUZZ_SEED", 1) * 1000003 + GetParam();
  safuzz::Input in(seed);
  safuzz::Counts counts;
  auto start = std::chrono::steady_clock::now();
  std::string error = safuzz::Run(g_strategy, &config, &in, ops, 1000, &counts);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  printf("fuzz: %s, %s (%s), seed %llu: %s in %.2f s\n", g_strategy_name.c_str(), v.name,
         *v.conf ? v.conf : "defaults", static_cast<unsigned long long>(seed),
         counts.ToString().c_str(), s);
  fflush(stdout);
  g_total.Add(counts);
  g_seconds += s;
  EXPECT_EQ(error, "") << g_strategy_name << ", variant " << v.name << ", seed " << seed
                       << " (rerun: FUZZ_SEED=" << EnvU64("FUZZ_SEED", 1)
                       << " --gtest_filter=*/" << v.name << ")";
}

INSTANTIATE_TEST_SUITE_P(Variants, FuzzTest, testing::Range<size_t>(0, safuzz::kVariantCount),
                         [](const testing::TestParamInfo<size_t>& info) {
                           return std::string(safuzz::kVariants[info.param].name);
                         });

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; i++)
    if (strncmp(argv[i], "--strategy=", 11) == 0) g_strategy_name = argv[i] + 11;
    else if (strncmp(argv[i], "--ops=", 6) == 0) g_default_ops = strtoull(argv[i] + 6, nullptr, 0);
  g_strategy = sa_strategy_find(g_strategy_name.c_str());
  if (g_strategy == nullptr) {
    fprintf(stderr, "usage: %s --strategy=NAME (a registered strategy; got '%s')\n", argv[0],
            g_strategy_name.c_str());
    return 2;
  }
  int rc = RUN_ALL_TESTS();
  printf("fuzz: %s total: %s in %.2f s\n", g_strategy_name.c_str(), g_total.ToString().c_str(),
         g_seconds);
  return rc;
}

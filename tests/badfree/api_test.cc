// The bad-free cases (cases.c) through the sa_ API on a fresh heap of one
// strategy (--strategy=NAME, set per target by badfree.bzl): each case is a
// death test (threadsafe style: the child re-executes this binary and runs
// only that case) that must end in SIGABRT with the report naming the
// announced pointer and the strategy.
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "stratalloc/stratalloc.h"
#include "tests/badfree/cases.h"
#include "tests/badfree/expect.h"

namespace {

std::string g_strategy_name;
const sa_strategy_t* g_strategy;
sa_heap_t* g_heap;
sa_heap_t* g_other;

sa_heap_t* FreshHeap() {
  sa_config_t config;
  sa_config_default(&config);  // not SA_CONF: the same heap wherever it runs
  return sa_heap_create(g_strategy, &config);
}

void* ApiMalloc(size_t n) { return sa_malloc(g_heap, n); }
void ApiFree(void* p) { sa_free(g_heap, p); }
void* ApiRealloc(void* p, size_t n) { return sa_realloc(g_heap, p, n); }
void* ApiMemalign(size_t a, size_t n) { return sa_memalign(g_heap, a, n); }
size_t ApiUsableSize(void* p) { return sa_usable_size(g_heap, p); }
void* ApiOtherHeapMalloc(size_t n) {
  if (g_other == nullptr) g_other = FreshHeap();
  return g_other ? sa_malloc(g_other, n) : nullptr;
}
void* ApiDestroyedHeapBlock(size_t n) {
  sa_heap_t* h = FreshHeap();
  if (h == nullptr) return nullptr;
  void* p = sa_malloc(h, n);
  sa_heap_destroy(h);
  return p;
}

const bf_ops_t kApiOps = {ApiMalloc,     ApiFree,           ApiRealloc,           ApiMemalign,
                          ApiUsableSize, ApiOtherHeapMalloc, ApiDestroyedHeapBlock};

// Matches the death test's stderr with CheckReport.
class ReportMatcher : public testing::MatcherInterface<const std::string&> {
 public:
  explicit ReportMatcher(bf_expect_t expect) : expect_(expect) {}
  bool MatchAndExplain(const std::string& output,
                       testing::MatchResultListener* listener) const override {
    std::string why;
    if (badfree::CheckReport(output, expect_, g_strategy_name, &why)) return true;
    *listener << why;
    return false;
  }
  void DescribeTo(std::ostream* os) const override {
    *os << "holds the report " << badfree::ReportRegex(expect_, "<announced pointer>", g_strategy_name);
  }

 private:
  bf_expect_t expect_;
};

void RunCase(const bf_case_t* c) {
  g_heap = FreshHeap();
  if (g_heap == nullptr) {
    fprintf(stderr, "badfree: setup: sa_heap_create failed\n");
    _exit(2);
  }
  bf_run(c, &kApiOps);
}

class ApiTest : public testing::TestWithParam<const bf_case_t*> {};

TEST_P(ApiTest, Case) {
  const bf_case_t* c = GetParam();
  SCOPED_TRACE(std::string(c->name) + ": " + c->what);
  EXPECT_EXIT(RunCase(c), testing::KilledBySignal(SIGABRT),
              testing::Matcher<const std::string&>(new ReportMatcher(c->expect)));
}

std::vector<const bf_case_t*> Cases() {
  std::vector<const bf_case_t*> v;
  for (size_t i = 0; i < bf_case_count; i++) v.push_back(&bf_cases[i]);
  return v;
}

INSTANTIATE_TEST_SUITE_P(BadFree, ApiTest, testing::ValuesIn(Cases()),
                         [](const testing::TestParamInfo<const bf_case_t*>& info) {
                           return std::string(info.param->name);
                         });

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; i++)
    if (strncmp(argv[i], "--strategy=", 11) == 0) g_strategy_name = argv[i] + 11;
  g_strategy = sa_strategy_find(g_strategy_name.c_str());
  if (g_strategy == nullptr) {
    fprintf(stderr, "usage: %s --strategy=NAME (a registered strategy; got '%s')\n", argv[0],
            g_strategy_name.c_str());
    return 2;
  }
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  struct rlimit no_core = {0, 0};  // thousands of aborts: no core files
  setrlimit(RLIMIT_CORE, &no_core);
  return RUN_ALL_TESTS();
}

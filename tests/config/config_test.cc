// SA_CONF: every key at both ends of its range on every registered strategy
// (the heap is created, works, and holds the value), one past each end
// refused; every kind of malformed item named on stderr with the item, the
// reason and the value its key keeps, the other keys applied; SA_CONF read
// by sa_heap_create(s, NULL). SA_STATS and the process heap:
// stats_env_test.cc; secure mode: secure_mode_test.cc.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "stratalloc/stratalloc.h"

namespace {

// ---------------------------------------------------------------------------
// The table, as the header has it
// ---------------------------------------------------------------------------

struct Key {
  const char* name;
  bool is_bool;
  size_t def, lo, hi;
  size_t sa_config_t::*field;
};

#define KEY_(type, name, def, lo, hi, help) \
  {#name, #type[0] == 'b', (size_t)(def), (size_t)(lo), (size_t)(hi), &sa_config_t::name},
const Key kKeys[] = {SA_CONFIG_FIELDS(KEY_)};
#undef KEY_

const Key& FindKey(const std::string& name) {
  for (const Key& k : kKeys)
    if (name == k.name) return k;
  ADD_FAILURE() << "no key " << name;
  return kKeys[0];
}

std::string ParamName(const testing::TestParamInfo<const sa_strategy_t*>& info) {
  std::string name = sa_strategy_name(info.param);
  for (char& c : name)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

std::vector<const sa_strategy_t*> Strategies() {
  std::vector<const sa_strategy_t*> v;
  for (size_t i = 0; sa_registry[i] != nullptr; i++) v.push_back(sa_registry[i]);
  return v;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) n++;
  return n;
}

// ---------------------------------------------------------------------------
// Ranges: both ends of every key work on every strategy
// ---------------------------------------------------------------------------

// What every heap must do, whatever its config: the sizes around every
// threshold a key can move, calloc, realloc chains, alignment, many blocks.
void Exercise(sa_heap_t* h, const std::string& what) {
  SCOPED_TRACE(what);
  const size_t sizes[] = {1,    16,    48,    100,    1000,   4096,      5000,           40000,
                          65536, 131072, 200000, 300000, 1 << 20, 3 << 20, (size_t)17 << 20};
  for (size_t size : sizes) {
    char* p = static_cast<char*>(sa_malloc(h, size));
    ASSERT_NE(p, nullptr) << "malloc(" << size << ")";
    ASSERT_GE(sa_usable_size(h, p), size);
    memset(p, 0xa5, size);
    char* q = static_cast<char*>(sa_calloc(h, 1, size));
    ASSERT_NE(q, nullptr) << "calloc(" << size << ")";
    for (size_t i = 0; i < size; i += 4093) ASSERT_EQ(q[i], 0);
    sa_free(h, q);
    sa_free(h, p);
  }
  void* r = nullptr;
  for (size_t size = 8; size <= ((size_t)2 << 20); size *= 3) {
    r = sa_realloc(h, r, size);
    ASSERT_NE(r, nullptr) << "realloc to " << size;
    memset(r, 7, size);
  }
  sa_free(h, r);
  for (size_t align : {64, 4096, 65536}) {
    void* a = sa_memalign(h, align, 3000);
    ASSERT_NE(a, nullptr) << "memalign(" << align << ")";
    ASSERT_EQ(reinterpret_cast<uintptr_t>(a) % align, 0u);
    sa_free(h, a);
  }
  std::vector<void*> many;
  for (int i = 0; i < 3000; i++) {
    void* p = sa_malloc(h, 16 + (i * 37) % 700);
    ASSERT_NE(p, nullptr);
    many.push_back(p);
  }
  for (size_t i = 0; i < many.size(); i += 2) sa_free(h, many[i]);
  for (size_t i = 1; i < many.size(); i += 2) sa_free(h, many[i]);
  EXPECT_EQ(sa_check(h), 0u);
}

class RangeTest : public testing::TestWithParam<const sa_strategy_t*> {};

TEST_P(RangeTest, EveryKeyAtBothEnds) {
  for (const Key& k : kKeys) {
    for (size_t value : {k.lo, k.hi}) {
      std::string text = std::string(k.name) + ":" + std::to_string(value);
      sa_config_t c;
      sa_config_default(&c);
      testing::internal::CaptureStderr();
      int bad = sa_config_parse(&c, text.c_str());
      std::string err = testing::internal::GetCapturedStderr();
      ASSERT_EQ(bad, 0) << text << ": " << err;
      EXPECT_EQ(err, "") << text;
      ASSERT_EQ(c.*k.field, value) << text;
      sa_heap_t* h = sa_heap_create(GetParam(), &c);
      ASSERT_NE(h, nullptr) << text;
      EXPECT_EQ(sa_heap_config(h)->*k.field, value) << text << ": the heap holds another value";
      Exercise(h, text);
      sa_heap_destroy(h);
    }
  }
}

TEST_P(RangeTest, AllKeysAtTheirMinimumTogether) {
  sa_config_t c;
  std::string text;
  for (const Key& k : kKeys) text += (text.empty() ? "" : ",") + std::string(k.name) + ":" + std::to_string(k.lo);
  sa_config_default(&c);
  ASSERT_EQ(sa_config_parse(&c, text.c_str()), 0) << text;
  sa_heap_t* h = sa_heap_create(GetParam(), &c);
  ASSERT_NE(h, nullptr);
  for (const Key& k : kKeys) EXPECT_EQ(sa_heap_config(h)->*k.field, k.lo) << k.name;
  Exercise(h, text);
  sa_heap_destroy(h);
}

TEST_P(RangeTest, AllKeysAtTheirMaximumTogether) {
  sa_config_t c;
  std::string text;
  for (const Key& k : kKeys) text += (text.empty() ? "" : ",") + std::string(k.name) + ":" + std::to_string(k.hi);
  sa_config_default(&c);
  testing::internal::CaptureStderr();
  ASSERT_EQ(sa_config_parse(&c, text.c_str()), 0) << text;
  testing::internal::GetCapturedStderr();  // the fill/flush note: both given
  sa_heap_t* h = sa_heap_create(GetParam(), &c);
  ASSERT_NE(h, nullptr);
  for (const Key& k : kKeys) EXPECT_EQ(sa_heap_config(h)->*k.field, k.hi) << k.name;
  Exercise(h, text);
  sa_heap_destroy(h);
}

// The values that cross each other: a threshold above the extension, the
// extension at its smallest with the largest blocks, fill above flush.
TEST_P(RangeTest, KeysThatMeetEachOther) {
  for (const char* text :
       {"mmap_threshold:1024g,heap_extension_size:64k", "mmap_threshold:4096,heap_extension_size:1024g",
        "mmap_threshold:4096,min_block_size:4096", "mmap_threshold:64m,min_block_size:4096,heap_extension_size:64k",
        "cache_fill_threshold:65536,cache_flush_threshold:2", "cache_fill_threshold:1,cache_flush_threshold:65536",
        "segment_cache_bytes:0,segment_decay_ms:0,retain_empty_chunks:0,retain_empty_slabs:0",
        "enable_thread_cache:0,enable_aggressive_coalescing:0"}) {
    sa_config_t c;
    sa_config_default(&c);
    testing::internal::CaptureStderr();
    EXPECT_EQ(sa_config_parse(&c, text), 0) << text;
    testing::internal::GetCapturedStderr();
    sa_heap_t* h = sa_heap_create(GetParam(), &c);
    ASSERT_NE(h, nullptr) << text;
    EXPECT_EQ(memcmp(sa_heap_config(h), &c, sizeof c), 0) << text;
    Exercise(h, text);
    sa_heap_destroy(h);
  }
}

INSTANTIATE_TEST_SUITE_P(AllStrategies, RangeTest, testing::ValuesIn(Strategies()), ParamName);

TEST(Range, OnePastEachEndIsRefusedAndTheDefaultKept) {
  for (const Key& k : kKeys) {
    std::vector<std::pair<std::string, std::string>> cases;  // value, reason
    if (k.lo > 0) cases.push_back({std::to_string(k.lo - 1), k.is_bool ? "not a boolean" : "below the minimum"});
    cases.push_back({std::to_string(k.hi + 1), k.is_bool ? "not a boolean" : "above the maximum"});
    for (const auto& [value, reason] : cases) {
      std::string item = std::string(k.name) + ":" + value;
      sa_config_t c;
      sa_config_default(&c);
      testing::internal::CaptureStderr();
      int bad = sa_config_parse(&c, item.c_str());
      std::string err = testing::internal::GetCapturedStderr();
      EXPECT_EQ(bad, 1) << item;
      EXPECT_EQ(c.*k.field, k.def) << item;
      EXPECT_TRUE(Contains(err, "'" + item + "'")) << err;
      EXPECT_TRUE(Contains(err, reason)) << err;
      EXPECT_TRUE(Contains(err, "keeping " + std::string(k.name) + ":")) << err;
      EXPECT_TRUE(Contains(err, ", the default")) << err;
    }
  }
}

TEST(Range, ConfigCheckResetsWhatCodeSetOutOfRange) {
  sa_config_t c;
  sa_config_default(&c);
  EXPECT_EQ(sa_config_check(&c), 0);
  c.min_block_size = 0;
  c.cache_flush_threshold = (size_t)1 << 40;
  c.enable_thread_cache = 7;
  c.mmap_threshold = 8192;  // in range: kept
  testing::internal::CaptureStderr();
  EXPECT_EQ(sa_config_check(&c), 3);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(Contains(err, "stratalloc: config: min_block_size:0: below the minimum 32; using the default 32"))
      << err;
  EXPECT_TRUE(Contains(err, "cache_flush_threshold:1099511627776: above the maximum 65536 (64k)")) << err;
  EXPECT_TRUE(Contains(err, "enable_thread_cache:7: above the maximum 1; using the default 1")) << err;
  EXPECT_EQ(c.min_block_size, 32u);
  EXPECT_EQ(c.cache_flush_threshold, 64u);
  EXPECT_EQ(c.enable_thread_cache, 1u);
  EXPECT_EQ(c.mmap_threshold, 8192u);
}

TEST_P(RangeTest, HeapCreationRefusesAnOutOfRangeFieldFromCode) {
  sa_config_t c;
  sa_config_default(&c);
  c.cache_fill_threshold = 0;  // below the minimum 1
  testing::internal::CaptureStderr();
  sa_heap_t* h = sa_heap_create(GetParam(), &c);
  std::string err = testing::internal::GetCapturedStderr();
  ASSERT_NE(h, nullptr);
  EXPECT_TRUE(Contains(err, "cache_fill_threshold:0: below the minimum 1")) << err;
  EXPECT_EQ(sa_heap_config(h)->cache_fill_threshold, 32u);
  void* p = sa_malloc(h, 100);
  ASSERT_NE(p, nullptr);
  sa_free(h, p);
  EXPECT_EQ(sa_check(h), 0u);
  sa_heap_destroy(h);
}

// ---------------------------------------------------------------------------
// Malformed SA_CONF: each item named with its reason, the rest applied
// ---------------------------------------------------------------------------

struct BadCase {
  const char* text;
  int errors;                         // sa_config_parse's count
  std::vector<std::string> expect;    // each in stderr
  const char* kept_key;               // keeps its default (or nullptr)
};

// heap_extension_size:2m rides along in most cases: it must be applied.
const BadCase kBadCases[] = {
    {"mmap_threshold:abc,heap_extension_size:2m", 1,
     {"stratalloc: SA_CONF: 'mmap_threshold:abc': not a size: unexpected 'a' (want a size from 4096 (4k) to "
      "1099511627776 (1024g), digits with an optional k, m or g suffix); keeping mmap_threshold:131072 (128k), "
      "the default\n"},
     "mmap_threshold"},
    {"mmap_threshold:12q,heap_extension_size:2m", 1, {"'mmap_threshold:12q': not a size: unexpected 'q'"}, "mmap_threshold"},
    {"mmap_threshold:64kb,heap_extension_size:2m", 1, {"'mmap_threshold:64kb': not a size: unexpected 'b'"}, "mmap_threshold"},
    {"mmap_threshold:1.5m,heap_extension_size:2m", 1, {"not a size: unexpected '.'"}, "mmap_threshold"},
    {"mmap_threshold:0x1000,heap_extension_size:2m", 1, {"not a size: unexpected 'x'"}, "mmap_threshold"},
    {"mmap_threshold:+4096,heap_extension_size:2m", 1, {"not a size: unexpected '+'"}, "mmap_threshold"},
    {"mmap_threshold:k,heap_extension_size:2m", 1, {"'mmap_threshold:k': a suffix without digits"}, "mmap_threshold"},
    {"mmap_threshold:99999999999999999999g,heap_extension_size:2m", 1,
     {"'mmap_threshold:99999999999999999999g': too large: does not fit in 64 bits", "keeping mmap_threshold:131072"},
     "mmap_threshold"},
    {"mmap_threshold:18446744073709551616,heap_extension_size:2m", 1, {"does not fit in 64 bits"}, "mmap_threshold"},
    {"mmap_threshold:17179869184g,heap_extension_size:2m", 1, {"does not fit in 64 bits"}, "mmap_threshold"},
    {"mmap_threshold:18446744073709551615,heap_extension_size:2m", 1,
     {"above the maximum 1099511627776 (1024g); keeping mmap_threshold:131072 (128k), the default"}, "mmap_threshold"},
    {"mmap_threshold:-4096,heap_extension_size:2m", 1, {"'mmap_threshold:-4096': negative (want a size from"},
     "mmap_threshold"},
    {"mmap_threshold:1,heap_extension_size:2m", 1, {"'mmap_threshold:1': below the minimum 4096 (4k)"}, "mmap_threshold"},
    {"mmap_threshold:,heap_extension_size:2m", 1, {"'mmap_threshold:': empty value"}, "mmap_threshold"},
    {"mmap_threshold,heap_extension_size:2m", 1,
     {"'mmap_threshold': missing ':' between key and value (want key:value); keeping mmap_threshold:131072"},
     "mmap_threshold"},
    {"mmap_threshold=64k,heap_extension_size:2m", 1,
     {"'mmap_threshold=64k': '=' where ':' belongs (want key:value); keeping mmap_threshold:131072"}, "mmap_threshold"},
    {"heap_extension_size:2m,bogus:1", 1,
     {"'bogus:1': unknown key 'bogus' (valid keys: mmap_threshold heap_extension_size min_block_size",
      "enable_aggressive_coalescing); ignored\n"},
     nullptr},
    {"heap_extension_size:2m,MMAP_THRESHOLD:64k", 1,
     {"'MMAP_THRESHOLD:64k': unknown key 'MMAP_THRESHOLD' (did you mean mmap_threshold?"}, "mmap_threshold"},
    {"heap_extension_size:2m,mmap-threshold:64k", 1, {"did you mean mmap_threshold?"}, "mmap_threshold"},
    {"heap_extension_size:2m,:64k", 1, {"unknown key '' (nothing before ':')"}, nullptr},
    {"heap_extension_size:2m,mmap_threshold:64k,mmap_threshold:1m", 1,
     {"'mmap_threshold:1m': duplicate key: mmap_threshold was given before as 'mmap_threshold:64k', the first one "
      "counts; keeping mmap_threshold:65536 (64k)\n"},
     nullptr},
    {"heap_extension_size:2m,mmap_threshold:abc,mmap_threshold:64k", 2,
     {"'mmap_threshold:abc': not a size", "'mmap_threshold:64k': duplicate key"}, "mmap_threshold"},
    {"heap_extension_size:2m,", 1, {"stratalloc: SA_CONF: empty item (trailing ',') in 'heap_extension_size:2m,'; ignored"},
     nullptr},
    {",heap_extension_size:2m", 1, {"empty item (leading ',')"}, nullptr},
    {"mmap_threshold:64k,,heap_extension_size:2m", 1, {"empty item (',,')"}, nullptr},
    {"heap_extension_size:2m, mmap_threshold:64k", 1,
     {"' mmap_threshold:64k': space in the key (SA_CONF is key:value,key:value without spaces); keeping "
      "mmap_threshold:131072"},
     "mmap_threshold"},
    {"heap_extension_size:2m,mmap_threshold: 64k", 1, {"'mmap_threshold: 64k': space in the value"}, "mmap_threshold"},
    {"heap_extension_size:2m,mmap_threshold:64k ", 1, {"'mmap_threshold:64k ': space in the value"}, "mmap_threshold"},
    {"heap_extension_size:2m,enable_thread_cache:yes", 1,
     {"'enable_thread_cache:yes': not a boolean (want 0, 1, false or true); keeping enable_thread_cache:1, the default"},
     "enable_thread_cache"},
    {"heap_extension_size:2m,enable_thread_cache:2", 1, {"'enable_thread_cache:2': not a boolean"}, "enable_thread_cache"},
    {"heap_extension_size:2m,enable_thread_cache:TRUE", 1, {"not a boolean"}, "enable_thread_cache"},
    {"heap_extension_size:2m,min_block_size:\x01\x7f", 1, {"'min_block_size:\\x01\\x7f': not a size: unexpected '\\x01'"},
     "min_block_size"},
};

TEST(ConfParse, EachMalformedItemIsNamedWithItsReasonAndTheRestApplied) {
  for (const BadCase& bc : kBadCases) {
    SCOPED_TRACE(bc.text);
    sa_config_t c;
    sa_config_default(&c);
    testing::internal::CaptureStderr();
    int bad = sa_config_parse(&c, bc.text);
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(bad, bc.errors) << err;
    for (const std::string& e : bc.expect) EXPECT_TRUE(Contains(err, e)) << "want: " << e << "\nstderr: " << err;
    EXPECT_EQ(Count(err, "stratalloc: SA_CONF: "), (size_t)bc.errors) << err;
    if (bc.kept_key) {
      const Key& k = FindKey(bc.kept_key);
      EXPECT_EQ(c.*k.field, k.def) << bc.kept_key << " lost its default";
    }
    if (Contains(bc.text, "heap_extension_size:2m")) EXPECT_EQ(c.heap_extension_size, (size_t)2 << 20);
    if (Contains(bc.text, "mmap_threshold:64k,")) EXPECT_EQ(c.mmap_threshold, (size_t)64 << 10);
    // Every other key keeps its default.
    for (const Key& k : kKeys) {
      if (Contains(bc.text, k.name) || (bc.kept_key && std::string(bc.kept_key) == k.name)) continue;
      EXPECT_EQ(c.*k.field, k.def) << k.name;
    }
  }
}

TEST(ConfParse, LongValuesAreCutInTheMessage) {
  std::string text = "mmap_threshold:" + std::string(500, '7') + "x";
  sa_config_t c;
  sa_config_default(&c);
  testing::internal::CaptureStderr();
  EXPECT_EQ(sa_config_parse(&c, text.c_str()), 1);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(Contains(err, "...': ")) << err;
  EXPECT_LT(err.size(), 400u) << err;
  EXPECT_EQ(c.mmap_threshold, 128u << 10);
}

TEST(ConfParse, FillAboveHalfTheFlushIsTakenWithANote) {
  sa_config_t c;
  sa_config_default(&c);
  testing::internal::CaptureStderr();
  EXPECT_EQ(sa_config_parse(&c, "cache_fill_threshold:100,cache_flush_threshold:64"), 0);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err,
            "stratalloc: SA_CONF: note: cache_fill_threshold:100 is more than half of "
            "cache_flush_threshold:64; a refill fetches at most 32 blocks\n");
  EXPECT_EQ(c.cache_fill_threshold, 100u);
  EXPECT_EQ(c.cache_flush_threshold, 64u);
  // One of them alone (the other's default): no note.
  testing::internal::CaptureStderr();
  EXPECT_EQ(sa_config_parse(&c, "cache_flush_threshold:16"), 0);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(ConfParse, SetChecksAsParseDoes) {
  sa_config_t c;
  sa_config_default(&c);
  testing::internal::CaptureStderr();
  EXPECT_EQ(sa_config_set(&c, "mmap_threshold", "abc"), -1);
  EXPECT_EQ(sa_config_set(&c, "nokey", "1"), -1);
  EXPECT_EQ(sa_config_set(&c, "mmap_threshold", "64k"), 0);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(Contains(err, "'mmap_threshold:abc': not a size")) << err;
  EXPECT_TRUE(Contains(err, "'nokey:1': unknown key 'nokey'")) << err;
  EXPECT_EQ(c.mmap_threshold, 64u << 10);
}

// sa_heap_create(s, NULL) reads SA_CONF: the bad item named, the good ones
// in the heap's config.
TEST(ConfEnv, HeapCreationReadsSaConf) {
  ASSERT_EQ(setenv("SA_CONF", "bogus:1,mmap_threshold:64k,min_block_size:x", 1), 0);
  for (const sa_strategy_t* s : Strategies()) {
    testing::internal::CaptureStderr();
    sa_heap_t* h = sa_heap_create(s, nullptr);
    std::string err = testing::internal::GetCapturedStderr();
    ASSERT_NE(h, nullptr);
    EXPECT_TRUE(Contains(err, "'bogus:1': unknown key")) << err;
    EXPECT_TRUE(Contains(err, "'min_block_size:x': not a size")) << err;
    EXPECT_EQ(sa_heap_config(h)->mmap_threshold, 64u << 10);
    EXPECT_EQ(sa_heap_config(h)->min_block_size, 32u);
    Exercise(h, sa_strategy_name(s));
    sa_heap_destroy(h);
  }
  unsetenv("SA_CONF");
}

}  // namespace

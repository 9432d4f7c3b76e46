// Memory pressure: under an address-space limit (RLIMIT_AS) every strategy
// fails cleanly (NULL, errno ENOMEM, no crash), keeps a consistent heap, and
// works again once memory is freed. Each case runs in a forked child so the
// limit never touches the test runner. Sanitizer runtimes reserve terabytes of
// shadow memory and cannot live under RLIMIT_AS: the tests skip there.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <string>

#include "gtest/gtest.h"
#include "stratalloc/stratalloc.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SA_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define SA_TEST_SANITIZED 1
#endif
#endif
#ifndef SA_TEST_SANITIZED
#define SA_TEST_SANITIZED 0
#endif

namespace {

std::string ParamName(const testing::TestParamInfo<const sa_strategy_t*>& info) {
  std::string name = sa_strategy_name(info.param);
  for (char& c : name)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

// VmSize in bytes, read without allocating.
size_t VmSizeBytes() {
  char buf[8192];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char* p = strstr(buf, "VmSize:");
  return p == nullptr ? 0 : static_cast<size_t>(strtoull(p + 7, nullptr, 10)) * 1024;
}

// In the child: no gtest, no libc malloc after the limit; a message and an
// exit code per failure.
#define CHILD_CHECK(cond, code, ...)                            \
  do {                                                          \
    if (!(cond)) {                                              \
      fprintf(stderr, "child: check failed: %s: ", #cond);      \
      fprintf(stderr, __VA_ARGS__);                             \
      fprintf(stderr, "\n");                                    \
      return (code);                                            \
    }                                                           \
  } while (0)

struct Walked {
  size_t used_blocks, used_bytes;
};

void CountUsed(void*, size_t size, sa_block_state_t state, void* arg) {
  Walked* w = static_cast<Walked*>(arg);
  if (state == SA_BLOCK_USED) {
    w->used_blocks++;
    w->used_bytes += size;
  }
}

// Allocates blocks of `size` until failure, under headroom bytes of address
// space above what the child already has mapped.
int ChildBody(const sa_strategy_t* strategy, size_t size, size_t headroom, size_t max_blocks) {
  // Everything the child needs is mapped before the limit is set.
  void** ptrs = static_cast<void**>(
      mmap(nullptr, max_blocks * sizeof(void*), PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0));
  CHILD_CHECK(ptrs != MAP_FAILED, 2, "mmap of the pointer array");
  sa_config_t cfg;
  sa_config_default(&cfg);
  sa_heap_t* heap = sa_heap_create(strategy, &cfg);
  CHILD_CHECK(heap != nullptr, 3, "sa_heap_create");

  size_t vm = VmSizeBytes();
  CHILD_CHECK(vm > 0, 4, "VmSize");
  struct rlimit lim;
  lim.rlim_cur = lim.rlim_max = vm + headroom;
  CHILD_CHECK(setrlimit(RLIMIT_AS, &lim) == 0, 5, "setrlimit: %s", strerror(errno));

  for (int round = 0; round < 2; round++) {
    size_t count = 0;
    int err = 0;
    for (;;) {
      CHILD_CHECK(count < max_blocks, 6, "round %d: %zu blocks of %zu bytes never failed", round,
                  count, size);
      errno = 0;
      void* p = sa_malloc(heap, size);
      if (p == nullptr) {
        err = errno;
        break;
      }
      CHILD_CHECK((reinterpret_cast<uintptr_t>(p) & 15) == 0, 7, "misaligned %p", p);
      memset(p, static_cast<int>(count & 0xff), size);  // touch every page
      ptrs[count++] = p;
    }
    CHILD_CHECK(err == ENOMEM, 8, "round %d: failed with errno %d, not ENOMEM", round, err);
    // The limit allows headroom bytes: most of it must have been usable, and
    // never more than the limit.
    CHILD_CHECK(count * size >= headroom / 4, 9, "round %d: only %zu blocks of %zu bytes", round,
                count, size);
    CHILD_CHECK(count * size <= headroom, 10, "round %d: %zu blocks of %zu exceed the limit",
                round, count, size);

    // Failing again is fine and does not corrupt anything.
    errno = 0;
    void* again = sa_malloc(heap, size);
    if (again != nullptr) ptrs[count++] = again;
    else CHILD_CHECK(errno == ENOMEM, 11, "second failure errno %d", errno);
    errno = 0;
    void* huge = sa_malloc(heap, size_t{1} << 40);
    CHILD_CHECK(huge == nullptr && errno == ENOMEM, 12, "1 TiB under the limit");

    CHILD_CHECK(sa_check(heap) == 0, 13, "round %d: sa_check after ENOMEM", round);
    sa_stats_t st;
    sa_heap_stats(heap, &st);
    CHILD_CHECK(st.current_blocks == count, 14, "round %d: current_blocks %llu != %zu", round,
                static_cast<unsigned long long>(st.current_blocks), count);
    Walked w = {0, 0};
    sa_walk(heap, CountUsed, &w);
    CHILD_CHECK(w.used_blocks == count, 15, "round %d: walk sees %zu used blocks, not %zu", round,
                w.used_blocks, count);
    CHILD_CHECK(w.used_bytes == st.current_allocated_bytes, 16, "round %d: walk/stats bytes",
                round);
    for (size_t i = 0; i + 1 < count; i++) {
      unsigned char* b = static_cast<unsigned char*>(ptrs[i]);
      CHILD_CHECK(b[0] == (i & 0xff) && b[size - 1] == (i & 0xff), 17, "block %zu overwritten", i);
    }

    // Free everything: the heap works again.
    for (size_t i = 0; i < count; i++) sa_free(heap, ptrs[i]);
    sa_heap_stats(heap, &st);
    CHILD_CHECK(st.current_blocks == 0 && st.current_allocated_bytes == 0, 18,
                "round %d: counters after freeing everything", round);
    CHILD_CHECK(sa_check(heap) == 0, 19, "round %d: sa_check after freeing", round);
    void* p = sa_malloc(heap, size);
    CHILD_CHECK(p != nullptr, 20, "round %d: malloc(%zu) fails after freeing everything", round,
                size);
    memset(p, 1, size);
    sa_free(heap, p);
    fprintf(stderr, "child: round %d: %zu blocks of %zu bytes before ENOMEM\n", round, count,
            size);
  }
  sa_heap_destroy(heap);
  return 0;
}

class PressureTest : public testing::TestWithParam<const sa_strategy_t*> {
 protected:
  void RunInChild(size_t size, size_t headroom, size_t max_blocks) {
    if (SA_TEST_SANITIZED) GTEST_SKIP() << "RLIMIT_AS breaks the sanitizer runtime";
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ASSERT_GE(pid, 0) << strerror(errno);
    if (pid == 0) _exit(ChildBody(GetParam(), size, headroom, max_blocks));
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child crashed with signal "
                                   << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed; see its message above";
  }
};

constexpr size_t kMiB = size_t{1} << 20;

TEST_P(PressureTest, OneMegabyteBlocksUntilEnomem) { RunInChild(kMiB, 100 * kMiB, 1000); }

TEST_P(PressureTest, SixtyFourKilobyteBlocksUntilEnomem) {
  RunInChild(64 * 1024, 100 * kMiB, 100000);
}

TEST_P(PressureTest, HundredByteBlocksUntilEnomem) { RunInChild(100, 32 * kMiB, 2000000); }

// When the OS refuses a mapping of heap_extension_size (here 1 GiB, under
// an address-space limit 768 MiB above what the process maps), the heap
// falls back to what it grants instead of failing every malloc.
void MallocUnderAnAddressSpaceLimit(const sa_strategy_t* strategy) {
  struct rlimit lim;
  lim.rlim_cur = lim.rlim_max = VmSizeBytes() + (768u << 20);
  if (setrlimit(RLIMIT_AS, &lim) != 0) _exit(2);
  sa_config_t cfg;
  sa_config_default(&cfg);
  cfg.heap_extension_size = size_t{1} << 30;
  sa_heap_t* h = sa_heap_create(strategy, &cfg);
  if (h == nullptr) _exit(3);
  for (int i = 0; i < 1000; i++) {
    void* p = sa_malloc(h, 100 + 97 * static_cast<size_t>(i));
    if (p == nullptr) _exit(4);
    memset(p, 1, 100);
  }
  if (sa_check(h) != 0) _exit(5);
  _exit(0);
}

TEST_P(PressureTest, MallocWorksWhenTheOsRefusesTheExtension) {
  if (SA_TEST_SANITIZED) GTEST_SKIP() << "RLIMIT_AS breaks the sanitizer runtime";
  GTEST_FLAG_SET(death_test_style, "fast");
  EXPECT_EXIT(MallocUnderAnAddressSpaceLimit(GetParam()), testing::ExitedWithCode(0), "");
}

INSTANTIATE_TEST_SUITE_P(Registry, PressureTest,
                         testing::ValuesIn(sa_registry, sa_registry + sa_registry_count()),
                         ParamName);

}  // namespace

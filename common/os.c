/* OS memory. mmap/munmap/mremap/madvise never allocate and may run before
 * constructors, inside the dynamic loader or in a forked child. */
#define _GNU_SOURCE
#include "os.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t g_page_size;

size_t sa_os_page_size(void) {
  size_t page = __atomic_load_n(&g_page_size, __ATOMIC_RELAXED);
  if (page == 0) {
    long v = sysconf(_SC_PAGESIZE);
    page = v > 0 ? (size_t)v : 4096;
    __atomic_store_n(&g_page_size, page, __ATOMIC_RELAXED);
  }
  return page;
}

static void *os_mmap(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    errno = ENOMEM;
    return NULL;
  }
  return p;
}

void *sa_os_map(size_t size, size_t alignment) {
  size_t page = sa_os_page_size();
  if (size == 0 || size > (SIZE_MAX >> 2)) {
    errno = ENOMEM;
    return NULL;
  }
  size = sa_align_up(size, page);
  if (alignment <= page) return os_mmap(size);
  if (alignment > (SIZE_MAX >> 2) - size) {
    errno = ENOMEM;
    return NULL;
  }
  /* Over-map, then trim both ends to the aligned range. */
  size_t span = size + alignment - page;
  char *raw = os_mmap(span);
  if (raw == NULL) return NULL;
  char *aligned = (char *)sa_align_up((uintptr_t)raw, alignment);
  size_t head = (size_t)(aligned - raw);
  size_t tail = span - head - size;
  if (head) munmap(raw, head);
  if (tail) munmap(aligned + size, tail);
  return aligned;
}

void sa_os_unmap(void *addr, size_t size) {
  if (addr == NULL || size == 0) return;
  munmap(addr, sa_align_up(size, sa_os_page_size()));
}

void *sa_os_remap(void *addr, size_t old_size, size_t new_size, int may_move) {
  void *p = mremap(addr, old_size, new_size, may_move ? MREMAP_MAYMOVE : 0);
  if (p == MAP_FAILED) {
    errno = ENOMEM;
    return NULL;
  }
  return p;
}

void sa_os_decommit(void *addr, size_t size) {
  if (size) madvise(addr, size, MADV_DONTNEED);
}

/* OS memory. mmap/munmap/mremap/madvise never allocate and may run before
 * constructors, inside the dynamic loader or in a forked child. */
#define _GNU_SOURCE
#include "os.h"

#include <errno.h>
#include <fcntl.h>
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

int sa_os_move(void *addr, size_t size, void *dst) { /* errno: mremap's */
  return mremap(addr, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, dst) == dst ? 0 : -1;
}

/* Lines of a /proc file, read with system calls into the stack: no libc
 * call that allocates. -1 if it cannot be opened. */
static long os_count_lines(const char *path, long *first_number) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[4096];
  long lines = 0, num = 0;
  int in_first = 1;
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] == '\n') lines++, in_first = 0;
      else if (in_first && buf[i] >= '0' && buf[i] <= '9') num = num * 10 + (buf[i] - '0');
    }
  close(fd);
  if (first_number) *first_number = num;
  return lines;
}

int sa_os_vma_room(void) {
  static long limit; /* vm.max_map_count, read once */
  int saved = errno;
  if (__atomic_load_n(&limit, __ATOMIC_RELAXED) == 0) {
    long v = 0;
    if (os_count_lines("/proc/sys/vm/max_map_count", &v) < 0 || v <= 0) v = 65530; /* the kernel's default */
    __atomic_store_n(&limit, v, __ATOMIC_RELAXED);
  }
  long maps = os_count_lines("/proc/self/maps", NULL);
  errno = saved;
  return maps >= 0 && maps < __atomic_load_n(&limit, __ATOMIC_RELAXED) / 4;
}

void sa_os_decommit(void *addr, size_t size) {
  if (size) madvise(addr, size, MADV_DONTNEED);
}

/* OS memory, and the few other services of the OS the allocator needs (the
 * page size, a coarse clock, the count of mappings). mmap, munmap, mremap
 * and madvise never allocate and may run before constructors, inside the
 * dynamic loader or in a forked child.
 *
 * The page size comes from the auxiliary vector and the clock from the
 * vDSO itself, not sysconf and clock_gettime: those two sit in 64 KiB
 * windows of libc's text that a program using glibc's malloc does not
 * touch, and the kernel maps in a whole window around the first call (fault
 * around): 128 KiB more resident in every process, for two calls. */
#define _GNU_SOURCE
#include "os.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static size_t g_page_size;

size_t sa_os_page_size(void) {
  size_t page = __atomic_load_n(&g_page_size, __ATOMIC_RELAXED);
  if (page == 0) {
    unsigned long v = getauxval(AT_PAGESZ);
    page = v != 0 ? (size_t)v : 4096;
    __atomic_store_n(&g_page_size, page, __ATOMIC_RELAXED);
  }
  return page;
}

/* ---- the clock --------------------------------------------------------------- */

typedef int (*os_clock_fn)(clockid_t, struct timespec *);

/* __vdso_clock_gettime from the vDSO's dynamic symbol table (its DT_HASH
 * gives the symbol count), as musl and Go find it; NULL if it is not there. */
static os_clock_fn os_vdso_clock(void) {
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)getauxval(AT_SYSINFO_EHDR);
  if (eh == NULL || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64)
    return NULL;
  const Elf64_Phdr *ph = (const Elf64_Phdr *)((const char *)eh + eh->e_phoff);
  uintptr_t base = 0;
  const Elf64_Dyn *dyn = NULL;
  int loaded = 0;
  for (int i = 0; i < eh->e_phnum; i++) {
    if (ph[i].p_type == PT_LOAD && !loaded) {
      base = (uintptr_t)eh + ph[i].p_offset - ph[i].p_vaddr;
      loaded = 1;
    } else if (ph[i].p_type == PT_DYNAMIC) {
      dyn = (const Elf64_Dyn *)((const char *)eh + ph[i].p_offset);
    }
  }
  if (!loaded || dyn == NULL) return NULL;
  const Elf64_Sym *sym = NULL;
  const char *str = NULL;
  const Elf32_Word *hash = NULL;
  for (; dyn->d_tag != DT_NULL; dyn++) {
    if (dyn->d_tag == DT_SYMTAB) sym = (const Elf64_Sym *)(base + dyn->d_un.d_ptr);
    else if (dyn->d_tag == DT_STRTAB) str = (const char *)(base + dyn->d_un.d_ptr);
    else if (dyn->d_tag == DT_HASH) hash = (const Elf32_Word *)(base + dyn->d_un.d_ptr);
  }
  if (sym == NULL || str == NULL || hash == NULL) return NULL;
  for (Elf32_Word i = 0; i < hash[1]; i++) /* hash[1]: nchain, one per symbol */
    if (ELF64_ST_TYPE(sym[i].st_info) == STT_FUNC && sym[i].st_shndx != SHN_UNDEF &&
        strcmp(str + sym[i].st_name, "__vdso_clock_gettime") == 0)
      return (os_clock_fn)(base + sym[i].st_value);
  return NULL;
}

static os_clock_fn g_clock;
static int g_clock_known;

uint64_t sa_os_clock_ms(void) {
  if (!__atomic_load_n(&g_clock_known, __ATOMIC_ACQUIRE)) { /* a race looks it up twice: the same answer */
    __atomic_store_n(&g_clock, os_vdso_clock(), __ATOMIC_RELAXED);
    __atomic_store_n(&g_clock_known, 1, __ATOMIC_RELEASE);
  }
  os_clock_fn fn = __atomic_load_n(&g_clock, __ATOMIC_RELAXED);
  struct timespec ts = {0, 0};
  if (fn == NULL || fn(CLOCK_MONOTONIC_COARSE, &ts) != 0) {
    int saved = errno;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC_COARSE, &ts);
    errno = saved;
  }
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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
  int in_first = first_number != NULL; /* a number is wanted (maps' first line is addresses) */
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] == '\n') lines++, in_first = 0;
      else if (in_first && buf[i] >= '0' && buf[i] <= '9' && num < LONG_MAX / 10 - 9)
        num = num * 10 + (buf[i] - '0');
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

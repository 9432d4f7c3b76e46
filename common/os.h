/* sa_os_: the only code that asks the OS for memory (mmap, munmap, mremap,
 * madvise), and for the page size, the time and the count of mappings
 * (os.c says why not through libc). Every failure is NULL with errno
 * ENOMEM. */
#ifndef STRATALLOC_COMMON_OS_H
#define STRATALLOC_COMMON_OS_H

#include <stddef.h>

#include "stratalloc/strategy.h" /* sa_align_up */

/* sa_os_map, sa_os_unmap, sa_os_page_size: declared in strategy.h (strategies
 * map their metadata with them). size rounded up to pages; alignment 0 or a
 * power of two >= page size. */

#pragma GCC visibility push(hidden)

/* Grows or shrinks a mapping (mremap): in place, or moved (its pages with
 * it, none copied or faulted again) when may_move and the range after it
 * is taken. addr..addr+old_size must lie in one mapping of the OS's (one
 * VMA). NULL (mapping untouched) if the OS refuses. */
void *sa_os_remap(void *addr, size_t old_size, size_t new_size, int may_move);
/* Moves the mapping addr..addr+size (one VMA) onto dst..dst+size, which it
 * replaces (mremap MREMAP_FIXED): the pages go with it, none is copied or
 * faulted again. 0, or -1 (nothing moved, errno mremap's: EFAULT if the
 * range is several VMAs and the kernel moves only one) if the OS refuses. */
int sa_os_move(void *addr, size_t size, void *dst);
/* Whether the process has fewer than a quarter of the kernel's limit of
 * mappings (VMAs: vm.max_map_count) in use, counted in /proc/self/maps; 0
 * if that cannot be read. A read of a few KiB: for rare decisions only.
 * Leaves errno as it was. */
int sa_os_vma_room(void);
/* CLOCK_MONOTONIC_COARSE in milliseconds, from the vDSO (no system call,
 * no libc call, no allocation; a system call where there is no vDSO). */
uint64_t sa_os_clock_ms(void);
/* Gives the pages back but keeps the range mapped (reads as zero). */
void sa_os_decommit(void *addr, size_t size);


#pragma GCC visibility pop

#endif

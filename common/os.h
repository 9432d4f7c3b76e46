/* sa_os_: the only code that asks the OS for memory (mmap, munmap, mremap,
 * madvise). Every failure is NULL with errno ENOMEM. */
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
/* Gives the pages back but keeps the range mapped (reads as zero). */
void sa_os_decommit(void *addr, size_t size);


#pragma GCC visibility pop

#endif

/* sa_large_: allocations above mmap_threshold (and over-aligned ones that
 * would not fit a strategy), one mapping each, the segment header in front:
 *
 *   [sa_segment_t ... pad][user bytes ............][tail to the page end]
 *    ^ page aligned        ^ seg->user (aligned)
 *
 * The page map knows only the user pointer's page: anything else the page
 * map does not tie to the heap is told apart on the error path only
 * (sa_large_fault). */
#ifndef STRATALLOC_COMMON_LARGE_H
#define STRATALLOC_COMMON_LARGE_H

#include "segment.h"
#include "stratalloc/strategy.h"

#pragma GCC visibility push(hidden)

/* alignment: power of two >= SA_ALIGNMENT. NULL with errno ENOMEM.
 * zeroed (may be NULL): set to 1 if the bytes are fresh from the OS (zero),
 * 0 if they were reused from the segment cache. */
void *sa_large_malloc(sa_heap_t *heap, size_t size, size_t alignment, int *zeroed);
void sa_large_free(sa_heap_t *heap, sa_segment_t *seg, void *ptr);
/* size >= 1. NULL (ptr untouched) with errno ENOMEM. */
void *sa_large_realloc(sa_heap_t *heap, sa_segment_t *seg, void *ptr, size_t size);
void sa_large_walk(sa_heap_t *heap, sa_walker_t visit, void *arg);
/* A pointer the page map does not tie to this heap (heap.c's error path):
 * SA_FAULT_INTERIOR inside a live large object, SA_FAULT_FREED at a freed
 * one's user pointer while the segment cache holds its span, else
 * SA_FAULT_FOREIGN. */
sa_fault_t sa_large_fault(sa_heap_t *heap, const void *ptr);
/* Verifies the large list against the page map; returns failures. */
size_t sa_large_check(sa_heap_t *heap);

#pragma GCC visibility pop

#endif

/* sa_segment_ internals shared by segment.c, segment_cache.c and large.c:
 * registering memory the caller mapped, and taking a segment out of the page
 * map and the heap's list without unmapping it. */
#ifndef STRATALLOC_COMMON_SEGMENT_H
#define STRATALLOC_COMMON_SEGMENT_H

#include "stratalloc/strategy.h"

#pragma GCC visibility push(hidden)

/* Registers mem (size bytes, fresh from the OS) as a segment of heap: the
 * page map, the heap's list, mapped_bytes and total_mapped_bytes. NULL if
 * the page map could not grow (nothing registered, mem untouched). */
sa_segment_t *sa_segment_register(sa_heap_t *heap, void *mem, size_t size,
                                  sa_segment_kind_t kind);
/* The same for memory back from the segment cache (its bytes were counted
 * in total_mapped_bytes when first mapped). */
sa_segment_t *sa_segment_reregister(sa_heap_t *heap, void *mem, size_t size,
                                    sa_segment_kind_t kind);
/* Memory of at least size bytes (page multiple) and at most size + slack
 * from the segment cache's released spans, unregistered, its bytes as their
 * last user left them; *got: its size. NULL if none is kept. */
void *sa_segment_cache_pop(sa_heap_t *heap, size_t size, size_t slack, size_t *got);
/* Undoes register; the memory stays mapped and belongs to the caller. */
void sa_segment_unregister(sa_heap_t *heap, sa_segment_t *seg);
sa_segment_t *sa_segment_remap(sa_heap_t *heap, sa_segment_t *seg, size_t new_size);

#pragma GCC visibility pop

#endif

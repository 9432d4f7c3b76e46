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
/* The same for memory back from the segment cache, of which fresh bytes
 * are new from the OS (a cached span grown by mremap; counted in
 * total_mapped_bytes) and the rest were counted when first mapped. */
sa_segment_t *sa_segment_reregister(sa_heap_t *heap, void *mem, size_t size,
                                    sa_segment_kind_t kind, size_t fresh);
/* Memory of at least size bytes (a page multiple) for a large object from
 * the segment cache's released spans, unregistered, its bytes as their last
 * users left them: a span within 1/8 of size, or the best fit of the big
 * spans (split: the rest stays cached), or the largest big span of at least
 * size/2 grown by mremap (*fresh: its new bytes, zero, at the end). *got:
 * its size; *origin: the mapping it belongs to (segment_cache.c). NULL if
 * none would do. */
void *sa_segment_cache_pop(sa_heap_t *heap, size_t size, size_t *got, uint32_t *origin,
                           size_t *fresh);
/* A new origin: the tag of one mapping of the OS's (never 0). Two
 * address-adjacent ranges of one origin lie in one VMA (segment_cache.c),
 * unless the origin has SA_ORIGIN_GLUED: a range the cache put together
 * from several spans, contiguous but several VMAs, which mremap cannot
 * grow. */
#define SA_ORIGIN_GLUED ((uint32_t)1 << 31)
uint32_t sa_segment_new_origin(void);
/* A live large object grown or shrunk in place (no move), its mapping
 * [seg, seg + new_size): without a system call, from the cached span right
 * after it (grow) or by giving its tail to the cache (shrink). 0 on
 * success; -1 (nothing changed) if the cache cannot do it. */
int sa_segment_cache_resize(sa_heap_t *heap, sa_segment_t *seg, size_t new_size);
/* Undoes register; the memory stays mapped and belongs to the caller. */
void sa_segment_unregister(sa_heap_t *heap, sa_segment_t *seg);
/* Called with segment_lock held: a large object's seg->size and
 * seg->usable changed from old_usable; its counters follow. */
void sa_segment_large_resized(sa_heap_t *heap, sa_segment_t *seg, size_t old_usable);
/* Resizes a large object's mapping by mremap (moved only if may_move), its
 * user pointer at the same offset from the segment. The segment at its new
 * address, or NULL (errno ENOMEM, segment untouched). */
sa_segment_t *sa_segment_remap(sa_heap_t *heap, sa_segment_t *seg, size_t new_size, int may_move);

/* Destroy's first step: the heap off the purger's list for good (its
 * visits run the strategy's decay, which destroy tears down), and never
 * listed again. Returns once no visit of it can be running. */
void sa_segment_cache_quiesce(sa_heap_t *heap);

/* purge.c's view of the cache (all take segment_lock themselves). */
/* The background purger's visit of a listed heap at now: gives back what is
 * due (without segment_lock held while unmapping) and returns when the next
 * span comes due (ms), UINT64_MAX if the cache is empty, in which case the
 * heap has been marked unlisted and the caller unlinks it; a heap busy
 * (its lock taken) is left for retry_ms later. */
uint64_t sa_segment_cache_visit(sa_heap_t *heap, uint64_t now, uint64_t retry_ms);

#pragma GCC visibility pop

#endif

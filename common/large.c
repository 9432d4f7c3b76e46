#include "large.h"

#include <errno.h>
#include <string.h>

#include "os.h"
#include "pagemap.h"
#include "purge.h"

/* A default-aligned object in a span the segment cache kept (a freed large
 * object, its tail, or a slab): the nearest size, a bigger one split, or a
 * smaller one grown by mremap (segment_cache.c); NULL if none. A program
 * that mallocs and frees big buffers of varying sizes over and over then
 * pays no mmap, munmap or page faults (glibc gets the same from its heap,
 * raising its mmap threshold after such a free; tcmalloc from its page
 * heap). */
static void *large_from_cache(sa_heap_t *heap, size_t size) {
  size_t need = sa_align_up(SA_SEGMENT_HEADER_SIZE + size, sa_os_page_size()), got, fresh;
  uint32_t origin;
  char *start = sa_segment_cache_pop(heap, need, &got, &origin, &fresh);
  if (start == NULL) return NULL;
  sa_segment_t *seg = (sa_segment_t *)start;
  memset(seg, 0, SA_SEGMENT_HEADER_SIZE);
  seg->user = start + SA_SEGMENT_HEADER_SIZE;
  seg->usable = got - SA_SEGMENT_HEADER_SIZE;
  seg->strategy_data = origin != 0 ? origin : sa_segment_new_origin();
  if (sa_pagemap_set(seg->user, 1, seg) != 0) {
    /* Its bytes left mapped_bytes with the cache (and the fresh ones were
     * never counted): nothing to count. */
    sa_os_unmap(start, got);
    return NULL;
  }
  sa_segment_reregister(heap, start, got, SA_SEGMENT_LARGE, fresh);
  return seg->user;
}

void *sa_large_malloc(sa_heap_t *heap, size_t size, size_t alignment, int *zeroed) {
  size_t page = sa_os_page_size();
  if (size > PTRDIFF_MAX - 2 * page - alignment) {
    errno = ENOMEM;
    return NULL;
  }
  if (alignment <= SA_SEGMENT_HEADER_SIZE) {
    void *user = large_from_cache(heap, size);
    if (user != NULL) {
      if (zeroed) *zeroed = 0;
      sa_purge_poll(1);
      return user;
    }
  }
  if (zeroed) *zeroed = 1;
  /* Over-map by the alignment, then trim both ends: the header goes on the
   * page just below the aligned user pointer. */
  size_t span = sa_align_up(SA_SEGMENT_HEADER_SIZE + size, page) +
                (alignment > SA_SEGMENT_HEADER_SIZE ? alignment : 0);
  char *raw = sa_os_map(span, 0);
  /* Out of address space (RLIMIT_AS): what the segment cache keeps goes first. */
  if (raw == NULL && sa_segment_cache_purge(heap) != 0) raw = sa_os_map(span, 0);
  if (raw == NULL) return NULL;
  char *user = (char *)sa_align_up((uintptr_t)raw + SA_SEGMENT_HEADER_SIZE, alignment);
  char *start = (char *)((uintptr_t)(user - SA_SEGMENT_HEADER_SIZE) & ~(uintptr_t)(page - 1));
  char *end = (char *)sa_align_up((uintptr_t)user + size, page);
  if (start > raw) sa_os_unmap(raw, (size_t)(start - raw));
  if (raw + span > end) sa_os_unmap(end, (size_t)(raw + span - end));

  /* Page map first, list (and counters) second: whatever a fork catches,
   * a listed object is always findable. */
  sa_segment_t *seg = (sa_segment_t *)start;
  seg->user = user;
  seg->usable = (size_t)(end - user);
  seg->strategy_data = sa_segment_new_origin(); /* a mapping of its own */
  if (sa_pagemap_set(user, 1, seg) != 0) {
    sa_os_unmap(start, (size_t)(end - start));
    errno = ENOMEM;
    return NULL;
  }
  sa_segment_register(heap, start, (size_t)(end - start), SA_SEGMENT_LARGE);
  sa_purge_poll(1);
  return user;
}

void sa_large_free(sa_heap_t *heap, sa_segment_t *seg, void *ptr) {
  if (SA_UNLIKELY(seg->user != ptr)) sa_fatal_block(heap, SA_OP_FREE, SA_FAULT_INTERIOR, ptr);
  sa_segment_release(heap, seg); /* kept for reuse a while, or unmapped */
  sa_purge_poll(1);                /* no allocator lock is held here */
}

/* Moves the object into a new block (a strategy's, or a new large object):
 * realloc's last resort. */
static void *large_realloc_copy(sa_heap_t *heap, sa_segment_t *seg, void *ptr, size_t size) {
  size_t old_usable = seg->usable;
  void *fresh = sa_malloc(heap, size);
  if (fresh == NULL) return NULL;
  memcpy(fresh, ptr, size < old_usable ? size : old_usable);
  sa_large_free(heap, seg, ptr);
  return fresh;
}

/* In place when it can be (the object keeps its address and alignment):
 * from the cached span right after it or into the cache (no system call),
 * else by mremap; a default-aligned object may move, its pages with it
 * (mremap, MREMAP_MAYMOVE: no copy, no page fault again). A result that
 * fits a strategy's blocks is copied there. */
void *sa_large_realloc(sa_heap_t *heap, sa_segment_t *seg, void *ptr, size_t size) {
  if (SA_UNLIKELY(seg->user != ptr)) sa_fatal_block(heap, SA_OP_REALLOC, SA_FAULT_INTERIOR, ptr);
  size_t old_usable = seg->usable;
  if (size <= old_usable && size > old_usable / 2) return ptr;
  if (size <= heap->small_limit) return large_realloc_copy(heap, seg, ptr, size);
  size_t page = sa_os_page_size();
  if (size > PTRDIFF_MAX - 2 * page) {
    errno = ENOMEM;
    return NULL;
  }
  size_t offset = (size_t)((char *)ptr - (char *)seg);
  size_t new_size = sa_align_up(offset + size, page);
  if (new_size == seg->size) return ptr;
  if (sa_segment_cache_resize(heap, seg, new_size) == 0) {
    sa_purge_poll(1);
    return ptr;
  }
  int default_aligned = offset == SA_SEGMENT_HEADER_SIZE;
  sa_segment_t *moved = sa_segment_remap(heap, seg, new_size, default_aligned);
  if (moved != NULL) return moved->user;
  /* Over-aligned with its neighbour taken, or the OS refused mremap. */
  return large_realloc_copy(heap, seg, ptr, size);
}

/* segment_cache.c */
__attribute__((visibility("hidden"))) int sa_segment_cache_holds(sa_heap_t *heap, const void *ptr);

/* The error path of a pointer the page map does not tie to this heap
 * (heap.c's owner check): which fault it is.
 *  - Inside a live large object of this heap, past its first page (the page
 *    map knows only the page of the user pointer): SA_FAULT_INTERIOR.
 *  - The user pointer of a freed large object whose span the segment cache
 *    still holds: SA_FAULT_FREED (a double free, or realloc or
 *    malloc_usable_size of a freed pointer).
 *  - Anything else: SA_FAULT_FOREIGN. That includes a freed large object
 *    the cache gave back to the OS (or never kept: above
 *    SA_SEGMENT_CACHE_BIG_MAX, segment_cache_bytes:0): its pages may belong
 *    to anyone by now.
 * O(segments + cached spans), under segment_lock; never allocates. */
__attribute__((visibility("hidden"), cold)) sa_fault_t sa_large_fault(sa_heap_t *heap,
                                                                      const void *ptr) {
  int inside = 0;
  pthread_mutex_lock(&heap->segment_lock);
  for (sa_segment_t *seg = heap->segments; seg && !inside; seg = seg->next)
    inside = seg->kind == SA_SEGMENT_LARGE && (const char *)ptr >= (const char *)seg &&
             (const char *)ptr < (const char *)seg + seg->size;
  pthread_mutex_unlock(&heap->segment_lock);
  if (inside) return SA_FAULT_INTERIOR;
  return sa_segment_cache_holds(heap, ptr) ? SA_FAULT_FREED : SA_FAULT_FOREIGN;
}

void sa_large_walk(sa_heap_t *heap, sa_walker_t visit, void *arg) {
  pthread_mutex_lock(&heap->segment_lock);
  for (sa_segment_t *seg = heap->segments; seg; seg = seg->next)
    if (seg->kind == SA_SEGMENT_LARGE) visit(seg->user, seg->usable, SA_BLOCK_USED, arg);
  pthread_mutex_unlock(&heap->segment_lock);
}

size_t sa_large_check(sa_heap_t *heap) {
  size_t failures = 0, blocks = 0, bytes = 0, mapped = 0;
  pthread_mutex_lock(&heap->segment_lock);
  for (sa_segment_t *seg = heap->segments; seg; seg = seg->next) {
    mapped += seg->size;
    if (seg->heap != heap) {
      sa_check_report(heap, "segment on the list of another heap", seg);
      failures++;
    }
    if (seg->next && seg->next->prev != seg) {
      sa_check_report(heap, "segment list links disagree", seg);
      failures++;
    }
    if (seg->kind != SA_SEGMENT_LARGE) {
      if (sa_pagemap_get(seg) != seg || sa_pagemap_get((char *)seg + seg->size - 1) != seg) {
        sa_check_report(heap, "heap segment not in the page map", seg);
        failures++;
      }
      continue;
    }
    blocks++;
    bytes += seg->usable;
    if (sa_pagemap_get(seg->user) != seg) {
      sa_check_report(heap, "large object not in the page map", seg->user);
      failures++;
    }
    if ((char *)seg->user + seg->usable != (char *)seg + seg->size) {
      sa_check_report(heap, "large object size disagrees with its mapping", seg->user);
      failures++;
    }
  }
  if (blocks != heap->large.current_blocks || bytes != heap->large.current_bytes) {
    sa_check_report(heap, "large object counters disagree with the segment list", NULL);
    failures++;
  }
  mapped += heap->segment_cache.cached_bytes; /* released, kept mapped (segment_cache.c) */
  if (mapped != __atomic_load_n(&heap->mapped_bytes, __ATOMIC_RELAXED)) {
    sa_check_report(heap, "mapped_bytes disagrees with the segment list", NULL);
    failures++;
  }
  pthread_mutex_unlock(&heap->segment_lock);
  return failures;
}

/* The sa_ API: argument checks and everything derivable once (calloc,
 * realloc by copy, the aligned variants), large objects routed to large.c,
 * and the rest dispatched to the heap's strategy. */
#include <errno.h>
#include <string.h>

#include "large.h"
#include "os.h"
#include "pagemap.h"
#include "segment.h"
#include "stratalloc/strategy.h"

/* ======================================================================== */
/* Heaps                                                                    */
/* ======================================================================== */

sa_heap_t *sa_heap_base_create(const sa_strategy_t *strategy, const sa_config_t *config,
                               size_t struct_size) {
  size_t map_size = sa_align_up(struct_size, sa_os_page_size());
  sa_heap_t *heap = sa_os_map(map_size, 0);
  if (heap == NULL) return NULL;
  heap->strategy = strategy;
  if (config) {
    heap->config = *config;
    sa_config_check(&heap->config); /* a field out of range: named, its default kept */
  } else {
    sa_config_from_env(&heap->config);
  }
  heap->heap_map_size = map_size;
  heap->small_limit = heap->config.mmap_threshold;
  pthread_mutex_init(&heap->segment_lock, NULL);
  return heap;
}

sa_heap_t *sa_heap_create(const sa_strategy_t *strategy, const sa_config_t *config) {
  if (strategy == NULL) {
    errno = EINVAL;
    return NULL;
  }
  return strategy->create(strategy, config);
}

void sa_heap_destroy(sa_heap_t *heap) {
  if (heap == NULL) return;
  sa_segment_cache_quiesce(heap); /* the purger's visits run the strategy's decay */
  heap->strategy->destroy(heap);
  while (heap->segments) sa_segment_unmap(heap, heap->segments);
  sa_segment_cache_purge(heap);
  pthread_mutex_destroy(&heap->segment_lock);
  sa_os_unmap(heap, heap->heap_map_size);
}

size_t sa_heap_trim(sa_heap_t *heap) { return heap ? sa_segment_cache_purge(heap) : 0; }

const sa_strategy_t *sa_heap_strategy(const sa_heap_t *heap) { return heap->strategy; }
const sa_config_t *sa_heap_config(const sa_heap_t *heap) { return &heap->config; }
const char *sa_strategy_name(const sa_strategy_t *strategy) { return strategy->name; }

/* The process heap lives in override.c; a program without it has none. */
__attribute__((weak)) sa_heap_t *sa_override_heap(void);
sa_heap_t *sa_process_heap(void) { return sa_override_heap ? sa_override_heap() : NULL; }

/* ======================================================================== */
/* Allocation                                                               */
/* ======================================================================== */

static void *heap_malloc_slow(sa_heap_t *heap, size_t size);
static void *heap_malloc_polling(sa_heap_t *heap, size_t size);

/* sa_malloc and sa_free are safe points of the purger (no lock held, no
 * call under way): a slab emptied into the segment cache by a free asks
 * for one too, and a program of small blocks never reaches large.c's. They
 * look before the strategy's call so that it stays a tail call, with no
 * frame; so the one free that first caches something starts no purger if
 * it is the program's last call (the thread cache's flush looks after). */
void *sa_malloc(sa_heap_t *heap, size_t size) {
  /* size 0 wraps around and takes the slow path with the large sizes. */
  if (SA_LIKELY(size - 1 < heap->small_limit)) {
    if (sa_purge_wanted()) return heap_malloc_polling(heap, size);
    return heap->strategy->malloc(heap, size);
  }
  return heap_malloc_slow(heap, size);
}

/* Called by sa_malloc when a purger is asked for. */
static __attribute__((noinline, cold)) void *heap_malloc_polling(sa_heap_t *heap, size_t size) {
  sa_purge_poll(1);
  return heap->strategy->malloc(heap, size);
}

/* Called by sa_malloc for size 0 and sizes above the small limit. */
static void *heap_malloc_slow(sa_heap_t *heap, size_t size) {
  if (size == 0) return heap->strategy->malloc(heap, 1);
  if (size > PTRDIFF_MAX) {
    errno = ENOMEM;
    return NULL;
  }
  return sa_large_malloc(heap, size, SA_ALIGNMENT, NULL);
}

/* The owner segment of ptr, or a report and abort(). */
static sa_segment_t *heap_owner(sa_heap_t *heap, const void *ptr, sa_op_t op) {
  sa_segment_t *seg = sa_pagemap_get(ptr);
  if (SA_UNLIKELY(seg == NULL || seg->heap != heap))
    sa_fatal_block(heap, op, sa_large_fault(heap, ptr), ptr);
  return seg;
}

void sa_free(sa_heap_t *heap, void *ptr) {
  if (ptr == NULL) return;
  sa_segment_t *seg = heap_owner(heap, ptr, SA_OP_FREE);
  if (SA_LIKELY(seg->kind == SA_SEGMENT_HEAP)) {
    sa_purge_poll(1); /* see sa_malloc */
    heap->strategy->free(heap, seg, ptr);
  } else {
    sa_large_free(heap, seg, ptr);
  }
}

size_t sa_usable_size(sa_heap_t *heap, const void *ptr) {
  if (ptr == NULL) return 0;
  sa_segment_t *seg = heap_owner(heap, ptr, SA_OP_USABLE_SIZE);
  if (seg->kind == SA_SEGMENT_HEAP) return heap->strategy->usable_size(heap, seg, ptr, SA_OP_USABLE_SIZE);
  if (seg->user != ptr) sa_fatal_block(heap, SA_OP_USABLE_SIZE, SA_FAULT_INTERIOR, ptr);
  return seg->usable;
}

void *sa_calloc(sa_heap_t *heap, size_t count, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  if (total - 1 < heap->small_limit || total == 0 || total > PTRDIFF_MAX) {
    void *p = sa_malloc(heap, total);
    if (p != NULL) memset(p, 0, total);
    return p;
  }
  int zeroed;
  void *p = sa_large_malloc(heap, total, SA_ALIGNMENT, &zeroed);
  if (p != NULL && !zeroed) memset(p, 0, total); /* fresh mappings are zero already */
  return p;
}

void *sa_realloc(sa_heap_t *heap, void *ptr, size_t size) {
  if (ptr == NULL) return sa_malloc(heap, size);
  if (size == 0) { /* glibc: frees and returns NULL */
    sa_free(heap, ptr);
    return NULL;
  }
  sa_segment_t *seg = heap_owner(heap, ptr, SA_OP_REALLOC);
  if (size > PTRDIFF_MAX) {
    errno = ENOMEM;
    return NULL;
  }
  if (seg->kind == SA_SEGMENT_LARGE) return sa_large_realloc(heap, seg, ptr, size);
  if (heap->strategy->realloc && size <= heap->small_limit)
    return heap->strategy->realloc(heap, seg, ptr, size);
  size_t old = heap->strategy->usable_size(heap, seg, ptr, SA_OP_REALLOC);
  if (size <= old && size > old / 2) return ptr;
  void *fresh = sa_malloc(heap, size > old ? sa_realloc_grow(old, size) : size);
  if (fresh == NULL) return NULL;
  memcpy(fresh, ptr, size < old ? size : old);
  heap->strategy->free(heap, seg, ptr);
  return fresh;
}

/* ======================================================================== */
/* Aligned allocation                                                       */
/* ======================================================================== */

void *sa_memalign(sa_heap_t *heap, size_t alignment, size_t size) {
  if (alignment <= SA_ALIGNMENT) return sa_malloc(heap, size);
  if (alignment > ((size_t)1 << 62)) {
    errno = EINVAL;
    return NULL;
  }
  if (alignment & (alignment - 1)) /* glibc rounds up to a power of two */
    alignment = (size_t)1 << (64 - __builtin_clzl(alignment));
  if (size > PTRDIFF_MAX - alignment) {
    errno = ENOMEM;
    return NULL;
  }
  if (size == 0) size = 1;
  if (size + alignment > heap->small_limit)
    return sa_large_malloc(heap, size, alignment, NULL);
  return heap->strategy->memalign(heap, alignment, size);
}

int sa_posix_memalign(sa_heap_t *heap, void **out, size_t alignment, size_t size) {
  if (alignment == 0 || (alignment & (alignment - 1)) || alignment % sizeof(void *)) return EINVAL;
  int saved = errno;
  void *p = sa_memalign(heap, alignment, size);
  if (p == NULL) {
    errno = saved;
    return ENOMEM;
  }
  *out = p;
  return 0;
}

void *sa_aligned_alloc(sa_heap_t *heap, size_t alignment, size_t size) {
  if (alignment == 0 || (alignment & (alignment - 1))) {
    errno = EINVAL;
    return NULL;
  }
  return sa_memalign(heap, alignment, size);
}

void *sa_valloc(sa_heap_t *heap, size_t size) {
  return sa_memalign(heap, sa_os_page_size(), size);
}

void *sa_pvalloc(sa_heap_t *heap, size_t size) {
  size_t page = sa_os_page_size();
  if (size > PTRDIFF_MAX - page) {
    errno = ENOMEM;
    return NULL;
  }
  return sa_memalign(heap, page, size ? sa_align_up(size, page) : page);
}

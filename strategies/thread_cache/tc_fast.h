/* The process heap's fast path over a thread cache, inlined into malloc and
 * free by common/override.c (built with SA_OVERRIDE_THREAD_CACHE). No lock,
 * no atomic read-modify-write, no call: an initial-exec TLS load, a table
 * lookup, a pop or a push. Anything else (an empty bin, a full one, a
 * pointer that is not the start of a block of a slab of this heap, a block
 * that carries a mark, a thread without a cache yet) returns NULL / 0 and
 * the caller takes the sa_ path, which is the same logic with every case
 * handled and reported (thread_cache.c).
 *
 * Instruction count per malloc(32)+free pair: see README.md. */
#ifndef STRATALLOC_STRATEGIES_THREAD_CACHE_TC_FAST_H
#define STRATALLOC_STRATEGIES_THREAD_CACHE_TC_FAST_H

#include <string.h>

#include "strategies/thread_cache/tc.h"

/* A block of n bytes from the calling thread's cache, or NULL. One test of
 * the head's mark covers an empty bin (TC_END), a damaged block and, in
 * tc_no_cache, a thread without a cache: the slow path tells which. */
static inline __attribute__((always_inline)) void *tc_fast_malloc(size_t n) {
  tc_cache_t *c = tc_process_cache; /* &tc_no_cache until the thread has one */
  tc_bin_t *b;
  if (SA_LIKELY(n <= TC_SMALL_MAX)) b = c->small_bin[(n + 15) >> 4];
  else if (n <= TC_MAX_CACHED) b = &c->bins[c->class_bin[tc_bin_ceil(n)]];
  else return NULL;
  return tc_try_pop(c, b);
}

/* The slab of ptr if ptr is a live, unmarked block of a slab of the process
 * heap within the cache's sizes, else NULL (the slow path reports a bad
 * pointer or a block the back-end holds free). Reads *ptr only once its
 * slab index holds it (sa_segment_probe). */
static inline __attribute__((always_inline)) sa_segment_t *tc_fast_block(const tc_cache_t *c,
                                                                         void *ptr) {
  sa_segment_t *seg = sa_segment_probe(ptr);
  if (SA_UNLIKELY(seg == NULL || seg->heap != c->heap)) return NULL;
  /* A slab of blocks past TC_MAX_CACHED has a size_class past the bins;
   * any other segment has 0 and no slots, which sa_slab_index rejects. */
  if (SA_UNLIKELY(seg->size_class >= TC_NBINS)) return NULL;
  uint32_t idx = sa_slab_index(seg, ptr);
  if (SA_UNLIKELY(idx == UINT32_MAX || !sa_slab_live(seg, idx) || tc_tagged(c, ptr))) return NULL;
  return seg;
}

/* Puts p into the calling thread's cache; 0 if the caller must free it the
 * slow way (p NULL, not the start of a slab block of the process heap,
 * marked, no cache). Never touches errno. */
static inline __attribute__((always_inline)) int tc_fast_free(void *ptr) {
  tc_cache_t *c = tc_process_cache;
  sa_segment_t *seg = tc_fast_block(c, ptr);
  if (SA_UNLIKELY(seg == NULL)) return 0;
  tc_push(c, &c->bins[seg->size_class], ptr, seg->usable); /* tc_bin_floor(usable) */
  return 1;
}

/* calloc of the same sizes: the malloc above and a clear; NULL (the caller
 * takes the sa_ path, which reports an overflow) otherwise. */
static inline __attribute__((always_inline)) void *tc_fast_calloc(size_t count, size_t size) {
  size_t n;
  if (SA_UNLIKELY(__builtin_mul_overflow(count, size, &n))) return NULL;
  void *p = tc_fast_malloc(n);
  if (SA_LIKELY(p != NULL)) memset(p, 0, n);
  return p;
}

/* realloc of a slab block of the process heap to 1..TC_MAX_CACHED bytes: in
 * place while it fits and is not more than twice too big (sa_tc_realloc's
 * rule), else a block from the cache, a copy and a push; each step checked
 * as tc_fast_free checks it. NULL: the caller takes the sa_ path, which
 * handles and reports everything else (NULL, 0, large, a freed block). */
static inline __attribute__((always_inline)) void *tc_fast_realloc(void *ptr, size_t n) {
  tc_cache_t *c = tc_process_cache;
  if (SA_UNLIKELY(n - 1 >= TC_MAX_CACHED)) return NULL;
  sa_segment_t *seg = tc_fast_block(c, ptr);
  if (SA_UNLIKELY(seg == NULL)) return NULL;
  size_t u = seg->usable;
  if (n <= u && n > u / 2) return ptr;
  size_t want = n > u ? sa_realloc_grow(u, n) : n;
  void *fresh = tc_fast_malloc(want <= TC_MAX_CACHED ? want : TC_MAX_CACHED);
  if (SA_UNLIKELY(fresh == NULL)) return NULL;
  memcpy(fresh, ptr, n < u ? n : u);
  tc_push(c, &c->bins[seg->size_class], ptr, u);
  return fresh;
}

#endif /* STRATALLOC_STRATEGIES_THREAD_CACHE_TC_FAST_H */

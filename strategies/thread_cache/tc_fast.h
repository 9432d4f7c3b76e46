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

#include "strategies/thread_cache/tc.h"

/* A block of n bytes from the calling thread's cache, or NULL. One test of
 * the head's mark covers an empty bin (TC_END), a damaged block and, in
 * tc_no_cache, a thread without a cache: the slow path tells which. */
static inline __attribute__((always_inline)) void *tc_fast_malloc(size_t n) {
  tc_cache_t *c = tc_process_cache; /* &tc_no_cache until the thread has one */
  if (SA_UNLIKELY(n > TC_SMALL_MAX)) return NULL;
  tc_bin_t *b = tc_bin_at(c, c->small_off[(n + 15) >> 4]);
  void *p = b->head;
  uint64_t u = tc_mark_of(c, p);
  if (SA_UNLIKELY(u > 0xffff)) return NULL;
  b->head = tc_next(c, p);
  b->room++;
  *tc_mark_word(p) = 0; /* no mark in a live block */
  tc_count_pop(c, u);
  return p;
}

/* Puts p into the calling thread's cache; 0 if the caller must free it the
 * slow way (p NULL, not the start of a slab block of the process heap,
 * marked, no cache). Never touches errno. */
static inline __attribute__((always_inline)) int tc_fast_free(void *ptr) {
  tc_cache_t *c = tc_process_cache;
  sa_segment_t *seg = sa_segment_of(ptr);
  if (SA_UNLIKELY(seg == NULL || seg->heap != c->heap)) return 0;
  size_t u = seg->usable; /* slabs: the block size; others 0; large: > TC_SMALL_MAX */
  if (SA_UNLIKELY(u - 1 >= TC_SMALL_MAX || !sa_slab_block_start(seg, ptr) ||
                  tc_tagged(c, ptr)))
    return 0;
  tc_push(c, tc_bin_at(c, c->floor_off[u >> 4]), ptr, u);
  return 1;
}

#endif /* STRATALLOC_STRATEGIES_THREAD_CACHE_TC_FAST_H */

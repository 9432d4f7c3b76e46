/* thread_cache: per-thread bins of free blocks over any back-end.
 *
 * malloc: the calling thread's cache of the heap, the bin of the request, pop.
 * free:   the block's usable size (the segment's, or the back-end's), its
 *         bin, push; a bin past its limit gives a batch back.
 * A miss fills the bin with cache_fill_threshold blocks from the back-end;
 * blocks larger than TC_MAX_CACHED, aligned requests and everything when the
 * cache is off go to the back-end directly.
 *
 * The process heap's malloc and free take the same steps inline in
 * common/override.c (tc_fast.h); these are the sa_ API's entry points and
 * every slow path. See README.md for the design and its invariants. */
#include <errno.h>
#include <string.h>

#include "strategies/thread_cache/tc.h"

static inline tc_heap_t *tc_of(sa_heap_t *heap) { return (tc_heap_t *)heap->frontend; }

/* The back-end's usable size of a live block: the segment says it for slabs
 * (no lock); otherwise the back-end validates and answers. */
static inline size_t tc_block_usable(tc_heap_t *h, sa_segment_t *seg, const void *p) {
  size_t u = seg->usable;
  if (SA_LIKELY(u != 0 && seg->kind == SA_SEGMENT_HEAP)) return u;
  return h->backend->usable_size(h->heap, seg, p, SA_OP_FREE);
}

/* ======================================================================== */
/* Fast path                                                                */
/* ======================================================================== */

static void *tc_refill(tc_heap_t *h, tc_cache_t *c, size_t req);
static void *tc_bypass_malloc(tc_heap_t *h, tc_cache_t *c, size_t size, size_t alignment);
static void tc_bypass_free(tc_heap_t *h, tc_cache_t *c, sa_segment_t *seg, void *p, size_t u);

void *sa_tc_malloc(sa_heap_t *heap, size_t size) {
  tc_heap_t *h = tc_of(heap);
  tc_cache_t *c = tc_cache_of(h);
  if (SA_UNLIKELY(c == NULL || size > TC_MAX_CACHED)) return tc_bypass_malloc(h, c, size, 0);
  size_t req = size <= TC_SMALL_MAX ? c->small_bin[(size + 15) >> 4] : c->class_bin[tc_bin_ceil(size)];
  tc_bin_t *b = &c->bins[req];
  void **p = b->head;
  if (SA_LIKELY(p != NULL)) return tc_pop(c, b, p);
  return tc_refill(h, c, tc_bin_ceil(size)); /* common never passes 0 */
}

void sa_tc_free(sa_heap_t *heap, sa_segment_t *seg, void *ptr) {
  tc_heap_t *h = tc_of(heap);
  tc_cache_t *c = tc_cache_of(h);
  void **p = ptr;
  if (SA_UNLIKELY(c == NULL)) {
    h->backend->free(heap, seg, p);
    return;
  }
  /* Every block is 16-aligned: an interior pointer is usually not, and is
   * caught here before the cache would take it. */
  if (SA_UNLIKELY(((uintptr_t)p & (SA_ALIGNMENT - 1)) != 0)) sa_fatal_block(heap, SA_OP_FREE, SA_FAULT_INTERIOR, p);
  size_t u = tc_block_usable(h, seg, p);
  if (SA_UNLIKELY(u > TC_MAX_CACHED)) {
    tc_bypass_free(h, c, seg, p, u);
    return;
  }
  size_t b = tc_bin_floor(u);
  if (SA_UNLIKELY(tc_marked(c, p)) && tc_holds(c, p, u)) sa_fatal_block(heap, SA_OP_FREE, SA_FAULT_FREED, p);
  tc_push(c, &c->bins[b], p, u);
}

/* ======================================================================== */
/* Slow path: fill, flush, bypass                                           */
/* ======================================================================== */

#define TC_BATCH 64 /* blocks per back-end batch call (on the stack) */

/* Takes up to n blocks of size bytes from the back-end into out: one batch
 * call (one lock) when it has malloc_batch. */
static size_t tc_take(tc_heap_t *h, size_t size, void **out, size_t n, size_t *usable) {
  if (h->backend->malloc_batch) return h->backend->malloc_batch(h->heap, size, out, n, usable);
  *usable = 0; /* each block's own */
  size_t got = 0;
  while (got < n && (out[got] = h->backend->malloc(h->heap, size)) != NULL) got++;
  return got;
}

static void tc_give(tc_heap_t *h, void **blocks, size_t n) {
  if (h->backend->free_batch) {
    h->backend->free_batch(h->heap, blocks, n);
    return;
  }
  for (size_t i = 0; i < n; i++) h->backend->free(h->heap, sa_segment_of(blocks[i]), blocks[i]);
}

/* A miss on request bin req: up to fill_threshold blocks of that bin's size
 * from the back-end. Each goes to the bin of its own usable size (a buddy
 * rounds 80 bytes up to 128: bin 128); the request bin then maps to the
 * smallest bin the batch landed in, so the next request finds them. */
static void *tc_refill(tc_heap_t *h, tc_cache_t *c, size_t req) {
  size_t size = tc_bin_size(req);
  void **first = NULL;
  size_t lowest = TC_NBINS;
  void *batch[TC_BATCH];
  void *back[TC_BATCH];
  size_t nback = 0;
  /* No more than half of what the bin may hold. */
  uint32_t half = c->bins[req].limit / 2;
  for (uint32_t want = c->fill_threshold < half ? c->fill_threshold : (half ? half : 1); want > 0;) {
    size_t batch_usable;
    size_t got = tc_take(h, size, batch, want < TC_BATCH ? want : TC_BATCH, &batch_usable);
    uint64_t got_bytes = 0;
    for (size_t i = 0; i < got; i++) {
      void **p = batch[i];
      size_t u = batch_usable ? batch_usable : tc_block_usable(h, sa_segment_of(p), p);
      got_bytes += u;
      size_t b = u <= TC_MAX_CACHED ? tc_bin_floor(u) : TC_NBINS;
      if (b < lowest) lowest = b;
      if (first == NULL) {
        first = p;
        p[1] = (void *)(uintptr_t)(c->mark | u); /* as if it had been in a bin */
        continue;
      }
      if (b == TC_NBINS) { /* a back-end that rounds past our largest bin */
        TC_ADD(c->n.flushes, 1);
        TC_ADD(c->n.flush_bytes, u);
        back[nback++] = p;
        continue;
      }
      tc_bin_t *bin = &c->bins[b];
      p[0] = bin->head;
      p[1] = (void *)(uintptr_t)(c->mark | u);
      bin->head = p;
      bin->count++;
    }
    TC_ADD(c->n.fills, got);
    TC_ADD(c->n.fill_bytes, got_bytes);
    if (nback) tc_give(h, back, nback);
    nback = 0;
    if (got < (want < TC_BATCH ? want : TC_BATCH)) break; /* out of memory: what we have */
    want -= (uint32_t)got;
  }
  if (first == NULL) return NULL; /* errno ENOMEM from the back-end */
  TC_ADD(c->n.misses, 1);
  if (lowest < TC_NBINS && c->class_bin[req] != lowest) {
    c->class_bin[req] = (uint8_t)lowest;
    for (size_t i = 0; i < TC_SMALL_SLOTS; i++)
      if (tc_bin_ceil(i ? i * 16 : 1) == req) c->small_bin[i] = (uint8_t)lowest;
  }
  /* `first` counts as filled and popped: held = fills + pushes - pops -
   * flushes stays exact. */
  tc_count_pop(c, (uint32_t)(uintptr_t)first[1]);
  first[1] = NULL;
  return first;
}

/* Gives bin b back down to half of its limit: the blocks nearest the
 * head go (the bin is LIFO, so those are the most recently freed; the ones
 * kept are as good), in batches. The back-end's free validates each. */
void tc_flush(tc_cache_t *c, tc_bin_t *b) {
  tc_heap_t *h = c->owner;
  uint32_t keep = b->limit / 2;
  void *batch[TC_BATCH];
  while (b->count > keep) {
    size_t n = 0;
    uint64_t bytes = 0;
    while (b->count > keep && n < TC_BATCH) {
      void **p = b->head;
      b->head = (void **)p[0];
      b->count--;
      bytes += (uint32_t)(uintptr_t)p[1];
      p[1] = NULL;
      batch[n++] = p;
    }
    TC_ADD(c->n.flushes, n);
    TC_ADD(c->n.flush_bytes, bytes);
    tc_give(h, batch, n);
  }
}

void tc_flush_all(tc_cache_t *c) {
  for (size_t b = 0; b < TC_NBINS; b++) {
    tc_bin_t *bin = &c->bins[b];
    uint32_t saved = bin->limit;
    bin->limit = 0;
    if (bin->count) tc_flush(c, bin);
    bin->limit = saved;
  }
}

int tc_holds(const tc_cache_t *c, const void *p, size_t u) {
  if (u < 16 || u > TC_MAX_CACHED) return 0;
  const tc_bin_t *b = &c->bins[tc_bin_floor(u)];
  uint32_t n = 0;
  for (void **q = b->head; q != NULL && n <= b->count; q = (void **)q[0], n++)
    if (q == p) return 1;
  return 0;
}

/* Counted in the thread's cache when it has one; a thread without one (being
 * set up, torn down, or the cache is off) leaves the counting to the
 * back-end: tc_stats then reports the back-end's view. */
static void *tc_bypass_malloc(tc_heap_t *h, tc_cache_t *c, size_t size, size_t alignment) {
  void *p = alignment ? h->backend->memalign(h->heap, alignment, size)
                      : h->backend->malloc(h->heap, size);
  if (p != NULL && c != NULL) {
    size_t u = tc_block_usable(h, sa_segment_of(p), p);
    TC_ADD(c->n.bypass, 1);
    TC_ADD(c->n.bypass_bytes, u);
    int64_t live = tc_live(&c->n);
    if (live > c->n.peak) __atomic_store_n(&c->n.peak, live, __ATOMIC_RELAXED);
  }
  return p;
}

static void tc_bypass_free(tc_heap_t *h, tc_cache_t *c, sa_segment_t *seg, void *p, size_t u) {
  if (c != NULL) {
    if (SA_UNLIKELY(tc_marked(c, p)) && tc_holds(c, p, u)) sa_fatal_block(h->heap, SA_OP_FREE, SA_FAULT_FREED, p);
    TC_ADD(c->n.bypass_free_bytes, u);
  }
  h->backend->free(h->heap, seg, p);
}

/* ======================================================================== */
/* memalign, realloc, usable_size                                           */
/* ======================================================================== */

void *sa_tc_memalign(sa_heap_t *heap, size_t alignment, size_t size) {
  tc_heap_t *h = tc_of(heap);
  return tc_bypass_malloc(h, tc_cache_of(h), size, alignment);
}

/* A block in the caller's own cache is free, whatever the back-end thinks. */
static size_t tc_live_usable(tc_heap_t *h, sa_segment_t *seg, const void *p, sa_op_t op) {
  size_t u = h->backend->usable_size(h->heap, seg, p, op); /* validates */
  tc_cache_t *c = tc_cache_peek(h);
  if (c != NULL && SA_UNLIKELY(tc_marked(c, (void *const *)p)) && tc_holds(c, p, u))
    sa_fatal_block(h->heap, op, SA_FAULT_FREED, p);
  return u;
}

size_t sa_tc_usable_size(sa_heap_t *heap, sa_segment_t *seg, const void *ptr, sa_op_t op) {
  return tc_live_usable(tc_of(heap), seg, ptr, op);
}

/* In place while the block still fits and is not more than twice too big;
 * otherwise through the cache: malloc, copy, free. */
void *sa_tc_realloc(sa_heap_t *heap, sa_segment_t *seg, void *ptr, size_t size) {
  tc_heap_t *h = tc_of(heap);
  if (!h->enabled && h->backend->realloc) return h->backend->realloc(heap, seg, ptr, size);
  size_t old = tc_live_usable(h, seg, ptr, SA_OP_REALLOC);
  if (size <= old && size > old / 2) return ptr;
  void *fresh = sa_tc_malloc(heap, size);
  if (fresh == NULL) return NULL;
  memcpy(fresh, ptr, size < old ? size : old);
  sa_tc_free(heap, seg, ptr);
  return fresh;
}

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

/* The back-end's usable size of a live block, validated for op: a slab's
 * segment says it (no lock), its geometry tells a block's start from any
 * other address and its live bitmap a live block from a free one; otherwise
 * the back-end validates and answers. */
static inline size_t tc_block_usable(tc_heap_t *h, sa_segment_t *seg, const void *p, sa_op_t op) {
  size_t u = seg->usable;
  if (SA_LIKELY(u != 0 && seg->kind == SA_SEGMENT_HEAP)) {
    uint32_t idx = sa_slab_index(seg, p);
    if (SA_UNLIKELY(idx == UINT32_MAX)) sa_fatal_block(h->heap, op, SA_FAULT_INTERIOR, p);
    if (SA_UNLIKELY(!sa_slab_live(seg, idx))) sa_fatal_block(h->heap, op, SA_FAULT_FREED, p);
    return u;
  }
  return h->backend->usable_size(h->heap, seg, p, op);
}

static void tc_check_tagged(tc_heap_t *h, tc_cache_t *c, sa_segment_t *seg, void *p, size_t u,
                            sa_op_t op);

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
  tc_bin_t *b = size <= TC_SMALL_MAX ? c->small_bin[(size + 15) >> 4]
                                     : &c->bins[c->class_bin[tc_bin_ceil(size)]];
  if (SA_LIKELY(b->head != TC_END)) return tc_pop(c, b); /* reports a damaged head */
  return tc_refill(h, c, tc_bin_ceil(size)); /* common never passes 0 */
}

void sa_tc_free(sa_heap_t *heap, sa_segment_t *seg, void *ptr) {
  tc_heap_t *h = tc_of(heap);
  tc_cache_t *c = tc_cache_of(h);
  size_t u = tc_block_usable(h, seg, ptr, SA_OP_FREE); /* reports interior pointers */
  if (SA_UNLIKELY(u > TC_MAX_CACHED)) {
    tc_bypass_free(h, c, seg, ptr, u);
    return;
  }
  /* A block of a cache without a cache of our own (thread exit, cache off)
   * is still a double free. */
  if (SA_UNLIKELY(tc_tagged(c ? c : &tc_no_cache, ptr)))
    tc_check_tagged(h, c, seg, ptr, u, SA_OP_FREE);
  if (SA_UNLIKELY(c == NULL)) {
    h->backend->free(heap, seg, ptr);
    return;
  }
  tc_push(c, &c->bins[tc_bin_floor(u)], ptr, u);
}

/* ======================================================================== */
/* Slow path: marks, fill, flush, bypass                                    */
/* ======================================================================== */

/* Called by every entry point whose block p (usable size u, validated as a
 * block start) carries its mark: a cached mark found in a cache is the
 * block freed already; a flushed mark is confirmed by the back-end, which
 * knows whether the block is free. Otherwise the mark is a live block's data
 * (probability 2^-47) and the call goes on. */
static void tc_check_tagged(tc_heap_t *h, tc_cache_t *c, sa_segment_t *seg, void *p, size_t u,
                            sa_op_t op) {
  uint64_t x = tc_mark_of(&tc_no_cache, p); /* the key of every cache */
  if (x & TC_FLUSHED) {
    if (seg->usable != 0) h->backend->usable_size(h->heap, seg, p, op); /* validates */
    return; /* non-slab back-ends validated in tc_block_usable */
  }
  if (tc_cached_anywhere(h, c, p, u)) sa_fatal_block(h->heap, op, SA_FAULT_FREED, p);
}

const uint64_t tc_end[2] = {0, 0};

void tc_corrupt(const tc_cache_t *c, const void *p) {
  sa_fatal_corrupt(c->heap, "thread cache (a freed block was written)", p, SA_OP_MALLOC, NULL);
}

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
  /* A list another thread handed over, if its bin has one: taken whole. */
  size_t land = c->class_bin[req];
  tc_bin_t *lb = &c->bins[land];
  if (h->xfer != NULL && lb->head == TC_END) {
    uint32_t n;
    uint64_t bytes;
    void *list = tc_xfer_take(h, land, lb->limit, &n, &bytes);
    if (list != NULL) {
      lb->head = list;
      TC_ADD(lb->room, -(int32_t)n);
      TC_ADD(c->n.xfer_in, n);
      TC_ADD(c->n.xfer_in_bytes, bytes);
      TC_ADD(c->n.misses, 1);
      c->refilled[land] = 1;
      void *p = tc_pop(c, lb);
      tc_sample_peak(c);
      return p;
    }
  }
  size_t size = tc_bin_size(req);
  void *first = NULL;
  size_t first_u = 0;
  size_t lowest = TC_NBINS;
  void *batch[TC_BATCH];
  void *back[TC_BATCH];
  size_t nback = 0;
  /* A quarter of what the bin may hold, at least the threshold, at most
   * half of it (all but 1/TC_PHASE_KEEP in a phase of only mallocs) and
   * TC_FILL_BYTES (at least one block); a bin's first fills
   * take 1, 2, 4, ... of that, never under TC_FILL_MIN_BYTES (slow start: a
   * size the thread asks for once faults in one page, not a batch). */
  uint32_t limit = c->bins[req].limit, half = limit / 2;
  uint32_t want = c->fill_threshold > limit / 4 ? c->fill_threshold : limit / 4;
  uint32_t pushes = (uint32_t)c->n.pushes;
  if (c->pushes_at_fill[req] == pushes) want = half = limit - limit / TC_PHASE_KEEP; /* only mallocs */
  c->pushes_at_fill[req] = pushes;
  uint32_t by_bytes = (uint32_t)(TC_FILL_BYTES / size);
  if (want > by_bytes) want = by_bytes;
  if (c->fill_shift[req] < 16) {
    uint32_t start = 1u << c->fill_shift[req]++;
    /* but at least a page of blocks: small blocks filled one by one would
     * interleave two threads' blocks in one cache line (cache_scratch ran
     * 1.6x slower: false sharing) */
    if (start < TC_FILL_MIN_BYTES / size) start = (uint32_t)(TC_FILL_MIN_BYTES / size);
    if (want > start) want = start;
  }
  for (want = want < half ? want : (half ? half : 1); want > 0;) {
    size_t batch_usable;
    size_t got = tc_take(h, size, batch, want < TC_BATCH ? want : TC_BATCH, &batch_usable);
    uint64_t got_bytes = 0;
    for (size_t i = 0; i < got; i++) {
      void *p = batch[i];
      size_t u = batch_usable ? batch_usable : tc_block_usable(h, sa_segment_of(p), p, SA_OP_MALLOC);
      got_bytes += u;
      size_t b = u <= TC_MAX_CACHED ? tc_bin_floor(u) : TC_NBINS;
      if (b < lowest) lowest = b;
      if (first == NULL) {
        first = p;
        first_u = u;
        continue;
      }
      if (b == TC_NBINS || c->bins[b].room <= 0) {
        /* past our largest bin (a back-end that rounds up), or a full bin */
        TC_ADD(c->n.flushes, 1);
        TC_ADD(c->n.flush_bytes, u);
        back[nback++] = p;
        continue;
      }
      tc_bin_put(c, &c->bins[b], p, u);
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
  if (lowest < TC_NBINS) c->refilled[lowest] = 1;
  if (lowest < TC_NBINS && c->class_bin[req] != lowest) {
    c->class_bin[req] = (uint8_t)lowest;
    for (size_t i = 0; i < TC_SMALL_SLOTS; i++)
      if (tc_bin_ceil(i ? i * 16 : 1) == req) c->small_bin[i] = &c->bins[lowest];
  }
  /* `first` counts as filled and popped: held = fills + pushes - pops -
   * flushes stays exact. */
  tc_count_pop(c, first_u);
  tc_sample_peak(c);
  *tc_mark_word(first) = 0; /* a flushed mark from its last stay in a cache */
  return first;
}

/* Gives bin b back down to half of its limit: the blocks nearest the head
 * go (the bin is LIFO, so those are the most recently freed; the ones kept
 * are as good), in batches, each checked as a pop checks it and left with
 * the flushed mark. The back-end's free validates each. */
static void tc_flush_to(tc_cache_t *c, tc_bin_t *b, uint32_t keep) {
  tc_heap_t *h = c->owner;
  void *batch[TC_BATCH];
  while (tc_bin_count(b) > keep) {
    size_t n = 0;
    uint64_t bytes = 0;
    while (tc_bin_count(b) > keep && n < TC_BATCH) {
      uint64_t u;
      void *p = tc_bin_take(c, b, &u);
      *tc_mark_word(p) ^= TC_FLUSHED;
      bytes += u;
      batch[n++] = p;
    }
    TC_ADD(c->n.flushes, n);
    TC_ADD(c->n.flush_bytes, bytes);
    tc_give(h, batch, n);
  }
}

/* Doubles the limit of bin b (see TC_BIN_BYTES) if its caps and the cache's
 * budget allow; 1 if it then has room. */
static int tc_bin_grow(tc_cache_t *c, tc_bin_t *b) {
  size_t i = (size_t)(b - c->bins), size = tc_bin_size(i);
  size_t cap = c->owner->flush_threshold * (size_t)TC_GROW_MAX;
  if (cap > TC_GROW_BIN_BYTES / size) cap = TC_GROW_BIN_BYTES / size;
  size_t grown = (size_t)b->limit * 2 < cap ? (size_t)b->limit * 2 : cap;
  if (grown <= b->limit || (grown - b->limit) * size > c->grow_budget) return 0;
  c->grow_budget -= (grown - b->limit) * size;
  TC_ADD(b->room, (int32_t)(grown - b->limit));
  __atomic_store_n(&b->limit, (uint32_t)grown, __ATOMIC_RELAXED);
  return b->room >= 0;
}

/* Detaches the blocks of bin b above keep, nearest the head, as one list,
 * each checked as a pop checks it, and leaves it in the heap's transfer
 * cache; 1 if it took them. */
static int tc_hand_over(tc_cache_t *c, tc_bin_t *b, uint32_t keep) {
  tc_heap_t *h = c->owner;
  uint32_t give = tc_bin_count(b) - keep;
  if (h->xfer == NULL || give == 0) return 0;
  void *head = b->head, *last = NULL, *p = head;
  uint64_t bytes = 0, u = 0;
  for (uint32_t k = 0; k < give; k++) {
    u = tc_mark_of(c, p);
    if (SA_UNLIKELY(u > 0xffff)) tc_corrupt(c, p);
    bytes += u;
    last = p;
    p = tc_next(c, p);
  }
  tc_put_words(c, last, u, TC_END); /* the list ends at last */
  if (!tc_xfer_put(h, (size_t)(b - c->bins), head, give, bytes)) {
    tc_put_words(c, last, u, p); /* full: last links on, as it did */
    return 0;
  }
  b->head = p;
  TC_ADD(b->room, (int32_t)give);
  TC_ADD(c->n.xfer_out, give);
  TC_ADD(c->n.xfer_out_bytes, bytes);
  return 1;
}

/* Called by a push that took bin b past its limit: grow it (a bin too small
 * for this thread), or hand half of it (all but 1/TC_PHASE_KEEP in a phase
 * of only frees) to the transfer cache, or give it back to the back-end. */
void tc_flush(tc_cache_t *c, tc_bin_t *b) {
  size_t i = (size_t)(b - c->bins);
  if (c->refilled[i]) { /* it ran dry since it last overflowed: too small for this thread */
    c->refilled[i] = 0;
    if (tc_bin_grow(c, b)) return;
  }
  uint32_t pops = (uint32_t)c->n.pop_bytes;
  uint32_t keep = c->pops_at_flush[i] == pops ? b->limit / TC_PHASE_KEEP : b->limit / 2; /* only frees */
  c->pops_at_flush[i] = pops;
  if (tc_hand_over(c, b, keep)) return;
  tc_flush_to(c, b, keep);
  /* A safe point (no lock held, the bin whole): the flush may have emptied
   * a slab into the segment cache, and frees that stay in the cache never
   * reach sa_free's. */
  sa_purge_poll(1);
}

void tc_flush_all(tc_cache_t *c) {
  for (size_t b = 0; b < TC_NBINS; b++) tc_flush_to(c, &c->bins[b], 0);
}

/* Every link is checked before it is followed, and the walk is bounded, so
 * a damaged bin ends the scan instead of faulting. */
int tc_holds(const tc_cache_t *c, const void *p, size_t u) {
  if (u < 16 || u > TC_MAX_CACHED) return 0;
  const tc_bin_t *b = &c->bins[tc_bin_floor(u)];
  void *q = __atomic_load_n((void *const *)&b->head, __ATOMIC_RELAXED);
  uint32_t limit = __atomic_load_n(&b->limit, __ATOMIC_RELAXED);
  for (uint32_t n = 0; q != TC_END && n <= limit && tc_plausible(c->heap, q); n++) {
    if (q == p) return 1;
    q = tc_unlink_word(c, __atomic_load_n((const uint64_t *)q, __ATOMIC_RELAXED));
  }
  return 0;
}

/* Other threads' bins are read while they push and pop: a block moving in
 * or out of one at this very moment is a race of two frees of one block,
 * caught or not. Their caches stay mapped while the registry lock is held
 * (a thread's exit unmaps them under it), and every link read is checked
 * against the page map first (tc_holds). */
int tc_cached_anywhere(tc_heap_t *h, const tc_cache_t *self, const void *p, size_t u) {
  if (self != NULL && tc_holds(self, p, u)) return 1;
  int found = 0;
  pthread_mutex_lock(&tc_registry_lock);
  for (const tc_cache_t *c = h->caches; c != NULL && !found; c = c->next)
    if (c != self) found = tc_holds(c, p, u);
  if (!found) found = tc_xfer_holds(h, p, u);
  pthread_mutex_unlock(&tc_registry_lock);
  return found;
}

/* Counted in the thread's cache when it has one; a thread without one (being
 * set up, torn down, or the cache is off) leaves the counting to the
 * back-end: tc_stats then reports the back-end's view. A block that could
 * have been in a cache before leaves without a mark. */
static void *tc_bypass_malloc(tc_heap_t *h, tc_cache_t *c, size_t size, size_t alignment) {
  void *p = alignment ? h->backend->memalign(h->heap, alignment, size)
                      : h->backend->malloc(h->heap, size);
  if (p == NULL) return NULL;
  size_t u = tc_block_usable(h, sa_segment_of(p), p, SA_OP_MALLOC);
  if (u <= TC_MAX_CACHED) *tc_mark_word(p) = 0;
  if (c != NULL) {
    TC_ADD(c->n.bypass, 1);
    TC_ADD(c->n.bypass_bytes, u);
    tc_sample_peak(c);
  }
  return p;
}

/* Blocks over TC_MAX_CACHED never carry a mark: the back-end validates. */
static void tc_bypass_free(tc_heap_t *h, tc_cache_t *c, sa_segment_t *seg, void *p, size_t u) {
  if (c != NULL) TC_ADD(c->n.bypass_free_bytes, u);
  h->backend->free(h->heap, seg, p);
}

/* ======================================================================== */
/* memalign, realloc, usable_size                                           */
/* ======================================================================== */

void *sa_tc_memalign(sa_heap_t *heap, size_t alignment, size_t size) {
  tc_heap_t *h = tc_of(heap);
  return tc_bypass_malloc(h, tc_cache_of(h), size, alignment);
}

/* A block in a cache is free, whatever the back-end thinks. */
static size_t tc_live_usable(tc_heap_t *h, sa_segment_t *seg, const void *p, sa_op_t op) {
  size_t u = h->backend->usable_size(h->heap, seg, p, op); /* validates */
  if (u <= TC_MAX_CACHED && SA_UNLIKELY(tc_tagged(&tc_no_cache, p)))
    tc_check_tagged(h, tc_cache_peek(h), seg, (void *)p, u, op);
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
  size_t want = size > old ? sa_realloc_grow(old, size) : size;
  void *fresh = sa_tc_malloc(heap, want <= heap->small_limit ? want : size);
  if (fresh == NULL) return NULL;
  memcpy(fresh, ptr, size < old ? size : old);
  sa_tc_free(heap, seg, ptr);
  return fresh;
}

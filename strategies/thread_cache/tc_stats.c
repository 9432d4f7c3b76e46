/* Stats, walk and check of a thread-cache heap: the back-end's view, less
 * what the calling thread's own cache holds.
 *
 * A block in a cache is allocated as far as the back-end knows. The calling
 * thread's own bins are free (it hands them out without asking anyone), so
 * the walk reports them free and the counters leave them out. Another live
 * thread's bins cannot be read while that thread pops and pushes without a
 * lock, so they stay allocated to that thread in the walk and the counters
 * alike until it exits (its cache then goes back to the back-end). Walk and
 * counters therefore agree whenever the heap is quiescent, with or without
 * other threads holding caches, and after every other thread has exited they
 * are exactly the user's view. cached_bytes, cache_hits and cache_misses are
 * summed over every cache (per-thread counters, read without stopping their
 * threads). */
#include <string.h>

#include "strategies/thread_cache/tc.h"

#define TC_RD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

static uint64_t tc_held_bytes(const tc_counters_t *n) {
  return TC_RD(n->fill_bytes) + TC_RD(n->xfer_in_bytes) + TC_RD(n->push_bytes) -
         TC_RD(n->pop_bytes) - TC_RD(n->flush_bytes) - TC_RD(n->xfer_out_bytes);
}

void sa_tc_stats(sa_heap_t *heap, sa_stats_t *s) {
  tc_heap_t *h = heap->frontend;
  sa_stats_t be;
  memset(&be, 0, sizeof be);
  h->backend->stats(heap, &be);
  s->total_allocations += be.total_allocations;
  s->total_frees += be.total_frees;
  s->total_allocated_bytes += be.total_allocated_bytes;
  if (!h->enabled) {
    s->current_allocated_bytes += be.current_allocated_bytes;
    s->current_blocks += be.current_blocks;
    s->peak_allocated_bytes += be.peak_allocated_bytes;
    return;
  }
  tc_cache_t *own = tc_cache_peek(h);
  uint64_t hits = 0, misses = 0, held = 0;
  int64_t peak = 0;
  pthread_mutex_lock(&tc_registry_lock);
  tc_retired_t r = h->retired;
  for (tc_cache_t *c = h->caches; c != NULL; c = c->next) {
    uint64_t m = TC_RD(c->n.misses);
    hits += tc_pops(c) - m;
    misses += m;
    held += tc_held_bytes(&c->n);
    /* Pops do not update the peak (tc_counters_t): each read samples it. */
    int64_t live = (int64_t)(TC_RD(c->n.pop_bytes) - TC_RD(c->n.push_bytes) +
                             TC_RD(c->n.bypass_bytes) - TC_RD(c->n.bypass_free_bytes));
    if (live > c->peak_seen) c->peak_seen = live;
    int64_t own_peak = TC_RD(c->n.peak);
    peak += own_peak > c->peak_seen ? own_peak : c->peak_seen;
  }
  pthread_mutex_unlock(&tc_registry_lock);

  /* Blocks the caller's cache took from the back-end are not allocations
   * until popped, nor frees until flushed; so for caches that are gone
   * (everything flushed). */
  int64_t alloc_delta = r.alloc_delta, free_delta = r.free_delta, bytes_delta = r.alloc_bytes_delta;
  uint64_t own_blocks = 0, own_bytes = 0;
  if (own != NULL) {
    const tc_counters_t *n = &own->n;
    alloc_delta += (int64_t)(tc_pops(own) - n->fills - n->xfer_in);
    free_delta += (int64_t)(n->pushes - n->flushes - n->xfer_out);
    bytes_delta += (int64_t)(n->pop_bytes - n->fill_bytes - n->xfer_in_bytes);
    own_blocks = tc_held_blocks(own);
    own_bytes = tc_held_bytes(n);
  }
  /* The transfer cache counts as one more back-end (tc.h): its lists are
   * free, a list put is frees, a list taken allocations. */
  tc_xfer_sum_t x;
  tc_xfer_totals(h, &x);
  s->total_allocations += (uint64_t)alloc_delta + x.takes;
  s->total_frees += (uint64_t)free_delta + x.puts;
  s->total_allocated_bytes += (uint64_t)bytes_delta + x.take_bytes;
  uint64_t current = be.current_allocated_bytes - own_bytes - x.bytes;
  s->current_allocated_bytes += current;
  s->current_blocks += be.current_blocks - own_blocks - x.blocks;
  /* Each thread's highest live bytes, summed (stats.h: a bound); at least
   * what is live now, which here includes other threads' caches. */
  uint64_t peaks = (uint64_t)(peak + r.peak > 0 ? peak + r.peak : 0);
  s->peak_allocated_bytes += peaks > current ? peaks : current;
  s->cache_hits += hits + r.hits;
  s->cache_misses += misses + r.misses;
  s->cached_bytes += held + x.bytes;
}

/* ======================================================================== */
/* Walk                                                                     */
/* ======================================================================== */

typedef struct tc_walk_ctx {
  sa_walker_t visit;
  void *arg;
  uintptr_t *cached; /* the caller's cached blocks and the transfer cache's, sorted */
  size_t n;
  const tc_cache_t *own; /* without the table: its bins are scanned */
  tc_heap_t *xfer;       /* and the transfer cache's lists */
} tc_walk_ctx_t;

static void tc_sort(uintptr_t *a, size_t n) { /* Shell sort: no malloc, no recursion */
  for (size_t gap = n / 2; gap > 0; gap = gap == 2 ? 1 : gap * 5 / 11) {
    for (size_t i = gap; i < n; i++) {
      uintptr_t v = a[i];
      size_t j = i;
      for (; j >= gap && a[j - gap] > v; j -= gap) a[j] = a[j - gap];
      a[j] = v;
    }
  }
}

static int tc_sorted_has(const uintptr_t *a, size_t n, uintptr_t v) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && a[lo] == v;
}

static void tc_walk_visit(void *ptr, size_t size, sa_block_state_t state, void *arg) {
  tc_walk_ctx_t *w = arg;
  if (state == SA_BLOCK_USED &&
      (w->n ? tc_sorted_has(w->cached, w->n, (uintptr_t)ptr)
            : (w->own != NULL && tc_holds(w->own, ptr, size)) ||
                  (w->xfer != NULL && tc_xfer_holds(w->xfer, ptr, size))))
    state = SA_BLOCK_FREE;
  w->visit(ptr, size, state, w->arg);
}

void sa_tc_walk(sa_heap_t *heap, sa_walker_t visit, void *arg) {
  tc_heap_t *h = heap->frontend;
  tc_cache_t *own = tc_cache_peek(h);
  tc_walk_ctx_t w = {visit, arg, NULL, 0, NULL, NULL};
  size_t total = 0, map = 0;
  if (own != NULL)
    for (size_t b = 0; b < TC_NBINS; b++) total += tc_bin_count(&own->bins[b]);
  tc_xfer_sum_t x;
  tc_xfer_totals(h, &x);
  total += x.blocks;
  if (total > 0) {
    map = total * sizeof(uintptr_t);
    w.cached = sa_os_map(map, 0);
  }
  if (w.cached != NULL) {
    for (size_t b = 0; b < TC_NBINS; b++)
      for (void *p = own != NULL ? own->bins[b].head : TC_END; p != TC_END && w.n < total;
           p = tc_next(own, p))
        w.cached[w.n++] = (uintptr_t)p;
    w.n += tc_xfer_collect(h, w.cached + w.n, total - w.n);
    tc_sort(w.cached, w.n);
  }
  /* No memory for the sorted table (the address space is full): each used
   * block is looked for in its bin instead, slower but as exact. */
  if (w.cached == NULL && total > 0) {
    w.own = own;
    w.xfer = h;
  }
  h->backend->walk(heap, tc_walk_visit, &w);
  if (w.cached != NULL) sa_os_unmap(w.cached, map);
}

/* ======================================================================== */
/* Check                                                                    */
/* ======================================================================== */

#define TC_EXPECT(cond, message, ptr)       \
  do {                                      \
    if (!(cond)) {                          \
      sa_check_report(heap, message, (ptr)); \
      failures++;                           \
    }                                       \
  } while (0)

/* The back-end's invariants, then the caller's own bins: each block one of
 * this heap's, marked, of its bin's size class, in no other bin; counts
 * within limits and matching the counters. Other threads' bins cannot be
 * read safely (see above). */
size_t sa_tc_check(sa_heap_t *heap) {
  tc_heap_t *h = heap->frontend;
  size_t failures = h->backend->check(heap) + tc_xfer_check(h);
  tc_cache_t *c = tc_cache_peek(h);
  if (c == NULL) return failures;
  for (size_t b = 0; b < TC_NBINS; b++) {
    const tc_bin_t *bin = &c->bins[b];
    TC_EXPECT(bin->room >= 0 && (uint32_t)bin->room <= bin->limit,
              "thread cache bin holds more than its limit", bin);
    uint32_t n = 0;
    for (void *p = bin->head; p != TC_END; p = tc_next(c, p)) {
      if (++n > tc_bin_count(bin)) {
        TC_EXPECT(0, "thread cache bin longer than its count (cycle?)", bin);
        break;
      }
      sa_segment_t *seg = sa_segment_of(p);
      if (((uintptr_t)p & (SA_ALIGNMENT - 1)) != 0 || seg == NULL || seg->heap != heap ||
          seg->kind != SA_SEGMENT_HEAP) {
        TC_EXPECT(0, "thread cache holds a block of no segment of this heap", p);
        break; /* its memory cannot be read */
      }
      uint64_t u = tc_mark_of(c, p);
      if (u >> 16) {
        TC_EXPECT(0, "cached block lost its mark (written after free)", p);
        break; /* nor can its link be trusted */
      }
      TC_EXPECT(u >= 16 && u <= TC_MAX_CACHED && tc_bin_floor(u) == b,
                "cached block in the wrong bin for its size", p);
    }
    TC_EXPECT(n == tc_bin_count(bin), "thread cache bin count disagrees with its list", bin);
  }
  return failures;
}

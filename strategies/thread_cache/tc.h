/* tc_: the thread-cache front-end's internals, shared by its files and by the
 * process heap's fast path (tc_fast.h, included by common/override.c).
 *
 *   thread ──TLS──> tc_thread_t ──slot[heap->slot]──> tc_cache_t (one per heap)
 *                                                      bins[b]: LIFO list of free
 *                                                      blocks, linked through them
 *   heap->frontend ──> tc_heap_t: registry of every cache of the heap
 *
 * A cached block's first word links it to the next block of its bin,
 * protected as glibc 2.32 does (safe-linking): next ^ (its own address >>
 * 12) ^ a random key. A pop checks that the decoded next lies in a segment
 * of this heap before it becomes the head, so a write into a freed block
 * (use after free) cannot make a malloc return an address of the writer's
 * choosing: it is reported. (Bins as arrays in the cache, with no links in
 * freed memory at all, ran the malloc(32) loop 2.1x slower here.)
 *
 * The state of a block lives in its second word, its mark (tc_mark): the key
 * ^ its address ^ its usable size, with TC_FLUSHED set once a flush gave it
 * back to the back-end. Live blocks carry no mark (pop and the first block
 * of a fill clear it). So free tells with one fused test whether the block
 * is in some cache (a double free, confirmed by a scan of the caches) or was
 * given back (confirmed by the back-end), and pop checks that the block it
 * hands out was not written since its free. See README.md for what is caught.
 *
 * Ownership: bins and the counters of a cache are written only by its thread
 * (the counters with relaxed atomic stores: other threads read them for
 * stats, nothing is a shared read-modify-write). The registry, slots, retired
 * totals and the orphaning of caches on heap destroy are under tc_registry_lock.
 * See README.md. */
#ifndef STRATALLOC_STRATEGIES_THREAD_CACHE_TC_H
#define STRATALLOC_STRATEGIES_THREAD_CACHE_TC_H

#include <pthread.h>
#include <stdint.h>

#include "stratalloc/strategy.h"
#include "strategies/size_class/size_class.h"

#pragma GCC visibility push(hidden)

/* Bins: one per size class (strategies/size_class) up to TC_MAX_CACHED, so
 * over segregated a bin is a slab class. */
#define TC_MAX_CACHED ((size_t)32 * 1024) /* larger blocks bypass the cache */
#define TC_NBINS (SA_SC_POW2_CLASS(15) + 1) /* TC_MAX_CACHED is 2^15 */
#define TC_SMALL_MAX ((size_t)1024)       /* malloc's table covers 0..this */
#define TC_SMALL_SLOTS (TC_SMALL_MAX / 16 + 1)
#define TC_MAX_HEAPS 256                  /* tc heaps alive at once (slots) */

static inline size_t tc_bin_size(size_t b) { return sa_sc_size(b); }
/* The smallest bin whose size is >= n, 1 <= n <= TC_MAX_CACHED. */
static inline size_t tc_bin_ceil(size_t n) { return sa_sc_ceil(n); }
/* The largest bin whose size is <= u, 16 <= u <= TC_MAX_CACHED. */
static inline size_t tc_bin_floor(size_t u) { return sa_sc_floor(u); }

/* A bin holds at most `limit` blocks: cache_flush_threshold, or fewer for
 * large blocks so that no bin holds more than TC_BIN_BYTES (a thread's
 * cache then holds at most about 2 MiB of a heap). */
#define TC_BIN_BYTES ((size_t)128 * 1024)

typedef struct tc_bin {
  void *head;     /* the top block, NULL when empty */
  uint32_t count; /* other threads read it and the list only to confirm a report */
  uint32_t limit;
} tc_bin_t;

/* Counters of one cache, monotonic, written by its thread only:
 *   pops/pushes: blocks the user took from / gave to the bins,
 *   fills/flushes: blocks the bins took from / gave back to the back-end,
 *   misses: pops that needed a fill; bypass: user allocations the bins did
 *   not serve (too large, aligned). *_bytes: usable bytes of the same.
 * Held now: fills + pushes - pops - flushes. The thread's user-visible live
 * bytes: pop_bytes - push_bytes + bypass_bytes - bypass_free_bytes; peak is
 * its highest value. */
typedef struct tc_counters {
  uint64_t pops, pop_bytes, pushes, push_bytes;
  uint64_t fills, fill_bytes, flushes, flush_bytes;
  uint64_t misses, bypass, bypass_bytes, bypass_free_bytes;
  int64_t peak;
} tc_counters_t;

struct tc_heap;
struct tc_thread;

typedef struct tc_cache {
  /* hot: the fast paths read these */
  sa_heap_t *heap;   /* the heap served; NULL once it is destroyed (orphan) */
  uint64_t key;      /* tc_key, beside the bins: the fast paths read one line */
  uint64_t link_key; /* tc_link_key */
  uint32_t fill_threshold;
  uint8_t small_bin[TC_SMALL_SLOTS]; /* (n + 15) >> 4 -> bin, n <= TC_SMALL_MAX */
  uint8_t class_bin[TC_NBINS];       /* request bin -> bin its blocks land in */
  tc_counters_t n;
  tc_bin_t bins[TC_NBINS];
  /* cold */
  struct tc_heap *owner;
  struct tc_thread *thread;
  struct tc_cache *next, *prev; /* owner's registry, under tc_registry_lock */
} tc_cache_t;

/* One per thread that ever used a tc heap, mapped from the OS. */
typedef struct tc_thread {
  tc_cache_t *slot[TC_MAX_HEAPS];
} tc_thread_t;

/* Totals of caches that are gone (their threads exited), under tc_registry_lock. */
typedef struct tc_retired {
  int64_t alloc_delta, free_delta;       /* sum of pops - fills, pushes - flushes */
  int64_t alloc_bytes_delta;             /* sum of pop_bytes - fill_bytes */
  uint64_t hits, misses;
  int64_t peak, live;                    /* sums of their peaks and live bytes */
} tc_retired_t;

typedef struct tc_heap {
  sa_heap_t *heap;
  const sa_strategy_t *backend;
  int enabled;    /* config.enable_thread_cache and a slot was free */
  unsigned slot;  /* index into tc_thread_t.slot */
  uint32_t fill_threshold, flush_threshold;
  tc_cache_t *caches; /* every live cache of this heap, under tc_registry_lock */
  tc_retired_t retired;
} tc_heap_t;

/* ---- globals (tc_thread.c) ---------------------------------------------- */

extern pthread_mutex_t tc_registry_lock;
extern uint64_t tc_key;      /* random, bit 63 set (see tc_mark) */
extern uint64_t tc_link_key; /* random, another (see tc_link) */
extern __thread tc_thread_t *tc_self __attribute__((tls_model("initial-exec")));
extern tc_cache_t tc_no_cache;

/* The calling thread's cache of h: created on first use; NULL when the
 * cache is off, the thread is being set up or torn down, or memory ran out
 * (the caller then goes straight to the back-end). */
tc_cache_t *tc_cache_create(tc_heap_t *h);
static inline tc_cache_t *tc_cache_of(tc_heap_t *h) {
  tc_thread_t *t = tc_self;
  if (SA_LIKELY(t != NULL)) {
    tc_cache_t *c = t->slot[h->slot];
    if (SA_LIKELY(c != NULL && __atomic_load_n(&c->heap, __ATOMIC_RELAXED) == h->heap)) return c;
  }
  return h->enabled ? tc_cache_create(h) : NULL;
}
/* The calling thread's cache of h if it has one (never creates). */
tc_cache_t *tc_cache_peek(tc_heap_t *h);


/* ---- bins (thread_cache.c) ---------------------------------------------- */

/* ---- used by the fast path in another library (override.c): exported ---- */
#pragma GCC visibility push(default)
/* The calling thread's cache of the process heap, or &tc_no_cache (whose
 * heap is NULL and whose bins are empty, so both fast paths fall through). */
extern __thread tc_cache_t *tc_process_cache __attribute__((tls_model("initial-exec")));
/* tc_bin_floor(u) for u <= TC_SMALL_MAX, by u >> 4 (tc_thread.c fills it). */
extern uint8_t tc_floor_small[TC_SMALL_SLOTS];
/* Out of line: a bin that has grown past its limit gives a batch back. */
void tc_flush(tc_cache_t *c, tc_bin_t *b);
/* Out of line: a cached block that lost its mark (written after its free,
 * or a bin overwritten): reported, abort(). */
__attribute__((noreturn, cold)) void tc_corrupt(const tc_cache_t *c, const void *p);
/* override.c names the process heap before it publishes it. */
void tc_set_process_heap(sa_heap_t *heap);
#pragma GCC visibility pop

/* Own-thread counter update: a plain add, stored atomically so that stats
 * on other threads read a whole value (no lock prefix on x86). */
#define TC_ADD(field, v) __atomic_store_n(&(field), (field) + (v), __ATOMIC_RELAXED)

static inline int64_t tc_live(const tc_counters_t *n) {
  return (int64_t)(n->pop_bytes - n->push_bytes + n->bypass_bytes - n->bypass_free_bytes);
}

/* Counts a block of u usable bytes handed to the user from the cache. */
static inline void tc_count_pop(tc_cache_t *c, size_t u) {
  TC_ADD(c->n.pops, 1);
  TC_ADD(c->n.pop_bytes, u);
  int64_t live = tc_live(&c->n);
  if (SA_UNLIKELY(live > c->n.peak)) __atomic_store_n(&c->n.peak, live, __ATOMIC_RELAXED);
}

/* ---- marks ---------------------------------------------------------------- */

/* A block's second word (tc_mark_word) while it is in a cache: key ^
 * address ^ usable size
 * (< 2^16: TC_MAX_CACHED). Bit 63 of the key is set and no user address has
 * it, so zeroed or fresh memory never looks marked; the 47 bits above
 * TC_FLUSHED are a secret function of the address, so a live block's data
 * looks marked with probability 2^-47 (and is then confirmed, not trusted). */
#define TC_FLUSHED ((uint64_t)1 << 16) /* given back to the back-end by a flush */
/* The second word: the first is the link (tc_link). Every block has two. */
static inline uint64_t *tc_mark_word(const void *p) { return (uint64_t *)p + 1; }
#define TC_MARK_SHIFT 17
static inline uint64_t tc_mark(const tc_cache_t *c, const void *p, size_t u) {
  return c->key ^ (uintptr_t)p ^ u;
}
/* Whether p carries its mark, cached or flushed. */
static inline int tc_tagged(const tc_cache_t *c, const void *p) {
  return ((*tc_mark_word(p) ^ c->key ^ (uintptr_t)p) >> TC_MARK_SHIFT) == 0;
}

/* ---- links ---------------------------------------------------------------- */

/* The first word of cached block p, linking it to next. */
static inline uint64_t tc_link(const tc_cache_t *c, const void *p, const void *next) {
  return (uintptr_t)next ^ ((uintptr_t)p >> 12) ^ c->link_key;
}
/* The next of cached block p whose first word is link. */
static inline void *tc_unlink_word(const tc_cache_t *c, const void *p, uint64_t link) {
  return (void *)(uintptr_t)(link ^ ((uintptr_t)p >> 12) ^ c->link_key);
}
static inline void *tc_next(const tc_cache_t *c, const void *p) {
  return tc_unlink_word(c, p, *(const uint64_t *)p);
}
/* A decoded next that may become a head: NULL, or 16-aligned in a segment
 * of this heap (so that reading it cannot fault). */
static inline int tc_plausible(const tc_cache_t *c, const void *next) {
  if (next == NULL) return 1;
  sa_segment_t *seg = sa_segment_of(next);
  return ((uintptr_t)next & (SA_ALIGNMENT - 1)) == 0 && seg != NULL && seg->heap == c->heap;
}

/* The same for the next of a valid cached block p: a next in p's own page
 * (mapped, and of p's segment) needs no page-map walk; a LIFO bin's links
 * mostly stay in one page. */
static inline int tc_plausible_after(const tc_cache_t *c, const void *p, const void *next) {
  if (SA_LIKELY(((((uintptr_t)next ^ (uintptr_t)p) >> 12) | ((uintptr_t)next & (SA_ALIGNMENT - 1))) == 0))
    return 1;
  return tc_plausible(c, next);
}

/* Unlinks the head of bin b (not empty), checked: its mark intact and its
 * link plausible, else reported. *u: its usable size. For pop and flush. */
static inline void *tc_bin_take(tc_cache_t *c, tc_bin_t *b, uint64_t *u) {
  void *p = b->head;
  uint64_t x = *tc_mark_word(p) ^ c->key ^ (uintptr_t)p; /* the usable size if intact and cached */
  void *next = tc_next(c, p);
  if (SA_UNLIKELY((x >> 16) || !tc_plausible_after(c, p, next))) tc_corrupt(c, p);
  b->head = next;
  b->count--;
  *u = x;
  return p;
}

/* Links block p of usable size u at the head of bin b, marked cached. For
 * push and fill (which count it differently). */
static inline void tc_bin_put(tc_cache_t *c, tc_bin_t *b, void *p, size_t u) {
  *(uint64_t *)p = tc_link(c, p, b->head);
  *tc_mark_word(p) = tc_mark(c, p, u);
  b->head = p;
  b->count++;
}

/* Takes the head of bin b (not empty) for the user. */
static inline void *tc_pop(tc_cache_t *c, tc_bin_t *b) {
  uint64_t u;
  void *p = tc_bin_take(c, b, &u);
  *tc_mark_word(p) = 0; /* no mark in a live block */
  tc_count_pop(c, u);
  return p;
}

/* Puts block p of usable size u (16 <= u <= TC_MAX_CACHED) into bin b. The
 * caller has ruled out a double free (tc_tagged). */
static inline void tc_push(tc_cache_t *c, tc_bin_t *b, void *p, size_t u) {
  tc_bin_put(c, b, p, u);
  TC_ADD(c->n.pushes, 1);
  TC_ADD(c->n.push_bytes, u);
  if (SA_UNLIKELY(b->count > b->limit)) tc_flush(c, b);
}

/* ---- the vtable (thread_cache.c, tc_stats.c, tc_thread.c): exported, the
 * generated vtables live in other libraries (sa_tc_: gperftools exports
 * tc_malloc & co.) ---- */
#pragma GCC visibility push(default)

sa_heap_t *sa_tc_create(const sa_strategy_t *self, const sa_config_t *config);
void sa_tc_destroy(sa_heap_t *heap);
void *sa_tc_malloc(sa_heap_t *heap, size_t size);
void sa_tc_free(sa_heap_t *heap, sa_segment_t *seg, void *ptr);
void *sa_tc_realloc(sa_heap_t *heap, sa_segment_t *seg, void *ptr, size_t size);
void *sa_tc_memalign(sa_heap_t *heap, size_t alignment, size_t size);
size_t sa_tc_usable_size(sa_heap_t *heap, sa_segment_t *seg, const void *ptr, sa_op_t op);
void sa_tc_walk(sa_heap_t *heap, sa_walker_t visit, void *arg);
size_t sa_tc_check(sa_heap_t *heap);
void sa_tc_stats(sa_heap_t *heap, sa_stats_t *stats);
void sa_tc_lock_all(sa_heap_t *heap);
void sa_tc_unlock_all(sa_heap_t *heap);
#pragma GCC visibility pop

/* Flushes every bin of c to the back-end (thread exit, heap destroy). */
void tc_flush_all(tc_cache_t *c);
/* Is p in one of c's bins? (scan of the bin of u; any thread's cache, with
 * relaxed reads: for the reports only) */
int tc_holds(const tc_cache_t *c, const void *p, size_t u);
/* Is p, which carries its cached mark, in this cache or another live
 * thread's cache of h? (self may be NULL) */
int tc_cached_anywhere(tc_heap_t *h, const tc_cache_t *self, const void *p, size_t u);

#pragma GCC visibility pop

/* The thread cache over back-end `backend`, named `name`
 * ("thread_cache+segregated"). strategies/variants.bzl generates one per
 * back-end. */
#define SA_THREAD_CACHE_VTABLE(strategy_name, backend_vtable) \
  {                                                           \
    .name = (strategy_name),                                  \
    .backend = (backend_vtable),                              \
    .create = sa_tc_create,                                      \
    .destroy = sa_tc_destroy,                                    \
    .malloc = sa_tc_malloc,                                      \
    .free = sa_tc_free,                                          \
    .realloc = sa_tc_realloc,                                    \
    .memalign = sa_tc_memalign,                                  \
    .usable_size = sa_tc_usable_size,                            \
    .walk = sa_tc_walk,                                          \
    .check = sa_tc_check,                                        \
    .stats = sa_tc_stats,                                        \
    .lock = sa_tc_lock_all,                                      \
    .unlock = sa_tc_unlock_all,                                  \
  }

#endif /* STRATALLOC_STRATEGIES_THREAD_CACHE_TC_H */

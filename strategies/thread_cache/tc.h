/* tc_: the thread-cache front-end's internals, shared by its files and by the
 * process heap's fast path (tc_fast.h, included by common/override.c).
 *
 *   thread ──TLS──> tc_thread_t ──slot[heap->slot]──> tc_cache_t (one per heap)
 *                                                      bins[b]: LIFO list of free
 *                                                      blocks, linked through them
 *   heap->frontend ──> tc_heap_t: registry of every cache of the heap
 *
 * A cached block's first word links it to the next block of its bin (next ^
 * a random key, so freed memory does not show heap addresses); its second
 * word is its mark (tc_mark): the key ^ its address ^ its usable size ^ the
 * link word, with TC_FLUSHED set once a flush gave it back to the back-end.
 * Live blocks carry no mark (pop and the first block of a fill clear it).
 * So free tells with one fused test whether the block is in some cache (a
 * double free, confirmed by a scan of the caches) or was given back
 * (confirmed by the back-end), and pop checks with one test that neither
 * word was written since the free (use after free): a link is followed only
 * if its block's mark vouches for it, so a write into freed memory cannot
 * make a malloc return an address of the writer's choosing: it is reported.
 * (Bins as arrays in the cache, with no links in freed memory at all, ran
 * the malloc(32) loop 2.1x slower here.) See README.md for what is caught.
 *
 * Ownership: bins and the counters of a cache are written only by its thread
 * (other threads read the counters for stats, see TC_ADD; nothing is a
 * shared read-modify-write). The registry, slots, retired
 * totals and the orphaning of caches on heap destroy are under tc_registry_lock.
 * See README.md. */
#ifndef STRATALLOC_STRATEGIES_THREAD_CACHE_TC_H
#define STRATALLOC_STRATEGIES_THREAD_CACHE_TC_H

#include <pthread.h>
#include <stddef.h>
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
 * large blocks so that no bin holds more than TC_BIN_BYTES. A bin that ran
 * dry and then overflowed (a working set larger than the bin, freed and
 * allocated again in turn) doubles its limit instead of flushing, up to
 * TC_GROW_BIN_BYTES and TC_GROW_MAX times the threshold, out of a budget of
 * TC_GROW_BYTES per cache (tcmalloc sizes its per-CPU caches the same way);
 * so a thread's cache holds at most about 3 MiB of a heap plus the budget. */
#define TC_BIN_BYTES ((size_t)64 * 1024) /* 64: twice the bins above 1 KiB since 8 classes per 2^k */
/* A fill writes the two words of every block it takes, so it faults in
 * every page they span: at most this many bytes per fill (32 KiB blocks
 * one at a time, 4 KiB ones eight), as tcmalloc moves fewer objects per
 * batch for larger classes. */
#define TC_FILL_BYTES ((size_t)32 * 1024)
#define TC_FILL_MIN_BYTES ((size_t)4096) /* a slow-starting fill at least */
/* tc_refill's TC_FILL_BYTES / size is then at least one block (below it, a
 * fill of a large bin would take none and the malloc would fail). */
_Static_assert(TC_FILL_BYTES >= TC_MAX_CACHED, "a fill takes at least one block of every bin");
/* What a bin keeps of its limit after a flush, and leaves free after a
 * fill, in such a phase: 1/TC_PHASE_KEEP. */
#define TC_PHASE_KEEP 8
#define TC_GROW_MAX 32
#define TC_GROW_BIN_BYTES ((size_t)128 * 1024) /* a grown bin's bytes at most */
#define TC_GROW_BYTES ((size_t)1024 * 1024)

/* An empty bin's head: a static block whose two zero words never decode to a
 * cached mark (tc_mark_of), so the fast paths need no test for empty: the
 * pop's one mark test sends both an empty bin and a damaged block to the
 * slow path, which tells them apart. Never written. */
extern const uint64_t tc_end[2];
#define TC_END ((void *)tc_end)

typedef struct tc_bin {
  void *head;   /* the top block; TC_END when empty */
  int32_t room; /* limit - blocks held: a push that takes it below 0 flushes */
  uint32_t limit;
} tc_bin_t;
/* Other threads read head, room and limit only to confirm a report. */
static inline uint32_t tc_bin_count(const tc_bin_t *b) { return b->limit - (uint32_t)b->room; }

/* Counters of one cache, monotonic, written by its thread only:
 *   pushes: blocks the user gave to the bins (pops, those it took, are not
 *   counted on the fast path: tc_pops derives them from the bins),
 *   fills/flushes: blocks the bins took from / gave back to the back-end,
 *   misses: pops that needed a fill; bypass: user allocations the bins did
 *   not serve (too large, aligned). *_bytes: usable bytes of the same.
 * Held now (the bins' counts): fills + xfer_in + pushes - pops - flushes -
 * xfer_out. The thread's user-visible live
 * bytes: pop_bytes - push_bytes + bypass_bytes - bypass_free_bytes; peak is
 * its highest value at the slow events (fill, bypass) and at every stats
 * read (tc_stats.c): a pop alone does not look at it, so a rise and fall
 * between two such events that stays within what the cache held at the
 * first is not seen. */
typedef struct tc_counters {
  uint64_t pop_bytes, pushes, push_bytes;
  uint64_t fills, fill_bytes, flushes, flush_bytes;
  uint64_t misses, bypass, bypass_bytes, bypass_free_bytes;
  uint64_t xfer_in, xfer_in_bytes, xfer_out, xfer_out_bytes; /* lists to/from the transfer cache */
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
  /* The bins themselves, so that malloc's lookup is one load (an offset
   * needs an add, an index a multiply); tc_no_cache's point at its (empty)
   * bins[0] from the start. free's bin is its slab's size_class. */
  struct tc_bin *small_bin[TC_SMALL_SLOTS]; /* malloc: (n + 15) >> 4 -> the request's bin */
  uint8_t class_bin[TC_NBINS];        /* request bin -> bin its blocks land in */
  tc_counters_t n;
  tc_bin_t bins[TC_NBINS];
  int64_t peak_seen; /* the highest live bytes a stats read saw, under tc_registry_lock */
  /* cold */
  uint8_t refilled[TC_NBINS];   /* the bin filled since its last flush */
  uint8_t fill_shift[TC_NBINS]; /* fills so far, to 16: the slow start of tc_refill */
  /* A thread in a phase of only mallocs or only frees (a table built, then
   * torn down) moves whole bins per back-end lock, not halves: a bin's fill
   * found no push by the thread since its last fill, or its flush no pop
   * since its last flush (low 32 bits of n.pushes and n.pop_bytes then). */
  uint32_t pushes_at_fill[TC_NBINS];
  uint32_t pops_at_flush[TC_NBINS];
  size_t grow_budget;         /* bytes of limit the bins may still grow by */
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
  int64_t alloc_delta, free_delta; /* sum of pops - fills - xfer_in, pushes - flushes - xfer_out */
  int64_t alloc_bytes_delta;       /* sum of pop_bytes - fill_bytes - xfer_in_bytes */
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
  struct tc_xfer *xfer; /* TC_NBINS transfer caches (tc_xfer.c), NULL if the cache is off */
  uint64_t xfer_bytes;  /* bytes in all of them (atomic: each bin has its own lock) */
} tc_heap_t;

/* ---- transfer cache (tc_xfer.c) ---------------------------------------- */

/* Per bin, whole lists of cached blocks that a flush handed over, for the
 * next thread whose bin runs dry: blocks freed on one thread and allocated
 * on another (producer and consumer, a server's request and reply) cross in
 * one O(1) step per batch, with no back-end call and no back-end lock, as
 * tcmalloc's transfer cache does. A list keeps its blocks' cached marks and
 * links (one key per process), so a bin takes it over as it is. At most
 * TC_XFER_LISTS lists and TC_XFER_BYTES per bin, TC_XFER_HEAP_BYTES over
 * the heap (what waits there is memory no one uses); a flush that finds it
 * full goes to the back-end. */
#define TC_XFER_LISTS 8
#define TC_XFER_BYTES ((size_t)64 * 1024)
#define TC_XFER_HEAP_BYTES ((size_t)512 * 1024)
typedef struct tc_xfer_list {
  void *head; /* TC_END-terminated */
  uint32_t count;
  uint64_t bytes;
} tc_xfer_list_t;
/* For the stats the transfer cache is one more back-end under the caches:
 * a list put is that many frees, a list taken that many allocations. */
typedef struct tc_xfer_sum {
  uint64_t blocks, bytes;           /* held now */
  uint64_t puts, takes, take_bytes; /* monotonic */
} tc_xfer_sum_t;
typedef struct tc_xfer {
  pthread_mutex_t lock;
  uint32_t n;        /* lists held; read without the lock as a hint */
  tc_xfer_sum_t sum; /* written under the lock, read with relaxed loads */
  tc_xfer_list_t list[TC_XFER_LISTS];
} tc_xfer_t;

int tc_xfer_init(tc_heap_t *h); /* 0, or -1 with ENOMEM */
void tc_xfer_fini(tc_heap_t *h);
/* Leaves a list of count blocks (bytes usable) of bin b: 1 if it took it. */
int tc_xfer_put(tc_heap_t *h, size_t b, void *head, uint32_t count, uint64_t bytes);
/* A list of bin b of at most max blocks, or NULL. */
void *tc_xfer_take(tc_heap_t *h, size_t b, uint32_t max, uint32_t *count, uint64_t *bytes);
/* Is p (usable size u, carrying its cached mark) in a list of h? */
int tc_xfer_holds(tc_heap_t *h, const void *p, size_t u);
/* Totals over every bin (relaxed reads). */
void tc_xfer_totals(tc_heap_t *h, tc_xfer_sum_t *sum);
/* Copies the address of every block in the lists into out (at most max);
 * returns how many. Each bin under its lock. */
size_t tc_xfer_collect(tc_heap_t *h, uintptr_t *out, size_t max);
/* sa_check's part: every list well formed. Returns failures (reported). */
size_t tc_xfer_check(tc_heap_t *h);
void tc_xfer_lock_all(tc_heap_t *h);
void tc_xfer_unlock_all(tc_heap_t *h);

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
/* Out of line: a bin that has grown past its limit gives a batch back. */
void tc_flush(tc_cache_t *c, tc_bin_t *b);
/* Out of line: a cached block that lost its mark (written after its free,
 * or a bin overwritten): reported, abort(). */
__attribute__((noreturn, cold)) void tc_corrupt(const tc_cache_t *c, const void *p);
/* override.c names the process heap before it publishes it. */
void tc_set_process_heap(sa_heap_t *heap);
#pragma GCC visibility pop

/* Own-thread counter update. Stats on other threads read the counters with
 * relaxed atomic loads; an aligned 64-bit add is one instruction on the
 * targets we build for, so they read a whole value. Under ThreadSanitizer
 * the add is a relaxed atomic store, which it can see is not a race (the
 * same machine code but for one load and one store). */
#if defined(__SANITIZE_THREAD__)
#define TC_ADD(field, v) __atomic_store_n(&(field), (field) + (v), __ATOMIC_RELAXED)
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TC_ADD(field, v) __atomic_store_n(&(field), (field) + (v), __ATOMIC_RELAXED)
#endif
#endif
#ifndef TC_ADD
#define TC_ADD(field, v) ((void)((field) += (v)))
#endif


/* Blocks held in c's bins; blocks the user took from them (fills + pushes -
 * flushes - held). Relaxed reads: another thread's cache may be moving. */
static inline uint64_t tc_held_blocks(const tc_cache_t *c) {
  uint64_t held = 0;
  for (size_t b = 0; b < TC_NBINS; b++)
    held += __atomic_load_n(&c->bins[b].limit, __ATOMIC_RELAXED) -
            (uint32_t)__atomic_load_n(&c->bins[b].room, __ATOMIC_RELAXED);
  return held;
}
static inline uint64_t tc_pops(const tc_cache_t *c) {
  return __atomic_load_n(&c->n.fills, __ATOMIC_RELAXED) +
         __atomic_load_n(&c->n.xfer_in, __ATOMIC_RELAXED) +
         __atomic_load_n(&c->n.pushes, __ATOMIC_RELAXED) -
         __atomic_load_n(&c->n.flushes, __ATOMIC_RELAXED) -
         __atomic_load_n(&c->n.xfer_out, __ATOMIC_RELAXED) - tc_held_blocks(c);
}

static inline int64_t tc_live(const tc_counters_t *n) {
  return (int64_t)(n->pop_bytes - n->push_bytes + n->bypass_bytes - n->bypass_free_bytes);
}

/* Counts a block of u usable bytes handed to the user from the cache. */
static inline void tc_count_pop(tc_cache_t *c, size_t u) {
  TC_ADD(c->n.pop_bytes, u);
}
/* The thread's live bytes into its peak: at the slow events (see tc_counters_t). */
static inline void tc_sample_peak(tc_cache_t *c) {
  int64_t live = tc_live(&c->n);
  if (live > c->n.peak) __atomic_store_n(&c->n.peak, live, __ATOMIC_RELAXED);
}

/* ---- marks and links ------------------------------------------------------ */

/* A cached block's two words: the link, next ^ link_key, and the mark, key ^
 * address ^ usable size (< 2^16: TC_MAX_CACHED) ^ the link word, with
 * TC_FLUSHED set once a flush gave it back to the back-end. The mark binds
 * the link: a write into either word after the free (use after free) makes
 * the pair decode to no usable size, so a pop never follows a link it did
 * not write, and needs no other test of it. Bit 63 of the key is set and no
 * user address has it, so zeroed or fresh memory (and TC_END) never decodes
 * to a mark; the 47 bits above TC_FLUSHED are a secret function of the
 * address, so a live block's data looks marked with probability 2^-47 (and
 * is then confirmed, not trusted). Live blocks carry no mark: pop and the
 * first block of a fill zero the second word. */
#define TC_FLUSHED ((uint64_t)1 << 16) /* given back to the back-end by a flush */
#define TC_MARK_SHIFT 17
/* The second word: the first is the link. Every block has two. */
static inline uint64_t *tc_mark_word(const void *p) { return (uint64_t *)p + 1; }
static inline uint64_t tc_link(const tc_cache_t *c, const void *next) {
  return (uintptr_t)next ^ c->link_key;
}
static inline void *tc_unlink_word(const tc_cache_t *c, uint64_t link) {
  return (void *)(uintptr_t)(link ^ c->link_key);
}
static inline void *tc_next(const tc_cache_t *c, const void *p) {
  return tc_unlink_word(c, *(const uint64_t *)p);
}
static inline uint64_t tc_mark(const tc_cache_t *c, const void *p, size_t u, uint64_t link) {
  return (c->key ^ (uintptr_t)p) ^ u ^ link;
}
/* What p's words decode to: its usable size if it is cached and intact,
 * that | TC_FLUSHED if a flush gave it back, anything >= 2^17 otherwise. */
static inline uint64_t tc_mark_of(const tc_cache_t *c, const void *p) {
  return (*tc_mark_word(p) ^ *(const uint64_t *)p) ^ (c->key ^ (uintptr_t)p); /* key ^ p as tc_mark has it */
}
/* Whether p carries its mark, cached or flushed. */
static inline int tc_tagged(const tc_cache_t *c, const void *p) {
  return (tc_mark_of(c, p) >> TC_MARK_SHIFT) == 0;
}

/* A decoded next that may be read (scans that follow links in other
 * threads' bins or the transfer cache): TC_END, or 16-aligned in a segment
 * of heap. */
static inline int tc_plausible(const sa_heap_t *heap, const void *next) {
  if (next == TC_END) return 1;
  sa_segment_t *seg = sa_segment_of(next);
  return ((uintptr_t)next & (SA_ALIGNMENT - 1)) == 0 && seg != NULL && seg->heap == heap;
}

/* Unlinks the head of bin b (not empty), checked: its words intact, else
 * reported. *u: its usable size. For pop and flush. */
static inline void *tc_bin_take(tc_cache_t *c, tc_bin_t *b, uint64_t *u) {
  void *p = b->head;
  uint64_t x = tc_mark_of(c, p);
  if (SA_UNLIKELY(x > 0xffff)) tc_corrupt(c, p);
  b->head = tc_next(c, p);
  TC_ADD(b->room, 1);
  *u = x;
  return p;
}

/* Links block p of usable size u at the head of bin b, marked cached. For
 * push and fill (which count it differently). */
/* Writes cached block p's two words: linked to next, marked with size u.
 * Both are computed before either store (a store into p could alias c's
 * keys as far as the compiler knows). */
static inline void tc_put_words(const tc_cache_t *c, void *p, size_t u, const void *next) {
  uint64_t link = tc_link(c, next), mark = tc_mark(c, p, u, link);
  *(uint64_t *)p = link;
  *tc_mark_word(p) = mark;
}

static inline void tc_bin_put(tc_cache_t *c, tc_bin_t *b, void *p, size_t u) {
  tc_put_words(c, p, u, b->head);
  b->head = p;
  TC_ADD(b->room, -1);
}

/* The head of bin b, unlinked for the user if its words decode to a cached
 * mark; else NULL: an empty bin (TC_END), or a damaged head (tc_pop reports
 * it, the fast path leaves it to the slow path). */
static inline void *tc_try_pop(tc_cache_t *c, tc_bin_t *b) {
  void *p = b->head;
  uint64_t u = tc_mark_of(c, p);
  if (SA_UNLIKELY(u > 0xffff)) return NULL;
  b->head = tc_next(c, p);
  TC_ADD(b->room, 1);
  *tc_mark_word(p) = 0; /* no mark in a live block */
  tc_count_pop(c, u);
  return p;
}

/* Takes the head of bin b (not empty) for the user. */
static inline void *tc_pop(tc_cache_t *c, tc_bin_t *b) {
  void *p = tc_try_pop(c, b);
  if (SA_UNLIKELY(p == NULL)) tc_corrupt(c, b->head);
  return p;
}

/* Puts block p of usable size u (16 <= u <= TC_MAX_CACHED) into bin b. The
 * caller has ruled out a double free (tc_tagged). */
static inline void tc_push(tc_cache_t *c, tc_bin_t *b, void *p, size_t u) {
  TC_ADD(c->n.pushes, 1);
  TC_ADD(c->n.push_bytes, u);
  tc_bin_put(c, b, p, u);
  if (SA_UNLIKELY(b->room < 0)) tc_flush(c, b); /* the flags of put's decrement */
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
uint64_t sa_tc_decay(sa_heap_t *heap, uint64_t now_ms);
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
    .decay = sa_tc_decay,                                        \
  }

#endif /* STRATALLOC_STRATEGIES_THREAD_CACHE_TC_H */

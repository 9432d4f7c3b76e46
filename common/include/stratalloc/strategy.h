/* The strategy contract: one vtable for every back-end and front-end, and
 * the common heap header every strategy's heap begins with.
 *
 * What common/ does before a strategy is called (common/heap.c):
 *   - NULL pointers, zero and impossible sizes, alignment argument checks,
 *     calloc overflow and zeroing, realloc(NULL, n) and realloc(p, 0);
 *   - requests above heap->small_limit (config.mmap_threshold unless the
 *     strategy lowers it) and over-aligned large requests go to
 *     common/large.c: strategies only ever see the rest;
 *   - the owner of a pointer: free/realloc/usable_size get a pointer that the
 *     page map (common/pagemap.c) says lies in one of this heap's segments of
 *     kind SA_SEGMENT_HEAP; anything else is reported as an invalid free.
 * A strategy validates what only it can (its block header: double free). */
#ifndef STRATALLOC_STRATEGY_H
#define STRATALLOC_STRATEGY_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/single_threaded.h>

#include "stratalloc/stratalloc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every pointer any strategy returns is aligned to this. */
#define SA_ALIGNMENT 16

struct sa_segment;

/* The call that found a bad pointer and what it found (see sa_fatal_block). */
typedef enum sa_op { SA_OP_FREE, SA_OP_REALLOC, SA_OP_USABLE_SIZE, SA_OP_MALLOC } sa_op_t;
typedef enum sa_fault {
  SA_FAULT_FREED,    /* the start of a block that is free already */
  SA_FAULT_INTERIOR, /* this heap's memory, but not the start of a live block */
  SA_FAULT_FOREIGN   /* not memory of this heap (stack, global, another heap) */
} sa_fault_t;

struct sa_strategy {
  const char *name;
  /* Front-ends (thread_cache) compose over this back-end; NULL otherwise. */
  const sa_strategy_t *backend;

  /* Returns a heap whose first member is sa_heap_t, set up with
   * sa_heap_base_init; NULL with errno ENOMEM. */
  sa_heap_t *(*create)(const sa_strategy_t *self, const sa_config_t *config);
  /* Releases what the strategy holds besides its segments; common then
   * unmaps every segment still registered and the heap itself. */
  void (*destroy)(sa_heap_t *heap);

  /* 1 <= size <= heap->small_limit. NULL with errno ENOMEM. */
  void *(*malloc)(sa_heap_t *heap, size_t size);
  /* ptr lies in segment, one of this heap's SA_SEGMENT_HEAP segments. */
  void (*free)(sa_heap_t *heap, struct sa_segment *segment, void *ptr);
  /* Optional (NULL: common copies). 1 <= size <= heap->small_limit; NULL
   * leaves ptr untouched. */
  void *(*realloc)(sa_heap_t *heap, struct sa_segment *segment, void *ptr, size_t size);
  /* alignment: power of two > SA_ALIGNMENT; size + alignment <=
   * heap->small_limit. */
  void *(*memalign)(sa_heap_t *heap, size_t alignment, size_t size);
  /* Validates ptr as a live block and returns its usable size; a bad ptr is
   * reported as a fault of op (the thread cache sizes a free with it). */
  size_t (*usable_size)(sa_heap_t *heap, struct sa_segment *segment, const void *ptr, sa_op_t op);

  /* Optional, for front-ends that move blocks in batches (NULL: they call
   * malloc and free per block). malloc_batch: up to n blocks as
   * malloc(heap, size) would return them, into out; returns how many (0:
   * errno ENOMEM) and sets *usable to their usable size (a back-end
   * implements it only where one request size gets blocks of one size).
   * free_batch: each of ptrs[0..n) as free(heap, sa_segment_of(p), p)
   * would, taking each lock once per run of blocks that share it. */
  size_t (*malloc_batch)(sa_heap_t *heap, size_t size, void **out, size_t n, size_t *usable);
  void (*free_batch)(sa_heap_t *heap, void **ptrs, size_t n);

  /* Introspection over the strategy's own segments (common adds the large
   * objects). Called with no lock held; takes its own locks. */
  void (*walk)(sa_heap_t *heap, sa_walker_t visit, void *arg);
  size_t (*check)(sa_heap_t *heap);
  /* Fills the allocation counters of the strategy's own blocks. */
  void (*stats)(sa_heap_t *heap, sa_stats_t *stats);

  /* fork: take every lock of the heap in a fixed order; release them. */
  void (*lock)(sa_heap_t *heap);
  void (*unlock)(sa_heap_t *heap);

  /* Optional. The background purger's visit (common/purge.c), with the
   * heap's segment_lock held: gives back what the strategy keeps unused
   * for config.segment_decay_ms (segregated: the free pages of sparse
   * slabs), taking its own locks only with trylock, and returns when it
   * wants the next visit (ms of the coarse clock, as now_ms), UINT64_MAX
   * if it keeps nothing. A strategy that starts to keep something calls
   * sa_purge_want. */
  uint64_t (*decay)(sa_heap_t *heap, uint64_t now_ms);
};

/* ---- segments: the heap's mappings, each known to the page map ---------- */

typedef enum {
  SA_SEGMENT_HEAP = 1,  /* a strategy's chunk, arena or slab run */
  SA_SEGMENT_LARGE = 2  /* one large object (common/large.c) */
} sa_segment_kind_t;

/* Lives at the start of its mapping. 64 bytes: a strategy's data that
 * follows it keeps any alignment up to 64. */
typedef struct sa_segment {
  sa_heap_t *heap;
  struct sa_segment *next, *prev; /* the heap's list of its segments */
  size_t size;                    /* bytes mapped, from the segment itself */
  uint8_t kind;                   /* sa_segment_kind_t */
  /* A slab: the class of its block size in strategies/size_class
   * (sa_sc_floor(usable)), so that a front-end binned by those classes
   * finds a freed block's bin with one load; set with usable, else 0. A
   * wrong one puts blocks where the thread cache's double-free scan does
   * not look: the back-end's check verifies it. */
  uint8_t size_class;
  /* A slab (a heap segment whose blocks are all one size, see usable): how
   * many blocks it has from user on (sa_slab_index); else 0. */
  uint16_t slot_count;
  uint32_t strategy_data;         /* free for the strategy */
  void *user;                     /* large: the pointer handed out; a slab: its first block */
  /* large: usable bytes at user. heap: the usable size of every block in the
   * segment when the strategy makes them all one size (a slab), else 0; set
   * before the first block is handed out and fixed while any block lives.
   * Front-ends read it, user, slot_count and slot_magic without a lock to
   * size and validate a block on free. */
  size_t usable;
  /* A slab: ceil(2^64 / usable), so that a front-end tells a block's start
   * from any other address, and finds its index, with one multiplication
   * (sa_slab_index); else 0. */
  uint64_t slot_magic;
} sa_segment_t;

/* A slab keeps its bitmap of live blocks (bit i set: block i is allocated,
 * to a front-end's cache or to the user) this many bytes from its segment,
 * so that a front-end tells a block that is free in the back-end from a
 * live one without a lock (sa_slab_live), at an address it computes
 * without a load of the header. */
#define SA_SLAB_LIVE_OFFSET 144

/* The block index of p in slab seg, or UINT32_MAX if p is not the start of
 * one of its blocks (interior, in the header, past the last block). With
 * M = slot_magic = ceil(2^64 / u) and off < 2^32, the 128-bit product
 * off * M has the quotient off / u in its high word, and its low word is
 * below M exactly when u divides off (Lemire, Kaser and Kurz, "Faster
 * remainder by direct computation", 2019; held for every class and offset
 * by //strategies/segregated:segregated_test). An off of 2^32 or more (p
 * below user) has a high word of at least 2^32 / u, past any slab's count. */
static inline uint32_t sa_slab_index(const struct sa_segment *seg, const void *p) {
  uint64_t off = (uintptr_t)p - (uintptr_t)seg->user;
  unsigned __int128 prod = (unsigned __int128)off * seg->slot_magic;
  uint64_t idx = (uint64_t)(prod >> 64);
  if (__builtin_expect((uint64_t)prod >= seg->slot_magic || idx >= seg->slot_count, 0)) return UINT32_MAX;
  return (uint32_t)idx;
}
/* Whether block idx of slab seg is live (its bitmap). Read without the
 * back-end's lock: a block's bit changes only when the back-end hands it
 * out or takes it back, so the bit of a block the caller holds is stable;
 * the back-end writes its bitmap with atomic stores. */
static inline int sa_slab_live(const struct sa_segment *seg, uint32_t idx) {
  const uint64_t *bits = (const uint64_t *)((const char *)seg + SA_SLAB_LIVE_OFFSET);
  return (int)((__atomic_load_n(&bits[idx >> 6], __ATOMIC_RELAXED) >> (idx & 63)) & 1);
}

#define SA_SEGMENT_HEADER_SIZE 64

/* ---- the common heap header ----------------------------------------------- */

typedef struct sa_heap_counters {
  uint64_t allocations, frees, allocated_bytes; /* counters */
  uint64_t current_bytes, peak_bytes, current_blocks;
} sa_heap_counters_t;

/* Address space a heap keeps between segments' lives (segment_cache.c):
 * released segments by size in pages, and an untouched reserve to carve
 * new ones from; what goes unused for config.segment_decay_ms goes back to
 * the OS, on the heap's own calls or from the background purger
 * (common/purge.c), which keeps a list of the heaps that cache anything. */
#define SA_SEGMENT_CACHE_MAX ((size_t)1024 * 1024)       /* exact-size lists up to this */
#define SA_SEGMENT_CACHE_PAGES (SA_SEGMENT_CACHE_MAX >> 12)
#define SA_SEGMENT_CACHE_BIG_MAX ((size_t)64 * 1024 * 1024) /* one first-fit list up to this */
typedef struct sa_segment_cache {
  /* [pages]: spans of that many pages; [SA_SEGMENT_CACHE_PAGES + 1]: larger */
  struct sa_span *released[SA_SEGMENT_CACHE_PAGES + 2];
  uint64_t cached_bytes;   /* bytes in released[] (resident, in mapped_bytes) */
  uint64_t reused, purged_bytes; /* segments served from released[]; bytes unmapped */
  uint64_t oldest_ms;      /* at or before the release of every cached span */
  char *reserve, *reserve_end;
  struct sa_heap *purge_next; /* purge.c's list of heaps that cache, under its lock */
  uint32_t purge_listed;      /* on that list (or being put on it), under segment_lock */
} sa_segment_cache_t;

struct sa_heap {
  const sa_strategy_t *strategy;
  sa_config_t config;
  size_t heap_map_size;            /* bytes mapped for the heap struct */
  /* Requests above this go to common/large.c. sa_heap_base_create sets it to
   * config.mmap_threshold; a strategy whose blocks stop short of that (a
   * buddy's maximum order, a size-class table's last class) lowers it in
   * create. */
  size_t small_limit;

  pthread_mutex_t segment_lock;    /* segment list, large counters */
  sa_segment_t *segments;          /* every segment of this heap */
  sa_heap_counters_t large;        /* large objects, under segment_lock */

  sa_segment_cache_t segment_cache; /* common/segment_cache.c, under segment_lock */

  /* Mapping totals, atomics: segments are mapped outside strategy locks. */
  uint64_t mapped_bytes, peak_mapped_bytes, total_mapped_bytes;

  /* A front-end's state when heap->strategy is a front-end over a back-end
   * (thread_cache+segregated ...): the back-end's create built this heap with
   * the front-end's vtable as `self`, so every segment and the dispatch in
   * heap.c point here; the front-end keeps its own state beside it. NULL for
   * a bare back-end. */
  void *frontend;
};

/* Takes a strategy lock (a default pthread mutex) for a front-end's batch
 * call: single-threaded, plain pthread_mutex_lock (which glibc then does
 * without an atomic); otherwise a trylock, then a spin of adaptive length
 * (as glibc's PTHREAD_MUTEX_ADAPTIVE_NP) before sleeping, because a batch
 * waits for another thread's batch, which is short, and a futex sleep and
 * wake-up costs more. Only the batch paths spin: two threads that malloc
 * and free through one lock continuously (a bare strategy) run 4x slower
 * when the waiter spins, its reads pulling the lock's line away from the
 * owner every time (segregated_bench, 2 threads: 60 vs 250-340 ns per pair).
 * The adaptive type itself loses glibc's single-threaded path (+10 ns per
 * malloc+free pair on a bare strategy, measured). */
#define SA_MUTEX_SPINS 100
void sa_mutex_lock_contended(pthread_mutex_t *mutex);
static inline void sa_mutex_lock_spinning(pthread_mutex_t *mutex) {
  if (__libc_single_threaded) pthread_mutex_lock(mutex);
  else if (__builtin_expect(pthread_mutex_trylock(mutex) != 0, 0)) sa_mutex_lock_contended(mutex);
}

/* Initialises a default mutex in memory fresh from mmap (all zero): where
 * PTHREAD_MUTEX_INITIALIZER is all zero bytes (glibc, musl) it writes
 * nothing, so a heap's per-class locks cost no resident page until their
 * class is used; else pthread_mutex_init. */
void sa_mutex_init_zeroed(pthread_mutex_t *mutex);

/* Maps a zeroed heap struct of struct_size bytes (sa_heap_t first) and fills
 * the header. config NULL: defaults + SA_CONF. NULL with errno ENOMEM. */
sa_heap_t *sa_heap_base_create(const sa_strategy_t *strategy, const sa_config_t *config,
                               size_t struct_size);

/* Maps a segment of at least size bytes (rounded to pages) aligned to
 * alignment (a power of two, >= page size, or 0 for the page size), registers
 * every page of it with the page map and with the heap. NULL, errno ENOMEM. */
sa_segment_t *sa_segment_map(sa_heap_t *heap, size_t size, size_t alignment,
                             sa_segment_kind_t kind);
void sa_segment_unmap(sa_heap_t *heap, sa_segment_t *segment);
/* For a strategy that cycles same-size segments (slabs) and initialises its
 * own header: a heap segment of size bytes (page-rounded, page-aligned)
 * from the heap's segment cache when it holds one of that size, its bytes
 * past the sa_segment_t then as its last user left them (*zeroed = 0), else
 * carved from a reserve mapped ahead or mapped (*zeroed = 1, all zero).
 * Registered like sa_segment_map. NULL, errno ENOMEM. */
sa_segment_t *sa_segment_take(sa_heap_t *heap, size_t size, int *zeroed);
/* Unregisters a segment from sa_segment_take and keeps its memory for the
 * next take of that size; it goes back to the OS after
 * config.segment_decay_ms, or with the whole cache when the cache passes
 * config.segment_cache_bytes. */
void sa_segment_release(sa_heap_t *heap, sa_segment_t *segment);
/* Gives every cached byte and the reserve back to the OS (destroy, trim);
 * returns the cached (resident) bytes unmapped. */
size_t sa_segment_cache_purge(sa_heap_t *heap);
/* sa_check's part: the cache's lists agree with its byte count and none of
 * its spans is in the page map. Returns failures (reported). */
size_t sa_segment_cache_check(sa_heap_t *heap);
/* The decay as of now_ms (CLOCK_MONOTONIC_COARSE, in ms; tests pass a time
 * of their own): gives back every cached span released at or before
 * now_ms - segment_decay_ms * 7/8 (what comes due within the next eighth
 * goes with what is due, in one pass). Returns the bytes given back. The
 * heap's calls and the background purger run it with the clock's now. */
size_t sa_segment_cache_decay(sa_heap_t *heap, uint64_t now_ms);
/* The background purger's state (common/purge.c owns it). */
enum { SA_PURGER_NONE, SA_PURGER_WANTED, SA_PURGER_STARTING, SA_PURGER_RUNNING, SA_PURGER_FAILED };
extern int sa_purger_state; /* atomic */
void sa_purge_start_wanted(int safe);
/* Whether a purger is asked for: one relaxed load. */
static inline int sa_purge_wanted(void) {
  return __builtin_expect(__atomic_load_n(&sa_purger_state, __ATOMIC_RELAXED) == SA_PURGER_WANTED, 0);
}
/* Called by a strategy (any of its locks may be held) that now keeps
 * something its decay gives back: puts the heap on the purger's list if it
 * is not, and wakes the purger for a visit (takes segment_lock;
 * config.background_purge 0: nothing). The purger takes a heap off its
 * list only when, under segment_lock, its cache is empty and its decay
 * keeps nothing. */
void sa_purge_want(sa_heap_t *heap);
/* The coarse monotonic clock (ms) that decay's now_ms counts in. */
uint64_t sa_clock_ms(void);
/* A safe point: starts the background purger once a segment cache asked
 * for one. safe: the caller holds no allocator lock and its state is
 * whole, so pthread_create may call malloc (the sa_ API's entry points, a
 * layer's slow path after its work); 0: it may not, so the thread is
 * started only in a process whose malloc is not stratalloc's. Inline, one
 * relaxed load, because every sa_malloc and sa_free passes one. */
static inline void sa_purge_poll(int safe) {
  if (sa_purge_wanted()) sa_purge_start_wanted(safe);
}
/* The segment that contains ptr, or NULL if no heap of this process owns it:
 * the page map (common/pagemap.c), two levels over the 36-bit page number of
 * a 48-bit address (18 bits each: a leaf maps 1 GiB), two dependent loads
 * and no lock. Inline because fast paths (the thread cache's free) call it
 * on every operation. */
#define SA_PAGEMAP_PAGE_SHIFT 12
#define SA_PAGEMAP_BITS 18
#define SA_PAGEMAP_FANOUT ((size_t)1 << SA_PAGEMAP_BITS)
typedef struct sa_pagemap_leaf { sa_segment_t *slot[SA_PAGEMAP_FANOUT]; } sa_pagemap_leaf_t;
extern sa_pagemap_leaf_t *sa_pagemap_root[SA_PAGEMAP_FANOUT];

static inline sa_segment_t *sa_segment_of(const void *ptr) {
  uintptr_t page = (uintptr_t)ptr >> SA_PAGEMAP_PAGE_SHIFT;
  if (__builtin_expect(page >> (2 * SA_PAGEMAP_BITS), 0)) return NULL;
  sa_pagemap_leaf_t *leaf = __atomic_load_n(&sa_pagemap_root[page >> SA_PAGEMAP_BITS], __ATOMIC_ACQUIRE);
  if (__builtin_expect(leaf == NULL, 0)) return NULL;
  return __atomic_load_n(&leaf->slot[page & (SA_PAGEMAP_FANOUT - 1)], __ATOMIC_ACQUIRE);
}
/* The same lookup on the low 48 bits of ptr only: a fast path that checks
 * ptr against the segment's geometry (sa_slab_index) before it reads
 * through ptr may skip the test of the high bits. */
static inline sa_segment_t *sa_segment_probe(const void *ptr) {
  uintptr_t page = (uintptr_t)ptr >> SA_PAGEMAP_PAGE_SHIFT;
  sa_pagemap_leaf_t *leaf = __atomic_load_n(
      &sa_pagemap_root[(page >> SA_PAGEMAP_BITS) & (SA_PAGEMAP_FANOUT - 1)], __ATOMIC_ACQUIRE);
  if (__builtin_expect(leaf == NULL, 0)) return NULL;
  return __atomic_load_n(&leaf->slot[page & (SA_PAGEMAP_FANOUT - 1)], __ATOMIC_ACQUIRE);
}

/* OS memory for a strategy's own metadata (not blocks: those live in
 * segments). Page-rounded, zeroed; NULL with errno ENOMEM (common/os.c). */
void *sa_os_map(size_t size, size_t alignment);
void sa_os_unmap(void *addr, size_t size);
size_t sa_os_page_size(void);

/* ---- counters helpers (call under the strategy's lock) -------------------- */

static inline void sa_counters_on_alloc(sa_heap_counters_t *c, size_t usable) {
  c->allocations++;
  c->allocated_bytes += usable;
  c->current_blocks++;
  c->current_bytes += usable;
  if (c->current_bytes > c->peak_bytes) c->peak_bytes = c->current_bytes;
}

static inline void sa_counters_on_free(sa_heap_counters_t *c, size_t usable) {
  c->frees++;
  c->current_blocks--;
  c->current_bytes -= usable;
}

/* Copies a strategy's counters into the public stats. */
void sa_counters_export(const sa_heap_counters_t *c, sa_stats_t *stats);

/* ---- errors --------------------------------------------------------------- */

/* Reports of a bad pointer or damaged metadata, on stderr, then abort(). They
 * never allocate. The call that found it (sa_op_t) and what it found
 * (sa_fault_t) make the message, one table in common/error.c:
 *
 *                      SA_FAULT_FREED                        SA_FAULT_INTERIOR / _FOREIGN
 *   SA_OP_FREE         double free of P                      invalid free of P
 *   SA_OP_REALLOC      realloc of freed pointer P            invalid realloc of P
 *   SA_OP_USABLE_SIZE  malloc_usable_size of freed pointer P invalid malloc_usable_size of P
 *
 * each followed by " (<strategy>)" and, for an invalid pointer, ": not the
 * start of a block" (interior) or ": not memory of this heap" (foreign). */
__attribute__((noreturn, cold)) void sa_fatal_block(const sa_heap_t *heap, sa_op_t op,
                                                    sa_fault_t fault, const void *ptr);
/* Metadata that cannot be right: "corrupted <what> at W (<strategy>)",
 * then ", found by the free of P" (or realloc, malloc_usable_size; nothing
 * for SA_OP_MALLOC or a NULL ptr). what: "block header", "free list",
 * "thread cache" ... */
__attribute__((noreturn, cold)) void sa_fatal_corrupt(const sa_heap_t *heap, const char *what,
                                                      const void *where, sa_op_t op,
                                                      const void *ptr);
/* "stratalloc: check: <strategy>: <message> 0x..." on stderr (no abort). */
void sa_check_report(const sa_heap_t *heap, const char *message, const void *ptr);

/* In a check function: reports a broken invariant and counts it. */
#define SA_CHECK_EXPECT(heap, failures, cond, message, ptr) \
  do {                                                      \
    if (!(cond)) {                                          \
      sa_check_report((heap), (message), (ptr));            \
      (failures)++;                                         \
    }                                                       \
  } while (0)

/* alignment: a power of two. */
static inline size_t sa_align_up(size_t n, size_t alignment) {
  return (n + alignment - 1) & ~(alignment - 1);
}

/* What a realloc that has to move a block of old usable bytes to n > old
 * asks for: at least a quarter more than it had, so a buffer grown in small
 * steps moves O(log n) times, not once per size class (tcmalloc's rule; a
 * slab block cannot grow in place as glibc's top chunk does). */
static inline size_t sa_realloc_grow(size_t old, size_t n) {
  size_t more = old + old / 4;
  return n >= more || more < old ? n : more;
}

#define SA_LIKELY(x) __builtin_expect(!!(x), 1)
#define SA_UNLIKELY(x) __builtin_expect(!!(x), 0)

#ifdef __cplusplus
}
#endif

#endif /* STRATALLOC_STRATEGY_H */

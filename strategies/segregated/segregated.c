/* segregated: size classes, per-class slabs carved from OS pages, no
 * per-object header, a lock per size class.
 *
 * A slab (one SA_SEGMENT_HEAP segment, every page of it in the page map):
 *
 *   [sa_segment_t 64][seg_slab_t rest 72][bitmap][pad][slot 0][slot 1]...[slot n-1][tail]
 *    ^ page aligned                                     ^ start: aligned to
 *                                                         min(lowest set bit of size, 4096)
 *
 * A slot is free or live; bit i of the bitmap is set while slot i is live.
 * Slots [bump, capacity) have never been handed out. Freed slots below bump
 * ("holes") are found in the bitmap, lowest first, from `hint` on: nothing
 * reads or writes a free slot's memory, so a slot freed by another core
 * costs no cache miss to hand out again (a free list threaded through the
 * slots would chase one cross-core miss per block). free(p) arrives with the slab
 * already found by common (the page map); one multiplication by the
 * class's magic gives the slot and whether p is a slot start at all
 * (sa_slab_index).
 *
 * Requests above SA_SEGREGATED_SMALL_MAX (possible only when mmap_threshold
 * is raised above it) and over-aligned ones no class can serve get a
 * "direct" segment each: [sa_segment_t][seg_direct_t][pad][object ...].
 *
 * See README.md for the invariants, the return policy and the complexity. */
#include "strategies/segregated/segregated.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "stratalloc/strategy.h"
#include "strategies/size_class/size_class.h"

#define SEG_NCLASSES SA_SC_COUNT
#define SEG_SMALL_MAX SA_SEGREGATED_SMALL_MAX
#define SEG_PAGE ((size_t)4096)          /* layout unit; real pages may be larger */
#define SEG_SLAB_MIN ((size_t)64 * 1024) /* smallest slab */
#define SEG_MIN_SLOTS 4                  /* slots per slab at least */
#define SEG_DIRECT_OFFSET ((size_t)128)  /* object offset in a direct segment */

/* segment.strategy_data: what kind of segment of ours this is. */
#define SEG_TAG_SLAB ((uintptr_t)0x5e65)
#define SEG_TAG_DIRECT ((uintptr_t)0xd1ec)

enum { SEG_PARTIAL = 0, SEG_FULL = 1, SEG_EMPTY = 2, SEG_STATES = 3 };

typedef struct seg_slab {
  sa_segment_t segment;         /* must be first: the page map points here */
  struct seg_slab *next, *prev; /* the class's list for state */
  char *start;                  /* slot 0 */
  struct seg_slab *snext, *sprev; /* the class's sparse list, while `sparse` */
  uint32_t hint;                /* no hole below bitmap word `hint` */
  uint32_t sparse;              /* on the sparse list: its free bytes when listed, else 0 */
  uint32_t cls, capacity;
  uint32_t used;  /* live slots */
  uint32_t bump;  /* slots >= bump were never handed out */
  uint32_t state; /* SEG_PARTIAL, SEG_FULL or SEG_EMPTY */
  uint32_t relist_at; /* a free leaving this many live slots lists it as sparse */
  /* While sparse: when it was listed (low 32 bits of sa_clock_ms, never
   * 0); seg_decay purges it a decay later. */
  uint32_t sparse_ms;
  uint64_t bitmap[]; /* bit i set: slot i is live */
} seg_slab_t;

typedef struct seg_direct {
  sa_segment_t segment; /* must be first */
  struct seg_direct *next, *prev;
  char *user;    /* the pointer handed out */
  size_t usable; /* bytes from user to the segment end */
} seg_direct_t;

_Static_assert(sizeof(seg_direct_t) <= SEG_DIRECT_OFFSET, "direct header fits before the object");
_Static_assert(sizeof(seg_slab_t) % 8 == 0, "bitmap is word aligned");
_Static_assert(offsetof(seg_slab_t, bitmap) == SA_SLAB_LIVE_OFFSET, "the live bitmap where front-ends read it");
_Static_assert(sizeof(sa_segment_t) == SA_SEGMENT_HEADER_SIZE, "the segment header is one line");

/* The size-class table, generated once (seg_table_init) from the formula in
 * seg_class_size. Read-only afterwards. */
typedef struct seg_class_info {
  uint32_t size;        /* usable bytes per slot */
  uint32_t capacity;    /* slots per slab */
  uint32_t data_offset; /* start - slab */
  uint32_t slab_bytes;  /* bytes mapped per slab */
  uint32_t sparse_at;   /* a free that leaves this many live slots lists the slab as sparse */
  uint32_t pad_;
  uint64_t magic;       /* ceil(2^64 / size): the segment's slot_magic (sa_slab_index) */
} seg_class_info_t;

static seg_class_info_t seg_info[SEG_NCLASSES];
static pthread_once_t seg_table_once = PTHREAD_ONCE_INIT;

/* One size class: its lock, its slabs by state, its counters. A cache line
 * of its own so classes do not false-share. */
typedef struct seg_class {
  pthread_mutex_t lock;
  seg_slab_t *lists[SEG_STATES]; /* partial slabs first in line for malloc */
  uint64_t count[SEG_STATES];
  sa_heap_counters_t counters; /* usable bytes = class size */
  uint64_t slabs_mapped, slabs_unmapped;
  seg_slab_t *sparse; /* slabs whose free pages may be given back (seg_purge) */
  uint64_t nsparse, purges, purged_bytes;
} __attribute__((aligned(64))) seg_class_t;

typedef struct seg_heap {
  sa_heap_t base;
  size_t retain_empty; /* empty slabs kept per class (config) */
  uint64_t purgeable;  /* sum of the listed sparse slabs' free bytes (atomic, relaxed) */
  uint32_t purge_next; /* the class seg_purge looks at first (a hint, racy) */
  uint32_t decay_armed; /* seg_decay will visit: a sparse slab was seen since it last found none */
  pthread_mutex_t direct_lock __attribute__((aligned(64)));
  seg_direct_t *direct;
  sa_heap_counters_t direct_counters;
  uint64_t direct_segments, direct_mapped, direct_unmapped;
  seg_class_t classes[SEG_NCLASSES];
} seg_heap_t;

/* ======================================================================== */
/* Size classes                                                             */
/* ======================================================================== */

/* The classes are sa_sc_ (strategies/size_class): class c holds blocks of
 * sa_sc_size(c) bytes. */
static inline size_t seg_class_size(size_t cls) { return sa_sc_size(cls); }
/* 1 <= size <= SEG_SMALL_MAX. */
static inline size_t seg_size_class(size_t size) { return sa_sc_ceil(size); }

static inline size_t seg_bitmap_bytes(size_t slots) { return (slots + 63) / 64 * 8; }

/* Chooses the slab size of a class: at least SEG_SLAB_MIN and SEG_MIN_SLOTS
 * slots, a whole number of pages, the first with at most 1/32 of it lost to
 * header, alignment padding and tail (else the least lossy of 2x range). */
static void seg_geometry(size_t cls, seg_class_info_t *ci) {
  size_t s = seg_class_size(cls);
  size_t align = s & (~s + 1);
  if (align > SEG_PAGE) align = SEG_PAGE;
  size_t min_bytes = SEG_PAGE + SEG_MIN_SLOTS * s;
  if (min_bytes < SEG_SLAB_MIN) min_bytes = SEG_SLAB_MIN;
  size_t p0 = (min_bytes + SEG_PAGE - 1) / SEG_PAGE;
  size_t best_bytes = 0, best_n = 0, best_off = 0, best_waste = 0;
  for (size_t p = p0; p <= 2 * p0; p++) {
    size_t bytes = p * SEG_PAGE;
    size_t n = (bytes - sizeof(seg_slab_t)) / s, off;
    for (;;) {
      off = sa_align_up(sizeof(seg_slab_t) + seg_bitmap_bytes(n), align);
      if (off + n * s <= bytes) break;
      n--;
    }
    size_t waste = bytes - n * s;
    if (best_bytes == 0 || waste * best_bytes < best_waste * bytes) {
      best_bytes = bytes, best_n = n, best_off = off, best_waste = waste;
    }
    if (waste * 32 <= bytes) break;
  }
  ci->size = (uint32_t)s;
  ci->capacity = (uint32_t)best_n;
  ci->data_offset = (uint32_t)best_off;
  ci->slab_bytes = (uint32_t)best_bytes;
  ci->sparse_at = (uint32_t)(s >= 1024 ? best_n / 2 : best_n / 4);
  ci->magic = UINT64_MAX / s + 1; /* ceil(2^64 / s), s >= 2 */
}

static void seg_table_init(void) {
  for (size_t c = 0; c < SEG_NCLASSES; c++) seg_geometry(c, &seg_info[c]);
}

static inline void seg_table(void) { pthread_once(&seg_table_once, seg_table_init); }

static inline int seg_live(const seg_slab_t *s, uint32_t idx) {
  return (s->bitmap[idx >> 6] >> (idx & 63)) & 1;
}

/* Whether class c ever had a slab (its counters are all zero otherwise).
 * Introspection skips the others without taking their locks: a lock taken
 * is a write, and the page of a class no one used stays untouched (the
 * compare driver's stats at the end, SA_STATS's periodic exports). */
static inline int seg_class_used(const seg_class_t *c) {
  return __atomic_load_n(&c->slabs_mapped, __ATOMIC_RELAXED) != 0;
}

/* ---- slab lists (under the class lock) ----------------------------------- */

static inline void seg_push(seg_class_t *c, seg_slab_t *s, uint32_t state) {
  s->state = state;
  s->prev = NULL;
  s->next = c->lists[state];
  if (s->next) s->next->prev = s;
  c->lists[state] = s;
  c->count[state]++;
}

static inline void seg_unlink(seg_class_t *c, seg_slab_t *s) {
  if (s->prev) s->prev->next = s->next;
  else c->lists[s->state] = s->next;
  if (s->next) s->next->prev = s->prev;
  c->count[s->state]--;
}

/* ======================================================================== */
/* Fast path                                                                */
/* ======================================================================== */

static seg_slab_t *seg_refill(seg_heap_t *h, seg_class_t *c, size_t cls);
static void seg_slab_emptied(seg_heap_t *h, seg_class_t *c, seg_slab_t *s);
static void seg_sparse_add(seg_heap_t *h, seg_class_t *c, seg_slab_t *s);
static void *seg_direct_malloc(seg_heap_t *h, size_t size, size_t alignment);
static void seg_direct_free(seg_heap_t *h, seg_direct_t *d, void *p);

/* Called with c locked; unlocks before reporting. */
__attribute__((noreturn, cold)) static void seg_fatal(seg_heap_t *h, seg_class_t *c, sa_op_t op,
                                                      sa_fault_t fault, const void *p) {
  if (c) pthread_mutex_unlock(&c->lock);
  sa_fatal_block(&h->base, op, fault, p);
}

/* Front-ends read the bitmap without the class lock (sa_slab_live): every
 * write under it is an atomic store, so that they read whole words. */
static inline void seg_bits_store(uint64_t *word, uint64_t v) { __atomic_store_n(word, v, __ATOMIC_RELAXED); }

/* Marks slots [from, from + k) live. */
static inline void seg_bits_set(uint64_t *bitmap, uint32_t from, uint32_t k) {
  while (k) {
    uint32_t bit = from & 63, take = 64 - bit < k ? 64 - bit : k;
    seg_bits_store(&bitmap[from >> 6],
                   bitmap[from >> 6] | (take == 64 ? ~(uint64_t)0 : (((uint64_t)1 << take) - 1)) << bit);
    from += take;
    k -= take;
  }
}

/* Hands out up to max slots of s (c locked) into out, the holes lowest
 * first, then the never-used tail; bitmap, live count and the class
 * counters in bulk. Returns how many; no slot's memory is touched. */
static inline uint32_t seg_take_from(seg_class_t *c, seg_slab_t *s, const seg_class_info_t *ci,
                                     void **out, uint32_t max) {
  uint32_t k = 0;
  if (s->used < s->bump) { /* holes below bump: the lowest is at or after hint */
    uint32_t w = s->hint;
    for (; k < max && s->used + k < s->bump; w++) {
      uint64_t free_bits = ~s->bitmap[w];
      uint32_t first = w * 64;
      if (first + 64 > s->bump) free_bits &= ((uint64_t)1 << (s->bump - first)) - 1;
      uint64_t taken = 0;
      while (free_bits && k < max) {
        uint32_t bit = (uint32_t)__builtin_ctzll(free_bits);
        free_bits &= free_bits - 1;
        taken |= (uint64_t)1 << bit;
        out[k++] = s->start + (size_t)(first + bit) * ci->size;
      }
      seg_bits_store(&s->bitmap[w], s->bitmap[w] | taken);
      if (free_bits) break; /* w still has holes */
    }
    s->hint = w;
  }
  if (k < max && s->used + k == s->bump && s->bump < s->capacity) { /* the tail, as a run */
    uint32_t run = s->capacity - s->bump;
    if (run > max - k) run = max - k;
    char *p = s->start + (size_t)s->bump * ci->size;
    for (uint32_t i = 0; i < run; i++, p += ci->size) out[k + i] = p;
    seg_bits_set(s->bitmap, s->bump, run);
    s->bump += run;
    k += run;
  }
  s->used += k;
  c->counters.allocations += k;
  c->counters.allocated_bytes += (uint64_t)k * ci->size;
  c->counters.current_blocks += k;
  c->counters.current_bytes += (uint64_t)k * ci->size;
  if (c->counters.current_bytes > c->counters.peak_bytes) c->counters.peak_bytes = c->counters.current_bytes;
  if (SA_UNLIKELY(s->used == ci->capacity)) {
    seg_unlink(c, s);
    seg_push(c, s, SEG_FULL);
    s->relist_at = ci->sparse_at;
  }
  return k;
}

/* Up to n slots of class cls into out, c locked; fewer (errno ENOMEM) only
 * when no slab could be had. */
static inline size_t seg_take(seg_heap_t *h, seg_class_t *c, size_t cls, void **out, size_t n) {
  const seg_class_info_t *ci = &seg_info[cls];
  size_t got = 0;
  while (got < n) {
    seg_slab_t *s = c->lists[SEG_PARTIAL];
    if (SA_UNLIKELY(s == NULL) && (s = seg_refill(h, c, cls)) == NULL) break;
    size_t want = n - got;
    got += seg_take_from(c, s, ci, out + got, want > UINT32_MAX ? UINT32_MAX : (uint32_t)want);
  }
  return got;
}

/* One slot (malloc without a front-end): seg_take_from for max = 1, without
 * its loops. With a hole below bump, the lowest clear bit from hint is one:
 * every clear bit at or past bump lies above every hole. */
static inline void *seg_class_alloc(seg_heap_t *h, size_t cls) {
  const seg_class_info_t *ci = &seg_info[cls];
  seg_class_t *c = &h->classes[cls];
  pthread_mutex_lock(&c->lock);
  seg_slab_t *s = c->lists[SEG_PARTIAL];
  if (SA_UNLIKELY(s == NULL) && (s = seg_refill(h, c, cls)) == NULL) {
    pthread_mutex_unlock(&c->lock);
    return NULL;
  }
  uint32_t idx;
  if (s->used < s->bump) {
    uint32_t w = s->hint;
    while (s->bitmap[w] == ~(uint64_t)0) w++;
    s->hint = w;
    idx = w * 64 + (uint32_t)__builtin_ctzll(~s->bitmap[w]);
  } else {
    idx = s->bump++;
  }
  seg_bits_store(&s->bitmap[idx >> 6], s->bitmap[idx >> 6] | (uint64_t)1 << (idx & 63));
  char *p = s->start + (size_t)idx * ci->size;
  if (SA_UNLIKELY(++s->used == ci->capacity)) {
    seg_unlink(c, s);
    seg_push(c, s, SEG_FULL);
    s->relist_at = ci->sparse_at;
  }
  sa_counters_on_alloc(&c->counters, ci->size);
  pthread_mutex_unlock(&c->lock);
  return p;
}

static void *seg_malloc(sa_heap_t *heap, size_t size) {
  seg_heap_t *h = (seg_heap_t *)heap;
  if (SA_UNLIKELY(size > SEG_SMALL_MAX)) return seg_direct_malloc(h, size, SA_ALIGNMENT);
  return seg_class_alloc(h, seg_size_class(size));
}

/* Validates slot p of s under c's lock (held): a slot start below bump whose
 * bit is set. Reports it as a fault of op and aborts otherwise. */
static inline uint32_t seg_validate(seg_heap_t *h, seg_class_t *c, seg_slab_t *s, const void *p,
                                    sa_op_t op) {
  uint32_t idx = sa_slab_index(&s->segment, p); /* the geometry is in the segment header */
  if (SA_UNLIKELY(idx >= s->bump)) seg_fatal(h, c, op, SA_FAULT_INTERIOR, p);
  if (SA_UNLIKELY(!seg_live(s, idx))) seg_fatal(h, c, op, SA_FAULT_FREED, p);
  return idx;
}

/* Gives slot p of slab s back, c (its class) locked. */
static inline void seg_put(seg_heap_t *h, seg_class_t *c, seg_slab_t *s, void *p) {
  const seg_class_info_t *ci = &seg_info[s->cls];
  uint32_t idx = seg_validate(h, c, s, p, SA_OP_FREE);
  seg_bits_store(&s->bitmap[idx >> 6], s->bitmap[idx >> 6] & ~((uint64_t)1 << (idx & 63)));
  if ((idx >> 6) < s->hint) s->hint = idx >> 6;
  sa_counters_on_free(&c->counters, ci->size);
  if (SA_UNLIKELY(s->used-- == ci->capacity)) {
    seg_unlink(c, s);
    seg_push(c, s, SEG_PARTIAL);
  }
  if (SA_UNLIKELY(s->used <= s->relist_at)) {
    if (s->used == 0) seg_slab_emptied(h, c, s);
    else if (!s->sparse) seg_sparse_add(h, c, s);
  }
}

static void seg_free(sa_heap_t *heap, sa_segment_t *seg, void *p) {
  seg_heap_t *h = (seg_heap_t *)heap;
  if (SA_UNLIKELY(seg->strategy_data != SEG_TAG_SLAB)) {
    seg_direct_free(h, (seg_direct_t *)seg, p);
    return;
  }
  seg_slab_t *s = (seg_slab_t *)seg;
  seg_class_t *c = &h->classes[s->cls]; /* the class is fixed for the slab's life */
  pthread_mutex_lock(&c->lock);
  seg_put(h, c, s, p);
  pthread_mutex_unlock(&c->lock);
}


/* For front-ends (thread_cache): n blocks of one class under one lock,
 * found in slab bitmaps (no block touched), counted in bulk. The batch
 * paths spin for a contended class lock (another thread's fill or flush
 * is short) where malloc and free sleep at once (see strategy.h). */
static size_t seg_malloc_batch(sa_heap_t *heap, size_t size, void **out, size_t n, size_t *usable) {
  seg_heap_t *h = (seg_heap_t *)heap;
  if (SA_UNLIKELY(size > SEG_SMALL_MAX)) {
    out[0] = seg_direct_malloc(h, size, SA_ALIGNMENT);
    if (out[0] == NULL) return 0;
    *usable = ((seg_direct_t *)sa_segment_of(out[0]))->usable;
    return 1;
  }
  size_t cls = seg_size_class(size);
  seg_class_t *c = &h->classes[cls];
  *usable = seg_info[cls].size;
  sa_mutex_lock_spinning(&c->lock);
  size_t got = seg_take(h, c, cls, out, n);
  pthread_mutex_unlock(&c->lock);
  return got;
}

/* One lock per run of blocks of the same class; one page-map lookup per
 * run of blocks of the same slab. */
static void seg_free_batch(sa_heap_t *heap, void **ptrs, size_t n) {
  seg_heap_t *h = (seg_heap_t *)heap;
  seg_class_t *locked = NULL;
  sa_segment_t *seg = NULL;
  for (size_t i = 0; i < n; i++) {
    void *p = ptrs[i];
    if (seg == NULL || (uintptr_t)p - (uintptr_t)seg >= seg->size) seg = sa_segment_of(p);
    if (SA_UNLIKELY(seg == NULL || seg->heap != heap || seg->strategy_data != SEG_TAG_SLAB)) {
      if (locked) pthread_mutex_unlock(&locked->lock);
      locked = NULL;
      if (seg == NULL || seg->heap != heap) sa_fatal_block(heap, SA_OP_FREE, SA_FAULT_FOREIGN, p);
      seg_free(heap, seg, p);
      seg = NULL; /* a direct segment is gone */
      continue;
    }
    seg_slab_t *s = (seg_slab_t *)seg;
    seg_class_t *c = &h->classes[s->cls];
    if (c != locked) {
      if (locked) pthread_mutex_unlock(&locked->lock);
      sa_mutex_lock_spinning(&c->lock);
      locked = c;
    }
    if (SA_UNLIKELY(s->used == 1)) seg = NULL; /* this free may release the slab */
    seg_put(h, c, s, p);
  }
  if (locked) pthread_mutex_unlock(&locked->lock);
}

static size_t seg_usable_size(sa_heap_t *heap, sa_segment_t *seg, const void *p, sa_op_t op) {
  seg_heap_t *h = (seg_heap_t *)heap;
  if (seg->strategy_data != SEG_TAG_SLAB) {
    seg_direct_t *d = (seg_direct_t *)seg;
    if (d->user != p) sa_fatal_block(heap, op, SA_FAULT_INTERIOR, p);
    return d->usable;
  }
  seg_slab_t *s = (seg_slab_t *)seg;
  seg_class_t *c = &h->classes[s->cls];
  const seg_class_info_t *ci = &seg_info[s->cls];
  pthread_mutex_lock(&c->lock);
  seg_validate(h, c, s, p, op);
  pthread_mutex_unlock(&c->lock);
  return ci->size;
}

/* ======================================================================== */
/* Slow path: slabs in and out                                              */
/* ======================================================================== */

/* ---- sparse slabs: their free pages back to the OS ------------------------ */

/* A class's bytes freed in slabs that stay partial serve only that class:
 * a program that frees most of one class's blocks at random and then
 * allocates another class (redis overwriting 4 KiB values with 1 KiB ones)
 * keeps every page of the first class's slabs and maps new ones for the
 * second. A free that leaves a slab with capacity / 4 live slots lists it
 * as sparse; once purged, it is listed again when its live slots have
 * halved (or after it was full again: relist_at); seg_purge
 * gives the whole pages of its free slot runs back to the OS
 * (MADV_DONTNEED: they read as zero when handed out again; nothing of
 * segregated lives in a free slot, and the header page is never in a run),
 * as much of it as the heap maps afresh: seg_refill calls it for each new
 * slab it takes, so the purge costs at most one madvise per page of
 * growth and a heap that only grows or only shrinks never purges. */
#define SEG_PURGE_MIN ((uint64_t)1 << 20) /* listed free bytes below this: no purge */

/* s (c locked) starts to wait for seg_decay: sparse, or an empty slab the
 * class retains. The first since seg_decay last found nothing wakes it. */
static void seg_decay_stamp(seg_heap_t *h, seg_slab_t *s) {
  s->sparse_ms = (uint32_t)sa_clock_ms() | 1;
  if (!__atomic_load_n(&h->decay_armed, __ATOMIC_SEQ_CST)) {
    __atomic_store_n(&h->decay_armed, 1, __ATOMIC_SEQ_CST);
    sa_purge_want(&h->base);
  }
}

static void seg_sparse_add(seg_heap_t *h, seg_class_t *c, seg_slab_t *s) {
  const seg_class_info_t *ci = &seg_info[s->cls];
  s->sparse = (ci->capacity - s->used) * ci->size;
  s->sprev = NULL;
  s->snext = c->sparse;
  if (s->snext) s->snext->sprev = s;
  __atomic_store_n(&c->sparse, s, __ATOMIC_RELAXED); /* seg_purge reads it unlocked */
  c->nsparse++;
  __atomic_add_fetch(&h->purgeable, s->sparse, __ATOMIC_RELAXED);
  /* Its free pages go back after a decay even if the heap never grows
   * again (seg_decay, from the background purger, which visits every
   * SEG_DECAY_VISITS-th of a decay while anything is sparse: the first
   * sparse slab since then wakes it). */
  seg_decay_stamp(h, s);
}

static void seg_sparse_del(seg_heap_t *h, seg_class_t *c, seg_slab_t *s) {
  if (s->sprev) s->sprev->snext = s->snext;
  else __atomic_store_n(&c->sparse, s->snext, __ATOMIC_RELAXED);
  if (s->snext) s->snext->sprev = s->sprev;
  c->nsparse--;
  __atomic_sub_fetch(&h->purgeable, s->sparse, __ATOMIC_RELAXED);
  s->sparse = 0;
  s->sparse_ms = 0;
  s->snext = s->sprev = NULL;
}

/* The pages wholly inside [lo, hi) back to the OS; returns their bytes. The
 * one system call of segregated (common/os.c keeps sa_os_decommit to
 * itself). */
static size_t seg_decommit(char *lo, char *hi, size_t page) {
  uintptr_t a = sa_align_up((uintptr_t)lo, page), b = (uintptr_t)hi & ~(uintptr_t)(page - 1);
  if (b <= a) return 0;
  madvise((void *)a, b - a, MADV_DONTNEED);
  return b - a;
}

/* Every run of free slots of s (c locked), the slab's tail with the last. */
static size_t seg_purge_slab(seg_slab_t *s, const seg_class_info_t *ci, size_t page) {
  size_t bytes = 0;
  uint32_t i = 0, n = s->capacity;
  while (i < n) {
    /* the next free slot at or after i */
    uint32_t w = i >> 6;
    uint64_t free_bits = ~s->bitmap[w] & (~(uint64_t)0 << (i & 63));
    while (free_bits == 0 && ++w < (n + 63) / 64) free_bits = ~s->bitmap[w];
    if (free_bits == 0) break;
    uint32_t lo = w * 64 + (uint32_t)__builtin_ctzll(free_bits);
    if (lo >= n) break;
    /* the next live slot after lo */
    w = lo >> 6;
    uint64_t live_bits = s->bitmap[w] & (~(uint64_t)0 << (lo & 63));
    while (live_bits == 0 && ++w < (n + 63) / 64) live_bits = s->bitmap[w];
    uint32_t hi = live_bits ? w * 64 + (uint32_t)__builtin_ctzll(live_bits) : n;
    if (hi > n) hi = n;
    char *end = hi == n ? (char *)s + ci->slab_bytes : s->start + (size_t)hi * ci->size;
    bytes += seg_decommit(s->start + (size_t)lo * ci->size, end, page);
    i = hi;
  }
  return bytes;
}

/* Takes s (sparse, c locked) off the sparse list and gives its free pages
 * back, unless it has filled past half since it was listed. */
static void seg_purge_one(seg_heap_t *h, seg_class_t *c, const seg_class_info_t *ci, seg_slab_t *s,
                          size_t page) {
  seg_sparse_del(h, c, s);
  if (s->used > ci->capacity / 2) return;
  s->relist_at = s->used / 2; /* listed again once it has halved */
  c->purges++;
  c->purged_bytes += seg_purge_slab(s, ci, page);
}

/* Gives back the free pages of listed sparse slabs, worth about budget
 * bytes (their free bytes when listed), from any class whose lock is free
 * (trylock: the caller holds no class lock). A slab that has filled up
 * again since it was listed is only unlisted. */
static void seg_purge(seg_heap_t *h, uint64_t budget) {
  size_t page = sa_os_page_size();
  uint32_t first = __atomic_load_n(&h->purge_next, __ATOMIC_RELAXED) % SEG_NCLASSES;
  for (uint32_t k = 0; k < SEG_NCLASSES && budget > 0; k++) {
    uint32_t cls = (first + k) % SEG_NCLASSES;
    seg_class_t *c = &h->classes[cls];
    if (__atomic_load_n(&c->sparse, __ATOMIC_RELAXED) == NULL) continue;
    if (pthread_mutex_trylock(&c->lock) != 0) continue;
    const seg_class_info_t *ci = &seg_info[cls];
    seg_slab_t *s;
    while (budget > 0 && (s = c->sparse) != NULL) {
      uint64_t est = s->sparse;
      budget -= est < budget ? est : budget;
      seg_purge_one(h, c, ci, s, page);
    }
    pthread_mutex_unlock(&c->lock);
    if (budget > 0) continue;
    __atomic_store_n(&h->purge_next, cls, __ATOMIC_RELAXED);
  }
}

/* Whether s, stamped sparse_ms, has waited due_ms at now; if not, *next
 * becomes no later than when it will have. Stamps are 32-bit ms: an age
 * that wraps past 2^31 is a stamp a tick ahead of now, not due. */
static inline int seg_decay_due(const seg_slab_t *s, uint64_t now, uint32_t due_ms, uint64_t *next) {
  uint32_t age = (uint32_t)now - s->sparse_ms;
  if (age >= due_ms && age < (uint32_t)1 << 31) return 1;
  if (now + (uint32_t)(due_ms - age) < *next) *next = now + (uint32_t)(due_ms - age);
  return 0;
}

/* The background purger's visit (strategy.h's decay): a sparse slab's free
 * pages, and a retained empty slab's, go back segment_decay_ms (7/8 of it,
 * as the segment cache's) after it became so, so that a heap that stops
 * growing still gives them back (seg_refill purges only when the heap maps
 * afresh). A class whose lock is taken is looked at again soon. */
#define SEG_DECAY_RETRY_MS 10
#define SEG_DECAY_VISITS 8
static uint64_t seg_decay(sa_heap_t *heap, uint64_t now) {
  seg_heap_t *h = (seg_heap_t *)heap;
  size_t page = sa_os_page_size();
  uint64_t decay = heap->config.segment_decay_ms;
  uint32_t due_ms = (uint32_t)(decay - decay / 8);
  uint64_t next = UINT64_MAX;
  /* Disarmed before the scan: a slab listed sparse from here on arms it
   * again and wakes the purger, one listed before is seen by the scan. */
  __atomic_store_n(&h->decay_armed, 0, __ATOMIC_SEQ_CST);
  for (size_t cls = 0; cls < SEG_NCLASSES; cls++) {
    seg_class_t *c = &h->classes[cls];
    if (!seg_class_used(c)) continue;
    if (pthread_mutex_trylock(&c->lock) != 0) {
      if (now + SEG_DECAY_RETRY_MS < next) next = now + SEG_DECAY_RETRY_MS;
      continue;
    }
    const seg_class_info_t *ci = &seg_info[cls];
    for (seg_slab_t *s = c->sparse, *after; s != NULL; s = after) {
      after = s->snext;
      if (seg_decay_due(s, now, due_ms, &next)) seg_purge_one(h, c, ci, s, page);
    }
    for (seg_slab_t *s = c->lists[SEG_EMPTY]; s != NULL; s = s->next) {
      if (s->sparse_ms == 0 || !seg_decay_due(s, now, due_ms, &next)) continue; /* 0: given back */
      s->sparse_ms = 0;
      c->purges++;
      c->purged_bytes += seg_purge_slab(s, ci, page);
    }
    pthread_mutex_unlock(&c->lock);
  }
  if (next != UINT64_MAX) {
    __atomic_store_n(&h->decay_armed, 1, __ATOMIC_SEQ_CST);
    uint64_t visit = now + (decay / SEG_DECAY_VISITS ? decay / SEG_DECAY_VISITS : 1);
    if (visit < next) next = visit; /* slabs listed since are seen within a visit */
  }
  return next;
}

/* Called by seg_take, c locked, no partial slab: reuses a retained empty
 * slab, else takes one from the segment cache (dropping c's lock meanwhile).
 * Returns the slab, now partial. */
static seg_slab_t *seg_refill(seg_heap_t *h, seg_class_t *c, size_t cls) {
  seg_slab_t *s = c->lists[SEG_EMPTY];
  if (s) {
    seg_unlink(c, s);
    seg_push(c, s, SEG_PARTIAL);
    s->relist_at = seg_info[cls].sparse_at;
    s->sparse_ms = 0;
    return s;
  }
  const seg_class_info_t *ci = &seg_info[cls];
  /* The segment cache's work (its lock, the page map, now and then an
   * mmap) runs without the class lock, which other threads' fills and
   * flushes of this class are waiting for. The slab is on no list until
   * the lock is back, so nothing else can see it half-made. */
  pthread_mutex_unlock(&c->lock);
  if (SA_UNLIKELY(__atomic_load_n(&h->purgeable, __ATOMIC_RELAXED) >= SEG_PURGE_MIN))
    seg_purge(h, (uint64_t)2 * ci->slab_bytes);
  int zeroed;
  s = (seg_slab_t *)sa_segment_take(&h->base, ci->slab_bytes, &zeroed);
  if (s != NULL) {
    /* A reused slab: clear what a fresh (zero) one starts with. */
    if (!zeroed) memset((char *)s + sizeof s->segment, 0, ci->data_offset - sizeof s->segment);
    s->cls = (uint32_t)cls;
    s->capacity = ci->capacity;
    s->start = (char *)s + ci->data_offset;
    s->segment.strategy_data = SEG_TAG_SLAB;
    /* every slot one size: front-ends size and validate a free with these */
    s->segment.user = s->start;
    s->segment.slot_count = (uint16_t)ci->capacity;
    s->segment.slot_magic = ci->magic;
    s->segment.usable = ci->size;
    s->segment.size_class = (uint8_t)sa_sc_floor(ci->size);
    s->relist_at = ci->sparse_at;
  }
  pthread_mutex_lock(&c->lock);
  if (s == NULL) return NULL;
  __atomic_store_n(&c->slabs_mapped, c->slabs_mapped + 1, __ATOMIC_RELAXED); /* seg_class_used */
  seg_push(c, s, SEG_PARTIAL);
  return s;
}

/* Called by seg_free, c locked, when s's last live slot was freed: s goes to
 * the class's empty cache, or back to the OS when the cache already holds
 * retain_empty slabs. */
static void seg_slab_emptied(seg_heap_t *h, seg_class_t *c, seg_slab_t *s) {
  if (s->sparse) seg_sparse_del(h, c, s);
  seg_unlink(c, s);
  if (c->count[SEG_EMPTY] < h->retain_empty) {
    seg_push(c, s, SEG_EMPTY);
    seg_decay_stamp(h, s); /* its pages go back a decay from now if it stays empty */
    return;
  }
  c->slabs_unmapped++;
  sa_segment_release(&h->base, &s->segment);
}

/* ---- direct objects: one segment each ------------------------------------ */

static void *seg_direct_malloc(seg_heap_t *h, size_t size, size_t alignment) {
  size_t offset = alignment > SEG_DIRECT_OFFSET ? alignment : SEG_DIRECT_OFFSET;
  if (size > (SIZE_MAX >> 3) - offset) {
    errno = ENOMEM;
    return NULL;
  }
  size_t map_align = alignment > SEG_PAGE ? alignment : 0;
  seg_direct_t *d = (seg_direct_t *)sa_segment_map(&h->base, offset + size, map_align,
                                                   SA_SEGMENT_HEAP);
  if (d == NULL) return NULL;
  d->segment.strategy_data = SEG_TAG_DIRECT;
  d->user = (char *)d + offset;
  d->usable = d->segment.size - offset;
  pthread_mutex_lock(&h->direct_lock);
  d->prev = NULL;
  d->next = h->direct;
  if (h->direct) h->direct->prev = d;
  h->direct = d;
  h->direct_segments++;
  h->direct_mapped++;
  sa_counters_on_alloc(&h->direct_counters, d->usable);
  pthread_mutex_unlock(&h->direct_lock);
  return d->user;
}

static void seg_direct_free(seg_heap_t *h, seg_direct_t *d, void *p) {
  if (SA_UNLIKELY(d->segment.strategy_data != SEG_TAG_DIRECT || d->user != p))
    sa_fatal_block(&h->base, SA_OP_FREE, SA_FAULT_INTERIOR, p);
  pthread_mutex_lock(&h->direct_lock);
  if (d->prev) d->prev->next = d->next;
  else h->direct = d->next;
  if (d->next) d->next->prev = d->prev;
  h->direct_segments--;
  h->direct_unmapped++;
  sa_counters_on_free(&h->direct_counters, d->usable);
  pthread_mutex_unlock(&h->direct_lock);
  sa_segment_unmap(&h->base, &d->segment);
}

/* ======================================================================== */
/* memalign and realloc                                                     */
/* ======================================================================== */

/* A class whose size is a multiple of alignment has every slot aligned
 * (start is aligned to the lowest set bit of the size, up to a page); the
 * first such class at or above size serves it. Otherwise a direct segment. */
static void *seg_memalign(sa_heap_t *heap, size_t alignment, size_t size) {
  seg_heap_t *h = (seg_heap_t *)heap;
  if (alignment <= SEG_PAGE && size <= SEG_SMALL_MAX) {
    for (size_t cls = seg_size_class(size); cls < SEG_NCLASSES; cls++)
      if ((seg_info[cls].size & (alignment - 1)) == 0) return seg_class_alloc(h, cls);
  }
  return seg_direct_malloc(h, size, alignment);
}

/* In place when the new size maps to the same class (or fits a direct
 * object without wasting half of it); otherwise allocate, copy, free. */
static void *seg_realloc(sa_heap_t *heap, sa_segment_t *seg, void *p, size_t size) {
  seg_heap_t *h = (seg_heap_t *)heap;
  size_t old;
  if (seg->strategy_data == SEG_TAG_SLAB) {
    seg_slab_t *s = (seg_slab_t *)seg;
    seg_class_t *c = &h->classes[s->cls];
    pthread_mutex_lock(&c->lock);
    seg_validate(h, c, s, p, SA_OP_REALLOC);
    pthread_mutex_unlock(&c->lock);
    old = seg_info[s->cls].size;
    if (size <= SEG_SMALL_MAX && seg_size_class(size) == s->cls) return p;
  } else {
    seg_direct_t *d = (seg_direct_t *)seg;
    if (d->user != p) sa_fatal_block(heap, SA_OP_REALLOC, SA_FAULT_INTERIOR, p);
    old = d->usable;
    if (size <= old && size > old / 2 && size > SEG_SMALL_MAX) return p;
  }
  size_t want = size > old ? sa_realloc_grow(old, size) : size;
  void *fresh = seg_malloc(heap, want <= heap->small_limit ? want : size);
  if (fresh == NULL) return NULL;
  memcpy(fresh, p, size < old ? size : old);
  seg_free(heap, seg, p);
  return fresh;
}

/* ======================================================================== */
/* Introspection                                                            */
/* ======================================================================== */

static void seg_walk(sa_heap_t *heap, sa_walker_t visit, void *arg) {
  seg_heap_t *h = (seg_heap_t *)heap;
  for (size_t cls = 0; cls < SEG_NCLASSES; cls++) {
    seg_class_t *c = &h->classes[cls];
    size_t size = seg_info[cls].size;
    if (!seg_class_used(c)) continue;
    pthread_mutex_lock(&c->lock);
    for (int st = 0; st < SEG_STATES; st++)
      for (seg_slab_t *s = c->lists[st]; s; s = s->next)
        for (uint32_t i = 0; i < s->capacity; i++)
          visit(s->start + (size_t)i * size, size, seg_live(s, i) ? SA_BLOCK_USED : SA_BLOCK_FREE,
                arg);
    pthread_mutex_unlock(&c->lock);
  }
  pthread_mutex_lock(&h->direct_lock);
  for (seg_direct_t *d = h->direct; d; d = d->next) visit(d->user, d->usable, SA_BLOCK_USED, arg);
  pthread_mutex_unlock(&h->direct_lock);
}

#define SEG_EXPECT(cond, message, ptr) \
  SA_CHECK_EXPECT(&h->base, failures, cond, message, ptr)

/* One slab of class cls found on list state: header, bitmap, hint.
 * Adds its live slots to *live. */
static size_t seg_check_slab(seg_heap_t *h, size_t cls, uint32_t state, seg_slab_t *s,
                             uint64_t *live) {
  size_t failures = 0;
  const seg_class_info_t *ci = &seg_info[cls];
  SEG_EXPECT(sa_segment_of(s) == &s->segment, "slab not in the page map", s);
  SEG_EXPECT(sa_segment_of((char *)s + ci->slab_bytes - 1) == &s->segment,
             "slab end not in the page map", s);
  SEG_EXPECT(s->segment.heap == &h->base, "slab of another heap", s);
  SEG_EXPECT(s->segment.kind == SA_SEGMENT_HEAP && s->segment.strategy_data == SEG_TAG_SLAB,
             "slab tag damaged", s);
  SEG_EXPECT(s->segment.size >= ci->slab_bytes, "slab smaller than its class geometry", s);
  if (s->cls != cls || s->capacity != ci->capacity || s->start != (char *)s + ci->data_offset ||
      s->bump > s->capacity) {
    SEG_EXPECT(0, "slab header disagrees with its class", s);
    return failures;
  }
  SEG_EXPECT(s->segment.user == s->start && s->segment.slot_count == ci->capacity &&
                 s->segment.slot_magic == ci->magic && s->segment.usable == ci->size &&
                 s->segment.size_class == sa_sc_floor(ci->size),
             "slab geometry in its segment header damaged", s);
  SEG_EXPECT(s->state == state, "slab state disagrees with its list", s);
  SEG_EXPECT(s->next == NULL || s->next->prev == s, "slab links disagree", s);
  /* Bitmap: as many bits as live slots, none at or beyond bump. */
  uint64_t bits = 0;
  for (uint32_t w = 0; w < (s->capacity + 63) / 64; w++) {
    uint64_t word = s->bitmap[w];
    bits += (uint64_t)__builtin_popcountll(word);
    uint32_t first = w * 64;
    if (first + 64 > s->bump) {
      uint64_t beyond = s->bump <= first ? ~(uint64_t)0 : ~(uint64_t)0 << (s->bump - first);
      SEG_EXPECT((word & beyond) == 0, "live bit beyond the bump pointer", s);
    }
  }
  SEG_EXPECT(bits == s->used, "bitmap and live count disagree", s);
  SEG_EXPECT(s->used <= s->bump, "more live slots than ever handed out", s);
  switch (state) {
    case SEG_PARTIAL: SEG_EXPECT(s->used > 0 && s->used < s->capacity, "partial slab is not partial", s); break;
    case SEG_FULL: SEG_EXPECT(s->used == s->capacity, "full slab is not full", s); break;
    default: SEG_EXPECT(s->used == 0, "empty slab holds live slots", s); break;
  }
  /* Hint: below it every slot under bump is live, so the lowest hole is at
   * or after it. */
  SEG_EXPECT(s->hint <= (s->capacity + 63) / 64, "slab hint past the bitmap", s);
  for (uint32_t w = 0; w < s->hint && w < (s->capacity + 63) / 64; w++) {
    uint32_t first = w * 64;
    uint64_t below_bump = first + 64 <= s->bump ? ~(uint64_t)0
                          : s->bump <= first    ? 0
                                                : ((uint64_t)1 << (s->bump - first)) - 1;
    if ((s->bitmap[w] & below_bump) != below_bump) {
      SEG_EXPECT(0, "free slot below the slab hint", s);
      break;
    }
  }
  *live += s->used;
  return failures;
}

static size_t seg_check(sa_heap_t *heap) {
  seg_heap_t *h = (seg_heap_t *)heap;
  size_t failures = 0;
  for (size_t cls = 0; cls < SEG_NCLASSES; cls++) {
    seg_class_t *c = &h->classes[cls];
    pthread_mutex_lock(&c->lock);
    uint64_t live = 0;
    for (uint32_t st = 0; st < SEG_STATES; st++) {
      uint64_t n = 0;
      for (seg_slab_t *s = c->lists[st]; s && n <= c->count[st]; s = s->next, n++) {
        SEG_EXPECT(n > 0 || s->prev == NULL, "list head has a predecessor", s);
        failures += seg_check_slab(h, cls, st, s, &live);
      }
      SEG_EXPECT(n == c->count[st], "slab count disagrees with the list", c);
    }
    SEG_EXPECT(c->count[SEG_EMPTY] <= h->retain_empty, "more empty slabs kept than the policy allows", c);
    uint64_t nsparse = 0;
    for (seg_slab_t *s = c->sparse; s && nsparse <= c->nsparse; s = s->snext, nsparse++) {
      SEG_EXPECT(s->sparse != 0 && s->cls == cls && s->state != SEG_EMPTY && s->used > 0,
                 "sparse slab list holds a slab that is not listed, of another class or empty", s);
      SEG_EXPECT(s->snext == NULL || s->snext->sprev == s, "sparse slab links disagree", s);
    }
    SEG_EXPECT(nsparse == c->nsparse, "sparse slab count disagrees with the list", c);
    SEG_EXPECT(c->slabs_mapped - c->slabs_unmapped ==
                   c->count[SEG_PARTIAL] + c->count[SEG_FULL] + c->count[SEG_EMPTY],
               "slabs mapped - unmapped != slabs listed", c);
    SEG_EXPECT(live == c->counters.current_blocks, "class live counter disagrees with bitmaps", c);
    SEG_EXPECT(live * seg_info[cls].size == c->counters.current_bytes,
               "class byte counter disagrees with bitmaps", c);
    SEG_EXPECT(c->counters.allocations - c->counters.frees == c->counters.current_blocks,
               "class allocations - frees != live", c);
    pthread_mutex_unlock(&c->lock);
  }
  pthread_mutex_lock(&h->direct_lock);
  uint64_t n = 0, bytes = 0;
  for (seg_direct_t *d = h->direct; d && n <= h->direct_segments; d = d->next, n++) {
    SEG_EXPECT(sa_segment_of(d) == &d->segment && sa_segment_of(d->user) == &d->segment,
               "direct object not in the page map", d);
    SEG_EXPECT(d->segment.strategy_data == SEG_TAG_DIRECT, "direct tag damaged", d);
    SEG_EXPECT(d->user + d->usable == (char *)d + d->segment.size, "direct usable size damaged", d);
    SEG_EXPECT(d->next == NULL || d->next->prev == d, "direct links disagree", d);
    bytes += d->usable;
  }
  SEG_EXPECT(n == h->direct_segments && n == h->direct_counters.current_blocks,
             "direct object count disagrees with the list", NULL);
  SEG_EXPECT(bytes == h->direct_counters.current_bytes, "direct byte counter disagrees", NULL);
  pthread_mutex_unlock(&h->direct_lock);
  return failures;
}

/* Per-class counters, each read under its class lock, summed. The peak is
 * the sum of per-class peaks: an upper bound of the true peak. */
static void seg_stats(sa_heap_t *heap, sa_stats_t *stats) {
  seg_heap_t *h = (seg_heap_t *)heap;
  for (size_t cls = 0; cls < SEG_NCLASSES; cls++) {
    seg_class_t *c = &h->classes[cls];
    if (!seg_class_used(c)) continue;
    pthread_mutex_lock(&c->lock);
    sa_heap_counters_t copy = c->counters;
    pthread_mutex_unlock(&c->lock);
    sa_counters_export(&copy, stats);
  }
  pthread_mutex_lock(&h->direct_lock);
  sa_heap_counters_t copy = h->direct_counters;
  pthread_mutex_unlock(&h->direct_lock);
  sa_counters_export(&copy, stats);
}

/* ======================================================================== */
/* Heap lifetime and fork                                                   */
/* ======================================================================== */

static sa_heap_t *seg_create(const sa_strategy_t *self, const sa_config_t *config) {
  seg_table();
  seg_heap_t *h = (seg_heap_t *)sa_heap_base_create(self, config, sizeof(seg_heap_t));
  if (h == NULL) return NULL;
  h->retain_empty = h->base.config.retain_empty_slabs;
  pthread_mutex_init(&h->direct_lock, NULL);
  for (size_t cls = 0; cls < SEG_NCLASSES; cls++) sa_mutex_init_zeroed(&h->classes[cls].lock);
  return &h->base;
}

static void seg_destroy(sa_heap_t *heap) {
  seg_heap_t *h = (seg_heap_t *)heap;
  for (size_t cls = 0; cls < SEG_NCLASSES; cls++) pthread_mutex_destroy(&h->classes[cls].lock);
  pthread_mutex_destroy(&h->direct_lock);
  /* common unmaps every segment. */
}

/* Fixed order: classes by index, then the direct list. */
static void seg_lock(sa_heap_t *heap) {
  seg_heap_t *h = (seg_heap_t *)heap;
  for (size_t cls = 0; cls < SEG_NCLASSES; cls++) pthread_mutex_lock(&h->classes[cls].lock);
  pthread_mutex_lock(&h->direct_lock);
}

static void seg_unlock(sa_heap_t *heap) {
  seg_heap_t *h = (seg_heap_t *)heap;
  pthread_mutex_unlock(&h->direct_lock);
  for (size_t cls = SEG_NCLASSES; cls-- > 0;) pthread_mutex_unlock(&h->classes[cls].lock);
}

const sa_strategy_t sa_segregated = {
    .name = "segregated",
    .backend = NULL,
    .create = seg_create,
    .destroy = seg_destroy,
    .malloc = seg_malloc,
    .free = seg_free,
    .realloc = seg_realloc,
    .memalign = seg_memalign,
    .usable_size = seg_usable_size,
    .malloc_batch = seg_malloc_batch,
    .free_batch = seg_free_batch,
    .decay = seg_decay,
    .walk = seg_walk,
    .check = seg_check,
    .stats = seg_stats,
    .lock = seg_lock,
    .unlock = seg_unlock,
};

/* ======================================================================== */
/* Public extras (segregated.h)                                             */
/* ======================================================================== */

_Static_assert(SA_SC_MAX == SEG_SMALL_MAX, "the last class is the largest small size");

size_t sa_segregated_class_count(void) { return SEG_NCLASSES; }

size_t sa_segregated_class_size(size_t cls) { return cls < SEG_NCLASSES ? seg_class_size(cls) : 0; }

size_t sa_segregated_size_class(size_t size) {
  return size == 0 || size > SEG_SMALL_MAX ? SEG_NCLASSES : seg_size_class(size);
}

size_t sa_segregated_slab_bytes(size_t cls) {
  seg_table();
  return cls < SEG_NCLASSES ? seg_info[cls].slab_bytes : 0;
}

size_t sa_segregated_slab_slots(size_t cls) {
  seg_table();
  return cls < SEG_NCLASSES ? seg_info[cls].capacity : 0;
}

int sa_segregated_class_stats(sa_heap_t *heap, size_t cls, sa_segregated_class_stats_t *out) {
  if (heap == NULL || out == NULL || (heap->strategy != &sa_segregated && heap->strategy->backend != &sa_segregated) ||
      cls > SEG_NCLASSES) {
    errno = EINVAL;
    return -1;
  }
  seg_heap_t *h = (seg_heap_t *)heap;
  memset(out, 0, sizeof *out);
  if (cls == SEG_NCLASSES) {
    pthread_mutex_lock(&h->direct_lock);
    out->slots_per_slab = 1;
    out->requests = h->direct_counters.allocations;
    out->frees = h->direct_counters.frees;
    out->live_objects = h->direct_counters.current_blocks;
    out->slabs = out->full_slabs = h->direct_segments;
    out->slabs_mapped = h->direct_mapped;
    out->slabs_unmapped = h->direct_unmapped;
    pthread_mutex_unlock(&h->direct_lock);
  } else {
    seg_class_t *c = &h->classes[cls];
    out->size = seg_info[cls].size;
    out->slab_bytes = seg_info[cls].slab_bytes;
    out->slots_per_slab = seg_info[cls].capacity;
    pthread_mutex_lock(&c->lock);
    out->requests = c->counters.allocations;
    out->frees = c->counters.frees;
    out->live_objects = c->counters.current_blocks;
    out->partial_slabs = c->count[SEG_PARTIAL];
    out->full_slabs = c->count[SEG_FULL];
    out->empty_slabs = c->count[SEG_EMPTY];
    out->slabs_mapped = c->slabs_mapped;
    out->slabs_unmapped = c->slabs_unmapped;
    out->sparse_slabs = c->nsparse;
    out->purges = c->purges;
    out->purged_bytes = c->purged_bytes;
    pthread_mutex_unlock(&c->lock);
    out->slabs = out->partial_slabs + out->full_slabs + out->empty_slabs;
  }
  out->utilisation_pct = out->slabs ? 100.0 * (double)out->live_objects /
                                          ((double)out->slabs * (double)out->slots_per_slab)
                                    : 0.0;
  return 0;
}

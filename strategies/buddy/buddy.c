/* buddy: power-of-two blocks, split on allocate, merged with their buddy
 * (offset XOR size) on free.
 *
 * An arena is one SA_SEGMENT_HEAP segment of 2^A bytes aligned to 2^A, so a
 * block's arena is its address with the low A bits cleared and its buddy is
 * its arena offset XOR its size:
 *
 *   [segment 64][bud_arena_t 32][meta: 1 byte per min block][pad] [blocks ...][untouched ...]
 *   ^ arena base, 2^A aligned    the reserved prefix (no block)  ^ free/used  ^ a->fresh
 *
 * meta[i] describes the min block at offset i << min_order: 0 when it is not
 * the start of a block, else order | BUD_USED. Block state and order live
 * only there, never in user memory: free, merge, usable_size and
 * double-free detection read the meta bytes alone. A free block holds its
 * free-list links (next, prev) in its first 16 bytes; check() verifies them
 * against the meta bytes.
 *
 * Touched only as used: the reserved prefix (header and meta bytes, a
 * 32nd of the arena) is no block at all (its meta bytes stay 0, so no
 * pointer into it validates and no block merges into it), and the arena's
 * max-order blocks are carved one at a time from a->fresh when a request
 * finds every free list empty. A 1 GiB arena thus costs the pages its
 * blocks use, not the 32 MiB of meta bytes and the 8192 max blocks' links
 * a layout written at grow time would touch. Only the newest arena
 * (h->fresh_arena) has untouched blocks: a new arena is mapped only once
 * it has none left.
 *
 * Integrity: a free block's links live in memory a program may still
 * write after free. Before an unlink both must be 16-aligned addresses in
 * an arena of this heap (a table of the heap's arenas, else the page map)
 * and point back (next->prev == b, prev->next == b or b
 * is the list's head); a block taken from a list must be a free block of
 * that order in the meta bytes. Otherwise "corrupted free list at B", before
 * any write.
 *
 * Orders: min_order = log2(min_block_size rounded up to 2^k), max_order =
 * log2(mmap_threshold rounded up to 2^k) but at most BUD_ORDER_CAP; create
 * lowers heap->small_limit to 2^max_order when the cap bites, so common
 * routes every larger request to its large objects and each request we see
 * fits one block.
 *
 * See README.md for the invariants and the complexity. */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "strategies/buddy/buddy.h"
#include "stratalloc/strategy.h"

#define BUD_ORDER_MASK 0x3f
#define BUD_USED 0x40
#define BUD_RESERVED 0x80 /* older layouts; no meta byte has it now */
#define BUD_INLINE static inline __attribute__((always_inline))
#define BUD_ORDER_CAP 24       /* largest block: 16 MiB */
#define BUD_ARENA_ORDER_CAP 30 /* largest arena from heap_extension_size: 1 GiB */
#define BUD_SEG_ARENA 1 /* segment.strategy_data of an arena */
#define BUD_ARENA_SLOTS 64
#define BUD_NO_ARENA UINTPTR_MAX

typedef struct bud_free {
  struct bud_free *next, *prev;
} bud_free_t;

typedef struct bud_arena {
  sa_segment_t segment; /* must be first: the page map points here */
  struct bud_arena *next, *prev;
  size_t used_bytes; /* block bytes of live user blocks */
  size_t fresh;      /* offset of the first max block never carved (arena_size: none) */
  uint8_t meta[];
} bud_arena_t;

typedef struct bud_heap {
  sa_heap_t base;
  pthread_mutex_t lock;
  unsigned min_order, max_order, arena_order;
  size_t arena_size, reserved; /* reserved: the prefix, a multiple of the min block */
  sa_op_t op;                   /* the call holding the lock, and its pointer: for reports */
  const void *op_ptr;
  uint64_t nonempty; /* bit k set iff free_list[k] is not empty */
  bud_free_t *free_list[SA_BUDDY_MAX_ORDERS];
  bud_arena_t *arenas;
  bud_arena_t *fresh_arena; /* the arena with untouched max blocks, or NULL */
  /* Arenas of this heap by (address >> arena_order) % BUD_ARENA_SLOTS: an
   * entry is always a mapped arena (or BUD_NO_ARENA, never an arena's
   * address), so a link into the arena of an entry is readable without
   * asking the page map (which answers the rest). */
  uintptr_t arena_slot[BUD_ARENA_SLOTS];
  size_t narenas, empty_arenas;
  sa_heap_counters_t counters;
  uint64_t requested_bytes, block_bytes;
} bud_heap_t;

_Static_assert(sizeof(bud_arena_t) == 96, "meta starts 16-aligned after the arena header");

/* ======================================================================== */
/* Helpers                                                                  */
/* ======================================================================== */

static inline unsigned bud_ceil_log2(size_t n) {
  return n <= 1 ? 0 : 64u - (unsigned)__builtin_clzl(n - 1);
}

static inline unsigned bud_order_for(const bud_heap_t *h, size_t size) {
  unsigned o = bud_ceil_log2(size);
  return o < h->min_order ? h->min_order : o;
}

static inline bud_arena_t *bud_arena_of(const bud_heap_t *h, const void *p) {
  return (bud_arena_t *)((uintptr_t)p & ~(uintptr_t)(h->arena_size - 1));
}

static inline uint8_t *bud_meta(const bud_heap_t *h, bud_arena_t *a, size_t off) {
  return &a->meta[off >> h->min_order];
}

/* Damaged free list: "corrupted free list at where (buddy), found by the
 * <op> of <ptr>" (the call under way), lock released, abort. */
__attribute__((noreturn, cold, noinline)) static void bud_corrupt(bud_heap_t *h,
                                                                  const void *where) {
  sa_op_t op = h->op;
  const void *ptr = h->op_ptr;
  pthread_mutex_unlock(&h->lock);
  sa_fatal_corrupt(&h->base, "free list", where, op, ptr);
}

/* Every call that takes the lock says what it is, for a report. */
static inline void bud_lock_for(bud_heap_t *h, sa_op_t op, const void *ptr) {
  pthread_mutex_lock(&h->lock);
  h->op = op;
  h->op_ptr = ptr;
}

static inline uintptr_t *bud_slot(bud_heap_t *h, uintptr_t base) {
  return &h->arena_slot[(base >> h->arena_order) % BUD_ARENA_SLOTS];
}

/* x, a link read from a free block, may be read through: 16-aligned and in
 * an arena of this heap (the arena table's, else the page map's word). Its
 * back link must then point at the block it came from, which nothing in an
 * arena's prefix (headers, meta bytes) ever does. */
static int bud_in_heap(const bud_heap_t *h, const void *x) {
  const sa_segment_t *s = sa_segment_of(x);
  return s != NULL && s->heap == &h->base && s->kind == SA_SEGMENT_HEAP &&
         s->strategy_data == BUD_SEG_ARENA && (const void *)s == (const void *)bud_arena_of(h, x);
}
BUD_INLINE int bud_link_ok(const bud_heap_t *h, const void *x) {
  uintptr_t base = (uintptr_t)bud_arena_of(h, x);
  if (SA_UNLIKELY((uintptr_t)x & (SA_ALIGNMENT - 1))) return 0;
  return SA_LIKELY(h->arena_slot[(base >> h->arena_order) % BUD_ARENA_SLOTS] == base) ||
         bud_in_heap(h, x);
}

static inline void bud_push(bud_heap_t *h, unsigned k, void *p) {
  bud_free_t *b = p, *head = h->free_list[k];
  b->prev = NULL;
  b->next = head;
  if (head) head->prev = b;
  h->free_list[k] = b;
  h->nonempty |= (uint64_t)1 << k;
}

/* Unlinks free block p of order k, both links checked first. A report
 * names the block whose link is wrong: p's own when it points outside the
 * heap or is NULL off the head, else the neighbour's back link. */
BUD_INLINE void bud_remove(bud_heap_t *h, unsigned k, void *p) {
  bud_free_t *b = p, *next = b->next, *prev = b->prev;
  if (next) {
    if (SA_UNLIKELY(!bud_link_ok(h, next))) bud_corrupt(h, b);
    if (SA_UNLIKELY(next->prev != b)) bud_corrupt(h, next);
  }
  if (prev) {
    if (SA_UNLIKELY(!bud_link_ok(h, prev))) bud_corrupt(h, b);
    if (SA_UNLIKELY(prev->next != b)) bud_corrupt(h, prev);
  } else if (SA_UNLIKELY(h->free_list[k] != b)) {
    bud_corrupt(h, b);
  }
  if (prev) prev->next = next;
  else h->free_list[k] = next;
  if (next) next->prev = prev;
  if (h->free_list[k] == NULL) h->nonempty &= ~((uint64_t)1 << k);
}

static void bud_set_arena_order(bud_heap_t *h, unsigned ao);

/* ======================================================================== */
/* Fast path                                                                */
/* ======================================================================== */

static bud_arena_t *bud_grow(bud_heap_t *h);
static void bud_carve(bud_heap_t *h);
static void bud_release_arena(bud_heap_t *h, bud_arena_t *a);
static size_t bud_validate(bud_heap_t *h, bud_arena_t *a, const void *p, sa_op_t op);

/* A block of 2^order bytes (order <= max_order), lock held. Takes the
 * smallest free block of at least that order and splits it down, pushing
 * each upper half on its free list. */
static void *bud_alloc_order(bud_heap_t *h, unsigned order) {
  uint64_t mask = ~(((uint64_t)1 << order) - 1);
  if (SA_UNLIKELY((h->nonempty & mask) == 0)) {
    /* Every list is empty from order up: carve a max block from the newest
     * arena's untouched end, mapping an arena when none is left (whose
     * first blocks may serve it already). */
    if (h->fresh_arena == NULL && bud_grow(h) == NULL) return NULL; /* errno ENOMEM */
    if ((h->nonempty & mask) == 0) bud_carve(h);
  }
  unsigned k = (unsigned)__builtin_ctzll(h->nonempty & mask);
  bud_free_t *b = h->free_list[k];
  bud_arena_t *a = bud_arena_of(h, b);
  size_t off = (size_t)((char *)b - (char *)a);
  if (SA_UNLIKELY(*bud_meta(h, a, off) != k)) bud_corrupt(h, b); /* the meta bytes disagree */
  bud_remove(h, k, b);
  while (k > order) {
    k--;
    size_t half = off + ((size_t)1 << k);
    *bud_meta(h, a, half) = (uint8_t)k;
    bud_push(h, k, (char *)a + half);
  }
  *bud_meta(h, a, off) = (uint8_t)(order | BUD_USED);
  if (a->used_bytes == 0) h->empty_arenas--;
  a->used_bytes += (size_t)1 << order;
  sa_counters_on_alloc(&h->counters, (size_t)1 << order);
  return b;
}

/* Lock held: any request, alignment a power of two >= SA_ALIGNMENT. */
static void *bud_alloc(bud_heap_t *h, size_t size, size_t alignment) {
  unsigned order = bud_order_for(h, size);
  unsigned align_order = bud_ceil_log2(alignment);
  if (align_order > order) order = align_order;
  if (SA_UNLIKELY(order > h->max_order)) { /* common never asks (small_limit) */
    errno = ENOMEM;
    return NULL;
  }
  void *p = bud_alloc_order(h, order);
  if (p) {
    h->requested_bytes += size;
    h->block_bytes += (size_t)1 << order;
  }
  return p;
}

static void *bud_malloc(sa_heap_t *heap, size_t size) {
  bud_heap_t *h = (bud_heap_t *)heap;
  bud_lock_for(h, SA_OP_MALLOC, NULL);
  void *p = bud_alloc(h, size, SA_ALIGNMENT);
  pthread_mutex_unlock(&h->lock);
  return p;
}

/* Returns the used block at off (order) to the free lists, merging it with
 * its buddy as long as the buddy is a free block of the same order. Lock held. */
static void bud_release(bud_heap_t *h, bud_arena_t *a, size_t off, unsigned order) {
  a->used_bytes -= (size_t)1 << order;
  while (order < h->max_order) {
    size_t buddy = off ^ ((size_t)1 << order);
    if (*bud_meta(h, a, buddy) != order) break; /* used, reserved, split or another order */
    bud_remove(h, order, (char *)a + buddy);
    size_t upper = buddy > off ? buddy : off;
    *bud_meta(h, a, upper) = 0;
    off &= ~((size_t)1 << order);
    order++;
  }
  *bud_meta(h, a, off) = (uint8_t)order;
  bud_push(h, order, (char *)a + off);
  if (a->used_bytes == 0) {
    if (h->empty_arenas < h->base.config.retain_empty_chunks) h->empty_arenas++;
    else bud_release_arena(h, a);
  }
}

static void bud_free(sa_heap_t *heap, sa_segment_t *seg, void *p) {
  bud_heap_t *h = (bud_heap_t *)heap;
  bud_arena_t *a = (bud_arena_t *)seg;
  bud_lock_for(h, SA_OP_FREE, p);
  size_t off = bud_validate(h, a, p, SA_OP_FREE);
  unsigned order = *bud_meta(h, a, off) & BUD_ORDER_MASK;
  sa_counters_on_free(&h->counters, (size_t)1 << order);
  bud_release(h, a, off, order);
  pthread_mutex_unlock(&h->lock);
}

static size_t bud_usable_size(sa_heap_t *heap, sa_segment_t *seg, const void *p, sa_op_t op) {
  bud_heap_t *h = (bud_heap_t *)heap;
  bud_arena_t *a = (bud_arena_t *)seg;
  pthread_mutex_lock(&h->lock);
  size_t off = bud_validate(h, a, p, op);
  size_t usable = (size_t)1 << (*bud_meta(h, a, off) & BUD_ORDER_MASK);
  pthread_mutex_unlock(&h->lock);
  return usable;
}

/* ======================================================================== */
/* Slow path: validation, arenas                                           */
/* ======================================================================== */

/* The arena offset of used block p, or a report as a fault of op and abort
 * (lock released): SA_FAULT_FREED when p is a free block's start or a
 * min-block boundary inside a free block (it was a block start before that
 * block was freed and merged), SA_FAULT_INTERIOR for anything else
 * (misaligned, inside a used block, the reserved prefix or the untouched
 * end, where no meta byte is set). */
static size_t bud_validate(bud_heap_t *h, bud_arena_t *a, const void *p, sa_op_t op) {
  size_t off = (size_t)((const char *)p - (const char *)a);
  sa_fault_t problem = SA_FAULT_INTERIOR;
  if (SA_UNLIKELY(off & (((size_t)1 << h->min_order) - 1))) goto fail;
  uint8_t m = *bud_meta(h, a, off);
  if (SA_LIKELY((m & (BUD_USED | BUD_RESERVED)) == BUD_USED)) return off;
  if (m & BUD_RESERVED) goto fail; /* (no layout writes it now: the prefix reads 0) */
  if (m != 0) { /* a free block starts here */
    problem = SA_FAULT_FREED;
    goto fail;
  }
  for (unsigned k = h->min_order + 1; k <= h->max_order; k++) {
    size_t start = off & ~(((size_t)1 << k) - 1);
    uint8_t c = *bud_meta(h, a, start);
    if (c == 0) continue;
    if ((c & BUD_USED) == 0 && start + ((size_t)1 << (c & BUD_ORDER_MASK)) > off)
      problem = SA_FAULT_FREED;
    break;
  }
fail:
  pthread_mutex_unlock(&h->lock);
  sa_fatal_block(&h->base, op, problem, p);
}

/* Lays out the arena's geometry for arena order ao: the reserved prefix
 * (segment and arena headers, one meta byte per min block) rounded to a
 * min block. */
static void bud_set_arena_order(bud_heap_t *h, unsigned ao) {
  h->arena_order = ao;
  h->arena_size = (size_t)1 << ao;
  h->reserved = sa_align_up(sizeof(bud_arena_t) + (h->arena_size >> h->min_order),
                            (size_t)1 << h->min_order);
}

/* Maps an arena: free blocks of increasing orders from the reserved prefix
 * up to the next max-order boundary (a few pages), the rest left untouched
 * for bud_carve. When the OS refuses the arena and the heap has none yet,
 * the arena halves (down to two max blocks) and the heap keeps the size it
 * got: arenas share one size, which the address arithmetic relies on. Lock
 * held. */
static bud_arena_t *bud_grow(bud_heap_t *h) {
  sa_segment_t *seg;
  while ((seg = sa_segment_map(&h->base, h->arena_size, h->arena_size, SA_SEGMENT_HEAP)) == NULL) {
    if (h->narenas != 0 || h->arena_order <= h->max_order + 1) return NULL;
    bud_set_arena_order(h, h->arena_order - 1);
  }
  bud_arena_t *a = (bud_arena_t *)seg;
  seg->strategy_data = BUD_SEG_ARENA;
  a->used_bytes = 0;
  a->prev = NULL;
  a->next = h->arenas;
  if (h->arenas) h->arenas->prev = a;
  h->arenas = a;
  h->narenas++;
  *bud_slot(h, (uintptr_t)a) = (uintptr_t)a;
  h->empty_arenas++;
  size_t off = h->reserved, top = (size_t)1 << h->max_order;
  while (off & (top - 1)) {
    unsigned k = (unsigned)__builtin_ctzl(off);
    *bud_meta(h, a, off) = (uint8_t)k;
    bud_push(h, k, (char *)a + off);
    off += (size_t)1 << k;
  }
  a->fresh = off; /* < arena_size: the prefix is a 32nd of the arena, at most */
  h->fresh_arena = a;
  return a;
}

/* The next untouched max block of the newest arena onto its free list.
 * Lock held, h->fresh_arena set. */
static void bud_carve(bud_heap_t *h) {
  bud_arena_t *a = h->fresh_arena;
  size_t off = a->fresh;
  a->fresh = off + ((size_t)1 << h->max_order);
  if (a->fresh >= h->arena_size) h->fresh_arena = NULL;
  *bud_meta(h, a, off) = (uint8_t)h->max_order;
  bud_push(h, h->max_order, (char *)a + off);
}

/* An empty arena beyond the retained ones: its free blocks leave the lists
 * and the segment goes back to the OS. Lock held. */
static void bud_release_arena(bud_heap_t *h, bud_arena_t *a) {
  for (size_t i = h->reserved >> h->min_order, n = a->fresh >> h->min_order; i < n;) {
    uint8_t m = a->meta[i];
    if ((m & BUD_USED) == 0) bud_remove(h, m, (char *)a + (i << h->min_order));
    i += (size_t)1 << ((m & BUD_ORDER_MASK) - h->min_order);
  }
  if (h->fresh_arena == a) h->fresh_arena = NULL;
  if (a->prev) a->prev->next = a->next;
  else h->arenas = a->next;
  if (a->next) a->next->prev = a->prev;
  h->narenas--;
  if (*bud_slot(h, (uintptr_t)a) == (uintptr_t)a) *bud_slot(h, (uintptr_t)a) = BUD_NO_ARENA;
  sa_segment_unmap(&h->base, &a->segment);
}

/* ======================================================================== */
/* memalign and realloc                                                     */
/* ======================================================================== */

/* Blocks are aligned to their size relative to an arena aligned to its own
 * size: a block of 2^max(order(size), log2(alignment)) is aligned enough. */
static void *bud_memalign(sa_heap_t *heap, size_t alignment, size_t size) {
  bud_heap_t *h = (bud_heap_t *)heap;
  bud_lock_for(h, SA_OP_MALLOC, NULL);
  void *p = bud_alloc(h, size, alignment);
  pthread_mutex_unlock(&h->lock);
  return p;
}

/* Lock held: resizes the counters of a block that changed size in place. */
static void bud_resize_counters(bud_heap_t *h, bud_arena_t *a, size_t old, size_t now,
                                size_t requested) {
  a->used_bytes += now - old; /* wraps correctly when shrinking */
  h->counters.current_bytes += now - old;
  if (now > old) h->counters.allocated_bytes += now - old;
  if (h->counters.current_bytes > h->counters.peak_bytes)
    h->counters.peak_bytes = h->counters.current_bytes;
  h->requested_bytes += requested;
  h->block_bytes += now;
}

/* Same order: nothing. Smaller: the upper halves are freed in place (their
 * buddies are the kept lower halves, so nothing merges). Larger: in place
 * when the block is the lower buddy at every order up to the target and each
 * upper buddy is free and whole; else allocate, copy, free. */
static void *bud_realloc(sa_heap_t *heap, sa_segment_t *seg, void *p, size_t size) {
  bud_heap_t *h = (bud_heap_t *)heap;
  bud_arena_t *a = (bud_arena_t *)seg;
  bud_lock_for(h, SA_OP_REALLOC, p);
  size_t off = bud_validate(h, a, p, SA_OP_REALLOC);
  unsigned order = *bud_meta(h, a, off) & BUD_ORDER_MASK;
  unsigned need = bud_order_for(h, size);
  size_t old = (size_t)1 << order;
  if (need <= order) {
    for (unsigned k = order; k > need;) {
      k--;
      size_t half = off + ((size_t)1 << k);
      *bud_meta(h, a, half) = (uint8_t)k;
      bud_push(h, k, (char *)a + half);
    }
    *bud_meta(h, a, off) = (uint8_t)(need | BUD_USED);
    bud_resize_counters(h, a, old, (size_t)1 << need, size);
    pthread_mutex_unlock(&h->lock);
    return p;
  }
  unsigned k = order;
  if (need <= h->max_order)
    for (; k < need; k++) {
      size_t buddy = off + ((size_t)1 << k);
      if ((off & ((size_t)1 << k)) != 0 || *bud_meta(h, a, buddy) != k) break;
    }
  if (need <= h->max_order && k == need) {
    for (k = order; k < need; k++) {
      size_t buddy = off + ((size_t)1 << k);
      bud_remove(h, k, (char *)a + buddy);
      *bud_meta(h, a, buddy) = 0;
    }
    *bud_meta(h, a, off) = (uint8_t)(need | BUD_USED);
    bud_resize_counters(h, a, old, (size_t)1 << need, size);
    pthread_mutex_unlock(&h->lock);
    return p;
  }
  void *fresh = bud_alloc(h, size, SA_ALIGNMENT);
  if (fresh) {
    memcpy(fresh, p, old);
    sa_counters_on_free(&h->counters, old);
    bud_release(h, a, off, order);
  }
  pthread_mutex_unlock(&h->lock);
  return fresh;
}

/* ======================================================================== */
/* Introspection                                                            */
/* ======================================================================== */

/* The untouched end of an arena shows as the free max blocks it is. */
static void bud_walk(sa_heap_t *heap, sa_walker_t visit, void *arg) {
  bud_heap_t *h = (bud_heap_t *)heap;
  size_t top = (size_t)1 << h->max_order;
  pthread_mutex_lock(&h->lock);
  for (bud_arena_t *a = h->arenas; a; a = a->next) {
    size_t n = a->fresh >> h->min_order;
    for (size_t i = h->reserved >> h->min_order; i < n;) {
      uint8_t m = a->meta[i];
      unsigned k = m & BUD_ORDER_MASK;
      if (k < h->min_order) break; /* damaged: check() reports it */
      visit((char *)a + (i << h->min_order), (size_t)1 << k,
            (m & BUD_USED) ? SA_BLOCK_USED : SA_BLOCK_FREE, arg);
      i += (size_t)1 << (k - h->min_order);
    }
    for (size_t off = a->fresh; off < h->arena_size; off += top)
      visit((char *)a + off, top, SA_BLOCK_FREE, arg);
  }
  pthread_mutex_unlock(&h->lock);
}

#define BUD_EXPECT(cond, message, ptr) \
  SA_CHECK_EXPECT(&h->base, failures, cond, message, ptr)

/* One arena: blocks tile it from the reserved prefix to its untouched end,
 * each aligned to its size with its interior meta bytes clear; the prefix's
 * first meta byte and each untouched max block's are clear; no free block
 * has a free buddy of its order; used bytes agree. */
static size_t bud_check_arena(bud_heap_t *h, bud_arena_t *a, size_t *free_per_order,
                              size_t *used_blocks, size_t *used_bytes) {
  size_t failures = 0, n = a->fresh >> h->min_order, used = 0, top = (size_t)1 << h->max_order;
  BUD_EXPECT(sa_segment_of(a) == &a->segment && a->segment.heap == &h->base,
             "arena not in the page map", a);
  BUD_EXPECT(a->segment.size == h->arena_size && a->segment.strategy_data == BUD_SEG_ARENA,
             "arena size or tag wrong", a);
  BUD_EXPECT(a->next == NULL || a->next->prev == a, "arena links disagree", a);
  if (a->fresh % top || a->fresh < h->reserved || a->fresh > h->arena_size ||
      (a->fresh < h->arena_size && a != h->fresh_arena)) {
    BUD_EXPECT(0, "untouched end of the arena out of place", a);
    return failures;
  }
  BUD_EXPECT(a->meta[0] == 0, "meta byte set in the reserved prefix", a);
  for (size_t off = a->fresh; off < h->arena_size; off += top)
    BUD_EXPECT(*bud_meta(h, a, off) == 0, "meta byte set in the untouched end", (char *)a + off);
  size_t i = h->reserved >> h->min_order;
  while (i < n) {
    uint8_t m = a->meta[i];
    unsigned k = m & BUD_ORDER_MASK;
    char *b = (char *)a + (i << h->min_order);
    if (k < h->min_order || k > h->max_order || (i & (((size_t)1 << (k - h->min_order)) - 1)) ||
        i + ((size_t)1 << (k - h->min_order)) > n) {
      BUD_EXPECT(0, "block order or position out of bounds", b);
      return failures;
    }
    size_t span = (size_t)1 << (k - h->min_order);
    for (size_t j = i + 1; j < i + span; j++)
      if (a->meta[j] != 0) {
        BUD_EXPECT(0, "block start inside another block", (char *)a + (j << h->min_order));
        break;
      }
    if (m & BUD_RESERVED) {
      BUD_EXPECT(0, "reserved block outside the arena header", b);
    } else if (m & BUD_USED) {
      (*used_blocks)++;
      used += (size_t)1 << k;
    } else {
      free_per_order[k]++;
      if (k < h->max_order) {
        size_t buddy = (i << h->min_order) ^ ((size_t)1 << k);
        BUD_EXPECT(*bud_meta(h, a, buddy) != k, "free buddies left unmerged", b);
      }
    }
    i += span;
  }
  BUD_EXPECT(i == n, "blocks overrun the untouched end", (char *)a + (i << h->min_order));
  BUD_EXPECT(used == a->used_bytes, "arena used bytes disagree with its blocks", a);
  *used_bytes += used;
  return failures;
}

static size_t bud_check(sa_heap_t *heap) {
  bud_heap_t *h = (bud_heap_t *)heap;
  size_t failures = 0, used_blocks = 0, used_bytes = 0, arenas = 0, empty = 0;
  size_t free_per_order[SA_BUDDY_MAX_ORDERS] = {0};
  pthread_mutex_lock(&h->lock);
  for (bud_arena_t *a = h->arenas; a && arenas <= h->narenas; a = a->next) {
    arenas++;
    failures += bud_check_arena(h, a, free_per_order, &used_blocks, &used_bytes);
    if (a->used_bytes == 0) empty++;
  }
  BUD_EXPECT(arenas == h->narenas, "arena count disagrees", NULL);
  BUD_EXPECT(empty == h->empty_arenas, "empty arena count disagrees", NULL);
  BUD_EXPECT(empty <= h->base.config.retain_empty_chunks,
             "more empty arenas kept than retain_empty_chunks", NULL);
  for (unsigned k = 0; k < SA_BUDDY_MAX_ORDERS; k++) {
    size_t listed = 0;
    bud_free_t *prev = NULL;
    for (bud_free_t *b = h->free_list[k]; b && listed <= free_per_order[k]; prev = b, b = b->next) {
      listed++;
      BUD_EXPECT(b->prev == prev, "free list links disagree", b);
      sa_segment_t *seg = sa_segment_of(b);
      if (seg == NULL || seg->heap != heap || seg->strategy_data != BUD_SEG_ARENA) {
        BUD_EXPECT(0, "free list block outside the heap's arenas", b);
        break;
      }
      bud_arena_t *a = (bud_arena_t *)seg;
      size_t off = (size_t)((char *)b - (char *)a);
      BUD_EXPECT((off & (((size_t)1 << k) - 1)) == 0 && *bud_meta(h, a, off) == k,
                 "free list block not a free block of its order", b);
    }
    BUD_EXPECT(listed == free_per_order[k], "free list and meta bytes disagree on free blocks",
               NULL);
    BUD_EXPECT(((h->nonempty >> k) & 1) == (h->free_list[k] != NULL),
               "non-empty order mask disagrees", NULL);
  }
  BUD_EXPECT(used_blocks == h->counters.current_blocks,
             "live blocks disagree with the counters", NULL);
  BUD_EXPECT(used_bytes == h->counters.current_bytes,
             "live bytes disagree with the counters", NULL);
  pthread_mutex_unlock(&h->lock);
  return failures;
}

static void bud_stats(sa_heap_t *heap, sa_stats_t *stats) {
  bud_heap_t *h = (bud_heap_t *)heap;
  pthread_mutex_lock(&h->lock);
  sa_heap_counters_t c = h->counters;
  pthread_mutex_unlock(&h->lock);
  sa_counters_export(&c, stats);
}

int sa_buddy_stats(sa_heap_t *heap, sa_buddy_stats_t *out) {
  if (heap == NULL || (heap->strategy != &sa_buddy && heap->strategy->backend != &sa_buddy)) return -1;
  bud_heap_t *h = (bud_heap_t *)heap;
  memset(out, 0, sizeof *out);
  out->min_block = (size_t)1 << h->min_order;
  out->max_block = (size_t)1 << h->max_order;
  out->arena_size = h->arena_size;
  out->arena_reserved = sa_align_up(h->reserved, out->min_block);
  pthread_mutex_lock(&h->lock);
  out->arenas = h->narenas;
  out->empty_arenas = h->empty_arenas;
  out->live_block_bytes = h->counters.current_bytes;
  for (unsigned k = 0; k < SA_BUDDY_MAX_ORDERS; k++)
    for (bud_free_t *b = h->free_list[k]; b; b = b->next) {
      out->free_blocks[k]++;
      out->free_bytes += (size_t)1 << k;
    }
  if (h->fresh_arena) { /* untouched max blocks are free blocks too */
    size_t untouched = (h->arena_size - h->fresh_arena->fresh) >> h->max_order;
    out->free_blocks[h->max_order] += untouched;
    out->free_bytes += untouched << h->max_order;
  }
  out->requested_bytes = h->requested_bytes;
  out->block_bytes = h->block_bytes;
  pthread_mutex_unlock(&h->lock);
  out->internal_fragmentation_pct =
      out->block_bytes ? 100.0 * (double)(out->block_bytes - out->requested_bytes) /
                             (double)out->block_bytes
                       : 0.0;
  return 0;
}

size_t sa_buddy_requested_bytes(sa_heap_t *heap) {
  if (heap == NULL || (heap->strategy != &sa_buddy && heap->strategy->backend != &sa_buddy)) return 0;
  bud_heap_t *h = (bud_heap_t *)heap;
  pthread_mutex_lock(&h->lock);
  size_t r = h->requested_bytes;
  pthread_mutex_unlock(&h->lock);
  return r;
}

/* ======================================================================== */
/* Heap lifetime and fork                                                   */
/* ======================================================================== */

static sa_heap_t *bud_create(const sa_strategy_t *self, const sa_config_t *config) {
  bud_heap_t *h = (bud_heap_t *)sa_heap_base_create(self, config, sizeof(bud_heap_t));
  if (h == NULL) return NULL;
  pthread_mutex_init(&h->lock, NULL);
  for (unsigned i = 0; i < BUD_ARENA_SLOTS; i++) h->arena_slot[i] = BUD_NO_ARENA;
  const sa_config_t *c = &h->base.config;
  h->min_order = bud_ceil_log2(c->min_block_size < 32 ? 32 : c->min_block_size);
  h->max_order = bud_ceil_log2(c->mmap_threshold);
  if (h->max_order > BUD_ORDER_CAP) h->max_order = BUD_ORDER_CAP;
  if (h->max_order < h->min_order) h->max_order = h->min_order;
  unsigned ao = bud_ceil_log2(c->heap_extension_size);
  if (ao > BUD_ARENA_ORDER_CAP) ao = BUD_ARENA_ORDER_CAP;
  if (ao < h->max_order + 1) ao = h->max_order + 1;
  bud_set_arena_order(h, ao);
  /* Above the largest block: common's large objects. */
  if (h->base.small_limit > ((size_t)1 << h->max_order))
    h->base.small_limit = (size_t)1 << h->max_order;
  return &h->base;
}

static void bud_destroy(sa_heap_t *heap) {
  bud_heap_t *h = (bud_heap_t *)heap;
  pthread_mutex_destroy(&h->lock);
  h->arenas = NULL; /* common unmaps the segments */
}

static void bud_lock(sa_heap_t *heap) { pthread_mutex_lock(&((bud_heap_t *)heap)->lock); }
static void bud_unlock(sa_heap_t *heap) { pthread_mutex_unlock(&((bud_heap_t *)heap)->lock); }

const sa_strategy_t sa_buddy = {
    .name = "buddy",
    .backend = NULL,
    .create = bud_create,
    .destroy = bud_destroy,
    .malloc = bud_malloc,
    .free = bud_free,
    .realloc = bud_realloc,
    .memalign = bud_memalign,
    .usable_size = bud_usable_size,
    .walk = bud_walk,
    .check = bud_check,
    .stats = bud_stats,
    .lock = bud_lock,
    .unlock = bud_unlock,
};

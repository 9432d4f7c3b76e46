/* first_fit: size-binned explicit free lists over boundary-tagged blocks,
 * searched first fit (segregated fit, as TLSF or dlmalloc's small bins).
 *
 * A chunk (one SA_SEGMENT_HEAP segment of heap_extension_size bytes):
 *
 *   [segment 64][ff_chunk_t 32][hdr|payload ...][hdr|payload ...] ... [epilogue]
 *                               ^ block: address = 8 (mod 16), payload 16-aligned
 *
 * Every block starts with a header word: size (a multiple of 16, header
 * included) | FF_USED | FF_PREV_USED. A free block also holds its free-list
 * links after the header and its size in its last word (the footer), so the
 * block after it can find it; used blocks need no footer because their
 * successor's FF_PREV_USED bit says they are not free. The epilogue is a
 * header of size 0 marked used.
 *
 * Free blocks live in bins by size: exact 16-byte bins below 1 KiB (bin =
 * size / 16), then FF_SUB bins per power of two. A bitmap (one bit per bin,
 * plus a summary word with one bit per bitmap word) finds the first
 * non-empty bin at or above a given one with two count-trailing-zeros.
 * Within a bin the blocks are LIFO (a freed block goes to the head).
 *
 * Integrity: links, headers and footers of free blocks live in memory a
 * program can still write after free (or overflow into), so nothing read
 * from there is followed or written through unchecked. Before an unlink,
 * both links must point at block addresses (8 mod 16) inside a chunk of
 * this heap and point back (next->prev == b, prev->next == b, or b is its
 * bin's head); a block taken from a bin must say free, have a size of that
 * bin, end inside its chunk, and agree with its footer and its successor's
 * PREV_USED bit; a neighbour merged by free must do the same. Anything else
 * is reported as "corrupted free list / block header / block footer at
 * ADDR" and aborts before a single write. A free whose quick header check
 * fails walks the chunk's blocks from its start (error path only) to tell
 * a bad pointer (interior, freed) from a damaged header.
 *
 * See README.md for the invariants and the complexity. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "stratalloc/strategy.h"

#define FF_USED ((size_t)1)
#define FF_PREV_USED ((size_t)2)
#define FF_FLAGS ((size_t)15)
#define FF_HEADER sizeof(size_t)
#define FF_MIN_BLOCK ((size_t)32) /* header + two links + footer */
#define FF_BAD_FLAGS ((size_t)12) /* header bits that are never set */
#define FF_INLINE static inline __attribute__((always_inline))

/* Bins: FF_SMALL_BINS exact bins of 16 bytes for sizes below FF_SMALL_LIMIT
 * (bins 0 and 1 stay empty: the smallest block is 32), then FF_SUB bins per
 * power of two from 2^10 up to 2^63 (a block can be as big as a chunk, and a
 * chunk as big as one request below mmap_threshold, which is configurable). */
#define FF_SMALL_LIMIT ((size_t)1024)
#define FF_SMALL_LOG2 10
#define FF_SMALL_BINS 64 /* FF_SMALL_LIMIT / 16 */
#define FF_SUB_LOG2 3
#define FF_SUB (1u << FF_SUB_LOG2)
#define FF_NBINS (FF_SMALL_BINS + (64 - FF_SMALL_LOG2) * FF_SUB) /* 496 */
#define FF_MAP_WORDS ((FF_NBINS + 63) / 64)                    /* 8 */

_Static_assert(sizeof(size_t) == 8, "the bin map assumes 64-bit sizes");
_Static_assert(FF_MAP_WORDS <= 64, "one summary word covers the bitmap");

typedef struct ff_block {
  size_t header;
  struct ff_block *next, *prev; /* only while free */
} ff_block_t;

typedef struct ff_chunk {
  sa_segment_t segment; /* must be first: the page map points here */
  struct ff_chunk *next, *prev;
  size_t area; /* bytes of blocks between the first block and the epilogue */
  size_t slot; /* its entry in the heap's chunk table */
} ff_chunk_t;

/* The first block sits 8 bytes past the chunk header so payloads are
 * 16-aligned; the epilogue header fills the last 8 bytes of the chunk. */
#define FF_CHUNK_OVERHEAD (sizeof(ff_chunk_t) + FF_HEADER + FF_HEADER)
#define FF_FIRST_OFFSET (sizeof(ff_chunk_t) + FF_HEADER)
/* A chunk grows the heap by at most this much at once: the page map spends
 * 8 bytes per page of a chunk (2 MiB for 1 GiB), written when it is mapped. */
#define FF_CHUNK_CAP ((size_t)1 << 30)
#define FF_MIN_EXTENSION ((size_t)64 * 1024) /* heap_extension_size's lower end */
#define FF_CHUNK_SLOTS 64

/* The chunk table: chunks are mapped aligned to 2^align_order (the power of
 * two at or above the chunk size, or above heap_extension_size for bigger
 * ones), and entry ((x >> align_order) % FF_CHUNK_SLOTS) names one chunk of
 * the heap, base and epilogue, so that a link into a chunk other than the
 * one at hand is found readable with two loads, not the page map's three
 * dependent ones (which answer when the entry holds another chunk). */
typedef struct ff_slot {
  uintptr_t base, epilogue; /* {0, 0}: empty (no address is below epilogue 0) */
} ff_slot_t;

typedef struct ff_heap {
  sa_heap_t base;
  pthread_mutex_t lock;
  ff_chunk_t *chunks;
  size_t min_block;       /* config.min_block_size rounded to 16 */
  size_t extension;       /* chunk size: heap_extension_size, at most FF_CHUNK_CAP,
                             halved while the OS refuses it */
  size_t empty_chunks;    /* chunks that are one free block, kept mapped */
  size_t min_area;        /* the smallest chunk's area: a smaller free block empties none */
  size_t deferred_frees;  /* frees not yet coalesced (deferred mode) */
  int aggressive;         /* coalesce on every free */
  sa_op_t op;             /* the call holding the lock, and its pointer: for reports */
  const void *op_ptr;
  unsigned align_order;   /* chunks are aligned to 2^align_order, at most */
  ff_slot_t slots[FF_CHUNK_SLOTS];
  sa_heap_counters_t counters;
  uint64_t bin_summary;             /* bit w: bin_map[w] != 0 */
  uint64_t bin_map[FF_MAP_WORDS];   /* bit i: bins[i] != NULL */
  ff_block_t *bins[FF_NBINS];       /* heads of the doubly linked free lists */
} ff_heap_t;

_Static_assert(sizeof(ff_chunk_t) % 16 == 0, "blocks must start at 8 mod 16");

/* ======================================================================== */
/* Block helpers                                                            */
/* ======================================================================== */

static inline size_t ff_size(const ff_block_t *b) { return b->header & ~FF_FLAGS; }
static inline int ff_used(const ff_block_t *b) { return (b->header & FF_USED) != 0; }
static inline int ff_prev_used(const ff_block_t *b) { return (b->header & FF_PREV_USED) != 0; }
static inline ff_block_t *ff_next_block(const ff_block_t *b) {
  return (ff_block_t *)((char *)b + ff_size(b));
}
static inline ff_block_t *ff_prev_block(const ff_block_t *b) {
  size_t prev_size = ((const size_t *)b)[-1]; /* the footer of a free predecessor */
  return (ff_block_t *)((char *)b - prev_size);
}
static inline void *ff_payload(const ff_block_t *b) { return (char *)b + FF_HEADER; }
static inline ff_block_t *ff_block_of(const void *p) { return (ff_block_t *)((char *)p - FF_HEADER); }
static inline ff_block_t *ff_first_block(const ff_chunk_t *c) {
  return (ff_block_t *)((char *)c + sizeof(ff_chunk_t) + FF_HEADER);
}
static inline ff_block_t *ff_epilogue(const ff_chunk_t *c) {
  return (ff_block_t *)((char *)c + c->segment.size - FF_HEADER);
}

static inline void ff_set_prev_used(ff_block_t *b, int used) {
  b->header = used ? (b->header | FF_PREV_USED) : (b->header & ~FF_PREV_USED);
}

/* Marks b free with size, writing its footer and telling its successor. */
static inline void ff_make_free(ff_block_t *b, size_t size) {
  b->header = size | (b->header & FF_PREV_USED);
  ((size_t *)((char *)b + size))[-1] = size;
  ff_set_prev_used(ff_next_block(b), 0);
}

/* ======================================================================== */
/* Integrity checks (lock held; a report unlocks and aborts)                */
/* ======================================================================== */

/* Damaged metadata: "corrupted <what> at where (first_fit), found by the
 * <op> of <ptr>" (the call under way: h->op, h->op_ptr), lock released,
 * abort. */
__attribute__((noreturn, cold, noinline)) static void ff_corrupt(ff_heap_t *h, const char *what,
                                                                 const void *where) {
  sa_op_t op = h->op;
  const void *ptr = h->op_ptr;
  pthread_mutex_unlock(&h->lock);
  sa_fatal_corrupt(&h->base, what, where, op, ptr);
}

/* Every call that takes the lock says what it is, for a report: two stores
 * to a line the call touches anyway, cheaper than carrying them through. */
static inline void ff_lock_for(ff_heap_t *h, sa_op_t op, const void *ptr) {
  pthread_mutex_lock(&h->lock);
  h->op = op;
  h->op_ptr = ptr;
}

/* x lies where a block header of chunk c can: from the first block up to,
 * not including, the epilogue. */
static inline int ff_in_chunk(const ff_chunk_t *c, const void *x) {
  return (uintptr_t)x - (uintptr_t)c - FF_FIRST_OFFSET < c->segment.size - FF_CHUNK_OVERHEAD;
}

/* x (read from a free block) is a block address in some chunk of this heap:
 * the page map's answer, for a link that leaves the hinted chunk. */
FF_INLINE int ff_in_heap(const ff_heap_t *h, const void *x) {
  const sa_segment_t *s = sa_segment_of(x);
  return s != NULL && s->heap == &h->base && s->kind == SA_SEGMENT_HEAP &&
         ff_in_chunk((const ff_chunk_t *)s, x);
}

/* A link x of a free block may be followed (read through): 8 mod 16 and in
 * a chunk of this heap; c is a chunk it most likely lies in (a range check
 * then, the page map otherwise). */
FF_INLINE int ff_link_ok(const ff_heap_t *h, const ff_chunk_t *c, const ff_block_t *x) {
  if (SA_UNLIKELY(((uintptr_t)x & 15) != FF_HEADER)) return 0;
  if (SA_LIKELY(ff_in_chunk(c, x))) return 1;
  uintptr_t a = (uintptr_t)x;
  const ff_slot_t *s = &h->slots[(a >> h->align_order) % FF_CHUNK_SLOTS];
  if (SA_LIKELY(s->base == (a & ~(((uintptr_t)1 << h->align_order) - 1)) && a < s->epilogue))
    return 1;
  return ff_in_heap(h, x);
}

/* The chunk of b, a block address known to be in one (a bin head, a block
 * found from a checked header): the newest chunk when it is there. */
static inline ff_chunk_t *ff_chunk_hint(const ff_heap_t *h, const ff_block_t *b) {
  ff_chunk_t *c = h->chunks;
  return SA_LIKELY(ff_in_chunk(c, b)) ? c : (ff_chunk_t *)sa_segment_of(b);
}

/* Free block b, whose header size (at least FF_MIN_BLOCK, ending inside
 * its chunk: the caller checked) is size, may merge or be handed out: its
 * footer agrees and its successor knows it is free. Only the end of b is
 * read, the line its footer is written to next. */
FF_INLINE void ff_check_free_end(ff_heap_t *h, ff_block_t *b, size_t size) {
  const size_t *footer = (const size_t *)((char *)b + size) - 1;
  if (SA_UNLIKELY(*footer != size)) ff_corrupt(h, "block footer", footer);
  const ff_block_t *succ = (const ff_block_t *)((const char *)b + size);
  if (SA_UNLIKELY((succ->header & (FF_PREV_USED | FF_BAD_FLAGS)) != 0))
    ff_corrupt(h, "block header", succ);
}

/* ======================================================================== */
/* Bins                                                                     */
/* ======================================================================== */

/* The bin of a block of size bytes (a multiple of 16, at least 32). */
static inline unsigned ff_bin_of(size_t size) {
  if (size < FF_SMALL_LIMIT) return (unsigned)(size >> 4);
  unsigned log2 = 63u - (unsigned)__builtin_clzl(size);
  unsigned sub = (unsigned)(size >> (log2 - FF_SUB_LOG2)) & (FF_SUB - 1);
  return FF_SMALL_BINS + (log2 - FF_SMALL_LOG2) * FF_SUB + sub;
}

/* The smallest size bin i holds (the inverse of ff_bin_of at a bin's start). */
static inline size_t ff_bin_min(unsigned i) {
  if (i < FF_SMALL_BINS) return (size_t)i << 4;
  unsigned log2 = FF_SMALL_LOG2 + (i - FF_SMALL_BINS) / FF_SUB;
  unsigned sub = (i - FF_SMALL_BINS) % FF_SUB;
  return (size_t)(FF_SUB + sub) << (log2 - FF_SUB_LOG2);
}

/* The first non-empty bin at or above i, or -1. O(1): two ctz. */
static inline int ff_bin_first(const ff_heap_t *h, unsigned i) {
  if (i >= FF_NBINS) return -1;
  unsigned w = i >> 6;
  uint64_t m = h->bin_map[w] & (~(uint64_t)0 << (i & 63));
  if (m) return (int)(w * 64 + (unsigned)__builtin_ctzll(m));
  if (w + 1 >= FF_MAP_WORDS) return -1;
  uint64_t s = h->bin_summary & (~(uint64_t)0 << (w + 1));
  if (!s) return -1;
  w = (unsigned)__builtin_ctzll(s);
  return (int)(w * 64 + (unsigned)__builtin_ctzll(h->bin_map[w]));
}

/* Pushes free block b (header size set) on the head of its bin. The head is
 * a block this heap put there, never a link read from a free block. */
static inline void ff_bin_push(ff_heap_t *h, ff_block_t *b) {
  unsigned i = ff_bin_of(ff_size(b));
  ff_block_t *head = h->bins[i];
  b->prev = NULL;
  b->next = head;
  if (head) {
    head->prev = b;
  } else {
    h->bin_map[i >> 6] |= (uint64_t)1 << (i & 63);
    h->bin_summary |= (uint64_t)1 << (i >> 6);
  }
  h->bins[i] = b;
}

/* Free block b of chunk c is on bin i's list with intact links: next and
 * prev lie in the heap and point back at b, or b is the bin's head. Reads
 * only what the unlink writes. Returns b's links. A report names the block
 * (its payload, where its links are) whose link is wrong: b's own when it
 * points outside the heap or is NULL off the head, else the neighbour's
 * back link (b's link checked out; a write after free into the neighbour
 * is what breaks it). */
FF_INLINE void ff_check_links(ff_heap_t *h, ff_chunk_t *c, ff_block_t *b, unsigned i,
                              ff_block_t **next_out, ff_block_t **prev_out) {
  ff_block_t *next = b->next, *prev = b->prev;
  if (next) {
    if (SA_UNLIKELY(!ff_link_ok(h, c, next))) ff_corrupt(h, "free list", ff_payload(b));
    if (SA_UNLIKELY(next->prev != b)) ff_corrupt(h, "free list", ff_payload(next));
  }
  if (prev) {
    if (SA_UNLIKELY(!ff_link_ok(h, c, prev))) ff_corrupt(h, "free list", ff_payload(b));
    if (SA_UNLIKELY(prev->next != b)) ff_corrupt(h, "free list", ff_payload(prev));
  } else if (SA_UNLIKELY(h->bins[i] != b)) {
    ff_corrupt(h, "free list", ff_payload(b));
  }
  *next_out = next;
  *prev_out = prev;
}

/* Unlinks free block b (chunk c, bin i) from its bin, its links checked
 * first. */
FF_INLINE void ff_bin_remove(ff_heap_t *h, ff_chunk_t *c, ff_block_t *b, unsigned i) {
  ff_block_t *next, *prev;
  ff_check_links(h, c, b, i, &next, &prev);
  if (next) next->prev = prev;
  if (prev) {
    prev->next = next;
    return;
  }
  h->bins[i] = next;
  if (next == NULL) {
    h->bin_map[i >> 6] &= ~((uint64_t)1 << (i & 63));
    if (h->bin_map[i >> 6] == 0) h->bin_summary &= ~((uint64_t)1 << (i >> 6));
  }
}

/* Free block b takes over old's place in bin i (both belong there; old in
 * chunk c, its links checked first); old's links must not overlap b's. */
FF_INLINE void ff_bin_replace(ff_heap_t *h, ff_chunk_t *c, ff_block_t *old, ff_block_t *b,
                                  unsigned i) {
  ff_block_t *next, *prev;
  ff_check_links(h, c, old, i, &next, &prev);
  b->next = next;
  b->prev = prev;
  if (next) next->prev = b;
  if (prev) prev->next = b;
  else h->bins[i] = b;
}

static void ff_bins_clear(ff_heap_t *h) {
  memset(h->bins, 0, sizeof h->bins);
  memset(h->bin_map, 0, sizeof h->bin_map);
  h->bin_summary = 0;
}

static inline size_t ff_request_size(const ff_heap_t *h, size_t size) {
  size_t need = (size + FF_HEADER + 15) & ~(size_t)15;
  return need < h->min_block ? h->min_block : need;
}

static int ff_chunk_is_empty(const ff_chunk_t *c) {
  const ff_block_t *b = ff_first_block(c);
  return !ff_used(b) && ff_size(b) == c->area;
}

static ff_chunk_t *ff_chunk_of(const void *p) { return (ff_chunk_t *)sa_segment_of(p); }

/* ======================================================================== */
/* Fast path                                                                */
/* ======================================================================== */

static void *ff_allocate(ff_heap_t *h, size_t need, size_t alignment);
static void ff_release(ff_heap_t *h, ff_chunk_t *c, ff_block_t *b);

static void *ff_malloc(sa_heap_t *heap, size_t size) {
  ff_heap_t *h = (ff_heap_t *)heap;
  size_t need = ff_request_size(h, size);
  ff_lock_for(h, SA_OP_MALLOC, NULL);
  void *p = ff_allocate(h, need, SA_ALIGNMENT);
  pthread_mutex_unlock(&h->lock);
  return p;
}

__attribute__((noreturn, cold, noinline)) static void ff_diagnose(ff_heap_t *h, ff_chunk_t *c,
                                                                  void *p, sa_op_t op);

/* Validates the block behind p (under the lock) or reports it as a fault
 * of op and aborts. The quick test: a used header of a plausible size whose
 * successor has PREV_USED set and no stray bits; anything else goes to
 * ff_diagnose, which tells a bad pointer from a damaged header. */
static ff_block_t *ff_validate(ff_heap_t *h, ff_chunk_t *c, void *p, sa_op_t op) {
  ff_block_t *b = ff_block_of(p);
  char *lo = (char *)ff_first_block(c), *hi = (char *)ff_epilogue(c);
  if (SA_UNLIKELY(((uintptr_t)p & 15) != 0 || (char *)b < lo || (char *)b >= hi)) {
    pthread_mutex_unlock(&h->lock);
    sa_fatal_block(&h->base, op, SA_FAULT_INTERIOR, p);
  }
  size_t header = b->header, size = header & ~FF_FLAGS;
  if (SA_UNLIKELY((header & (FF_USED | FF_BAD_FLAGS)) != FF_USED || size < FF_MIN_BLOCK ||
                  size > (size_t)(hi - (char *)b)))
    ff_diagnose(h, c, p, op);
  const ff_block_t *next = (const ff_block_t *)((char *)b + size);
  if (SA_UNLIKELY((next->header & (FF_PREV_USED | FF_BAD_FLAGS)) != FF_PREV_USED))
    ff_diagnose(h, c, p, op);
  return b;
}

/* The error path of ff_validate: walks c's blocks from the first, each
 * header checked against its neighbours, up to p's block b.
 *  - A header on the way that cannot be right: corrupted block header (or
 *    footer) there, whatever p is.
 *  - The walk steps over b: p is inside a block; a free one (a block freed
 *    and merged into a neighbour) makes it a freed pointer, a used one an
 *    interior pointer.
 *  - The walk reaches b: p is a block. Free: a freed pointer, if its
 *    successor agrees; used: then its successor's header is the damage. */
static void ff_diagnose(ff_heap_t *h, ff_chunk_t *c, void *p, sa_op_t op) {
  ff_block_t *b = ff_block_of(p), *x = ff_first_block(c), *prev = NULL;
  char *hi = (char *)ff_epilogue(c);
  int prev_used = 1;
  const void *bad = NULL;
  const char *what = "block header";
  sa_fault_t fault = SA_FAULT_INTERIOR;
  for (;;) {
    if (x > b) { /* b lies inside prev */
      fault = ff_used(prev) ? SA_FAULT_INTERIOR : SA_FAULT_FREED;
      break;
    }
    size_t size = ff_size(x);
    if ((x->header & FF_BAD_FLAGS) || size < FF_MIN_BLOCK || size > (size_t)(hi - (char *)x) ||
        ff_prev_used(x) != prev_used) {
      bad = x;
      break;
    }
    ff_block_t *succ = ff_next_block(x);
    if (!ff_used(x) && ((size_t *)succ)[-1] != size) {
      bad = (size_t *)succ - 1;
      what = "block footer";
      break;
    }
    if (x == b) {
      int succ_ok = ff_prev_used(succ) == ff_used(x) && (succ->header & FF_BAD_FLAGS) == 0 &&
                    ((char *)succ == hi ? ff_size(succ) == 0 : ff_size(succ) >= FF_MIN_BLOCK);
      if (!ff_used(x)) {
        if (succ_ok) fault = SA_FAULT_FREED; /* a double free, untouched since */
        else bad = x; /* says free, but its successor disagrees */
      } else if (!succ_ok) {
        bad = succ; /* b is right; its successor's header was overwritten */
      }
      break;
    }
    prev_used = ff_used(x);
    prev = x;
    x = succ;
  }
  pthread_mutex_unlock(&h->lock);
  if (bad) sa_fatal_corrupt(&h->base, what, bad, op, p);
  sa_fatal_block(&h->base, op, fault, p);
}

static void ff_free(sa_heap_t *heap, sa_segment_t *seg, void *p) {
  ff_heap_t *h = (ff_heap_t *)heap;
  ff_chunk_t *c = (ff_chunk_t *)seg;
  ff_lock_for(h, SA_OP_FREE, p);
  ff_block_t *b = ff_validate(h, c, p, SA_OP_FREE);
  sa_counters_on_free(&h->counters, ff_size(b) - FF_HEADER);
  ff_release(h, c, b);
  pthread_mutex_unlock(&h->lock);
}

static size_t ff_usable_size(sa_heap_t *heap, sa_segment_t *seg, const void *p, sa_op_t op) {
  ff_heap_t *h = (ff_heap_t *)heap;
  pthread_mutex_lock(&h->lock);
  ff_block_t *b = ff_validate(h, (ff_chunk_t *)seg, (void *)p, op);
  size_t usable = ff_size(b) - FF_HEADER;
  pthread_mutex_unlock(&h->lock);
  return usable;
}

/* ======================================================================== */
/* Slow path: search, split, grow, coalesce                                 */
/* ======================================================================== */

/* Where an aligned payload of need bytes fits in free block b, or NULL. The
 * gap before it must be empty or a block of its own. */
FF_INLINE char *ff_fit(const ff_heap_t *h, ff_block_t *b, size_t need, size_t alignment) {
  size_t size = ff_size(b);
  if (size < need) return NULL;
  if (alignment <= SA_ALIGNMENT) return (char *)b;
  char *start = (char *)sa_align_up((uintptr_t)ff_payload(b), alignment) - FF_HEADER;
  while (start != (char *)b && (size_t)(start - (char *)b) < h->min_block) start += alignment;
  return start + need <= (char *)b + size ? start : NULL;
}

static ff_chunk_t *ff_grow(ff_heap_t *h, size_t need, size_t alignment);
static void ff_coalesce_all(ff_heap_t *h);

/* Deferred mode merges in bulk once this many frees wait, so unmerged
 * fragments (and the bins a search scans) stay bounded; scaled with the heap
 * so a merge pass (O(blocks)) costs O(1) per free, amortised. */
static inline size_t ff_deferred_limit(const ff_heap_t *h) {
  size_t scaled = (size_t)h->counters.current_blocks / 4;
  return scaled > 256 ? scaled : 256;
}

/* First fit over the bins, from the bin of need upwards: each non-empty bin
 * is scanned from its head for the first block that fits. need's own bin
 * spans a size range (above 1 KiB), so its blocks may be too small; in every
 * higher bin each block is at least need, so for the default alignment the
 * head fits at once. An aligned request may also scan the bins below
 * need + alignment + min_block (a block that big always fits). A link is
 * followed only once checked. Returns the block and sets *bin to the bin it
 * was found in (ff_allocate checks its header against it). */
static ff_block_t *ff_search(ff_heap_t *h, size_t need, size_t alignment, char **start,
                             unsigned *bin) {
  unsigned own = ff_bin_of(need);
  for (int i = ff_bin_first(h, own); i >= 0; i = ff_bin_first(h, (unsigned)i + 1)) {
    ff_block_t *b = h->bins[i];
    for (;;) {
      if ((*start = ff_fit(h, b, need, alignment)) != NULL) {
        *bin = (unsigned)i;
        return b;
      }
      /* Only a block of a range bin (need's own) can be too small for a
       * default-aligned need: anywhere else its header lies. */
      if (SA_UNLIKELY(alignment <= SA_ALIGNMENT && ((unsigned)i != own || i < FF_SMALL_BINS)))
        ff_corrupt(h, "block header", b);
      ff_block_t *next = b->next;
      if (next == NULL) break;
      if (SA_UNLIKELY(!ff_link_ok(h, h->chunks, next))) ff_corrupt(h, "free list", ff_payload(b));
      if (SA_UNLIKELY(next->prev != b)) ff_corrupt(h, "free list", ff_payload(next));
      b = next;
    }
  }
  return NULL;
}

/* Called with the lock held by malloc, memalign and realloc. */
static void *ff_allocate(ff_heap_t *h, size_t need, size_t alignment) {
  ff_block_t *b;
  ff_chunk_t *c;
  char *start = NULL;
  unsigned bin;
  if (SA_UNLIKELY(h->deferred_frees >= ff_deferred_limit(h))) ff_coalesce_all(h);
  for (int attempt = 0; attempt < 3; attempt++) {
    if ((b = ff_search(h, need, alignment, &start, &bin)) != NULL) goto found;
    if (attempt == 0 && h->deferred_frees) {
      ff_coalesce_all(h);
      continue;
    }
    c = ff_grow(h, need, alignment);
    if (c == NULL) return NULL; /* errno ENOMEM from the OS layer */
    b = ff_first_block(c);
    bin = ff_bin_of(ff_size(b));
    if ((start = ff_fit(h, b, need, alignment)) != NULL) goto found;
  }
  errno = ENOMEM;
  return NULL;

found:;
  /* b came from bin `bin`: its header must say free with a size of that bin
   * (an exact size below 1 KiB, so inside its chunk; above, a range, so the
   * chunk's end bounds it too), and its footer and successor agree. */
  size_t size = ff_size(b);
  if (SA_UNLIKELY((b->header & (FF_USED | FF_BAD_FLAGS)) != 0 || ff_bin_of(size) != bin))
    ff_corrupt(h, "block header", b);
  c = h->chunks;
  if (bin >= FF_SMALL_BINS) {
    c = ff_chunk_hint(h, b);
    if (SA_UNLIKELY(size > (size_t)((char *)ff_epilogue(c) - (char *)b)))
      ff_corrupt(h, "block header", b);
  }
  ff_check_free_end(h, b, size);
  if (size >= h->min_area && h->empty_chunks) {
    ff_chunk_t *e = ff_chunk_of(b);
    if (b == ff_first_block(e) && size == e->area) h->empty_chunks--;
  }
  if (start == (char *)b && size - need >= h->min_block) {
    if (ff_bin_of(size - need) == bin) { /* the remainder keeps b's place in its bin */
      ff_block_t *tail = (ff_block_t *)((char *)b + need);
      ff_bin_replace(h, c, b, tail, bin);
      tail->header = FF_PREV_USED;
      ff_make_free(tail, size - need);
      b->header = need | FF_USED | (b->header & FF_PREV_USED);
      sa_counters_on_alloc(&h->counters, need - FF_HEADER);
      return ff_payload(b);
    }
  }
  ff_bin_remove(h, c, b, bin);
  if (start != (char *)b) { /* aligned: the gap before becomes a free block */
    size_t gap = (size_t)(start - (char *)b);
    ff_make_free(b, gap);
    ff_bin_push(h, b);
    b = (ff_block_t *)start;
    b->header = 0; /* predecessor is free */
    size -= gap;
  }
  size_t rest = size - need;
  if (rest >= h->min_block) {
    ff_block_t *tail = (ff_block_t *)((char *)b + need);
    tail->header = FF_PREV_USED;
    ff_make_free(tail, rest);
    ff_bin_push(h, tail);
    size = need;
  } else {
    ff_set_prev_used((ff_block_t *)((char *)b + size), 1);
  }
  b->header = size | FF_USED | (b->header & FF_PREV_USED);
  sa_counters_on_alloc(&h->counters, size - FF_HEADER);
  return ff_payload(b);
}

/* Maps a chunk big enough for need bytes at alignment: one free block. The
 * chunk is h->extension bytes (or what need takes); when the OS refuses
 * that, half as much, down to what need takes, and the heap keeps the
 * size it got for later chunks. */
static ff_chunk_t *ff_grow(ff_heap_t *h, size_t need, size_t alignment) {
  size_t min = need + FF_CHUNK_OVERHEAD;
  if (alignment > SA_ALIGNMENT) min += alignment + h->min_block;
  size_t size = min > h->extension ? min : h->extension;
  ff_chunk_t *c;
  for (;;) {
    unsigned order = 64u - (unsigned)__builtin_clzl(size - 1);
    if (order > h->align_order) order = h->align_order;
    c = (ff_chunk_t *)sa_segment_map(&h->base, size, (size_t)1 << order, SA_SEGMENT_HEAP);
    if (c != NULL) break;
    if (size <= min) return NULL;
    size = size / 2 > min ? size / 2 : min;
  }
  if (size < h->extension) {
    h->extension = size > FF_MIN_EXTENSION ? size : FF_MIN_EXTENSION;
    h->align_order = 64u - (unsigned)__builtin_clzl(h->extension - 1);
  }
  c->slot = ((uintptr_t)c >> h->align_order) % FF_CHUNK_SLOTS;
  h->slots[c->slot].base = (uintptr_t)c;
  h->slots[c->slot].epilogue = (uintptr_t)ff_epilogue(c);
  c->area = c->segment.size - FF_CHUNK_OVERHEAD;
  if (c->area < h->min_area) h->min_area = c->area; /* a chunk the OS granted smaller */
  c->prev = NULL;
  c->next = h->chunks;
  if (h->chunks) h->chunks->prev = c;
  h->chunks = c;
  ff_epilogue(c)->header = FF_USED;
  ff_block_t *b = ff_first_block(c);
  b->header = FF_PREV_USED;
  ff_make_free(b, c->area);
  ff_bin_push(h, b);
  h->empty_chunks++;
  return c;
}

/* An empty chunk beyond the retained ones goes back to the OS. */
static void ff_maybe_unmap(ff_heap_t *h, ff_chunk_t *c) {
  if (h->empty_chunks < h->base.config.retain_empty_chunks) {
    h->empty_chunks++;
    return;
  }
  ff_block_t *b = ff_first_block(c);
  ff_bin_remove(h, c, b, ff_bin_of(ff_size(b)));
  if (c->prev) c->prev->next = c->next;
  else h->chunks = c->next;
  if (c->next) c->next->prev = c->prev;
  if (h->slots[c->slot].base == (uintptr_t)c) h->slots[c->slot] = (ff_slot_t){0, 0};
  sa_segment_unmap(&h->base, &c->segment);
}

/* Returns used block b of chunk c to its bin: merged with its free
 * neighbours at once, or left for ff_coalesce_all in deferred mode. Each
 * neighbour is checked before it merges: the previous one through b's
 * footer (in the chunk, a free header of that size), the next one through
 * its header (free, ends in the chunk, footer and successor agree). */
static void ff_release(ff_heap_t *h, ff_chunk_t *c, ff_block_t *b) {
  size_t size = ff_size(b);
  if (!h->aggressive) {
    ff_make_free(b, size);
    ff_bin_push(h, b);
    h->deferred_frees++;
    return;
  }
  ff_block_t *linked = NULL; /* a merged neighbour, still in its bin */
  size_t linked_size = 0;
  if (!ff_prev_used(b)) {
    size_t psize = ((const size_t *)b)[-1];
    size_t room = (size_t)((char *)b - (char *)ff_first_block(c));
    if (SA_UNLIKELY(room == 0)) ff_corrupt(h, "block header", b);
    if (SA_UNLIKELY(psize < FF_MIN_BLOCK || psize > room || (psize & 15) != 0))
      ff_corrupt(h, "block footer", (const size_t *)b - 1);
    ff_block_t *prev = (ff_block_t *)((char *)b - psize);
    if (SA_UNLIKELY((prev->header & ~FF_PREV_USED) != psize))
      ff_corrupt(h, "block header", prev);
    size += psize;
    b->header = 0; /* a stale free of b must not find a used header here */
    b = linked = prev;
    linked_size = psize;
  }
  ff_block_t *next = (ff_block_t *)((char *)b + size);
  if (!ff_used(next)) {
    size_t nsize = ff_size(next);
    if (SA_UNLIKELY((next->header & FF_BAD_FLAGS) != 0 || nsize < FF_MIN_BLOCK ||
                    nsize > (size_t)((char *)ff_epilogue(c) - (char *)next)))
      ff_corrupt(h, "block header", next);
    ff_check_free_end(h, next, nsize);
    size += nsize;
    if (linked) {
      ff_bin_remove(h, c, next, ff_bin_of(nsize));
    } else {
      linked = next;
      linked_size = nsize;
    }
  }
  unsigned bin = ff_bin_of(size);
  if (linked) {
    unsigned linked_bin = ff_bin_of(linked_size);
    if (linked_bin == bin) {
      /* The merged block stays in the neighbour's bin and takes its place. */
      if (linked != b) ff_bin_replace(h, c, linked, b, bin);
      ff_make_free(b, size);
      if (size == c->area) ff_maybe_unmap(h, c);
      return;
    }
    ff_bin_remove(h, c, linked, linked_bin);
  }
  ff_make_free(b, size);
  ff_bin_push(h, b);
  if (size == c->area) ff_maybe_unmap(h, c);
}

/* Deferred mode: merges every run of free blocks and rebuilds the bins.
 * Headers are read from memory a program may have overwritten: each must
 * have a plausible size that ends inside its chunk. */
static void ff_coalesce_all(ff_heap_t *h) {
  ff_bins_clear(h);
  h->empty_chunks = 0;
  ff_chunk_t *next_chunk;
  for (ff_chunk_t *c = h->chunks; c; c = next_chunk) {
    next_chunk = c->next;
    char *hi = (char *)ff_epilogue(c);
    for (ff_block_t *b = ff_first_block(c); (char *)b != hi; b = ff_next_block(b)) {
      size_t size = ff_size(b);
      if (SA_UNLIKELY((b->header & FF_BAD_FLAGS) || size < FF_MIN_BLOCK ||
                      size > (size_t)(hi - (char *)b)))
        ff_corrupt(h, "block header", b);
      if (ff_used(b)) continue;
      ff_block_t *n = (ff_block_t *)((char *)b + size);
      while ((char *)n != hi && !ff_used(n)) {
        size_t nsize = ff_size(n);
        if (SA_UNLIKELY((n->header & FF_BAD_FLAGS) || nsize < FF_MIN_BLOCK ||
                        nsize > (size_t)(hi - (char *)n)))
          ff_corrupt(h, "block header", n);
        size += nsize;
        n = (ff_block_t *)((char *)b + size);
      }
      ff_make_free(b, size);
      ff_bin_push(h, b);
    }
    if (ff_chunk_is_empty(c)) ff_maybe_unmap(h, c);
  }
  h->deferred_frees = 0;
}

/* ======================================================================== */
/* memalign and realloc                                                     */
/* ======================================================================== */

static void *ff_memalign(sa_heap_t *heap, size_t alignment, size_t size) {
  ff_heap_t *h = (ff_heap_t *)heap;
  size_t need = ff_request_size(h, size);
  ff_lock_for(h, SA_OP_MALLOC, NULL);
  void *p = ff_allocate(h, need, alignment);
  pthread_mutex_unlock(&h->lock);
  return p;
}

/* In place when the block shrinks or its right neighbour is free and big
 * enough (checked as free's merge checks it); otherwise allocate, copy,
 * free. */
static void *ff_realloc(sa_heap_t *heap, sa_segment_t *seg, void *p, size_t size) {
  ff_heap_t *h = (ff_heap_t *)heap;
  ff_chunk_t *c = (ff_chunk_t *)seg;
  size_t need = ff_request_size(h, size);
  ff_lock_for(h, SA_OP_REALLOC, p);
  ff_block_t *b = ff_validate(h, c, p, SA_OP_REALLOC);
  size_t old = ff_size(b);
  size_t have = old;
  ff_block_t *next = ff_next_block(b);
  if (need > have && !ff_used(next)) {
    size_t nsize = ff_size(next);
    if (SA_UNLIKELY((next->header & FF_BAD_FLAGS) != 0 || nsize < FF_MIN_BLOCK ||
                    nsize > (size_t)((char *)ff_epilogue(c) - (char *)next)))
      ff_corrupt(h, "block header", next);
    ff_check_free_end(h, next, nsize);
    if (have + nsize >= need) {
      ff_bin_remove(h, c, next, ff_bin_of(nsize));
      have += nsize;
      if (!h->aggressive && h->deferred_frees) h->deferred_frees--;
    }
  }
  if (need <= have) {
    size_t rest = have - need;
    if (rest >= h->min_block) {
      ff_block_t *tail = (ff_block_t *)((char *)b + need);
      b->header = need | FF_USED | (b->header & FF_PREV_USED);
      tail->header = FF_USED | FF_PREV_USED;
      tail->header |= rest; /* a used block for a moment: release merges it */
      ff_set_prev_used(ff_next_block(tail), 1);
      ff_release(h, c, tail);
      have = need;
    } else {
      b->header = have | FF_USED | (b->header & FF_PREV_USED);
      ff_set_prev_used(ff_next_block(b), 1);
    }
    h->counters.current_bytes += have - old; /* wraps correctly when shrinking */
    if (have > old) h->counters.allocated_bytes += have - old;
    if (h->counters.current_bytes > h->counters.peak_bytes)
      h->counters.peak_bytes = h->counters.current_bytes;
    pthread_mutex_unlock(&h->lock);
    return p;
  }
  void *fresh = ff_allocate(h, need, SA_ALIGNMENT);
  if (fresh != NULL) {
    memcpy(fresh, p, old - FF_HEADER);
    sa_counters_on_free(&h->counters, old - FF_HEADER);
    ff_release(h, c, b);
  }
  pthread_mutex_unlock(&h->lock);
  return fresh;
}

/* ======================================================================== */
/* Introspection                                                            */
/* ======================================================================== */

static void ff_walk(sa_heap_t *heap, sa_walker_t visit, void *arg) {
  ff_heap_t *h = (ff_heap_t *)heap;
  pthread_mutex_lock(&h->lock);
  for (ff_chunk_t *c = h->chunks; c; c = c->next) {
    char *hi = (char *)ff_epilogue(c);
    for (ff_block_t *b = ff_first_block(c); (char *)b < hi; b = ff_next_block(b)) {
      size_t size = ff_size(b);
      if (size < FF_MIN_BLOCK || size > (size_t)(hi - (char *)b)) break; /* damaged: check says */
      visit(ff_payload(b), size - FF_HEADER, ff_used(b) ? SA_BLOCK_USED : SA_BLOCK_FREE, arg);
    }
  }
  pthread_mutex_unlock(&h->lock);
}

#define FF_EXPECT(cond, message, ptr) \
  SA_CHECK_EXPECT(&h->base, failures, cond, message, ptr)

/* Block list per chunk: tags agree, sizes tile the chunk, no two free
 * neighbours (immediate mode); counts the free blocks and their bytes. */
static size_t ff_check_chunks(ff_heap_t *h, size_t *free_blocks, size_t *free_bytes,
                              size_t *empty) {
  size_t failures = 0;
  for (ff_chunk_t *c = h->chunks; c; c = c->next) {
    FF_EXPECT(ff_chunk_of(c) == c, "chunk not in the page map", c);
    FF_EXPECT(c->next == NULL || c->next->prev == c, "chunk links disagree", c);
    int prev_used = 1;
    char *end = (char *)ff_epilogue(c);
    ff_block_t *b = ff_first_block(c);
    while ((char *)b < end) {
      size_t size = ff_size(b);
      if (size < FF_MIN_BLOCK || size % 16 || (char *)b + size > end) {
        FF_EXPECT(0, "block size out of bounds", b);
        break;
      }
      FF_EXPECT(ff_prev_used(b) == prev_used, "PREV_USED bit disagrees with predecessor", b);
      if (!ff_used(b)) {
        (*free_blocks)++;
        *free_bytes += size;
        FF_EXPECT(((size_t *)((char *)b + size))[-1] == size, "footer disagrees with header", b);
        FF_EXPECT(!h->aggressive || prev_used, "two adjacent free blocks", b);
      }
      prev_used = ff_used(b);
      b = ff_next_block(b);
    }
    FF_EXPECT((char *)b == end, "blocks do not end at the epilogue", b);
    FF_EXPECT(ff_size(ff_epilogue(c)) == 0 && ff_used(ff_epilogue(c)), "epilogue damaged", end);
    FF_EXPECT(ff_prev_used(ff_epilogue(c)) == prev_used, "epilogue PREV_USED disagrees", end);
    if (ff_chunk_is_empty(c)) (*empty)++;
  }
  return failures;
}

/* The bins: the bitmap and its summary word agree with the bins; every
 * listed block is a free block of this heap whose size maps to its bin, with
 * consistent links; the bins hold as many blocks and bytes as the walk found
 * free (so, with the per-block checks, exactly the free blocks). */
static size_t ff_check_bins(ff_heap_t *h, size_t free_blocks, size_t free_bytes) {
  size_t failures = 0, listed = 0, listed_bytes = 0;
  for (unsigned w = 0; w < FF_MAP_WORDS; w++)
    FF_EXPECT((int)((h->bin_summary >> w) & 1) == (h->bin_map[w] != 0),
              "bin summary word disagrees with the bin bitmap", NULL);
  FF_EXPECT((h->bin_summary >> FF_MAP_WORDS) == 0, "bin summary word has stray bits", NULL);
  for (unsigned i = 0; i < FF_NBINS; i++) {
    int bit = (int)((h->bin_map[i >> 6] >> (i & 63)) & 1);
    FF_EXPECT(bit == (h->bins[i] != NULL), "bin bitmap disagrees with the bins", h->bins[i]);
    ff_block_t *prev = NULL;
    for (ff_block_t *b = h->bins[i]; b && listed <= free_blocks; prev = b, b = b->next) {
      listed++;
      ff_chunk_t *c = ff_chunk_of(b);
      if (c == NULL || c->segment.heap != &h->base || (char *)b < (char *)ff_first_block(c) ||
          (char *)b >= (char *)ff_epilogue(c)) {
        FF_EXPECT(0, "free list block outside the heap", b);
        break;
      }
      FF_EXPECT(!ff_used(b), "used block on the free list", b);
      FF_EXPECT(b->prev == prev, "free list links disagree", b);
      FF_EXPECT(ff_bin_of(ff_size(b)) == i, "free block in the wrong bin", b);
      listed_bytes += ff_size(b);
    }
  }
  FF_EXPECT(listed == free_blocks, "free lists and block list disagree on free blocks", NULL);
  FF_EXPECT(listed_bytes == free_bytes, "free lists and block list disagree on free bytes", NULL);
  return failures;
}

static size_t ff_check(sa_heap_t *heap) {
  ff_heap_t *h = (ff_heap_t *)heap;
  size_t failures = 0, free_blocks = 0, free_bytes = 0, empty = 0;
  pthread_mutex_lock(&h->lock);
  failures += ff_check_chunks(h, &free_blocks, &free_bytes, &empty);
  failures += ff_check_bins(h, free_blocks, free_bytes);
  FF_EXPECT(!h->aggressive || empty == h->empty_chunks, "empty chunk count disagrees", NULL);
  FF_EXPECT(!h->aggressive || empty <= h->base.config.retain_empty_chunks,
            "more empty chunks kept than retain_empty_chunks", NULL);
  pthread_mutex_unlock(&h->lock);
  return failures;
}

static void ff_stats(sa_heap_t *heap, sa_stats_t *stats) {
  ff_heap_t *h = (ff_heap_t *)heap;
  pthread_mutex_lock(&h->lock);
  sa_heap_counters_t c = h->counters;
  pthread_mutex_unlock(&h->lock);
  sa_counters_export(&c, stats);
}

/* ======================================================================== */
/* Heap lifetime and fork                                                   */
/* ======================================================================== */

static sa_heap_t *ff_create(const sa_strategy_t *self, const sa_config_t *config) {
  ff_heap_t *h = (ff_heap_t *)sa_heap_base_create(self, config, sizeof(ff_heap_t));
  if (h == NULL) return NULL;
  pthread_mutex_init(&h->lock, NULL);
  h->min_block = (h->base.config.min_block_size + 15) & ~(size_t)15;
  if (h->min_block < FF_MIN_BLOCK) h->min_block = FF_MIN_BLOCK;
  h->aggressive = h->base.config.enable_aggressive_coalescing != 0;
  h->extension = h->base.config.heap_extension_size;
  if (h->extension > FF_CHUNK_CAP) h->extension = FF_CHUNK_CAP;
  h->min_area = SIZE_MAX;
  h->align_order = 64u - (unsigned)__builtin_clzl(h->extension - 1);
  return &h->base;
}

static void ff_destroy(sa_heap_t *heap) {
  ff_heap_t *h = (ff_heap_t *)heap;
  pthread_mutex_destroy(&h->lock);
  h->chunks = NULL; /* common unmaps the segments */
}

static void ff_lock(sa_heap_t *heap) { pthread_mutex_lock(&((ff_heap_t *)heap)->lock); }
static void ff_unlock(sa_heap_t *heap) { pthread_mutex_unlock(&((ff_heap_t *)heap)->lock); }

const sa_strategy_t sa_first_fit = {
    .name = "first_fit",
    .backend = NULL,
    .create = ff_create,
    .destroy = ff_destroy,
    .malloc = ff_malloc,
    .free = ff_free,
    .realloc = ff_realloc,
    .memalign = ff_memalign,
    .usable_size = ff_usable_size,
    .walk = ff_walk,
    .check = ff_check,
    .stats = ff_stats,
    .lock = ff_lock,
    .unlock = ff_unlock,
};

/* first_fit: an explicit free list over boundary-tagged blocks.
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

typedef struct ff_block {
  size_t header;
  struct ff_block *next, *prev; /* only while free */
} ff_block_t;

typedef struct ff_chunk {
  sa_segment_t segment; /* must be first: the page map points here */
  struct ff_chunk *next, *prev;
  size_t area; /* bytes of blocks between the first block and the epilogue */
  size_t pad_;
} ff_chunk_t;

/* The first block sits 8 bytes past the chunk header so payloads are
 * 16-aligned; the epilogue header fills the last 8 bytes of the chunk. */
#define FF_CHUNK_OVERHEAD (sizeof(ff_chunk_t) + FF_HEADER + FF_HEADER)

typedef struct ff_heap {
  sa_heap_t base;
  pthread_mutex_t lock;
  ff_block_t *free_list;
  ff_chunk_t *chunks;
  size_t min_block;       /* config.min_block_size rounded to 16 */
  size_t empty_chunks;    /* chunks that are one free block, kept mapped */
  size_t deferred_frees;  /* frees not yet coalesced (deferred mode) */
  int aggressive;         /* coalesce on every free */
  sa_heap_counters_t counters;
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

static inline void ff_list_push(ff_heap_t *h, ff_block_t *b) {
  b->prev = NULL;
  b->next = h->free_list;
  if (h->free_list) h->free_list->prev = b;
  h->free_list = b;
}

static inline void ff_list_remove(ff_heap_t *h, ff_block_t *b) {
  if (b->prev) b->prev->next = b->next;
  else h->free_list = b->next;
  if (b->next) b->next->prev = b->prev;
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
  sa_mutex_lock(&h->lock);
  void *p = ff_allocate(h, need, SA_ALIGNMENT);
  pthread_mutex_unlock(&h->lock);
  return p;
}

/* Validates the block behind p (under the lock) or reports and aborts:
 * `freed` names the error when p's block is already free ("double free" for
 * free), `what` any other bad pointer. */
static ff_block_t *ff_validate(ff_heap_t *h, ff_chunk_t *c, void *p, const char *what,
                               const char *freed) {
  ff_block_t *b = ff_block_of(p);
  char *lo = (char *)ff_first_block(c), *hi = (char *)ff_epilogue(c);
  if (SA_UNLIKELY(((uintptr_t)p & 15) != 0 || (char *)b < lo || (char *)b >= hi)) {
    pthread_mutex_unlock(&h->lock);
    sa_fatal_pointer(what, p, &h->base);
  }
  size_t size = ff_size(b);
  if (SA_UNLIKELY(!ff_used(b) && size >= FF_MIN_BLOCK && (char *)b + size <= hi)) {
    pthread_mutex_unlock(&h->lock);
    sa_fatal_pointer(freed, p, &h->base);
  }
  if (SA_UNLIKELY(!ff_used(b) || size < FF_MIN_BLOCK || (char *)b + size > hi ||
                  !ff_prev_used(ff_next_block(b)))) {
    pthread_mutex_unlock(&h->lock);
    sa_fatal_pointer(what, p, &h->base);
  }
  return b;
}

static void ff_free(sa_heap_t *heap, sa_segment_t *seg, void *p) {
  ff_heap_t *h = (ff_heap_t *)heap;
  ff_chunk_t *c = (ff_chunk_t *)seg;
  sa_mutex_lock(&h->lock);
  ff_block_t *b = ff_validate(h, c, p, "invalid free", "double free");
  sa_counters_on_free(&h->counters, ff_size(b) - FF_HEADER);
  ff_release(h, c, b);
  pthread_mutex_unlock(&h->lock);
}

static size_t ff_usable_size(sa_heap_t *heap, sa_segment_t *seg, const void *p) {
  ff_heap_t *h = (ff_heap_t *)heap;
  sa_mutex_lock(&h->lock);
  ff_block_t *b = ff_validate(h, (ff_chunk_t *)seg, (void *)p, "invalid pointer to usable_size",
                              "usable_size after free");
  size_t usable = ff_size(b) - FF_HEADER;
  pthread_mutex_unlock(&h->lock);
  return usable;
}

/* ======================================================================== */
/* Slow path: search, split, grow, coalesce                                 */
/* ======================================================================== */

/* Where an aligned payload of need bytes fits in free block b, or NULL. The
 * gap before it must be empty or a block of its own. */
static char *ff_fit(const ff_heap_t *h, ff_block_t *b, size_t need, size_t alignment) {
  size_t size = ff_size(b);
  if (size < need) return NULL;
  if (alignment <= SA_ALIGNMENT) return (char *)b;
  char *start = (char *)sa_align_up((uintptr_t)ff_payload(b), alignment) - FF_HEADER;
  while (start != (char *)b && (size_t)(start - (char *)b) < h->min_block) start += alignment;
  return start + need <= (char *)b + size ? start : NULL;
}

static ff_chunk_t *ff_grow(ff_heap_t *h, size_t need, size_t alignment);
static void ff_coalesce_all(ff_heap_t *h);

/* Deferred mode merges in bulk once this many frees wait, so the list a
 * search walks stays bounded; scaled with the heap so a merge pass (O(blocks))
 * costs O(1) per free, amortised. */
static inline size_t ff_deferred_limit(const ff_heap_t *h) {
  size_t scaled = (size_t)h->counters.current_blocks / 4;
  return scaled > 256 ? scaled : 256;
}

/* Called with the lock held by malloc, memalign and realloc. */
static void *ff_allocate(ff_heap_t *h, size_t need, size_t alignment) {
  ff_block_t *b;
  char *start = NULL;
  if (SA_UNLIKELY(h->deferred_frees >= ff_deferred_limit(h))) ff_coalesce_all(h);
  for (int attempt = 0; attempt < 3; attempt++) {
    for (b = h->free_list; b; b = b->next)
      if ((start = ff_fit(h, b, need, alignment)) != NULL) goto found;
    if (attempt == 0 && h->deferred_frees) {
      ff_coalesce_all(h);
      continue;
    }
    ff_chunk_t *c = ff_grow(h, need, alignment);
    if (c == NULL) return NULL; /* errno ENOMEM from the OS layer */
    b = ff_first_block(c);
    if ((start = ff_fit(h, b, need, alignment)) != NULL) goto found;
  }
  errno = ENOMEM;
  return NULL;

found:
  ff_list_remove(h, b);
  size_t size = ff_size(b);
  if (size >= h->base.config.heap_extension_size - FF_CHUNK_OVERHEAD && h->empty_chunks) {
    ff_chunk_t *c = ff_chunk_of(b);
    if (b == ff_first_block(c) && size == c->area) h->empty_chunks--;
  }
  if (start != (char *)b) { /* aligned: the gap before becomes a free block */
    size_t gap = (size_t)(start - (char *)b);
    ff_make_free(b, gap);
    ff_list_push(h, b);
    b = (ff_block_t *)start;
    b->header = 0; /* predecessor is free */
    size -= gap;
  }
  size_t rest = size - need;
  if (rest >= h->min_block) {
    ff_block_t *tail = (ff_block_t *)((char *)b + need);
    tail->header = FF_PREV_USED;
    ff_make_free(tail, rest);
    ff_list_push(h, tail);
    size = need;
  } else {
    ff_set_prev_used((ff_block_t *)((char *)b + size), 1);
  }
  b->header = size | FF_USED | (b->header & FF_PREV_USED);
  sa_counters_on_alloc(&h->counters, size - FF_HEADER);
  return ff_payload(b);
}

/* Maps a chunk big enough for need bytes at alignment: one free block. */
static ff_chunk_t *ff_grow(ff_heap_t *h, size_t need, size_t alignment) {
  size_t size = need + FF_CHUNK_OVERHEAD;
  if (alignment > SA_ALIGNMENT) size += alignment + h->min_block;
  if (size < h->base.config.heap_extension_size) size = h->base.config.heap_extension_size;
  ff_chunk_t *c = (ff_chunk_t *)sa_segment_map(&h->base, size, 0, SA_SEGMENT_HEAP);
  if (c == NULL) return NULL;
  c->area = c->segment.size - FF_CHUNK_OVERHEAD;
  c->prev = NULL;
  c->next = h->chunks;
  if (h->chunks) h->chunks->prev = c;
  h->chunks = c;
  ff_epilogue(c)->header = FF_USED;
  ff_block_t *b = ff_first_block(c);
  b->header = FF_PREV_USED;
  ff_make_free(b, c->area);
  ff_list_push(h, b);
  h->empty_chunks++;
  return c;
}

/* An empty chunk beyond the retained ones goes back to the OS. */
static void ff_maybe_unmap(ff_heap_t *h, ff_chunk_t *c) {
  if (h->empty_chunks < h->base.config.retain_empty_chunks) {
    h->empty_chunks++;
    return;
  }
  ff_list_remove(h, ff_first_block(c));
  if (c->prev) c->prev->next = c->next;
  else h->chunks = c->next;
  if (c->next) c->next->prev = c->prev;
  sa_segment_unmap(&h->base, &c->segment);
}

/* Returns used block b to the free list: merged with its free neighbours at
 * once, or left for ff_coalesce_all in deferred mode. */
static void ff_release(ff_heap_t *h, ff_chunk_t *c, ff_block_t *b) {
  size_t size = ff_size(b);
  if (!h->aggressive) {
    ff_make_free(b, size);
    ff_list_push(h, b);
    h->deferred_frees++;
    return;
  }
  if (!ff_prev_used(b)) {
    ff_block_t *prev = ff_prev_block(b);
    ff_list_remove(h, prev);
    size += ff_size(prev);
    b->header = 0; /* a stale free of b must not find a used header here */
    b = prev;
  }
  ff_block_t *next = (ff_block_t *)((char *)b + size);
  if (!ff_used(next)) {
    ff_list_remove(h, next);
    size += ff_size(next);
  }
  ff_make_free(b, size);
  ff_list_push(h, b);
  if (size == c->area) ff_maybe_unmap(h, c);
}

/* Deferred mode: merges every run of free blocks and rebuilds the list. */
static void ff_coalesce_all(ff_heap_t *h) {
  h->free_list = NULL;
  h->empty_chunks = 0;
  ff_chunk_t *next_chunk;
  for (ff_chunk_t *c = h->chunks; c; c = next_chunk) {
    next_chunk = c->next;
    for (ff_block_t *b = ff_first_block(c); ff_size(b) != 0; b = ff_next_block(b)) {
      if (ff_used(b)) continue;
      size_t size = ff_size(b);
      ff_block_t *n = (ff_block_t *)((char *)b + size);
      while (!ff_used(n)) {
        size += ff_size(n);
        n = (ff_block_t *)((char *)b + size);
      }
      ff_make_free(b, size);
      ff_list_push(h, b);
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
  sa_mutex_lock(&h->lock);
  void *p = ff_allocate(h, need, alignment);
  pthread_mutex_unlock(&h->lock);
  return p;
}

/* In place when the block shrinks or its right neighbour is free and big
 * enough; otherwise allocate, copy, free. */
static void *ff_realloc(sa_heap_t *heap, sa_segment_t *seg, void *p, size_t size) {
  ff_heap_t *h = (ff_heap_t *)heap;
  ff_chunk_t *c = (ff_chunk_t *)seg;
  size_t need = ff_request_size(h, size);
  sa_mutex_lock(&h->lock);
  ff_block_t *b = ff_validate(h, c, p, "invalid realloc", "realloc after free");
  size_t old = ff_size(b);
  size_t have = old;
  ff_block_t *next = ff_next_block(b);
  if (need > have && !ff_used(next) && have + ff_size(next) >= need) {
    ff_list_remove(h, next);
    have += ff_size(next);
    if (!h->aggressive && h->deferred_frees) h->deferred_frees--;
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
  sa_mutex_lock(&h->lock);
  for (ff_chunk_t *c = h->chunks; c; c = c->next)
    for (ff_block_t *b = ff_first_block(c); ff_size(b) != 0; b = ff_next_block(b))
      visit(ff_payload(b), ff_size(b) - FF_HEADER, ff_used(b) ? SA_BLOCK_USED : SA_BLOCK_FREE, arg);
  pthread_mutex_unlock(&h->lock);
}

#define FF_EXPECT(cond, message, ptr) \
  SA_CHECK_EXPECT(&h->base, failures, cond, message, ptr)

/* Block list per chunk: tags agree, sizes tile the chunk, no two free
 * neighbours (immediate mode); the free list holds exactly the free blocks. */
static size_t ff_check_chunks(ff_heap_t *h, size_t *free_blocks, size_t *empty) {
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

static size_t ff_check(sa_heap_t *heap) {
  ff_heap_t *h = (ff_heap_t *)heap;
  size_t failures = 0, free_blocks = 0, empty = 0, listed = 0;
  sa_mutex_lock(&h->lock);
  failures += ff_check_chunks(h, &free_blocks, &empty);
  ff_block_t *prev = NULL;
  for (ff_block_t *b = h->free_list; b && listed <= free_blocks; prev = b, b = b->next) {
    listed++;
    FF_EXPECT(!ff_used(b), "used block on the free list", b);
    FF_EXPECT(b->prev == prev, "free list links disagree", b);
    ff_chunk_t *c = ff_chunk_of(b);
    FF_EXPECT(c != NULL && c->segment.heap == heap, "free list block outside the heap", b);
  }
  FF_EXPECT(listed == free_blocks, "free list and block list disagree on free blocks", NULL);
  FF_EXPECT(!h->aggressive || empty == h->empty_chunks, "empty chunk count disagrees", NULL);
  FF_EXPECT(!h->aggressive || empty <= h->base.config.retain_empty_chunks,
            "more empty chunks kept than retain_empty_chunks", NULL);
  pthread_mutex_unlock(&h->lock);
  return failures;
}

static void ff_stats(sa_heap_t *heap, sa_stats_t *stats) {
  ff_heap_t *h = (ff_heap_t *)heap;
  sa_mutex_lock(&h->lock);
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
  return &h->base;
}

static void ff_destroy(sa_heap_t *heap) {
  ff_heap_t *h = (ff_heap_t *)heap;
  pthread_mutex_destroy(&h->lock);
  h->chunks = NULL; /* common unmaps the segments */
}

static void ff_lock(sa_heap_t *heap) { sa_mutex_lock(&((ff_heap_t *)heap)->lock); }
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

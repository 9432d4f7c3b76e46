/* stratalloc public API: heaps as instances of an interchangeable strategy.
 *
 *   const sa_strategy_t *s = sa_strategy_find("first_fit");
 *   sa_heap_t *h = sa_heap_create(s, NULL);          // NULL: defaults + SA_CONF
 *   void *p = sa_malloc(h, 100);
 *   sa_free(h, p);
 *   sa_heap_destroy(h);                              // every byte back to the OS
 *
 * Every call takes the heap; a heap is thread-safe. The libc entry points
 * (malloc, free, ...) of a preloaded libsa_<strategy>.so use one process heap,
 * reachable with sa_process_heap(). */
#ifndef STRATALLOC_STRATALLOC_H
#define STRATALLOC_STRATALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "stratalloc/config.h"
#include "stratalloc/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_heap sa_heap_t;
typedef struct sa_strategy sa_strategy_t;

/* ---- strategies and the registry ---------------------------------------- */

/* Every registered strategy, NULL-terminated, in registry order. Linked from
 * //strategies:registry. */
extern const sa_strategy_t *const sa_registry[];
size_t sa_registry_count(void);
const sa_strategy_t *sa_strategy_find(const char *name); /* NULL if unknown */
const char *sa_strategy_name(const sa_strategy_t *strategy);

/* ---- heaps ---------------------------------------------------------------- */

/* config NULL: defaults overridden by SA_CONF. Returns NULL (errno ENOMEM) if
 * the OS refuses memory. */
sa_heap_t *sa_heap_create(const sa_strategy_t *strategy, const sa_config_t *config);
/* Returns every mapped byte to the OS; pointers into the heap become invalid. */
void sa_heap_destroy(sa_heap_t *heap);
const sa_strategy_t *sa_heap_strategy(const sa_heap_t *heap);
const sa_config_t *sa_heap_config(const sa_heap_t *heap);

/* The heap behind the libc entry points when a libsa_*.so or //:malloc is
 * linked; NULL in programs that only use the sa_ API. */
sa_heap_t *sa_process_heap(void);

/* ---- allocation (libc semantics, on a given heap) ------------------------- */

void *sa_malloc(sa_heap_t *heap, size_t size);
void sa_free(sa_heap_t *heap, void *ptr);
void *sa_calloc(sa_heap_t *heap, size_t count, size_t size);
void *sa_realloc(sa_heap_t *heap, void *ptr, size_t size);
void *sa_memalign(sa_heap_t *heap, size_t alignment, size_t size);
int sa_posix_memalign(sa_heap_t *heap, void **out, size_t alignment, size_t size);
void *sa_aligned_alloc(sa_heap_t *heap, size_t alignment, size_t size);
void *sa_valloc(sa_heap_t *heap, size_t size);
void *sa_pvalloc(sa_heap_t *heap, size_t size);
size_t sa_usable_size(sa_heap_t *heap, const void *ptr);

/* ---- introspection ----------------------------------------------------------
 * The visitor runs with the heap locked: it must not allocate from this heap. */

typedef enum { SA_BLOCK_FREE = 0, SA_BLOCK_USED = 1 } sa_block_state_t;
typedef void (*sa_walker_t)(void *ptr, size_t size, sa_block_state_t state, void *arg);

/* Visits every block of the heap (address, usable size, state), large objects
 * included. */
void sa_walk(sa_heap_t *heap, sa_walker_t visit, void *arg);

/* Verifies every invariant of the strategy and that the counters agree with a
 * walk; prints each failure on stderr; returns the number of failures. */
size_t sa_check(sa_heap_t *heap);

/* What a walk sees, summed. */
typedef struct sa_heap_info {
  size_t used_blocks, used_bytes;
  size_t free_blocks, free_bytes;
  size_t largest_free_block;
  double external_fragmentation_pct; /* (free - largest) / free * 100 */
} sa_heap_info_t;
void sa_heap_info(sa_heap_t *heap, sa_heap_info_t *info);

/* Counters plus what a walk derives (fragmentation, largest free block). */
void sa_heap_stats(sa_heap_t *heap, sa_stats_t *stats);

/* Gives back to the OS at once what the heap keeps mapped for reuse: the
 * released segments of its segment cache (which otherwise go after
 * config.segment_decay_ms) and its untouched reserve. A strategy's own
 * retained empty slabs or chunks stay. Returns the resident bytes given
 * back. malloc_trim(3) calls it on the process heap. */
size_t sa_heap_trim(sa_heap_t *heap);

/* ---- exporters (write to a file descriptor; never allocate) --------------- */

typedef enum {
  SA_FORMAT_TEXT = 0,       /* a human report */
  SA_FORMAT_JSON = 1,       /* one JSON object */
  SA_FORMAT_PROMETHEUS = 2  /* text exposition format, label strategy="..." */
} sa_format_t;

/* Writes the heap's statistics; returns 0, or -1 with errno on write error. */
int sa_stats_write(sa_heap_t *heap, sa_format_t format, int fd);
/* Writes every block: address, size, state, one per line. */
int sa_heap_dump(sa_heap_t *heap, int fd);

#ifdef __cplusplus
}
#endif

#endif /* STRATALLOC_STRATALLOC_H */

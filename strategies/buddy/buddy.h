/* buddy: what the buddy strategy exposes beyond the sa_strategy_t vtable.
 *
 *   #include "strategies/buddy/buddy.h"
 *   sa_heap_t *h = sa_heap_create(&sa_buddy, NULL);
 *   ...
 *   sa_buddy_stats_t bs;
 *   sa_buddy_stats(h, &bs);   // internal fragmentation, arenas, free blocks per order
 *
 * Internal fragmentation (a request rounded up to a power of two) is kept
 * apart from external fragmentation (free memory split into blocks smaller
 * than the largest free one, which sa_heap_info reports for every strategy).
 * Because blocks carry no header, the strategy does not remember what each
 * live block was asked for: requested bytes are counted over every allocation
 * served (malloc, memalign, and each realloc that returns a block), next to
 * the block bytes that served them. Large objects (common/large.c) are not
 * counted here. */
#ifndef STRATALLOC_STRATEGIES_BUDDY_BUDDY_H
#define STRATALLOC_STRATEGIES_BUDDY_BUDDY_H

#include <stddef.h>
#include <stdint.h>

#include "stratalloc/strategy.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const sa_strategy_t sa_buddy;

#define SA_BUDDY_MAX_ORDERS 64

typedef struct sa_buddy_stats {
  /* geometry, from the heap's config */
  size_t min_block;         /* smallest block: min_block_size rounded up to 2^k */
  size_t max_block;         /* largest block: mmap_threshold rounded up to 2^k, at most
                               16 MiB; larger requests go to common's large objects */
  size_t arena_size;        /* bytes per arena (2^k, aligned to its size) */
  size_t arena_reserved;    /* bytes at the start of each arena held by its metadata */
  /* now */
  size_t arenas;            /* arenas mapped */
  size_t empty_arenas;      /* arenas with no live block, kept for reuse */
  size_t live_block_bytes;  /* sum of live block sizes (= current_allocated_bytes) */
  size_t free_bytes;        /* sum of free block sizes */
  size_t free_blocks[SA_BUDDY_MAX_ORDERS]; /* free blocks per order (index = log2 size) */
  /* since creation */
  uint64_t requested_bytes; /* bytes asked for, summed over allocations served */
  uint64_t block_bytes;     /* block bytes that served those requests */
  double internal_fragmentation_pct; /* (block - requested) / block * 100 */
} sa_buddy_stats_t;

/* Fills *out. Returns 0, or -1 if heap is not a buddy heap. Takes the lock. */
int sa_buddy_stats(sa_heap_t *heap, sa_buddy_stats_t *out);

/* Bytes requested over every allocation served (see above); 0 if heap is not
 * a buddy heap. */
size_t sa_buddy_requested_bytes(sa_heap_t *heap);

#ifdef __cplusplus
}
#endif

#endif /* STRATALLOC_STRATEGIES_BUDDY_BUDDY_H */

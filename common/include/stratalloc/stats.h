/* sa_stats_t: a heap's counters and what a walk derives from them. Byte
 * counts are usable bytes (what malloc_usable_size reports), as jemalloc's
 * stats.allocated.
 *
 * peak_allocated_bytes is the sum of the peaks of the heap's parts (each
 * size class or block pool of the strategy, and the large objects): exact
 * for a heap whose live bytes sit in one part, otherwise an upper bound on
 * the true peak. An exact peak would need one shared counter on every
 * allocation and free, which the fast path does not pay for. */
#ifndef STRATALLOC_STATS_H
#define STRATALLOC_STATS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, kind, help): kind is counter (only grows) or gauge. The exporters
 * are generated from this list. */
#define SA_STATS_FIELDS(X)                                                        \
  X(total_allocations, counter, "allocations served since the heap was created") \
  X(total_frees, counter, "frees since the heap was created")                    \
  X(total_allocated_bytes, counter, "usable bytes handed out, summed")           \
  X(current_allocated_bytes, gauge, "usable bytes of live allocations")          \
  X(peak_allocated_bytes, gauge, "sum of each part's highest live bytes (bound)") \
  X(current_blocks, gauge, "live allocations")                                   \
  X(mapped_bytes, gauge, "bytes currently mapped from the OS")                   \
  X(peak_mapped_bytes, gauge, "highest mapped_bytes seen")                       \
  X(total_mapped_bytes, counter, "bytes ever mapped from the OS")               \
  X(segment_cache_bytes, gauge, "released segment bytes kept for reuse (in mapped_bytes)") \
  X(large_allocations, counter, "allocations above mmap_threshold")              \
  X(current_large_bytes, gauge, "usable bytes of live large allocations")        \
  X(free_bytes, gauge, "bytes in free blocks (from a walk)")                     \
  X(largest_free_bytes, gauge, "largest free block in bytes (from a walk)")      \
  X(cache_hits, counter, "thread cache hits")                                    \
  X(cache_misses, counter, "thread cache misses")                                \
  X(cached_bytes, gauge, "bytes held in thread caches")

typedef struct sa_stats {
  const char *strategy;
#define SA_STATS_FIELD_(name, kind, help) uint64_t name;
  SA_STATS_FIELDS(SA_STATS_FIELD_)
#undef SA_STATS_FIELD_
  /* derived */
  double average_allocation_size;    /* total_allocated_bytes / total_allocations */
  double fragmentation_pct;          /* (free - largest free) / free * 100 */
  double overhead_pct;               /* (mapped - allocated) / allocated * 100 */
  double cache_hit_rate_pct;         /* hits / (hits + misses) * 100 */
} sa_stats_t;

#ifdef __cplusplus
}
#endif

#endif /* STRATALLOC_STATS_H */

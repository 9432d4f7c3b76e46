/* segregated: size classes, per-class slabs, no per-object header.
 *
 * The strategy itself is the vtable `sa_segregated` (strategy.h); this header
 * exposes what is particular to it: the size-class table and per-class
 * statistics.
 *
 *   for (size_t c = 0; c < sa_segregated_class_count(); c++) {
 *     sa_segregated_class_stats_t st;
 *     if (sa_segregated_class_stats(heap, c, &st) == 0) printf("%zu %llu\n", st.size, ...);
 *   }
 *
 * See strategies/segregated/README.md for the algorithm. */
#ifndef STRATALLOC_STRATEGIES_SEGREGATED_H
#define STRATALLOC_STRATEGIES_SEGREGATED_H

#include <stddef.h>
#include <stdint.h>

#include "stratalloc/strategy.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const sa_strategy_t sa_segregated;

/* Requests up to this many bytes are served from size-class slabs; larger
 * ones that common still routes to the strategy (mmap_threshold raised above
 * it) get a segment of their own ("direct" objects). */
#define SA_SEGREGATED_SMALL_MAX ((size_t)128 * 1024)

/* Number of size classes (76, strategies/size_class): 16..128 every 16
 * bytes, 4 classes per power of two up to 1 KiB, then 8 per power of two up
 * to SA_SEGREGATED_SMALL_MAX. */
size_t sa_segregated_class_count(void);
/* The usable size of class cls, or 0 if cls >= sa_segregated_class_count(). */
size_t sa_segregated_class_size(size_t cls);
/* The smallest class whose size is >= size, for 1 <= size <= SMALL_MAX;
 * sa_segregated_class_count() for 0 and for larger sizes. */
size_t sa_segregated_size_class(size_t size);
/* Slab geometry of class cls: bytes mapped per slab and slots per slab
 * (0 if cls is out of range). */
size_t sa_segregated_slab_bytes(size_t cls);
size_t sa_segregated_slab_slots(size_t cls);

typedef struct sa_segregated_class_stats {
  size_t size;              /* usable bytes of each object (0: direct objects) */
  size_t slab_bytes;        /* bytes mapped per slab */
  size_t slots_per_slab;
  uint64_t requests;        /* allocations served by this class */
  uint64_t frees;
  uint64_t live_objects;
  uint64_t slabs;           /* slabs mapped now: partial + full + empty */
  uint64_t partial_slabs, full_slabs, empty_slabs; /* empty: the retained cache */
  uint64_t slabs_mapped;    /* slabs ever mapped from the OS */
  uint64_t slabs_unmapped;  /* slabs given back to the OS */
  uint64_t sparse_slabs;    /* slabs listed for a purge of their free pages now */
  uint64_t purges;          /* sparse slabs whose free pages went back to the OS */
  uint64_t purged_bytes;    /* bytes of those pages (they stay mapped, read as zero) */
  double utilisation_pct;   /* live_objects / (slabs * slots_per_slab) * 100 */
} sa_segregated_class_stats_t;

/* Fills *out for class cls of heap (a heap of sa_segregated). cls ==
 * sa_segregated_class_count() reports the direct objects (one segment each:
 * slabs = segments, slots_per_slab = 1). Returns 0, or -1 with errno EINVAL
 * if heap is not a segregated heap or cls is out of range. */
int sa_segregated_class_stats(sa_heap_t *heap, size_t cls, sa_segregated_class_stats_t *out);

#ifdef __cplusplus
}
#endif

#endif /* STRATALLOC_STRATEGIES_SEGREGATED_H */

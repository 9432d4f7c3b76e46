/* Walk, check, info and stats: the strategy's view plus the large objects,
 * and the cross-checks between counters and what a walk sees. */
#include <string.h>

#include "large.h"
#include "stratalloc/strategy.h"

void sa_walk(sa_heap_t *heap, sa_walker_t visit, void *arg) {
  heap->strategy->walk(heap, visit, arg);
  sa_large_walk(heap, visit, arg);
}

static void info_visit(void *ptr, size_t size, sa_block_state_t state, void *arg) {
  (void)ptr;
  sa_heap_info_t *info = arg;
  if (state == SA_BLOCK_USED) {
    info->used_blocks++;
    info->used_bytes += size;
  } else {
    info->free_blocks++;
    info->free_bytes += size;
    if (size > info->largest_free_block) info->largest_free_block = size;
  }
}

void sa_heap_info(sa_heap_t *heap, sa_heap_info_t *info) {
  memset(info, 0, sizeof *info);
  sa_walk(heap, info_visit, info);
  info->external_fragmentation_pct =
      info->free_bytes ? 100.0 * (double)(info->free_bytes - info->largest_free_block) /
                             (double)info->free_bytes
                       : 0.0;
}

void sa_counters_export(const sa_heap_counters_t *c, sa_stats_t *s) {
  s->total_allocations += c->allocations;
  s->total_frees += c->frees;
  s->total_allocated_bytes += c->allocated_bytes;
  s->current_allocated_bytes += c->current_bytes;
  s->peak_allocated_bytes += c->peak_bytes;
  s->current_blocks += c->current_blocks;
}

/* Counters only: no walk, so it is cheap enough for periodic export. */
static void heap_counters(sa_heap_t *heap, sa_stats_t *s) {
  memset(s, 0, sizeof *s);
  s->strategy = heap->strategy->name;
  heap->strategy->stats(heap, s);
  pthread_mutex_lock(&heap->segment_lock);
  sa_heap_counters_t large = heap->large;
  s->segment_cache_bytes = heap->segment_cache.cached_bytes;
  pthread_mutex_unlock(&heap->segment_lock);
  /* The peak is a sum of per-part peaks: an upper bound (stats.h). */
  sa_counters_export(&large, s);
  s->large_allocations = large.allocations;
  s->current_large_bytes = large.current_bytes;
  s->mapped_bytes = __atomic_load_n(&heap->mapped_bytes, __ATOMIC_RELAXED);
  s->peak_mapped_bytes = __atomic_load_n(&heap->peak_mapped_bytes, __ATOMIC_RELAXED);
  s->total_mapped_bytes = __atomic_load_n(&heap->total_mapped_bytes, __ATOMIC_RELAXED);
}

void sa_heap_stats(sa_heap_t *heap, sa_stats_t *s) {
  heap_counters(heap, s);
  sa_heap_info_t info;
  sa_heap_info(heap, &info);
  s->free_bytes = info.free_bytes;
  s->largest_free_bytes = info.largest_free_block;
  s->fragmentation_pct = info.external_fragmentation_pct;
  s->average_allocation_size =
      s->total_allocations ? (double)s->total_allocated_bytes / (double)s->total_allocations : 0;
  s->overhead_pct = s->current_allocated_bytes
                        ? 100.0 * ((double)s->mapped_bytes - (double)s->current_allocated_bytes) /
                              (double)s->current_allocated_bytes
                        : 0;
  uint64_t lookups = s->cache_hits + s->cache_misses;
  s->cache_hit_rate_pct = lookups ? 100.0 * (double)s->cache_hits / (double)lookups : 0;
}

size_t sa_check(sa_heap_t *heap) {
  size_t failures = heap->strategy->check(heap);
  failures += sa_large_check(heap);
  failures += sa_segment_cache_check(heap);
  sa_stats_t s;
  heap_counters(heap, &s);
  sa_heap_info_t info;
  sa_heap_info(heap, &info);
  if (info.used_blocks != s.current_blocks) {
    sa_check_report(heap, "live block counter disagrees with the walk", NULL);
    failures++;
  }
  if (info.used_bytes != s.current_allocated_bytes) {
    sa_check_report(heap, "allocated bytes counter disagrees with the walk", NULL);
    failures++;
  }
  if (s.total_allocations - s.total_frees != s.current_blocks) {
    sa_check_report(heap, "allocations - frees != live blocks", NULL);
    failures++;
  }
  return failures;
}

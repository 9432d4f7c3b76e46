/* The stratalloc adapter: one sa_heap_t through the sa_ API. */
#include "bench/workloads/allocator.h"
#include "stratalloc/stratalloc.h"

static void *heap_malloc(void *ctx, size_t size) { return sa_malloc((sa_heap_t *)ctx, size); }

static void heap_free(void *ctx, void *ptr) { sa_free((sa_heap_t *)ctx, ptr); }

static void *heap_realloc(void *ctx, void *ptr, size_t size) {
  return sa_realloc((sa_heap_t *)ctx, ptr, size);
}

sa_bench_allocator_t *sa_bench_heap_allocator(sa_bench_allocator_t *out, struct sa_heap *heap) {
  out->name = sa_strategy_name(sa_heap_strategy(heap));
  out->ctx = heap;
  out->malloc = heap_malloc;
  out->free = heap_free;
  out->realloc = heap_realloc;
  return out;
}

int sa_bench_allocator_open(sa_bench_allocator_t *out, const struct sa_strategy *strategy,
                            struct sa_heap **heap) {
  *heap = NULL;
  if (strategy == NULL) {
    *out = *sa_bench_system_allocator();
    return 0;
  }
  sa_config_t config;
  sa_config_default(&config); /* benchmarks ignore SA_CONF: runs compare */
  *heap = sa_heap_create(strategy, &config);
  if (*heap == NULL) return -1;
  sa_bench_heap_allocator(out, *heap);
  return 0;
}

/* The allocator interface every benchmark workload runs over.
 *
 * A workload never calls malloc/free itself: it calls a->malloc(a->ctx, n),
 * so one workload runs unchanged
 *   - in Google Benchmark on a fresh heap of each strategy (sa_ API), and
 *   - in a standalone driver through the libc symbols, where LD_PRELOAD picks
 *     the allocator (system, jemalloc, tcmalloc, mimalloc, libsa_<name>.so).
 *
 *   sa_bench_allocator_t heap_alloc;
 *   sa_bench_heap_allocator(&heap_alloc, heap);     // //bench/workloads:heap_allocator
 *   wl_mixed(&heap_alloc, &params);
 *   wl_mixed(sa_bench_system_allocator(), &params);  // //bench/workloads
 *
 * Both adapters add the same cost (one indirect call to a small forwarding
 * function), so times through this interface compare like for like. */
#ifndef STRATALLOC_BENCH_WORKLOADS_ALLOCATOR_H
#define STRATALLOC_BENCH_WORKLOADS_ALLOCATOR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_bench_allocator {
  const char *name; /* "system", or the strategy name of a stratalloc heap */
  void *ctx;        /* passed back to every call (the sa_heap_t*, or NULL) */
  void *(*malloc)(void *ctx, size_t size);
  void (*free)(void *ctx, void *ptr);
  void *(*realloc)(void *ctx, void *ptr, size_t size);
} sa_bench_allocator_t;

/* libc malloc/free/realloc of this process: glibc, unless something is
 * preloaded or linked in its place. Defined in //bench/workloads. */
const sa_bench_allocator_t *sa_bench_system_allocator(void);

struct sa_heap;
/* sa_malloc/sa_free/sa_realloc on heap; name is the heap's strategy name.
 * Fills *out and returns out. The heap stays owned by the caller. Defined in
 * //bench/workloads:heap_allocator (which links //common). */
sa_bench_allocator_t *sa_bench_heap_allocator(sa_bench_allocator_t *out, struct sa_heap *heap);

struct sa_strategy;
/* What a benchmark run allocates from: the system allocator (strategy NULL,
 * *heap NULL) or a fresh heap of strategy with the default config (*heap set;
 * the caller destroys it). Returns 0, or -1 if the heap cannot be created.
 * Defined in //bench/workloads:heap_allocator. */
int sa_bench_allocator_open(sa_bench_allocator_t *out, const struct sa_strategy *strategy,
                            struct sa_heap **heap);

#ifdef __cplusplus
}
#endif

#endif /* STRATALLOC_BENCH_WORKLOADS_ALLOCATOR_H */

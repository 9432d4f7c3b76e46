/* Benchmark workloads: plain C functions over an sa_bench_allocator_t, shared
 * by every driver (Google Benchmark, the standalone LD_PRELOAD driver, ...).
 *
 *   const wl_workload_t *w = wl_find("mixed");
 *   wl_params_t p;
 *   wl_params_default(w, &p);
 *   size_t ops = w->run(sa_bench_system_allocator(), &p);  // WL_FAILED on ENOMEM
 *
 * Every workload is seeded and deterministic (p->seed, own PRNG): the same
 * parameters make the same sequence of calls with the same sizes. A workload
 * frees everything it allocated before returning, so it can be called again
 * on the same heap. It returns its number of operations, where one operation
 * is one allocation call (malloc or realloc) together with its eventual free.
 *
 * Adding a workload: write wl_<name> in workloads.c (or its own file), declare
 * it here, add a row to wl_workloads[]: every driver then runs it. */
#ifndef STRATALLOC_BENCH_WORKLOADS_WORKLOADS_H
#define STRATALLOC_BENCH_WORKLOADS_WORKLOADS_H

#include <stddef.h>
#include <stdint.h>

#include "bench/workloads/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Returned by a workload when an allocation failed (all it held is freed). */
#define WL_FAILED ((size_t)-1)

typedef struct wl_params {
  uint64_t seed;   /* PRNG seed */
  size_t count;    /* allocations per call */
  size_t size;     /* malloc_free_loop, sequential: request size;
                      realloc_grow: size a buffer grows to */
  size_t min_size; /* random_sizes, mixed: sizes are min_size + r % size_span */
  size_t size_span;
  size_t slots;    /* mixed: slot table entries */
  /* Caller-owned pointer table of scratch_cap entries, at least
   * wl_scratch_slots(w, p). NULL (or too small): the workload allocates its
   * own table from libc malloc on every call, and that call is then timed. */
  void **scratch;
  size_t scratch_cap;
  /* Called once per call at the workload's peak live set (before the final
   * frees), if not NULL: where a driver samples fragmentation or RSS. Not
   * called by workloads that never hold more than one block. */
  void (*checkpoint)(void *arg);
  void *checkpoint_arg;
} wl_params_t;

typedef size_t (*wl_fn)(const sa_bench_allocator_t *a, const wl_params_t *p);

/* Which parameter a driver's sweep argument sets. */
typedef enum { WL_ARG_SIZE = 0, WL_ARG_COUNT = 1 } wl_arg_t;

#define WL_SWEEP_MAX 8

typedef struct wl_workload {
  const char *name;
  wl_fn run;
  const char *help;
  /* Pointer-table entries run needs for these parameters (0: none). */
  size_t (*scratch_slots)(const wl_params_t *p);
  wl_params_t defaults;
  wl_arg_t arg;                 /* what the sweep values set */
  size_t sweep[WL_SWEEP_MAX];   /* the standard sweep, 0-terminated */
} wl_workload_t;

/* Every workload, terminated by an entry whose name is NULL. */
extern const wl_workload_t wl_workloads[];
/* NULL if unknown. */
const wl_workload_t *wl_find(const char *name);
/* *p = w->defaults. */
void wl_params_default(const wl_workload_t *w, wl_params_t *p);
/* Sets the parameter w->arg names (size or count) to value. */
void wl_params_set_arg(const wl_workload_t *w, wl_params_t *p, size_t value);
size_t wl_scratch_slots(const wl_workload_t *w, const wl_params_t *p);

/* count x { malloc(size); write one byte; free }. */
size_t wl_malloc_free_loop(const sa_bench_allocator_t *a, const wl_params_t *p);
/* count x malloc(size) (64 by default), then free them in allocation order. */
size_t wl_sequential(const sa_bench_allocator_t *a, const wl_params_t *p);
/* count x malloc(min_size + r % size_span) (16 + r % 1024), then free them in
 * a shuffled order. */
size_t wl_random_sizes(const sa_bench_allocator_t *a, const wl_params_t *p);
/* A table of `slots` (10k) slots; count times: pick a random slot, free what
 * it holds, malloc(min_size + r % size_span) (16..1024 B) into it. Then free
 * the rest. */
size_t wl_mixed(const sa_bench_allocator_t *a, const wl_params_t *p);
/* A buffer grown by realloc in random steps of 1..64 B up to `size`, then
 * freed; repeated until count reallocs have been made. */
size_t wl_realloc_grow(const sa_bench_allocator_t *a, const wl_params_t *p);

#ifdef __cplusplus
}
#endif

#endif /* STRATALLOC_BENCH_WORKLOADS_WORKLOADS_H */

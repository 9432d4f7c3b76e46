/* The single-thread workloads run side by side: `threads` threads, each the
 * base workload on its own share (count / threads operations, its own seed
 * and its own part of the scratch table), started together.
 * It answers "is the allocator as fast with two threads as with one", where
 * the threaded/larson workloads model particular programs. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "bench/workloads/workloads.h"

#define WL_PARALLEL_MAX 64

typedef struct wl_par_ctx {
  const sa_bench_allocator_t *a;
  wl_fn base;
  wl_params_t p; /* this thread's share */
  atomic_int *start; /* 0 until every thread is up */
  size_t ops;
} wl_par_ctx_t;

static void *wl_par_main(void *arg) {
  wl_par_ctx_t *c = arg;
  while (!atomic_load_explicit(c->start, memory_order_acquire)) sched_yield();
  c->ops = c->base(c->a, &c->p);
  return NULL;
}

/* scratch_slots of the base for one thread's share. */
typedef size_t (*wl_slots_fn)(const wl_params_t *p);

static size_t wl_par_threads(const wl_params_t *p) {
  size_t n = p->threads != 0 ? p->threads : 1;
  return n > WL_PARALLEL_MAX ? WL_PARALLEL_MAX : n;
}

static wl_params_t wl_par_share(const wl_params_t *p, size_t t, size_t threads) {
  wl_params_t q = *p;
  q.count = p->count / threads;
  q.seed = p->seed + t;
  q.threads = 1;
  q.checkpoint = NULL; /* a driver's checkpoint samples one heap state, not N */
  q.scratch = NULL;
  q.scratch_cap = 0;
  return q;
}

static size_t wl_parallel(const sa_bench_allocator_t *a, const wl_params_t *p, wl_fn base,
                          wl_slots_fn slots) {
  const size_t threads = wl_par_threads(p);
  wl_par_ctx_t ctx[WL_PARALLEL_MAX];
  pthread_t tid[WL_PARALLEL_MAX];
  atomic_int start = 0;
  size_t used = 0;
  for (size_t t = 0; t < threads; t++) {
    ctx[t] = (wl_par_ctx_t){.a = a, .base = base, .p = wl_par_share(p, t, threads), .start = &start};
    size_t need = slots ? slots(&ctx[t].p) : 0;
    if (p->scratch != NULL && used + need <= p->scratch_cap) {
      ctx[t].p.scratch = p->scratch + used;
      ctx[t].p.scratch_cap = need;
      used += need;
    }
  }
  size_t started = 0;
  for (; started + 1 < threads; started++)
    if (pthread_create(&tid[started], NULL, wl_par_main, &ctx[started]) != 0) break;
  atomic_store_explicit(&start, 1, memory_order_release);
  for (size_t t = started; t < threads; t++) wl_par_main(&ctx[t]); /* the rest run here */
  for (size_t t = 0; t < started; t++) pthread_join(tid[t], NULL);
  size_t total = 0;
  for (size_t t = 0; t < threads; t++) {
    if (ctx[t].ops == WL_FAILED) return WL_FAILED;
    total += ctx[t].ops;
  }
  return total;
}

static size_t wl_count_slots(const wl_params_t *p) { return p->count; }
static size_t wl_table_slots(const wl_params_t *p) { return p->slots; }

size_t wl_malloc_free_loop_mt(const sa_bench_allocator_t *a, const wl_params_t *p) {
  return wl_parallel(a, p, wl_malloc_free_loop, NULL);
}
size_t wl_sequential_mt(const sa_bench_allocator_t *a, const wl_params_t *p) {
  return wl_parallel(a, p, wl_sequential, wl_count_slots);
}
size_t wl_random_sizes_mt(const sa_bench_allocator_t *a, const wl_params_t *p) {
  return wl_parallel(a, p, wl_random_sizes, wl_count_slots);
}
size_t wl_mixed_mt(const sa_bench_allocator_t *a, const wl_params_t *p) {
  return wl_parallel(a, p, wl_mixed, wl_table_slots);
}

/* The multi-threaded workloads: threaded (each thread its own mix),
 * producer_consumer (frees on another thread) and larson (a server whose
 * tables move between threads). Each thread's calls are deterministic for
 * its seed (seed + thread index); the interleaving is the scheduler's. */
#define _GNU_SOURCE /* pthread_barrier_t in -std=c11 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/workloads/internal.h"
#include "bench/workloads/rng.h"
#include "bench/workloads/workloads.h"

typedef struct wl_thread_ctx {
  const sa_bench_allocator_t *a;
  const wl_params_t *p;
  size_t index;
  void **table; /* this thread's part of the scratch table */
  size_t ops;   /* allocations made, or WL_FAILED */
  void *shared; /* workload-specific */
} wl_thread_ctx_t;

/* Runs fn on n contexts, each on its own thread (the calling thread takes
 * none); returns the sum of ops, or WL_FAILED if any failed or a thread could
 * not be started. */
static size_t wl_run_threads(wl_thread_ctx_t *ctx, size_t n, void *(*fn)(void *)) {
  pthread_t tid[WL_THREADS_MAX];
  size_t started = 0, total = 0;
  int failed = 0;
  for (; started < n; started++)
    if (pthread_create(&tid[started], NULL, fn, &ctx[started]) != 0) break;
  for (size_t i = started; i < n; i++) fn(&ctx[i]); /* could not start: run here */
  for (size_t i = 0; i < started; i++) pthread_join(tid[i], NULL);
  for (size_t i = 0; i < n; i++) {
    if (ctx[i].ops == WL_FAILED) failed = 1;
    else total += ctx[i].ops;
  }
  return failed ? WL_FAILED : total;
}


/* ---- threaded ------------------------------------------------------------- */

static void *wl_threaded_main(void *arg) {
  wl_thread_ctx_t *c = arg;
  const sa_bench_allocator_t *a = c->a;
  const wl_params_t *p = c->p;
  const size_t threads = wl_threads_of(p);
  const size_t slots = p->slots != 0 ? p->slots : 1;
  const size_t count = p->count / threads;
  wl_rng_t rng;
  wl_rng_seed(&rng, p->seed + c->index);
  memset(c->table, 0, slots * sizeof(void *));
  c->ops = count;
  for (size_t i = 0; i < count; i++) {
    size_t slot = (size_t)wl_rng_below(&rng, slots);
    if (c->table[slot] != NULL) a->free(a->ctx, c->table[slot]);
    void *ptr = a->malloc(a->ctx, p->min_size + wl_rng_below(&rng, p->size_span));
    c->table[slot] = ptr;
    if (ptr == NULL) {
      c->ops = WL_FAILED;
      break;
    }
    wl_touch_byte(ptr, i);
  }
  if (c->index == 0 && c->ops != WL_FAILED && p->checkpoint != NULL) p->checkpoint(p->checkpoint_arg);
  for (size_t i = 0; i < slots; i++)
    if (c->table[i] != NULL) a->free(a->ctx, c->table[i]);
  return NULL;
}

size_t wl_threaded(const sa_bench_allocator_t *a, const wl_params_t *p) {
  const size_t threads = wl_threads_of(p);
  const size_t slots = p->slots != 0 ? p->slots : 1;
  int owned;
  void **table = wl_scratch_get(p, threads * slots, &owned);
  if (table == NULL) return WL_FAILED;
  wl_thread_ctx_t ctx[WL_THREADS_MAX];
  for (size_t t = 0; t < threads; t++)
    ctx[t] = (wl_thread_ctx_t){.a = a, .p = p, .index = t, .table = table + t * slots};
  size_t ops = wl_run_threads(ctx, threads, wl_threaded_main);
  wl_scratch_put(table, owned);
  return ops;
}

/* ---- producer_consumer ---------------------------------------------------- */

typedef struct wl_ring {
  _Atomic size_t head; /* next slot the producer writes */
  char pad1[64 - sizeof(size_t)];
  _Atomic size_t tail; /* next slot the consumer reads */
  char pad2[64 - sizeof(size_t)];
  _Atomic int failed;
  void **slots;
  size_t cap;
  size_t count; /* blocks this pair passes */
} wl_ring_t;

static inline void wl_backoff(unsigned *spins) {
  if (++*spins > 64) {
    sched_yield();
    *spins = 0;
  }
}

static void *wl_producer_main(void *arg) {
  wl_thread_ctx_t *c = arg;
  wl_ring_t *r = c->shared;
  const sa_bench_allocator_t *a = c->a;
  const wl_params_t *p = c->p;
  wl_rng_t rng;
  wl_rng_seed(&rng, p->seed + c->index);
  c->ops = r->count;
  for (size_t i = 0; i < r->count; i++) {
    void *ptr = a->malloc(a->ctx, p->min_size + wl_rng_below(&rng, p->size_span));
    if (ptr == NULL) {
      atomic_store(&r->failed, 1);
      c->ops = WL_FAILED;
    } else {
      wl_touch_byte(ptr, i);
    }
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    unsigned spins = 0;
    while (head - atomic_load_explicit(&r->tail, memory_order_acquire) >= r->cap) wl_backoff(&spins);
    r->slots[head % r->cap] = ptr; /* NULL passes too: the consumer counts it */
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
  }
  return NULL;
}

static void *wl_consumer_main(void *arg) {
  wl_thread_ctx_t *c = arg;
  wl_ring_t *r = c->shared;
  const sa_bench_allocator_t *a = c->a;
  c->ops = 0; /* the producer counts the operations */
  for (size_t i = 0; i < r->count; i++) {
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    unsigned spins = 0;
    while (atomic_load_explicit(&r->head, memory_order_acquire) == tail) wl_backoff(&spins);
    void *ptr = r->slots[tail % r->cap];
    atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
    if (ptr != NULL) a->free(a->ctx, ptr);
    if (i == r->count / 2 && c->index == 1 && c->p->checkpoint != NULL)
      c->p->checkpoint(c->p->checkpoint_arg);
  }
  return NULL;
}

size_t wl_producer_consumer(const sa_bench_allocator_t *a, const wl_params_t *p) {
  size_t pairs = wl_threads_of(p) / 2;
  if (pairs == 0) pairs = 1;
  const size_t cap = p->slots != 0 ? p->slots : 1;
  int owned;
  void **table = wl_scratch_get(p, pairs * cap, &owned);
  if (table == NULL) return WL_FAILED;
  static wl_ring_t rings[WL_THREADS_MAX / 2];
  wl_thread_ctx_t ctx[WL_THREADS_MAX];
  for (size_t i = 0; i < pairs; i++) {
    wl_ring_t *r = &rings[i];
    atomic_store(&r->head, 0);
    atomic_store(&r->tail, 0);
    atomic_store(&r->failed, 0);
    r->slots = table + i * cap;
    r->cap = cap;
    r->count = p->count / pairs;
    ctx[2 * i] = (wl_thread_ctx_t){.a = a, .p = p, .index = 2 * i, .shared = r};
    ctx[2 * i + 1] = (wl_thread_ctx_t){.a = a, .p = p, .index = 2 * i + 1, .shared = r};
  }
  /* Producers and consumers must run concurrently: threads only. */
  pthread_t tid[WL_THREADS_MAX];
  size_t started = 0;
  for (; started < 2 * pairs; started++) {
    void *(*fn)(void *) = (started & 1) ? wl_consumer_main : wl_producer_main;
    if (pthread_create(&tid[started], NULL, fn, &ctx[started]) != 0) break;
  }
  if (started % 2 == 1) { /* a producer without its consumer: consume here */
    wl_consumer_main(&ctx[started]);
    started--;
    pthread_join(tid[started], NULL);
  }
  for (size_t i = 0; i < started; i++) pthread_join(tid[i], NULL);
  size_t ops = 0;
  int failed = started < 2 * pairs;
  for (size_t i = 0; i < started; i += 2) {
    if (ctx[i].ops == WL_FAILED) failed = 1;
    else ops += ctx[i].ops;
  }
  wl_scratch_put(table, owned);
  return failed ? WL_FAILED : ops;
}

/* ---- larson --------------------------------------------------------------- */

typedef struct wl_larson_shared {
  pthread_barrier_t barrier;
  void **tables; /* threads tables of slots entries */
  size_t threads, slots, rounds, per_round;
} wl_larson_shared_t;

static void *wl_larson_main(void *arg) {
  wl_thread_ctx_t *c = arg;
  wl_larson_shared_t *s = c->shared;
  const sa_bench_allocator_t *a = c->a;
  const wl_params_t *p = c->p;
  wl_rng_t rng;
  wl_rng_seed(&rng, p->seed + c->index);
  size_t ops = 0;
  int failed = 0;
  void **mine = s->tables + c->index * s->slots;
  for (size_t i = 0; i < s->slots; i++) { /* fill this thread's table */
    mine[i] = a->malloc(a->ctx, p->min_size + wl_rng_below(&rng, p->size_span));
    if (mine[i] == NULL) failed = 1;
    else wl_touch_byte(mine[i], i);
    ops++;
  }
  for (size_t round = 0; round < s->rounds; round++) {
    pthread_barrier_wait(&s->barrier);
    /* Round r works on the table another thread filled or last worked on. */
    void **table = s->tables + ((c->index + round) % s->threads) * s->slots;
    for (size_t i = 0; i < s->per_round; i++) {
      size_t slot = (size_t)wl_rng_below(&rng, s->slots);
      if (table[slot] != NULL) a->free(a->ctx, table[slot]);
      table[slot] = a->malloc(a->ctx, p->min_size + wl_rng_below(&rng, p->size_span));
      if (table[slot] == NULL) failed = 1;
      else wl_touch_byte(table[slot], i);
      ops++;
    }
  }
  pthread_barrier_wait(&s->barrier);
  if (c->index == 0 && p->checkpoint != NULL) p->checkpoint(p->checkpoint_arg);
  pthread_barrier_wait(&s->barrier);
  /* Free the table of the next thread: again not (only) what this one made. */
  void **last = s->tables + ((c->index + 1) % s->threads) * s->slots;
  for (size_t i = 0; i < s->slots; i++)
    if (last[i] != NULL) a->free(a->ctx, last[i]);
  c->ops = failed ? WL_FAILED : ops;
  return NULL;
}

size_t wl_larson(const sa_bench_allocator_t *a, const wl_params_t *p) {
  wl_larson_shared_t s;
  s.threads = wl_threads_of(p);
  s.slots = p->slots != 0 ? p->slots : 1;
  s.rounds = p->phases != 0 ? p->phases : 1;
  s.per_round = p->count / (s.threads * s.rounds);
  int owned;
  s.tables = wl_scratch_get(p, s.threads * s.slots, &owned);
  if (s.tables == NULL) return WL_FAILED;
  if (pthread_barrier_init(&s.barrier, NULL, (unsigned)s.threads) != 0) {
    wl_scratch_put(s.tables, owned);
    return WL_FAILED;
  }
  wl_thread_ctx_t ctx[WL_THREADS_MAX];
  for (size_t t = 0; t < s.threads; t++)
    ctx[t] = (wl_thread_ctx_t){.a = a, .p = p, .index = t, .shared = &s};
  /* All threads must reach the barriers: threads only, no inline fallback. */
  pthread_t tid[WL_THREADS_MAX];
  size_t started = 0;
  for (; started < s.threads; started++)
    if (pthread_create(&tid[started], NULL, wl_larson_main, &ctx[started]) != 0) abort();
  for (size_t i = 0; i < started; i++) pthread_join(tid[i], NULL);
  pthread_barrier_destroy(&s.barrier);
  size_t ops = 0;
  for (size_t t = 0; t < s.threads; t++) {
    if (ctx[t].ops == WL_FAILED) {
      ops = WL_FAILED;
      break;
    }
    ops += ctx[t].ops;
  }
  wl_scratch_put(s.tables, owned);
  return ops;
}

/* Helpers shared by the workload files: touching a block, the caller's
 * scratch table, the checkpoint, the thread count, and starting threads
 * together. Everything is static inline: no symbol leaves a file. */
#ifndef STRATALLOC_BENCH_WORKLOADS_INTERNAL_H
#define STRATALLOC_BENCH_WORKLOADS_INTERNAL_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

#include "bench/workloads/workloads.h"

/* Threads a workload of these files starts at most. */
#define WL_THREADS_MAX 256

static inline size_t wl_threads_of(const wl_params_t *p) {
  if (p->threads == 0) return 1;
  return p->threads > WL_THREADS_MAX ? WL_THREADS_MAX : p->threads;
}

/* One byte written, so the block is really handed out and touched. */
static inline void wl_touch_byte(void *ptr, size_t i) { *(volatile unsigned char *)ptr = (unsigned char)i; }

static inline void wl_call_checkpoint(const wl_params_t *p) {
  if (p->checkpoint != NULL) p->checkpoint(p->checkpoint_arg);
}

/* The caller's pointer table when it holds n entries, else one from libc
 * (*owned = 1: wl_scratch_put frees it). */
static inline void **wl_scratch_get(const wl_params_t *p, size_t n, int *owned) {
  *owned = 0;
  if (n == 0) n = 1;
  if (p->scratch != NULL && p->scratch_cap >= n) return p->scratch;
  *owned = 1;
  return (void **)malloc(n * sizeof(void *));
}

static inline void wl_scratch_put(void **table, int owned) {
  if (owned) free(table);
}

/* ---- starting threads together --------------------------------------------
 * wl_gang_run(ctx, n, size, fn): fn(ctx + i * size) on n threads, released
 * together once every thread is created (so no thread runs its share alone
 * while the others start). A thread that cannot be created runs its share on
 * the calling thread after the others: only for workloads whose threads do
 * not wait for each other. Returns how many ran on their own thread. */

typedef struct wl_gang_arg {
  void *ctx;
  void *(*fn)(void *);
  atomic_int *go;
} wl_gang_arg_t;

static inline void *wl_gang_main(void *arg) {
  wl_gang_arg_t *g = arg;
  while (!atomic_load_explicit(g->go, memory_order_acquire)) sched_yield();
  return g->fn(g->ctx);
}

static inline size_t wl_gang_run(void *ctx, size_t n, size_t size, void *(*fn)(void *)) {
  pthread_t tid[WL_THREADS_MAX];
  wl_gang_arg_t args[WL_THREADS_MAX];
  atomic_int go = 0;
  size_t started = 0;
  if (n > WL_THREADS_MAX) n = WL_THREADS_MAX;
  for (; started < n; started++) {
    args[started] = (wl_gang_arg_t){.ctx = (char *)ctx + started * size, .fn = fn, .go = &go};
    if (pthread_create(&tid[started], NULL, wl_gang_main, &args[started]) != 0) break;
  }
  atomic_store_explicit(&go, 1, memory_order_release);
  for (size_t i = started; i < n; i++) fn((char *)ctx + i * size);
  for (size_t i = 0; i < started; i++) pthread_join(tid[i], NULL);
  return started;
}

#endif /* STRATALLOC_BENCH_WORKLOADS_INTERNAL_H */

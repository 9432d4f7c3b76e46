/* False sharing, after Hoard's cache-thrash and cache-scratch benchmarks
 * (Berger et al., "Hoard: A Scalable Memory Allocator for Multithreaded
 * Applications", ASPLOS 2000).
 *
 * cache_thrash (active false sharing): every thread allocates a small object,
 * writes each of its bytes `repeat` times, frees it, and again. An allocator
 * that hands bytes of one cache line to different threads makes every one of
 * those writes move the line between cores.
 *
 * cache_scratch (passive false sharing): the main thread allocates one small
 * object per thread (neighbours in memory under most allocators), gives one
 * to each thread, which frees it and then runs the cache_thrash loop. An
 * allocator that lets the freeing thread reuse the block it was given (a
 * per-thread cache of freed blocks) hands the neighbouring bytes to
 * different threads for the whole run.
 *
 * The time is the writes': a few ns each without sharing, ~100 ns with. */
#include <stdint.h>

#include "bench/workloads/internal.h"
#include "bench/workloads/workloads.h"

typedef struct wl_fs_ctx {
  const sa_bench_allocator_t *a;
  const wl_params_t *p;
  size_t objects; /* this thread's share of count */
  void *given;    /* cache_scratch: the object the main thread allocated */
  size_t ops;     /* objects allocated, or WL_FAILED */
  unsigned sink;  /* the values read back, so no write is dead */
} wl_fs_ctx_t;

static void *wl_fs_main(void *arg) {
  wl_fs_ctx_t *c = arg;
  const sa_bench_allocator_t *a = c->a;
  const size_t size = c->p->size != 0 ? c->p->size : 1;
  const size_t repeat = c->p->repeat != 0 ? c->p->repeat : 1;
  if (c->given != NULL) a->free(a->ctx, c->given); /* passive: free what we were given */
  unsigned sink = 0;
  c->ops = c->objects;
  for (size_t i = 0; i < c->objects; i++) {
    volatile unsigned char *obj = a->malloc(a->ctx, size);
    if (obj == NULL) {
      c->ops = WL_FAILED;
      break;
    }
    for (size_t r = 0; r < repeat; r++)
      for (size_t k = 0; k < size; k++) {
        obj[k] = (unsigned char)(k + r);
        sink += obj[k];
      }
    a->free(a->ctx, (void *)obj);
  }
  c->sink = sink;
  return NULL;
}

/* Runs the threads (given[t] handed to thread t, or none) and sums the ops;
 * count is split so that the shares add up to it. */
static size_t wl_fs_run(const sa_bench_allocator_t *a, const wl_params_t *p, void **given) {
  const size_t threads = wl_threads_of(p);
  wl_fs_ctx_t ctx[WL_THREADS_MAX];
  for (size_t t = 0; t < threads; t++)
    ctx[t] = (wl_fs_ctx_t){.a = a,
                           .p = p,
                           .objects = p->count / threads + (t < p->count % threads),
                           .given = given != NULL ? given[t] : NULL};
  wl_gang_run(ctx, threads, sizeof ctx[0], wl_fs_main);
  size_t ops = 0;
  for (size_t t = 0; t < threads; t++) {
    if (ctx[t].ops == WL_FAILED) return WL_FAILED;
    ops += ctx[t].ops;
  }
  return ops;
}

size_t wl_cache_thrash(const sa_bench_allocator_t *a, const wl_params_t *p) { return wl_fs_run(a, p, NULL); }

size_t wl_cache_scratch(const sa_bench_allocator_t *a, const wl_params_t *p) {
  const size_t threads = wl_threads_of(p);
  const size_t size = p->size != 0 ? p->size : 1;
  void *given[WL_THREADS_MAX];
  for (size_t t = 0; t < threads; t++) { /* one after the other: neighbours */
    given[t] = a->malloc(a->ctx, size);
    if (given[t] == NULL) {
      for (size_t i = 0; i < t; i++) a->free(a->ctx, given[i]);
      return WL_FAILED;
    }
    wl_touch_byte(given[t], t);
  }
  wl_call_checkpoint(p); /* every thread's object live */
  size_t ops = wl_fs_run(a, p, given); /* the threads free them */
  return ops == WL_FAILED ? WL_FAILED : ops + threads;
}

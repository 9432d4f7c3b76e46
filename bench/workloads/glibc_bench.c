/* The patterns of glibc's malloc benchtests (benchtests/bench-malloc-simple.c
 * and bench-malloc-thread.c), as fixed amounts of work instead of fixed run
 * times.
 *
 * glibc_simple: rounds of "allocate n blocks of one size, then free them all"
 * for n = slots/64, slots/16, slots/4, slots (25, 100, 400, 1600), each n a
 * quarter of the count: what glibc tracks its tcache and fastbins with.
 *
 * glibc_thread: every thread its own working set of `slots` (1024) slots;
 * each operation frees a random slot and allocates into it a block whose
 * size is drawn from an inverse-square distribution over
 * [min_size, min_size + size_span] (4 B .. 32 KiB, so most blocks are tiny
 * and a few are large), all threads at once. */
#include <stdint.h>
#include <string.h>

#include "bench/workloads/internal.h"
#include "bench/workloads/rng.h"
#include "bench/workloads/workloads.h"

/* ---- glibc_simple ---------------------------------------------------------- */

#define WL_SIMPLE_STEPS 4

/* Batch length of step k (0..3): slots >> 2 * (3 - k), at least 1. */
static size_t wl_simple_batch(size_t slots, size_t k) {
  size_t n = slots >> (2 * (WL_SIMPLE_STEPS - 1 - k));
  return n != 0 ? n : 1;
}

/* Blocks step k allocates: a quarter of count (the first steps take the
 * remainder), so the steps add up to count. */
static size_t wl_simple_share(size_t count, size_t k) {
  return count / WL_SIMPLE_STEPS + (k < count % WL_SIMPLE_STEPS);
}

size_t wl_glibc_simple(const sa_bench_allocator_t *a, const wl_params_t *p) {
  const size_t slots = p->slots != 0 ? p->slots : 1;
  int owned;
  void **table = wl_scratch_get(p, slots, &owned);
  if (table == NULL) return WL_FAILED;
  /* The longest round of the call is its peak live set: checkpointed once. */
  size_t peak = 0;
  for (size_t k = 0; k < WL_SIMPLE_STEPS; k++) {
    size_t n = wl_simple_batch(slots, k), share = wl_simple_share(p->count, k);
    size_t longest = share >= n ? n : share;
    if (longest > peak) peak = longest;
  }
  int checkpointed = 0;
  size_t done = 0;
  for (size_t k = 0; k < WL_SIMPLE_STEPS; k++) {
    const size_t n = wl_simple_batch(slots, k);
    for (size_t left = wl_simple_share(p->count, k); left > 0;) {
      const size_t round = left < n ? left : n;
      for (size_t i = 0; i < round; i++) {
        void *ptr = a->malloc(a->ctx, p->size);
        if (ptr == NULL) {
          for (size_t j = 0; j < i; j++) a->free(a->ctx, table[j]);
          wl_scratch_put(table, owned);
          return WL_FAILED;
        }
        wl_touch_byte(ptr, i);
        table[i] = ptr;
      }
      if (!checkpointed && round == peak) {
        wl_call_checkpoint(p);
        checkpointed = 1;
      }
      for (size_t i = 0; i < round; i++) a->free(a->ctx, table[i]);
      left -= round;
      done += round;
    }
  }
  wl_scratch_put(table, owned);
  return done;
}

/* ---- glibc_thread ---------------------------------------------------------- */

typedef struct wl_gt_ctx {
  const sa_bench_allocator_t *a;
  const wl_params_t *p;
  size_t index;
  void **set; /* this thread's working set (slots entries) */
  size_t ops; /* operations, or WL_FAILED */
} wl_gt_ctx_t;

/* Inverse-square distribution on [lo, hi] (density ~ 1/x^2), by inverting its
 * distribution function: x = 1 / (1/lo - u (1/lo - 1/hi)), u uniform in
 * [0, 1). IEEE doubles: the same sizes on every machine. */
static size_t wl_inverse_square(wl_rng_t *rng, double inv_lo, double inv_hi, size_t lo, size_t hi) {
  double u = (double)(wl_rng_next(rng) >> 11) * 0x1p-53;
  size_t x = (size_t)(1.0 / (inv_lo - u * (inv_lo - inv_hi)));
  return x < lo ? lo : x > hi ? hi : x;
}

static void *wl_gt_main(void *arg) {
  wl_gt_ctx_t *c = arg;
  const sa_bench_allocator_t *a = c->a;
  const wl_params_t *p = c->p;
  const size_t threads = wl_threads_of(p);
  const size_t slots = p->slots != 0 ? p->slots : 1;
  const size_t ops = p->count / threads + (c->index < p->count % threads);
  const size_t lo = p->min_size != 0 ? p->min_size : 1, hi = lo + p->size_span;
  const double inv_lo = 1.0 / (double)lo, inv_hi = 1.0 / (double)hi;
  wl_rng_t rng;
  wl_rng_seed(&rng, p->seed + c->index);
  void **set = c->set;
  memset(set, 0, slots * sizeof(void *));
  c->ops = ops;
  for (size_t i = 0; i < ops; i++) {
    size_t slot = (size_t)wl_rng_below(&rng, slots);
    size_t size = wl_inverse_square(&rng, inv_lo, inv_hi, lo, hi);
    if (set[slot] != NULL) a->free(a->ctx, set[slot]);
    set[slot] = a->malloc(a->ctx, size);
    if (set[slot] == NULL) {
      c->ops = WL_FAILED;
      break;
    }
    wl_touch_byte(set[slot], i);
  }
  if (c->index == 0 && c->ops != WL_FAILED) wl_call_checkpoint(p);
  for (size_t i = 0; i < slots; i++)
    if (set[i] != NULL) a->free(a->ctx, set[i]);
  return NULL;
}

size_t wl_glibc_thread(const sa_bench_allocator_t *a, const wl_params_t *p) {
  const size_t threads = wl_threads_of(p);
  const size_t slots = p->slots != 0 ? p->slots : 1;
  int owned;
  void **table = wl_scratch_get(p, threads * slots, &owned);
  if (table == NULL) return WL_FAILED;
  wl_gt_ctx_t ctx[WL_THREADS_MAX];
  for (size_t t = 0; t < threads; t++)
    ctx[t] = (wl_gt_ctx_t){.a = a, .p = p, .index = t, .set = table + t * slots};
  wl_gang_run(ctx, threads, sizeof ctx[0], wl_gt_main);
  wl_scratch_put(table, owned);
  size_t ops = 0;
  for (size_t t = 0; t < threads; t++) {
    if (ctx[t].ops == WL_FAILED) return WL_FAILED;
    ops += ctx[t].ops;
  }
  return ops;
}

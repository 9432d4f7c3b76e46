/* The workloads and their table. Each call is deterministic for its params
 * and frees everything it allocated before returning. */
#include "bench/workloads/workloads.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/workloads/internal.h"
#include "bench/workloads/rng.h"

/* ---- helpers -------------------------------------------------------------- */

static size_t wl_free_all(const sa_bench_allocator_t *a, void **table, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (table[i] != NULL) a->free(a->ctx, table[i]);
  return n;
}

/* ---- workloads ------------------------------------------------------------ */

size_t wl_malloc_free_loop(const sa_bench_allocator_t *a, const wl_params_t *p) {
  void *(*const do_malloc)(void *, size_t) = a->malloc;
  void (*const do_free)(void *, void *) = a->free;
  void *const ctx = a->ctx;
  const size_t size = p->size;
  for (size_t i = 0; i < p->count; i++) {
    void *ptr = do_malloc(ctx, size);
    if (ptr == NULL) return WL_FAILED;
    wl_touch_byte(ptr, i);
    do_free(ctx, ptr);
  }
  return p->count;
}

size_t wl_sequential(const sa_bench_allocator_t *a, const wl_params_t *p) {
  int owned;
  void **table = wl_scratch_get(p, p->count, &owned);
  if (table == NULL) return WL_FAILED;
  for (size_t i = 0; i < p->count; i++) {
    void *ptr = a->malloc(a->ctx, p->size);
    if (ptr == NULL) {
      wl_free_all(a, table, i);
      wl_scratch_put(table, owned);
      return WL_FAILED;
    }
    wl_touch_byte(ptr, i);
    table[i] = ptr;
  }
  wl_call_checkpoint(p);
  wl_free_all(a, table, p->count);
  wl_scratch_put(table, owned);
  return p->count;
}

size_t wl_random_sizes(const sa_bench_allocator_t *a, const wl_params_t *p) {
  int owned;
  void **table = wl_scratch_get(p, p->count, &owned);
  if (table == NULL) return WL_FAILED;
  wl_rng_t rng;
  wl_rng_seed(&rng, p->seed);
  for (size_t i = 0; i < p->count; i++) {
    void *ptr = a->malloc(a->ctx, p->min_size + wl_rng_below(&rng, p->size_span));
    if (ptr == NULL) {
      wl_free_all(a, table, i);
      wl_scratch_put(table, owned);
      return WL_FAILED;
    }
    wl_touch_byte(ptr, i);
    table[i] = ptr;
  }
  /* Fisher-Yates: free in a shuffled order. */
  for (size_t i = p->count; i > 1; i--) {
    size_t j = (size_t)wl_rng_below(&rng, i);
    void *t = table[i - 1];
    table[i - 1] = table[j];
    table[j] = t;
  }
  wl_call_checkpoint(p);
  wl_free_all(a, table, p->count);
  wl_scratch_put(table, owned);
  return p->count;
}

size_t wl_mixed(const sa_bench_allocator_t *a, const wl_params_t *p) {
  int owned;
  void **table = wl_scratch_get(p, p->slots, &owned);
  if (table == NULL) return WL_FAILED;
  memset(table, 0, p->slots * sizeof(void *));
  wl_rng_t rng;
  wl_rng_seed(&rng, p->seed);
  size_t result = p->count;
  for (size_t i = 0; i < p->count; i++) {
    size_t slot = (size_t)wl_rng_below(&rng, p->slots);
    if (table[slot] != NULL) a->free(a->ctx, table[slot]);
    void *ptr = a->malloc(a->ctx, p->min_size + wl_rng_below(&rng, p->size_span));
    table[slot] = ptr;
    if (ptr == NULL) {
      result = WL_FAILED;
      break;
    }
    wl_touch_byte(ptr, i);
  }
  if (result != WL_FAILED) wl_call_checkpoint(p);
  wl_free_all(a, table, p->slots);
  wl_scratch_put(table, owned);
  return result;
}

size_t wl_realloc_grow(const sa_bench_allocator_t *a, const wl_params_t *p) {
  wl_rng_t rng;
  wl_rng_seed(&rng, p->seed);
  size_t ops = 0;
  while (ops < p->count) {
    void *buf = NULL;
    size_t len = 0;
    while (len < p->size && ops < p->count) {
      len += 1 + (size_t)wl_rng_below(&rng, 64);
      void *grown = a->realloc(a->ctx, buf, len);
      if (grown == NULL) {
        a->free(a->ctx, buf);
        return WL_FAILED;
      }
      buf = grown;
      wl_touch_byte((unsigned char *)buf + len - 1, ops);
      ops++;
    }
    a->free(a->ctx, buf);
  }
  return ops;
}

size_t wl_realloc_double(const sa_bench_allocator_t *a, const wl_params_t *p) {
  /* table[i]: vector i's buffer; table[slots + i]: its capacity. */
  const size_t n = p->slots != 0 ? p->slots : 1;
  int owned;
  void **table = wl_scratch_get(p, 2 * n, &owned);
  if (table == NULL) return WL_FAILED;
  memset(table, 0, 2 * n * sizeof(void *));
  wl_rng_t rng;
  wl_rng_seed(&rng, p->seed);
  size_t result = p->count, live_full = 0;
  for (size_t i = 0; i < p->count; i++) {
    size_t v = (size_t)wl_rng_below(&rng, n);
    size_t cap = (size_t)(uintptr_t)table[n + v];
    if (cap >= p->size) { /* full: release it and start a new vector */
      a->free(a->ctx, table[v]);
      table[v] = NULL;
      cap = 0;
      if (++live_full == n) wl_call_checkpoint(p); /* about every vector near its top */
    }
    cap = cap == 0 ? 16 : 2 * cap;
    void *grown = a->realloc(a->ctx, table[v], cap);
    if (grown == NULL) {
      result = WL_FAILED;
      break;
    }
    table[v] = grown;
    table[n + v] = (void *)(uintptr_t)cap;
    wl_touch_byte((unsigned char *)grown + cap - 1, i);
  }
  wl_free_all(a, table, n);
  wl_scratch_put(table, owned);
  return result;
}

size_t wl_bursty(const sa_bench_allocator_t *a, const wl_params_t *p) {
  const size_t burst_max = p->slots != 0 ? p->slots : 1;
  int owned;
  void **table = wl_scratch_get(p, burst_max, &owned);
  if (table == NULL) return WL_FAILED;
  wl_rng_t rng;
  wl_rng_seed(&rng, p->seed);
  size_t done = 0, bursts = 0;
  while (done < p->count) {
    /* The first burst is the largest: the peak live set, checkpointed. */
    size_t burst = bursts == 0 ? burst_max : 1 + (size_t)wl_rng_below(&rng, burst_max);
    if (burst > p->count - done) burst = p->count - done;
    for (size_t i = 0; i < burst; i++) {
      void *ptr = a->malloc(a->ctx, p->min_size + wl_rng_below(&rng, p->size_span));
      if (ptr == NULL) {
        wl_free_all(a, table, i);
        wl_scratch_put(table, owned);
        return WL_FAILED;
      }
      wl_touch_byte(ptr, i);
      table[i] = ptr;
    }
    if (bursts == 0) wl_call_checkpoint(p);
    if (bursts & 1) {
      for (size_t i = burst; i > 0; i--) a->free(a->ctx, table[i - 1]);
    } else {
      wl_free_all(a, table, burst);
    }
    done += burst;
    bursts++;
  }
  wl_scratch_put(table, owned);
  return p->count;
}

size_t wl_long_lived(const sa_bench_allocator_t *a, const wl_params_t *p) {
  int owned;
  void **table = wl_scratch_get(p, p->count, &owned);
  if (table == NULL) return WL_FAILED;
  memset(table, 0, p->count * sizeof(void *));
  wl_rng_t rng;
  wl_rng_seed(&rng, p->seed);
  const size_t phases = p->phases != 0 ? p->phases : 1;
  const size_t per_phase = p->count / phases;
  size_t result = phases * per_phase;
  for (size_t ph = 0; ph < phases && result != WL_FAILED; ph++) {
    void **block = table + ph * per_phase;
    for (size_t i = 0; i < per_phase; i++) {
      void *ptr = a->malloc(a->ctx, p->min_size + wl_rng_below(&rng, p->size_span));
      if (ptr == NULL) {
        result = WL_FAILED;
        break;
      }
      wl_touch_byte(ptr, i);
      block[i] = ptr;
    }
    if (result == WL_FAILED) break;
    if (ph == phases - 1) wl_call_checkpoint(p);
    for (size_t i = 0; i < per_phase; i++) {
      if (wl_rng_below(&rng, 100) >= p->survivors_pct) {
        a->free(a->ctx, block[i]);
        block[i] = NULL;
      }
    }
  }
  wl_free_all(a, table, p->count);
  wl_scratch_put(table, owned);
  return result;
}

size_t wl_fragmentation(const sa_bench_allocator_t *a, const wl_params_t *p) {
  int owned;
  void **table = wl_scratch_get(p, p->count, &owned);
  if (table == NULL) return WL_FAILED;
  memset(table, 0, p->count * sizeof(void *));
  wl_rng_t rng;
  wl_rng_seed(&rng, p->seed);
  const size_t phases = p->phases != 0 ? p->phases : 1;
  const size_t m = p->count / (3 * phases); /* pairs per phase */
  size_t used = 0, result = 3 * m * phases;
  for (size_t ph = 0; ph < phases && result != WL_FAILED; ph++) {
    const size_t hole = p->min_size * (ph + 1); /* holes grow: never refilled */
    void **pairs = table + used;
    for (size_t i = 0; i < 2 * m; i++) { /* short, long, short, long, ... */
      size_t size = (i & 1) ? 16 + (size_t)wl_rng_below(&rng, 48) : hole;
      void *ptr = a->malloc(a->ctx, size);
      if (ptr == NULL) {
        result = WL_FAILED;
        break;
      }
      wl_touch_byte(ptr, i);
      pairs[i] = ptr;
    }
    if (result == WL_FAILED) break;
    for (size_t i = 0; i < 2 * m; i += 2) { /* punch the holes */
      a->free(a->ctx, pairs[i]);
      pairs[i] = NULL;
    }
    void **bigger = pairs + 2 * m;
    for (size_t i = 0; i < m; i++) { /* a little too large for any hole */
      void *ptr = a->malloc(a->ctx, hole + 16 + (size_t)wl_rng_below(&rng, hole));
      if (ptr == NULL) {
        result = WL_FAILED;
        break;
      }
      wl_touch_byte(ptr, i);
      bigger[i] = ptr;
    }
    used += 3 * m;
  }
  if (result != WL_FAILED) wl_call_checkpoint(p);
  wl_free_all(a, table, p->count);
  wl_scratch_put(table, owned);
  return result;
}

/* ---- the table ------------------------------------------------------------ */

static size_t wl_scratch_count(const wl_params_t *p) { return p->count; }
static size_t wl_scratch_slots_field(const wl_params_t *p) { return p->slots; }
static size_t wl_scratch_2slots(const wl_params_t *p) { return 2 * p->slots; }
static size_t wl_scratch_thread_slots(const wl_params_t *p) {
  return p->slots * (p->threads != 0 ? p->threads : 1);
}
static size_t wl_scratch_pair_slots(const wl_params_t *p) {
  size_t pairs = p->threads / 2;
  return p->slots * (pairs != 0 ? pairs : 1);
}

#define WL_SEED 0x5EED5A11C0FFEEull

const wl_workload_t wl_workloads[] = {
    {
        .name = "malloc_free_loop",
        .run = wl_malloc_free_loop,
        .help = "count x {malloc(size); write 1 byte; free}",
        .scratch_slots = NULL,
        .defaults = {.seed = WL_SEED, .count = 1000, .size = 32},
        .arg = WL_ARG_SIZE,
        .sweep = {16, 32, 64, 256, 1024, 4096, 32768, 0},
        .flags = WL_F_UNSEEDED,
    },
    {
        .name = "sequential",
        .run = wl_sequential,
        .help = "count x malloc(size), then free all in allocation order",
        .scratch_slots = wl_scratch_count,
        .defaults = {.seed = WL_SEED, .count = 100000, .size = 64},
        .arg = WL_ARG_COUNT,
        .sweep = {100000, 0},
        .flags = WL_F_UNSEEDED,
    },
    {
        .name = "random_sizes",
        .run = wl_random_sizes,
        .help = "count x malloc(16 + r % 1024), then free all in shuffled order",
        .scratch_slots = wl_scratch_count,
        .defaults = {.seed = WL_SEED, .count = 100000, .min_size = 16, .size_span = 1024},
        .arg = WL_ARG_COUNT,
        .sweep = {100000, 0},
    },
    {
        .name = "mixed",
        .run = wl_mixed,
        .help = "10k slots; count x {pick a slot, free it, malloc(16..1024) into it}",
        .scratch_slots = wl_scratch_slots_field,
        .defaults = {.seed = WL_SEED, .count = 100000, .min_size = 16, .size_span = 1009,
                     .slots = 10000},
        .arg = WL_ARG_COUNT,
        .sweep = {100000, 0},
    },
    {
        .name = "realloc_grow",
        .run = wl_realloc_grow,
        .help = "grow a buffer by realloc in 1..64 B steps up to size, free; until count reallocs",
        .scratch_slots = NULL,
        .defaults = {.seed = WL_SEED, .count = 10000, .size = 4096},
        .arg = WL_ARG_SIZE,
        .sweep = {4096, 0},
    },
    {
        .name = "realloc_double",
        .run = wl_realloc_double,
        .help = "slots vectors grown side by side by doubling realloc (16 B .. size)",
        .scratch_slots = wl_scratch_2slots,
        .defaults = {.seed = WL_SEED, .count = 100000, .size = 65536, .slots = 64},
        .arg = WL_ARG_COUNT,
        .sweep = {100000, 0},
    },
    {
        .name = "bursty",
        .run = wl_bursty,
        .help = "bursts of 1..slots mallocs (16..1024 B), each burst freed all at once",
        .scratch_slots = wl_scratch_slots_field,
        .defaults = {.seed = WL_SEED, .count = 200000, .min_size = 16, .size_span = 1024,
                     .slots = 8192},
        .arg = WL_ARG_COUNT,
        .sweep = {200000, 0},
    },
    {
        .name = "long_lived",
        .run = wl_long_lived,
        .help = "phases of 16..1024 B mallocs; survivors_pct % of each phase live to the end",
        .scratch_slots = wl_scratch_count,
        .defaults = {.seed = WL_SEED, .count = 100000, .min_size = 16, .size_span = 1024,
                     .phases = 10, .survivors_pct = 10},
        .arg = WL_ARG_COUNT,
        .sweep = {100000, 0},
    },
    {
        .name = "fragmentation",
        .run = wl_fragmentation,
        .help = "interleaved short/long lifetimes punch holes, then slightly larger requests",
        .scratch_slots = wl_scratch_count,
        .defaults = {.seed = WL_SEED, .count = 90000, .min_size = 32, .phases = 8},
        .arg = WL_ARG_COUNT,
        .sweep = {90000, 0},
    },
    {
        .name = "threaded",
        .run = wl_threaded,
        .help = "threads threads, each its own mixed workload (count/threads ops, slots each)",
        .scratch_slots = wl_scratch_thread_slots,
        .defaults = {.seed = WL_SEED, .count = 200000, .min_size = 16, .size_span = 1009,
                     .slots = 5000, .threads = 2},
        .arg = WL_ARG_COUNT,
        .sweep = {200000, 0},
    },
    {
        .name = "producer_consumer",
        .run = wl_producer_consumer,
        .help = "producers malloc, consumers on other threads free (ring of slots per pair)",
        .scratch_slots = wl_scratch_pair_slots,
        .defaults = {.seed = WL_SEED, .count = 100000, .min_size = 16, .size_span = 1024,
                     .slots = 1024, .threads = 2},
        .arg = WL_ARG_COUNT,
        .sweep = {100000, 0},
    },
    {
        .name = "larson",
        .run = wl_larson,
        .help = "larson server: threads replace random blocks in tables that rotate per round",
        .scratch_slots = wl_scratch_thread_slots,
        .defaults = {.seed = WL_SEED, .count = 200000, .min_size = 16, .size_span = 1009,
                     .slots = 2000, .threads = 2, .phases = 10},
        .arg = WL_ARG_COUNT,
        .sweep = {200000, 0},
    },
    /* The four above on `threads` threads at once (parallel.c). */
    {
        .name = "malloc_free_loop_mt",
        .run = wl_malloc_free_loop_mt,
        .help = "malloc_free_loop on threads threads at once, count/threads each",
        .scratch_slots = NULL,
        .defaults = {.seed = WL_SEED, .count = 2000, .size = 32, .threads = 2},
        .arg = WL_ARG_SIZE,
        .sweep = {32, 0},
        .flags = WL_F_UNSEEDED,
    },
    {
        .name = "sequential_mt",
        .run = wl_sequential_mt,
        .help = "sequential on threads threads at once, count/threads each",
        .scratch_slots = wl_scratch_count,
        .defaults = {.seed = WL_SEED, .count = 200000, .size = 64, .threads = 2},
        .arg = WL_ARG_COUNT,
        .sweep = {200000, 0},
        .flags = WL_F_UNSEEDED,
    },
    {
        .name = "random_sizes_mt",
        .run = wl_random_sizes_mt,
        .help = "random_sizes on threads threads at once, count/threads each",
        .scratch_slots = wl_scratch_count,
        .defaults = {.seed = WL_SEED, .count = 200000, .min_size = 16, .size_span = 1024,
                     .threads = 2},
        .arg = WL_ARG_COUNT,
        .sweep = {200000, 0},
    },
    {
        .name = "mixed_mt",
        .run = wl_mixed_mt,
        .help = "mixed on threads threads at once (own 10k-slot table each), count/threads each",
        .scratch_slots = wl_scratch_thread_slots,
        .defaults = {.seed = WL_SEED, .count = 200000, .min_size = 16, .size_span = 1009,
                     .slots = 10000, .threads = 2},
        .arg = WL_ARG_COUNT,
        .sweep = {200000, 0},
    },
    /* The classic allocator benchmarks (large.c, false_sharing.c, ring.c,
     * glibc_bench.c); counts sized for ~100-400 ms under glibc in
     * compare_driver. */
    {
        .name = "large_objects",
        .run = wl_large_objects,
        .help = "4 slots of 5..25 MiB buffers replaced at random, every page written (malloc-large)",
        .scratch_slots = wl_scratch_slots_field,
        .defaults = {.seed = WL_SEED, .count = 60, .min_size = 5u << 20, .size_span = (20u << 20) + 1,
                     .slots = 4},
        .arg = WL_ARG_COUNT,
        .sweep = {60, 0},
    },
    {
        .name = "cache_thrash",
        .run = wl_cache_thrash,
        .help = "threads each malloc(8), write it repeat x, free: active false sharing (Hoard)",
        .scratch_slots = NULL,
        .defaults = {.seed = WL_SEED, .count = 25000, .size = 8, .repeat = 1000, .threads = 2},
        .arg = WL_ARG_COUNT,
        .sweep = {25000, 0},
        .flags = WL_F_UNSEEDED,
    },
    {
        .name = "cache_scratch",
        .run = wl_cache_scratch,
        .help = "main allocates one 8 B object per thread, each frees its own, then cache_thrash (Hoard)",
        .scratch_slots = NULL,
        .defaults = {.seed = WL_SEED, .count = 20000, .size = 8, .repeat = 1000, .threads = 2},
        .arg = WL_ARG_COUNT,
        .sweep = {20000, 0},
        .flags = WL_F_UNSEEDED,
    },
    {
        .name = "xmalloc_ring",
        .run = wl_xmalloc_ring,
        .help = "threads/2 producers malloc 16..1024 B, pass batches of 256 to consumers that free (xmalloc-test)",
        .scratch_slots = wl_xmalloc_ring_slots,
        .defaults = {.seed = WL_SEED, .count = 1000000, .min_size = 16, .size_span = 1009, .slots = 256,
                     .threads = 2},
        .arg = WL_ARG_COUNT,
        .sweep = {1000000, 0},
    },
    {
        .name = "glibc_simple",
        .run = wl_glibc_simple,
        .help = "rounds of n x malloc(size) then n frees, n = 25, 100, 400, 1600 (bench-malloc-simple)",
        .scratch_slots = wl_scratch_slots_field,
        .defaults = {.seed = WL_SEED, .count = 4000000, .size = 64, .slots = 1600},
        .arg = WL_ARG_SIZE,
        .sweep = {16, 64, 256, 1024, 4096, 0},
        .flags = WL_F_UNSEEDED,
    },
    {
        .name = "glibc_thread",
        .run = wl_glibc_thread,
        .help = "threads x 1024 slots, free+malloc random slots, 4 B..32 KiB inverse-square (bench-malloc-thread)",
        .scratch_slots = wl_scratch_thread_slots,
        .defaults = {.seed = WL_SEED, .count = 4000000, .min_size = 4, .size_span = 32764, .slots = 1024,
                     .threads = 2},
        .arg = WL_ARG_COUNT,
        .sweep = {4000000, 0},
    },
    {.name = NULL},
};

const wl_workload_t *wl_find(const char *name) {
  if (name == NULL) return NULL;
  for (const wl_workload_t *w = wl_workloads; w->name != NULL; w++)
    if (strcmp(w->name, name) == 0) return w;
  return NULL;
}

void wl_params_default(const wl_workload_t *w, wl_params_t *p) { *p = w->defaults; }

void wl_params_set_arg(const wl_workload_t *w, wl_params_t *p, size_t value) {
  if (w->arg == WL_ARG_SIZE)
    p->size = value;
  else
    p->count = value;
}

size_t wl_scratch_slots(const wl_workload_t *w, const wl_params_t *p) {
  return w->scratch_slots != NULL ? w->scratch_slots(p) : 0;
}

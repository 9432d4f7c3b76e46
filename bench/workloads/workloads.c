/* The workloads and their table. Each call is deterministic for its params
 * and frees everything it allocated before returning. */
#include "bench/workloads/workloads.h"

#include <stdlib.h>
#include <string.h>

#include "bench/workloads/rng.h"

/* ---- helpers -------------------------------------------------------------- */

/* One byte written, so the block is really handed out and touched; volatile
 * keeps the store and therefore the allocation. */
static inline void wl_touch(void *ptr, size_t i) { *(volatile unsigned char *)ptr = (unsigned char)i; }

/* The caller's pointer table if it is large enough, else one from libc. */
static void **wl_table_get(const wl_params_t *p, size_t n, int *owned) {
  *owned = 0;
  if (n == 0) n = 1;
  if (p->scratch != NULL && p->scratch_cap >= n) return p->scratch;
  *owned = 1;
  return (void **)malloc(n * sizeof(void *));
}

static void wl_table_put(void **table, int owned) {
  if (owned) free(table);
}

static inline void wl_checkpoint(const wl_params_t *p) {
  if (p->checkpoint != NULL) p->checkpoint(p->checkpoint_arg);
}

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
    wl_touch(ptr, i);
    do_free(ctx, ptr);
  }
  return p->count;
}

size_t wl_sequential(const sa_bench_allocator_t *a, const wl_params_t *p) {
  int owned;
  void **table = wl_table_get(p, p->count, &owned);
  if (table == NULL) return WL_FAILED;
  for (size_t i = 0; i < p->count; i++) {
    void *ptr = a->malloc(a->ctx, p->size);
    if (ptr == NULL) {
      wl_free_all(a, table, i);
      wl_table_put(table, owned);
      return WL_FAILED;
    }
    wl_touch(ptr, i);
    table[i] = ptr;
  }
  wl_checkpoint(p);
  wl_free_all(a, table, p->count);
  wl_table_put(table, owned);
  return p->count;
}

size_t wl_random_sizes(const sa_bench_allocator_t *a, const wl_params_t *p) {
  int owned;
  void **table = wl_table_get(p, p->count, &owned);
  if (table == NULL) return WL_FAILED;
  wl_rng_t rng;
  wl_rng_seed(&rng, p->seed);
  for (size_t i = 0; i < p->count; i++) {
    void *ptr = a->malloc(a->ctx, p->min_size + wl_rng_below(&rng, p->size_span));
    if (ptr == NULL) {
      wl_free_all(a, table, i);
      wl_table_put(table, owned);
      return WL_FAILED;
    }
    wl_touch(ptr, i);
    table[i] = ptr;
  }
  /* Fisher-Yates: free in a shuffled order. */
  for (size_t i = p->count; i > 1; i--) {
    size_t j = (size_t)wl_rng_below(&rng, i);
    void *t = table[i - 1];
    table[i - 1] = table[j];
    table[j] = t;
  }
  wl_checkpoint(p);
  wl_free_all(a, table, p->count);
  wl_table_put(table, owned);
  return p->count;
}

size_t wl_mixed(const sa_bench_allocator_t *a, const wl_params_t *p) {
  int owned;
  void **table = wl_table_get(p, p->slots, &owned);
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
    wl_touch(ptr, i);
  }
  if (result != WL_FAILED) wl_checkpoint(p);
  wl_free_all(a, table, p->slots);
  wl_table_put(table, owned);
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
      wl_touch((unsigned char *)buf + len - 1, ops);
      ops++;
    }
    a->free(a->ctx, buf);
  }
  return ops;
}

/* ---- the table ------------------------------------------------------------ */

static size_t wl_scratch_count(const wl_params_t *p) { return p->count; }
static size_t wl_scratch_slots_field(const wl_params_t *p) { return p->slots; }

#define WL_SEED 0x5EED5A11C0FFEEull

const wl_workload_t wl_workloads[] = {
    {
        .name = "malloc_free_loop",
        .run = wl_malloc_free_loop,
        .help = "count x {malloc(size); write 1 byte; free}",
        .scratch_slots = NULL,
        .defaults = {.seed = WL_SEED, .count = 1000, .size = 64},
        .arg = WL_ARG_SIZE,
        .sweep = {16, 64, 256, 1024, 4096, 32768, 0},
    },
    {
        .name = "sequential",
        .run = wl_sequential,
        .help = "count x malloc(size), then free all in allocation order",
        .scratch_slots = wl_scratch_count,
        .defaults = {.seed = WL_SEED, .count = 10000, .size = 64},
        .arg = WL_ARG_COUNT,
        .sweep = {10000, 0},
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

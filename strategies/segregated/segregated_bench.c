/* A quick side-by-side of segregated, first_fit and glibc through one
 * function-pointer interface (the same indirect call for each), used for the
 * figures in README.md. Medians of 5 repetitions, ns per malloc+free pair.
 *
 *   ./bazelw run -c opt //strategies/segregated:segregated_bench
 *
 * or without Bazel (every common .c except override.c, see README.md):
 *   gcc -O2 -std=gnu11 -I. -Icommon/include -Icommon COMMON_SOURCES \
 *     strategies/first_fit/first_fit.c strategies/segregated/segregated.c \
 *     strategies/segregated/segregated_bench.c -o /tmp/segbench -lpthread
 *
 * Add -DSEG_MEASURE_NO_BITMAP to measure the strategy without its live
 * bitmap (no double-free detection; walk/check are then wrong: timing only). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stratalloc/strategy.h"

extern const sa_strategy_t sa_first_fit, sa_segregated;

typedef struct {
  const char *name;
  sa_heap_t *heap; /* NULL: glibc */
} alloc_t;

static void *a_malloc(const alloc_t *a, size_t n) __attribute__((noinline));
static void *a_malloc(const alloc_t *a, size_t n) { return a->heap ? sa_malloc(a->heap, n) : malloc(n); }
static void a_free(const alloc_t *a, void *p) __attribute__((noinline));
static void a_free(const alloc_t *a, void *p) {
  if (a->heap) sa_free(a->heap, p);
  else free(p);
}

static inline uint64_t xs(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

/* ---- workloads: return pairs done --------------------------------------- */

static size_t w_loop32(const alloc_t *a, size_t n) {
  for (size_t i = 0; i < n; i++) {
    volatile char *p = a_malloc(a, 32);
    p[0] = 1;
    a_free(a, (void *)p);
  }
  return n;
}

/* 10k slots, sizes 16..1024: replace a random slot each step. */
static size_t w_mixed(const alloc_t *a, size_t n) {
  enum { SLOTS = 10000 };
  static __thread void *slot[SLOTS];
  uint64_t s = 12345;
  for (size_t i = 0; i < n; i++) {
    size_t k = xs(&s) % SLOTS;
    if (slot[k]) a_free(a, slot[k]);
    slot[k] = a_malloc(a, 16 + xs(&s) % 1009);
    ((char *)slot[k])[0] = 1;
  }
  for (size_t k = 0; k < SLOTS; k++) {
    if (slot[k]) a_free(a, slot[k]);
    slot[k] = NULL;
  }
  return n;
}

/* 100k random sizes 1..4096 live at once, freed in shuffled order. */
static size_t w_random(const alloc_t *a, size_t n) {
  enum { N = 100000 };
  (void)n; /* always N */
  static __thread void *v[N];
  uint64_t s = 777;
  for (size_t i = 0; i < N; i++) {
    v[i] = a_malloc(a, 1 + xs(&s) % 4096);
    ((char *)v[i])[0] = 1;
  }
  for (size_t i = N - 1; i > 0; i--) {
    size_t j = xs(&s) % (i + 1);
    void *t = v[i];
    v[i] = v[j];
    v[j] = t;
  }
  for (size_t i = 0; i < N; i++) a_free(a, v[i]);
  return N;
}

typedef size_t (*wl_t)(const alloc_t *, size_t);
typedef struct {
  const alloc_t *a;
  wl_t w;
  size_t n;
} job_t;
static void *run_job(void *arg) {
  job_t *j = arg;
  j->w(j->a, j->n);
  return NULL;
}

static double measure(const alloc_t *a, wl_t w, size_t n, int threads) {
  double best[5];
  for (int r = 0; r < 5; r++) {
    pthread_t t[8];
    job_t j = {a, w, n};
    double t0 = now();
    if (threads == 1) run_job(&j);
    else {
      for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, run_job, &j);
      for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    }
    /* 2 threads: each does n pairs concurrently; report wall / total pairs */
    best[r] = (now() - t0) / ((double)n * threads);
  }
  for (int i = 0; i < 5; i++)
    for (int k = i + 1; k < 5; k++)
      if (best[k] < best[i]) {
        double x = best[i];
        best[i] = best[k];
        best[k] = x;
      }
  return best[2];
}

int main(void) {
  sa_config_t cfg;
  sa_config_default(&cfg);
  alloc_t as[3] = {{"glibc", NULL},
                   {"first_fit", sa_heap_create(&sa_first_fit, &cfg)},
                   {"segregated", sa_heap_create(&sa_segregated, &cfg)}};
  struct {
    const char *name;
    wl_t w;
    size_t n;
    int threads;
  } ws[] = {{"malloc(32)/free loop, 1 thread", w_loop32, 5000000, 1},
            {"malloc(32)/free loop, 2 threads", w_loop32, 2000000, 2},
            {"mixed, 10k slots, 16..1024 B", w_mixed, 2000000, 1},
            {"100k random sizes 1..4096, freed shuffled", w_random, 100000, 1}};
  printf("%-44s %10s %10s %10s   (ns per malloc+free, median of 5)\n", "workload", "glibc",
         "first_fit", "segregated");
  for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
    printf("%-44s", ws[i].name);
    for (int k = 0; k < 3; k++) {
      printf(" %10.1f", measure(&as[k], ws[i].w, ws[i].n, ws[i].threads));
      fflush(stdout);
    }
    printf("\n");
  }
  /* Memory: peak mapped for the random workload on fresh heaps. */
  for (int k = 1; k < 3; k++) {
    sa_heap_t *h = sa_heap_create(k == 1 ? &sa_first_fit : &sa_segregated, &cfg);
    alloc_t a = {as[k].name, h};
    w_random(&a, 0);
    sa_stats_t st;
    sa_heap_stats(h, &st);
    printf("%s: 100k random sizes: peak mapped %.1f MiB, peak live %.1f MiB (usable), mapped "
           "after free %.2f MiB\n",
           as[k].name, st.peak_mapped_bytes / 1048576.0, st.peak_allocated_bytes / 1048576.0,
           st.mapped_bytes / 1048576.0);
    sa_heap_destroy(h);
  }
  sa_heap_destroy(as[1].heap);
  sa_heap_destroy(as[2].heap);
  return 0;
}

/* A quick side-by-side of buddy, first_fit and glibc through one function
 * pointer interface (the sa_ API on a fresh heap per run; libc malloc for
 * glibc), medians of 5 runs. Not the project's benchmark (bench/): a
 * standalone check for strategies/buddy/README.md.
 *
 *   ./bazelw run //strategies/buddy:buddy_quickbench
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strategies/buddy/buddy.h"
#include "stratalloc/stratalloc.h"

extern const sa_strategy_t sa_first_fit;

typedef struct {
  const char *name;
  const sa_strategy_t *strategy; /* NULL: libc */
  sa_heap_t *heap;
} qb_alloc_t;

static inline void *qb_malloc(qb_alloc_t *a, size_t n) {
  return a->heap ? sa_malloc(a->heap, n) : malloc(n);
}
static inline void qb_free(qb_alloc_t *a, void *p) {
  if (a->heap) sa_free(a->heap, p);
  else free(p);
}

static double qb_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t qb_rng(uint64_t *s) { /* xorshift64* */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338117ull;
}

/* ---- workloads: each returns ns per operation (one malloc + one free) ---- */

static double wl_loop32(qb_alloc_t *a) {
  const int n = 2000000;
  double t0 = qb_now();
  for (int i = 0; i < n; i++) {
    void *p = qb_malloc(a, 32);
    __asm__ volatile("" : : "r"(p) : "memory");
    qb_free(a, p);
  }
  return (qb_now() - t0) / n;
}

typedef struct {
  qb_alloc_t *a;
  double ns;
} qb_thread_arg_t;

static void *qb_loop_thread(void *arg) {
  qb_thread_arg_t *t = arg;
  t->ns = wl_loop32(t->a);
  return NULL;
}

static double wl_loop32_2threads(qb_alloc_t *a) {
  pthread_t th[2];
  qb_thread_arg_t args[2] = {{a, 0}, {a, 0}};
  double t0 = qb_now();
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, qb_loop_thread, &args[i]);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  return (qb_now() - t0) / (2.0 * 2000000); /* wall time per operation */
}

static double wl_mixed(qb_alloc_t *a) {
  enum { SLOTS = 10000, OPS = 2000000 };
  static void *slot[SLOTS];
  uint64_t s = 88172645463325252ull;
  for (int i = 0; i < SLOTS; i++) slot[i] = qb_malloc(a, 16 + qb_rng(&s) % 1009);
  double t0 = qb_now();
  for (int i = 0; i < OPS; i++) {
    size_t k = qb_rng(&s) % SLOTS;
    qb_free(a, slot[k]);
    slot[k] = qb_malloc(a, 16 + qb_rng(&s) % 1009);
    memset(slot[k], 1, 16);
  }
  double ns = (qb_now() - t0) / OPS;
  for (int i = 0; i < SLOTS; i++) qb_free(a, slot[i]);
  return ns;
}

static double wl_random100k(qb_alloc_t *a) {
  enum { N = 100000 };
  static void *p[N];
  uint64_t s = 1234567;
  double t0 = qb_now();
  for (int i = 0; i < N; i++) {
    p[i] = qb_malloc(a, 16 + qb_rng(&s) % 1024);
    memset(p[i], 1, 16);
  }
  for (int i = N - 1; i > 0; i--) { /* free in shuffled order */
    int j = (int)(qb_rng(&s) % (uint64_t)(i + 1));
    void *t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  for (int i = 0; i < N; i++) qb_free(a, p[i]);
  return (qb_now() - t0) / N;
}

static int qb_cmp(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

int main(void) {
  qb_alloc_t allocs[] = {{"glibc", NULL, NULL}, {"first_fit", &sa_first_fit, NULL},
                         {"buddy", &sa_buddy, NULL}};
  struct {
    const char *name;
    double (*run)(qb_alloc_t *);
  } wls[] = {{"malloc(32)/free loop, 1 thread", wl_loop32},
             {"malloc(32)/free loop, 2 threads (wall)", wl_loop32_2threads},
             {"mixed, 10k slots, 16..1024 B", wl_mixed},
             {"100k random 16+rand%1024, freed shuffled", wl_random100k}};
  const int reps = 5;
  printf("ns per malloc+free, median of %d runs, fresh heap per run\n", reps);
  printf("%-44s %10s %10s %10s\n", "workload", "glibc", "first_fit", "buddy");
  for (size_t w = 0; w < sizeof wls / sizeof wls[0]; w++) {
    printf("%-44s", wls[w].name);
    for (size_t i = 0; i < sizeof allocs / sizeof allocs[0]; i++) {
      double t[5];
      for (int r = 0; r < reps; r++) {
        qb_alloc_t a = allocs[i];
        if (a.strategy) a.heap = sa_heap_create(a.strategy, NULL);
        t[r] = wls[w].run(&a);
        if (a.heap) sa_heap_destroy(a.heap);
      }
      qsort(t, reps, sizeof t[0], qb_cmp);
      printf(" %10.1f", t[reps / 2]);
    }
    printf("\n");
  }

  /* Memory: 100k live blocks of 16 + rand() % 1024 bytes. */
  printf("\n100k live blocks of 16 + rand() %% 1024 B (srand(1)):\n");
  for (size_t i = 1; i < sizeof allocs / sizeof allocs[0]; i++) {
    sa_heap_t *h = sa_heap_create(allocs[i].strategy, NULL);
    static void *p[100000];
    size_t requested = 0;
    srand(1);
    for (int k = 0; k < 100000; k++) {
      size_t n = 16 + (size_t)(rand() % 1024);
      requested += n;
      p[k] = sa_malloc(h, n);
    }
    sa_stats_t st;
    sa_heap_stats(h, &st);
    printf("  %-10s requested %zu B, usable %llu B (+%.1f%%), mapped %llu B (+%.1f%% over requested)",
           allocs[i].name, requested, (unsigned long long)st.current_allocated_bytes,
           100.0 * ((double)st.current_allocated_bytes - (double)requested) / (double)requested,
           (unsigned long long)st.mapped_bytes,
           100.0 * ((double)st.mapped_bytes - (double)requested) / (double)requested);
    sa_buddy_stats_t bs;
    if (sa_buddy_stats(h, &bs) == 0)
      printf("; internal fragmentation %.1f%% of block bytes", bs.internal_fragmentation_pct);
    printf("; external fragmentation %.1f%%\n", st.fragmentation_pct);
    for (int k = 0; k < 100000; k++) sa_free(h, p[k]);
    sa_heap_destroy(h);
  }
  return 0;
}

/* //analysis:replay: runs a trace (libsa_trace.so) or a bench workload on a
 * fresh heap of every registered strategy (or one), through the sa_ API, and
 * reports time, peak memory, fragmentation over the run and check results.
 *
 *   replay --trace FILE [--strategy NAME|all] [--conf k:v,...] [--every N]
 *          [--repeat R] [--csv FRAG.csv] [--json OUT.json]
 *          [--dump-at OP --dump-prefix PREFIX]
 *   replay --workload NAME [--count N] [--threads T] ...   (same options)
 *   replay --list
 *
 * Determinism: a trace is replayed single-threaded in one global order (the
 * records of all threads sorted by timestamp; a free's timestamp is taken
 * before the real free and an allocation's after it returns, so a free on
 * one thread orders before another thread's reuse of the address). Frees
 * from another thread and realloc chains replay as what they are: a free of
 * a slot, a realloc of a slot. The same trace and config give the same
 * sequence of sa_ calls on every run. A workload with threads > 1 is not
 * deterministic in its interleaving (each thread's own calls are).
 *
 * Two passes per strategy on fresh heaps: a timed pass (median of --repeat),
 * and a sampled pass that walks the heap every --every operations for
 * fragmentation, free bytes, mapped bytes, and runs sa_check at the end.
 * Every block carries a tag in its first 8 bytes, verified when it is freed
 * or reallocated: a block handed out twice shows up as a tag mismatch.
 * Exit status: 0, 1 if any check failed, 2 on a usage or trace error. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analysis/trace/trace_read.h"
#include "bench/workloads/workloads.h"
#include "stratalloc/stratalloc.h"

/* ---- the replay program: a trace turned into slot operations ------------- */

enum { R_ALLOC = 1, R_CALLOC, R_MEMALIGN, R_FREE, R_REALLOC };

typedef struct rop {
  uint8_t op, align_log2;
  uint32_t slot;
  uint64_t size;
} rop_t;

typedef struct program {
  rop_t *ops;
  size_t n;
  size_t slots;             /* slot table size (max live at once, roughly) */
  uint64_t peak_live_requested;
  size_t unmatched_frees, unmatched_reallocs, missing_frees, failed_allocs, live_at_end;
  size_t threads, records;
  double duration_s;
} program_t;

/* Address -> slot, open addressing with linear probing and backward-shift
 * deletion. */
typedef struct amap {
  uint64_t *key;
  uint32_t *val;
  size_t mask, used;
} amap_t;

static size_t amap_hash(const amap_t *m, uint64_t k) {
  k ^= k >> 33;
  k *= UINT64_C(0xff51afd7ed558ccd);
  k ^= k >> 33;
  return (size_t)k & m->mask;
}

static int amap_init(amap_t *m, size_t cap) {
  size_t c = 1024;
  while (c < cap * 2) c <<= 1;
  m->key = calloc(c, sizeof *m->key);
  m->val = calloc(c, sizeof *m->val);
  m->mask = c - 1;
  m->used = 0;
  return m->key && m->val ? 0 : -1;
}

static long amap_get(const amap_t *m, uint64_t k) {
  for (size_t i = amap_hash(m, k);; i = (i + 1) & m->mask) {
    if (m->key[i] == 0) return -1;
    if (m->key[i] == k) return m->val[i];
  }
}

static void amap_put(amap_t *m, uint64_t k, uint32_t v) {
  size_t i = amap_hash(m, k);
  while (m->key[i] != 0 && m->key[i] != k) i = (i + 1) & m->mask;
  if (m->key[i] == 0) m->used++;
  m->key[i] = k;
  m->val[i] = v;
}

static void amap_del(amap_t *m, uint64_t k) {
  size_t i = amap_hash(m, k);
  while (m->key[i] != k) {
    if (m->key[i] == 0) return;
    i = (i + 1) & m->mask;
  }
  m->key[i] = 0;
  m->used--;
  for (size_t j = (i + 1) & m->mask; m->key[j] != 0; j = (j + 1) & m->mask) {
    size_t home = amap_hash(m, m->key[j]);
    /* Move j back to i if its home is not in (i, j]. */
    int move = i <= j ? (home <= i || home > j) : (home <= i && home > j);
    if (move) {
      m->key[i] = m->key[j];
      m->val[i] = m->val[j];
      m->key[j] = 0;
      i = j;
    }
  }
}

typedef struct slotpool {
  uint32_t *free_list;
  size_t nfree, next, cap;
  uint64_t *size;
} slotpool_t;

static uint32_t slot_get(slotpool_t *s) {
  if (s->nfree) return s->free_list[--s->nfree];
  return (uint32_t)s->next++;
}

static void slot_put(slotpool_t *s, uint32_t slot) { s->free_list[s->nfree++] = slot; }

static int build_program(const sa_trace_t *t, program_t *p) {
  memset(p, 0, sizeof *p);
  p->ops = calloc(t->count * 2 + 1, sizeof(rop_t)); /* an event can add an implicit free */
  amap_t m;
  slotpool_t s = {calloc(t->count + 1, sizeof(uint32_t)), 0, 0, t->count + 1,
                  calloc(t->count + 1, sizeof(uint64_t))};
  if (p->ops == NULL || s.free_list == NULL || s.size == NULL || amap_init(&m, t->count + 16)) {
    fprintf(stderr, "replay: out of memory building the program\n");
    return -1;
  }
  uint64_t live = 0;
  size_t n = 0;
#define EMIT(o, sl, sz, al) (p->ops[n++] = (rop_t){(o), (al), (sl), (sz)})
  for (size_t i = 0; i < t->count; i++) {
    const sa_trace_event_t *e = &t->events[i];
    uint64_t old = 0, res = e->result;
    int alloc_op = 0;
    switch (e->op) {
      case SA_TRACE_MALLOC: alloc_op = R_ALLOC; break;
      case SA_TRACE_CALLOC: alloc_op = R_CALLOC; break;
      case SA_TRACE_MEMALIGN: alloc_op = R_MEMALIGN; break;
      case SA_TRACE_FREE: old = e->ptr; break;
      case SA_TRACE_REALLOC:
        if (e->ptr == 0) {
          alloc_op = R_ALLOC;
        } else if (e->size == 0) {
          old = e->ptr; /* glibc: realloc(p, 0) frees p */
        } else if (res == 0) {
          p->failed_allocs++;
          continue; /* failed: p untouched */
        } else {
          long sl = amap_get(&m, e->ptr);
          if (sl < 0) {
            p->unmatched_reallocs++;
            alloc_op = R_ALLOC; /* the old block predates the trace */
            break;
          }
          amap_del(&m, e->ptr);
          long other = amap_get(&m, res);
          if (other >= 0) { /* the result was live: its free was not traced */
            p->missing_frees++;
            EMIT(R_FREE, (uint32_t)other, 0, 0);
            live -= s.size[other];
            amap_del(&m, res);
            slot_put(&s, (uint32_t)other);
          }
          amap_put(&m, res, (uint32_t)sl);
          live += e->size - s.size[sl];
          s.size[sl] = e->size;
          EMIT(R_REALLOC, (uint32_t)sl, e->size, 0);
          if (live > p->peak_live_requested) p->peak_live_requested = live;
          continue;
        }
        break;
    }
    if (old) {
      long sl = amap_get(&m, old);
      if (sl < 0) {
        p->unmatched_frees++;
        continue;
      }
      amap_del(&m, old);
      EMIT(R_FREE, (uint32_t)sl, 0, 0);
      live -= s.size[sl];
      slot_put(&s, (uint32_t)sl);
      continue;
    }
    if (alloc_op) {
      if (res == 0) {
        p->failed_allocs++;
        continue;
      }
      long other = amap_get(&m, res);
      if (other >= 0) {
        p->missing_frees++;
        EMIT(R_FREE, (uint32_t)other, 0, 0);
        live -= s.size[other];
        amap_del(&m, res);
        slot_put(&s, (uint32_t)other);
      }
      uint32_t sl = slot_get(&s);
      amap_put(&m, res, sl);
      s.size[sl] = e->size;
      live += e->size;
      if (live > p->peak_live_requested) p->peak_live_requested = live;
      EMIT(alloc_op, sl, e->size, alloc_op == R_MEMALIGN ? e->align_log2 : 0);
    }
  }
#undef EMIT
  p->n = n;
  p->slots = s.next;
  p->live_at_end = m.used;
  p->threads = t->threads;
  p->records = t->count;
  p->duration_s = t->count ? (double)t->events[t->count - 1].ts_ns / 1e9 : 0;
  free(m.key);
  free(m.val);
  free(s.free_list);
  free(s.size);
  return 0;
}

/* ---- sampling -------------------------------------------------------------- */

typedef struct sample {
  uint64_t op;
  double frag_pct;
  uint64_t free_bytes, largest_free, mapped, allocated, live_requested;
} sample_t;

typedef struct samples {
  sample_t *v;
  size_t n, cap;
} samples_t;

static void take_sample(sa_heap_t *h, samples_t *s, uint64_t op, uint64_t live_req) {
  sa_heap_info_t info;
  sa_stats_t st;
  sa_heap_info(h, &info);
  sa_heap_stats(h, &st);
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 256;
    s->v = realloc(s->v, s->cap * sizeof *s->v);
  }
  s->v[s->n++] = (sample_t){op, info.external_fragmentation_pct, info.free_bytes,
                            info.largest_free_block, st.mapped_bytes, st.current_allocated_bytes,
                            live_req};
}

/* ---- running a program ------------------------------------------------------ */

typedef struct result {
  const char *strategy;
  double ms;                 /* median of repeats */
  double ns_per_op;
  uint64_t ops;
  uint64_t peak_mapped, final_mapped, peak_allocated_usable;
  double frag_avg, frag_peak, frag_final, mean_mapped;
  size_t check_failures, tag_mismatches, replay_nulls;
  samples_t samples;
  int ok;
} result_t;

static inline void tag_block(void *p, uint64_t size, uint64_t tag) {
  if (size >= 8) memcpy(p, &tag, 8);
  else if (size) memset(p, (int)(tag & 0xff), (size_t)size);
}

static inline int tag_ok(const void *p, uint64_t size, uint64_t tag) {
  if (size >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v == tag;
  }
  if (size) return ((const unsigned char *)p)[0] == (unsigned char)(tag & 0xff);
  return 1;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct run_opts {
  size_t every;
  long long dump_at;
  const char *dump_path;
  int sampled;
} run_opts_t;

static void dump_heap(sa_heap_t *h, const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "replay: cannot write %s: %s\n", path, strerror(errno));
    return;
  }
  sa_heap_dump(h, fd);
  close(fd);
}

/* One pass of prog on a fresh heap. Returns the seconds of the op loop. */
static double run_program(const sa_strategy_t *st, const sa_config_t *cfg, const program_t *prog,
                          const run_opts_t *o, result_t *r) {
  sa_heap_t *h = sa_heap_create(st, cfg);
  if (h == NULL) {
    fprintf(stderr, "replay: %s: sa_heap_create failed\n", sa_strategy_name(st));
    r->check_failures++;
    return 0;
  }
  void **slot = calloc(prog->slots + 1, sizeof(void *));
  uint64_t *ssize = calloc(prog->slots + 1, sizeof(uint64_t));
  uint64_t *stag = calloc(prog->slots + 1, sizeof(uint64_t));
  uint64_t live = 0;
  double t0 = now_s();
  for (size_t i = 0; i < prog->n; i++) {
    const rop_t *op = &prog->ops[i];
    uint32_t sl = op->slot;
    switch (op->op) {
      case R_ALLOC:
      case R_CALLOC:
      case R_MEMALIGN: {
        void *p = op->op == R_ALLOC    ? sa_malloc(h, op->size)
                  : op->op == R_CALLOC ? sa_calloc(h, 1, op->size)
                                       : sa_memalign(h, (size_t)1 << op->align_log2, op->size);
        if (p == NULL && op->size) {
          r->replay_nulls++;
          break;
        }
        if (op->op == R_MEMALIGN && ((uintptr_t)p & (((uintptr_t)1 << op->align_log2) - 1))) {
          fprintf(stderr, "replay: %s: memalign(%u) returned misaligned %p\n",
                  sa_strategy_name(st), 1u << op->align_log2, p);
          r->tag_mismatches++;
        }
        stag[sl] = sl * UINT64_C(0x9e3779b97f4a7c15) + i;
        tag_block(p, op->size, stag[sl]);
        slot[sl] = p;
        ssize[sl] = op->size;
        live += op->size;
        break;
      }
      case R_FREE:
        if (slot[sl]) {
          if (!tag_ok(slot[sl], ssize[sl], stag[sl])) r->tag_mismatches++;
          sa_free(h, slot[sl]);
          slot[sl] = NULL;
          live -= ssize[sl];
        }
        break;
      case R_REALLOC: {
        if (slot[sl] == NULL) break;
        int check_prefix = ssize[sl] >= 8 && op->size >= 8;
        void *p = sa_realloc(h, slot[sl], op->size);
        if (p == NULL) {
          r->replay_nulls++;
          break;
        }
        if (check_prefix && !tag_ok(p, 8, stag[sl])) r->tag_mismatches++;
        tag_block(p, op->size, stag[sl]);
        slot[sl] = p;
        live += op->size - ssize[sl];
        ssize[sl] = op->size;
        break;
      }
    }
    if (o->sampled) {
      if (o->every && (i + 1) % o->every == 0) take_sample(h, &r->samples, i + 1, live);
      if (o->dump_path && (long long)(i + 1) == o->dump_at) dump_heap(h, o->dump_path);
    }
  }
  double t1 = now_s();
  if (o->sampled) {
    if (r->samples.n == 0 || r->samples.v[r->samples.n - 1].op != prog->n)
      take_sample(h, &r->samples, prog->n, live);
    r->check_failures += sa_check(h);
    sa_stats_t s;
    sa_heap_stats(h, &s);
    r->peak_mapped = s.peak_mapped_bytes;
    r->final_mapped = s.mapped_bytes;
    r->peak_allocated_usable = s.peak_allocated_bytes;
    if (o->dump_path && o->dump_at < 0) dump_heap(h, o->dump_path);
  }
  for (size_t k = 0; k < prog->slots; k++)
    if (slot[k]) sa_free(h, slot[k]);
  if (o->sampled) r->check_failures += sa_check(h);
  sa_heap_destroy(h);
  free(slot);
  free(ssize);
  free(stag);
  return t1 - t0;
}

/* ---- workloads, through a sampling adapter ---------------------------------- */

typedef struct wl_ctx {
  sa_heap_t *heap;
  size_t every;
  uint64_t ops;
  pthread_mutex_t lock;
  samples_t *samples;
  long long dump_at;
  const char *dump_path;
} wl_ctx_t;

static void wl_tick(wl_ctx_t *c) {
  uint64_t n = __atomic_add_fetch(&c->ops, 1, __ATOMIC_RELAXED);
  if (c->samples && c->every && n % c->every == 0) {
    pthread_mutex_lock(&c->lock);
    take_sample(c->heap, c->samples, n, 0);
    pthread_mutex_unlock(&c->lock);
  }
  if (c->dump_path && (long long)n == c->dump_at) dump_heap(c->heap, c->dump_path);
}

static void *wl_malloc(void *ctx, size_t n) {
  wl_ctx_t *c = ctx;
  void *p = sa_malloc(c->heap, n);
  wl_tick(c);
  return p;
}

static void wl_free(void *ctx, void *p) {
  wl_ctx_t *c = ctx;
  sa_free(c->heap, p);
  wl_tick(c);
}

static void *wl_realloc(void *ctx, void *p, size_t n) {
  wl_ctx_t *c = ctx;
  void *q = sa_realloc(c->heap, p, n);
  wl_tick(c);
  return q;
}

static double run_workload(const sa_strategy_t *st, const sa_config_t *cfg,
                           const wl_workload_t *w, const wl_params_t *params,
                           const run_opts_t *o, result_t *r) {
  sa_heap_t *h = sa_heap_create(st, cfg);
  if (h == NULL) {
    r->check_failures++;
    return 0;
  }
  wl_ctx_t c = {h, o->every, 0, PTHREAD_MUTEX_INITIALIZER, o->sampled ? &r->samples : NULL,
                o->dump_at, o->sampled ? o->dump_path : NULL};
  sa_bench_allocator_t a = {sa_strategy_name(st), &c, wl_malloc, wl_free, wl_realloc};
  double t0 = now_s();
  size_t ops = w->run(&a, params);
  double t1 = now_s();
  if (ops == WL_FAILED) r->replay_nulls++;
  r->ops = c.ops;
  if (o->sampled) {
    take_sample(h, &r->samples, c.ops, 0);
    r->check_failures += sa_check(h);
    sa_stats_t s;
    sa_heap_stats(h, &s);
    r->peak_mapped = s.peak_mapped_bytes;
    r->final_mapped = s.mapped_bytes;
    r->peak_allocated_usable = s.peak_allocated_bytes;
  }
  sa_heap_destroy(h);
  return t1 - t0;
}

/* ---- driver -------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void usage(void) {
  fprintf(stderr,
          "usage: replay (--trace FILE | --workload NAME | --list) [--strategy NAME|all]\n"
          "              [--conf k:v,...] [--every N] [--repeat R] [--count N] [--threads T]\n"
          "              [--csv FILE] [--json FILE] [--dump-at OP|end --dump-prefix PREFIX]\n"
          "              [--quiet]\n");
}

static void target_name(const char *name, char *out, size_t n) {
  size_t i = 0;
  for (; name[i] && i + 1 < n; i++) out[i] = name[i] == '+' ? '_' : name[i];
  out[i] = '\0';
}

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

/* A report file for writing, or NULL after saying so on stderr. */
static FILE *open_report(const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) fprintf(stderr, "replay: cannot write %s: %s\n", path, strerror(errno));
  return f;
}

int main(int argc, char **argv) {
  const char *trace_path = NULL, *workload = NULL, *strategy = "all", *conf = NULL;
  const char *csv_path = NULL, *json_path = NULL, *dump_prefix = NULL;
  long long dump_at = 0;
  size_t every = 0, repeat = 1, count = 0, threads = 0;
  int quiet = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v && (i++, 1))
    if (strcmp(a, "--list") == 0) {
      for (size_t k = 0; sa_registry[k]; k++) printf("%s\n", sa_strategy_name(sa_registry[k]));
      return 0;
    } else if (strcmp(a, "--quiet") == 0) quiet = 1;
    else if (OPT("--trace")) trace_path = v;
    else if (OPT("--workload")) workload = v;
    else if (OPT("--strategy")) strategy = v;
    else if (OPT("--conf")) conf = v;
    else if (OPT("--every")) every = strtoull(v, NULL, 10);
    else if (OPT("--repeat")) repeat = strtoull(v, NULL, 10);
    else if (OPT("--count")) count = strtoull(v, NULL, 10);
    else if (OPT("--threads")) threads = strtoull(v, NULL, 10);
    else if (OPT("--csv")) csv_path = v;
    else if (OPT("--json")) json_path = v;
    else if (OPT("--dump-at")) dump_at = strcmp(v, "end") == 0 ? -1 : strtoll(v, NULL, 10);
    else if (OPT("--dump-prefix")) dump_prefix = v;
    else {
      usage();
      return 2;
    }
#undef OPT
  }
  if ((trace_path == NULL) == (workload == NULL)) {
    usage();
    return 2;
  }
  if (repeat < 1) repeat = 1;

  sa_config_t cfg;
  sa_config_default(&cfg); /* deterministic: the environment's SA_CONF is ignored */
  if (conf && sa_config_parse(&cfg, conf) != 0) {
    fprintf(stderr, "replay: bad --conf '%s'\n", conf);
    return 2;
  }

  program_t prog;
  memset(&prog, 0, sizeof prog);
  const wl_workload_t *w = NULL;
  wl_params_t params;
  const char *source = trace_path ? trace_path : workload;
  if (trace_path) {
    sa_trace_t t;
    char err[512];
    if (sa_trace_load(trace_path, &t, err, sizeof err) != 0) {
      fprintf(stderr, "replay: %s: %s\n", trace_path, err);
      return 2;
    }
    if (t.warning[0]) fprintf(stderr, "replay: %s: warning: %s\n", trace_path, t.warning);
    if (build_program(&t, &prog) != 0) return 2;
    sa_trace_free(&t);
    if (!quiet)
      printf("trace %s: %zu records, %zu threads, %.3f s; replayed as %zu operations "
             "(single-threaded, in timestamp order), peak live %llu requested bytes; "
             "unmatched frees %zu, unmatched reallocs %zu, implied frees %zu, failed "
             "allocations %zu, live at end %zu\n",
             trace_path, prog.records, prog.threads, prog.duration_s, prog.n,
             (unsigned long long)prog.peak_live_requested, prog.unmatched_frees,
             prog.unmatched_reallocs, prog.missing_frees, prog.failed_allocs, prog.live_at_end);
  } else {
    w = wl_find(workload);
    if (w == NULL) {
      fprintf(stderr, "replay: unknown workload '%s'; known:", workload);
      for (const wl_workload_t *k = wl_workloads; k->name; k++) fprintf(stderr, " %s", k->name);
      fprintf(stderr, "\n");
      return 2;
    }
    wl_params_default(w, &params);
    if (count) params.count = count;
    if (threads) params.threads = threads;
  }
  if (every == 0) {
    size_t total = trace_path ? prog.n : params.count * 2;
    every = total / 200 ? total / 200 : 1;
  }

  size_t nres = 0;
  result_t *res = calloc(sa_registry_count() + 1, sizeof(result_t));
  for (size_t k = 0; sa_registry[k]; k++) {
    const sa_strategy_t *st = sa_registry[k];
    if (strcmp(strategy, "all") != 0 && strcmp(strategy, sa_strategy_name(st)) != 0) continue;
    result_t *r = &res[nres++];
    r->strategy = sa_strategy_name(st);
    run_opts_t timed = {0, 0, NULL, 0}, sampled = {every, dump_at, NULL, 1};
    char dump_path[4096];
    if (dump_prefix && dump_at) {
      char t[256];
      target_name(r->strategy, t, sizeof t);
      snprintf(dump_path, sizeof dump_path, "%s%s.dump", dump_prefix, t);
      sampled.dump_path = dump_path;
    }
    double *times = calloc(repeat, sizeof(double));
    for (size_t rep = 0; rep < repeat; rep++) {
      result_t scratch;
      memset(&scratch, 0, sizeof scratch);
      times[rep] = trace_path ? run_program(st, &cfg, &prog, &timed, &scratch)
                              : run_workload(st, &cfg, w, &params, &timed, &scratch);
      r->check_failures += scratch.check_failures;
      r->tag_mismatches += scratch.tag_mismatches;
      r->replay_nulls += scratch.replay_nulls;
    }
    qsort(times, repeat, sizeof(double), cmp_double);
    r->ms = times[repeat / 2] * 1e3;
    free(times);
    if (trace_path) run_program(st, &cfg, &prog, &sampled, r);
    else run_workload(st, &cfg, w, &params, &sampled, r);
    if (trace_path) r->ops = prog.n;
    r->ns_per_op = r->ops ? r->ms * 1e6 / (double)r->ops : 0;
    double sum = 0, msum = 0;
    for (size_t i = 0; i < r->samples.n; i++) msum += (double)r->samples.v[i].mapped;
    r->mean_mapped = r->samples.n ? msum / (double)r->samples.n : 0;
    for (size_t i = 0; i < r->samples.n; i++) {
      sum += r->samples.v[i].frag_pct;
      if (r->samples.v[i].frag_pct > r->frag_peak) r->frag_peak = r->samples.v[i].frag_pct;
    }
    r->frag_avg = r->samples.n ? sum / (double)r->samples.n : 0;
    r->frag_final = r->samples.n ? r->samples.v[r->samples.n - 1].frag_pct : 0;
    r->ok = r->check_failures == 0 && r->tag_mismatches == 0;
  }
  if (nres == 0) {
    fprintf(stderr, "replay: unknown strategy '%s' (--list)\n", strategy);
    return 2;
  }

  if (!quiet) {
    printf("\n%s: %s%s%s\n\n", trace_path ? "trace" : "workload", source, conf ? ", SA_CONF " : "",
           conf ? conf : "");
    printf("| strategy | time ms | ns/op | peak mapped KiB | overhead %% | frag avg %% | "
           "frag peak %% | frag end %% | NULLs | check |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (size_t i = 0; i < nres; i++) {
      result_t *r = &res[i];
      double base = trace_path ? (double)prog.peak_live_requested : 0;
      char over[32] = "n/a";
      if (base > 0) snprintf(over, sizeof over, "%.1f", ((double)r->peak_mapped / base - 1) * 100);
      char check[64];
      if (r->ok) snprintf(check, sizeof check, "clean");
      else snprintf(check, sizeof check, "FAILED (%zu check, %zu tag)", r->check_failures,
                    r->tag_mismatches);
      printf("| %s | %.2f | %.1f | %.0f | %s | %.1f | %.1f | %.1f | %zu | %s |\n", r->strategy,
             r->ms, r->ns_per_op, (double)r->peak_mapped / 1024, over, r->frag_avg, r->frag_peak,
             r->frag_final, r->replay_nulls, check);
    }
  }
  if (csv_path) {
    FILE *f = open_report(csv_path);
    if (!f) return 2;
    fprintf(f, "strategy,op,frag_pct,free_bytes,largest_free,mapped,allocated,live_requested\n");
    for (size_t i = 0; i < nres; i++)
      for (size_t j = 0; j < res[i].samples.n; j++) {
        sample_t *s = &res[i].samples.v[j];
        fprintf(f, "%s,%llu,%.3f,%llu,%llu,%llu,%llu,%llu\n", res[i].strategy,
                (unsigned long long)s->op, s->frag_pct, (unsigned long long)s->free_bytes,
                (unsigned long long)s->largest_free, (unsigned long long)s->mapped,
                (unsigned long long)s->allocated, (unsigned long long)s->live_requested);
      }
    fclose(f);
  }
  if (json_path) {
    FILE *f = open_report(json_path);
    if (!f) return 2;
    fprintf(f, "{\"source\": ");
    json_str(f, source);
    fprintf(f, ", \"kind\": \"%s\", \"conf\": ", trace_path ? "trace" : "workload");
    json_str(f, conf ? conf : "");
    fprintf(f, ", \"every\": %zu, \"operations\": %zu, \"peak_live_requested\": %llu, "
            "\"threads\": %zu, \"unmatched_frees\": %zu, \"unmatched_reallocs\": %zu, "
            "\"implied_frees\": %zu, \"failed_allocations\": %zu, \"live_at_end\": %zu, "
            "\"results\": [",
            every, prog.n, (unsigned long long)prog.peak_live_requested, prog.threads,
            prog.unmatched_frees, prog.unmatched_reallocs, prog.missing_frees,
            prog.failed_allocs, prog.live_at_end);
    for (size_t i = 0; i < nres; i++) {
      result_t *r = &res[i];
      fprintf(f, "%s\n  {\"strategy\": ", i ? "," : "");
      json_str(f, r->strategy);
      fprintf(f, ", \"ms\": %.4f, \"ns_per_op\": %.2f, \"ops\": %llu, \"peak_mapped\": %llu, "
              "\"final_mapped\": %llu, \"mean_mapped\": %.0f, \"peak_allocated_usable\": %llu, \"frag_avg\": %.3f, "
              "\"frag_peak\": %.3f, \"frag_final\": %.3f, \"check_failures\": %zu, "
              "\"tag_mismatches\": %zu, \"nulls\": %zu, \"ok\": %s}",
              r->ms, r->ns_per_op, (unsigned long long)r->ops,
              (unsigned long long)r->peak_mapped, (unsigned long long)r->final_mapped,
              r->mean_mapped, (unsigned long long)r->peak_allocated_usable, r->frag_avg, r->frag_peak,
              r->frag_final, r->check_failures, r->tag_mismatches, r->replay_nulls,
              r->ok ? "true" : "false");
    }
    fprintf(f, "\n]}\n");
    fclose(f);
  }
  int bad = 0;
  for (size_t i = 0; i < nres; i++) bad |= !res[i].ok;
  return bad ? 1 : 0;
}

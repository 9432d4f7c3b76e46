/* //bench:compare_driver: runs ONE workload through the libc entry points
 * (malloc/free/realloc) and prints ONE line of JSON with its metrics. The
 * allocator is whatever LD_PRELOAD puts in front of glibc: this binary links
 * only //bench/workloads, never stratalloc. bench/compare.py runs it once per
 * (repetition, workload, allocator).
 *
 *   compare_driver --workload mixed [--threads N] [--count N] [--scale F]
 *                  [--sample-every K] [--live] [--no-latency]
 *   compare_driver --list            one workload name per line
 *   compare_driver --which-malloc    which loaded object answers malloc (JSON)
 *
 * --linger: after the JSON line, the driver writes "linger\n", closes its
 * stdout and sleeps until killed (at most 60 s), so the orchestrator can read
 * its RSS a second after the work is done (what the allocator gives back by
 * itself when the program goes idle) while the next run goes on.
 *
 * Passes, in one process:
 *   1. timed:   the workload with the plain libc adapter; wall time,
 *               allocations per second; then peak RSS (VmHWM, and VmHWM minus
 *               the RSS before the run) and, when a stratalloc library is
 *               preloaded, its stats (sa_stats_write JSON) at the end.
 *   2. latency: the same workload again, with every K-th call timed (TSC,
 *               calibrated against CLOCK_MONOTONIC; the cost of an empty
 *               timer pair is measured and subtracted from every sample);
 *               stratalloc stats at the workload's peak live set
 *               (checkpoint: between calls, so no sample contains it).
 *   3. --live:  the workload through a counting adapter (a 16-byte header
 *               holds the size) for the peak live requested bytes, which
 *               the memory overhead is measured against. The same for every
 *               allocator, so the orchestrator runs it once per workload.
 *
 * Nothing here allocates through malloc on the measured paths: buffers are
 * mmap'd, output is formatted into a static buffer and written with write(2).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define CD_HAVE_TSC 1
#endif

#include "bench/workloads/allocator.h"
#include "bench/workloads/workloads.h"

/* ---- output ----------------------------------------------------------------- */

static char out_buf[1 << 17];
static size_t out_len;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out_buf + out_len, sizeof out_buf - out_len, fmt, ap);
  va_end(ap);
  if (n > 0) out_len += (size_t)n < sizeof out_buf - out_len ? (size_t)n : sizeof out_buf - out_len - 1;
}

static void out_flush(void) {
  size_t done = 0;
  while (done < out_len) {
    ssize_t n = write(1, out_buf + done, out_len - done);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      break;
    }
    done += (size_t)n;
  }
  out_len = 0;
}

static void die(const char *msg, const char *arg) {
  dprintf(2, "compare_driver: %s%s\n", msg, arg != NULL ? arg : "");
  exit(2);
}

static void *map(size_t bytes) {
  if (bytes == 0) bytes = 1;
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die("mmap failed", NULL);
  return p;
}

/* ---- clocks ----------------------------------------------------------------- */

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int use_tsc;
static double ns_per_tick = 1.0; /* 1 for the clock_gettime fallback */

static inline uint64_t ticks(void) {
#ifdef CD_HAVE_TSC
  if (use_tsc) {
    _mm_lfence();
    uint64_t t = __rdtsc();
    _mm_lfence();
    return t;
  }
#endif
  return mono_ns();
}

/* In-place heapsort: glibc's qsort may malloc a buffer, and the allocator
 * under test should see only the workload's calls. */
static void sift(uint64_t *v, size_t n, size_t i) {
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) return;
    if (c + 1 < n && v[c + 1] > v[c]) c++;
    if (v[i] >= v[c]) return;
    uint64_t t = v[i];
    v[i] = v[c];
    v[c] = t;
    i = c;
  }
}

static void sort_u64(uint64_t *v, size_t n) {
  for (size_t i = n / 2; i > 0; i--) sift(v, n, i - 1);
  for (size_t end = n; end > 1; end--) {
    uint64_t t = v[0];
    v[0] = v[end - 1];
    v[end - 1] = t;
    sift(v, end - 1, 0);
  }
}

/* Calibration: ticks per ns over ~20 ms, the median and the minimum nonzero
 * cost of an empty timer pair (subtracted from every sample), and the
 * resolution (smallest nonzero difference seen). */
static double timer_overhead_ticks, timer_resolution_ticks;

static void calibrate(void) {
#ifdef CD_HAVE_TSC
  use_tsc = getenv("COMPARE_DRIVER_CLOCK") == NULL || strcmp(getenv("COMPARE_DRIVER_CLOCK"), "tsc") == 0;
  if (use_tsc) {
    uint64_t n0 = mono_ns(), t0 = __rdtsc();
    while (mono_ns() - n0 < 20000000ull) {
    }
    uint64_t n1 = mono_ns(), t1 = __rdtsc();
    ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
  }
#endif
  enum { N = 20001 };
  static uint64_t d[N];
  uint64_t resolution = UINT64_MAX;
  for (int i = 0; i < N; i++) {
    uint64_t a = ticks();
    uint64_t b = ticks();
    d[i] = b - a;
  }
  for (int i = 0; i < 200; i++) { /* resolution: spin until the clock moves */
    uint64_t a = ticks(), b;
    while ((b = ticks()) == a) {
    }
    if (b - a < resolution) resolution = b - a;
  }
  sort_u64(d, N);
  timer_overhead_ticks = (double)d[N / 2];
  timer_resolution_ticks = (double)resolution;
}

/* ---- /proc and stratalloc ----------------------------------------------------- */

/* Value in kB of a "Key:   123 kB" line of /proc/self/status, or -1. */
static long proc_status_kb(const char *key) {
  static char buf[8192];
  int fd = open("/proc/self/status", O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  size_t klen = strlen(key);
  for (char *line = buf; line != NULL && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
    if (strncmp(line, key, klen) == 0 && line[klen] == ':') return strtol(line + klen + 1, NULL, 10);
  return -1;
}

typedef void *(*process_heap_fn)(void);
typedef int (*stats_write_fn)(void *, int, int);
static process_heap_fn sa_process_heap_p;
static stats_write_fn sa_stats_write_p;

/* The stratalloc stats of the process heap as one JSON object into dst, or
 * "null" when no stratalloc library is preloaded. */
static void stratalloc_stats(char *dst, size_t cap) {
  snprintf(dst, cap, "null");
  if (sa_process_heap_p == NULL || sa_stats_write_p == NULL) return;
  void *heap = sa_process_heap_p();
  if (heap == NULL) return;
  int fd = memfd_create("sa_stats", 0);
  if (fd < 0) return;
  if (sa_stats_write_p(heap, 1 /* SA_FORMAT_JSON */, fd) == 0 && lseek(fd, 0, SEEK_SET) == 0) {
    ssize_t n = read(fd, dst, cap - 1);
    if (n > 0) {
      dst[n] = 0;
      while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == ' ')) dst[--n] = 0;
      if (dst[0] != '{') snprintf(dst, cap, "null");
    } else {
      snprintf(dst, cap, "null");
    }
  }
  close(fd);
}

/* Which allocator answers malloc: a symbol only that allocator exports. */
static const char *detect_allocator(void) {
  if (dlsym(RTLD_DEFAULT, "sa_process_heap") != NULL) return "stratalloc";
  if (dlsym(RTLD_DEFAULT, "mallctl") != NULL || dlsym(RTLD_DEFAULT, "je_mallctl") != NULL) return "jemalloc";
  if (dlsym(RTLD_DEFAULT, "tc_malloc") != NULL) return "tcmalloc";
  if (dlsym(RTLD_DEFAULT, "mi_malloc") != NULL) return "mimalloc";
  return "glibc";
}

/* {"malloc_object": the file of the object whose malloc the dynamic linker
 * binds (the preloaded library, or libc), "detected": as above}. Used by the
 * orchestrator to reject a --allocator library that does not answer malloc. */
static int which_malloc(void) {
  void *sym = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info;
  const char *file = sym != NULL && dladdr(sym, &info) != 0 && info.dli_fname != NULL ? info.dli_fname : "";
  void *p = malloc(24); /* and it must hand out memory */
  out("{\"malloc_object\":\"%s\",\"detected\":\"%s\",\"malloc_ok\":%s}\n", file, detect_allocator(),
      p != NULL ? "true" : "false");
  free(p);
  out_flush();
  return p != NULL ? 0 : 3;
}

/* ---- latency sampling adapter -------------------------------------------------- */

enum { K_MALLOC = 0, K_FREE = 1, K_REALLOC = 2, K_KINDS = 3 };
static const char *const kind_names[K_KINDS] = {"malloc", "free", "realloc"};
#define MAX_THREAD_BUFS 512

typedef struct lat_buf {
  uint64_t *samples[K_KINDS]; /* ticks, overhead not yet subtracted */
  size_t n[K_KINDS];
  uint64_t calls[K_KINDS];
  size_t cap;
} lat_buf_t;

static lat_buf_t thread_bufs[MAX_THREAD_BUFS];
static _Atomic size_t thread_bufs_used;
static size_t sample_cap;     /* per thread and kind */
static unsigned sample_mask;  /* sample when (call & mask) == 0 */
static __thread lat_buf_t *tl_buf;
static __thread unsigned tl_calls[K_KINDS]; /* per kind: strides never alias */
static _Atomic uint64_t dropped_samples;

static lat_buf_t *lat_thread_buf(void) {
  if (tl_buf == NULL) {
    size_t i = atomic_fetch_add(&thread_bufs_used, 1);
    if (i >= MAX_THREAD_BUFS) die("too many threads for the latency buffers", NULL);
    lat_buf_t *b = &thread_bufs[i];
    b->cap = sample_cap;
    for (int k = 0; k < K_KINDS; k++) b->samples[k] = map(sample_cap * sizeof(uint64_t));
    tl_buf = b;
  }
  return tl_buf;
}

static inline void lat_record(lat_buf_t *b, int kind, uint64_t d) {
  if (b->n[kind] < b->cap) b->samples[kind][b->n[kind]++] = d;
  else atomic_fetch_add_explicit(&dropped_samples, 1, memory_order_relaxed);
}

static void *lat_malloc(void *ctx, size_t size) {
  (void)ctx;
  lat_buf_t *b = lat_thread_buf();
  b->calls[K_MALLOC]++;
  if ((tl_calls[K_MALLOC]++ & sample_mask) != 0) return malloc(size);
  uint64_t t0 = ticks();
  void *p = malloc(size);
  uint64_t t1 = ticks();
  lat_record(b, K_MALLOC, t1 - t0);
  return p;
}

static void lat_free(void *ctx, void *ptr) {
  (void)ctx;
  lat_buf_t *b = lat_thread_buf();
  b->calls[K_FREE]++;
  if ((tl_calls[K_FREE]++ & sample_mask) != 0) {
    free(ptr);
    return;
  }
  uint64_t t0 = ticks();
  free(ptr);
  uint64_t t1 = ticks();
  lat_record(b, K_FREE, t1 - t0);
}

static void *lat_realloc(void *ctx, void *ptr, size_t size) {
  (void)ctx;
  lat_buf_t *b = lat_thread_buf();
  b->calls[K_REALLOC]++;
  if ((tl_calls[K_REALLOC]++ & sample_mask) != 0) return realloc(ptr, size);
  uint64_t t0 = ticks();
  void *p = realloc(ptr, size);
  uint64_t t1 = ticks();
  lat_record(b, K_REALLOC, t1 - t0);
  return p;
}

static const sa_bench_allocator_t lat_allocator = {
    .name = "libc+latency", .ctx = NULL, .malloc = lat_malloc, .free = lat_free, .realloc = lat_realloc};

/* Nearest-rank percentile of sorted v[0..n). */
static uint64_t pct(const uint64_t *v, size_t n, double q) {
  if (n == 0) return 0;
  size_t rank = (size_t)(q / 100.0 * (double)n + 0.999999999);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return v[rank - 1];
}

static double to_ns(double t) {
  double ns = (t - timer_overhead_ticks) * ns_per_tick;
  return ns > 0 ? ns : 0;
}

/* {"count":..,"calls":..,"mean_ns":..,"p50_ns":..,...} of v[0..n), sorted here. */
static void out_latency(const char *name, uint64_t *v, size_t n, uint64_t calls) {
  sort_u64(v, n);
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += to_ns((double)v[i]);
  out("\"%s\":{\"samples\":%zu,\"calls\":%llu,\"mean_ns\":%.2f,\"p50_ns\":%.2f,\"p90_ns\":%.2f,"
      "\"p99_ns\":%.2f,\"p999_ns\":%.2f,\"max_ns\":%.2f}",
      name, n, (unsigned long long)calls, n ? sum / (double)n : 0.0, to_ns((double)pct(v, n, 50)),
      to_ns((double)pct(v, n, 90)), to_ns((double)pct(v, n, 99)), to_ns((double)pct(v, n, 99.9)),
      n ? to_ns((double)v[n - 1]) : 0.0);
}

static void out_latencies(void) {
  size_t used = atomic_load(&thread_bufs_used);
  if (used > MAX_THREAD_BUFS) used = MAX_THREAD_BUFS;
  size_t total = 0;
  uint64_t total_calls = 0;
  for (size_t i = 0; i < used; i++)
    for (int k = 0; k < K_KINDS; k++) total += thread_bufs[i].n[k];
  uint64_t *all = map(total * sizeof(uint64_t));
  size_t at = 0;
  out("\"latency\":{");
  for (int k = 0; k < K_KINDS; k++) {
    size_t nk = 0;
    uint64_t calls = 0;
    for (size_t i = 0; i < used; i++) {
      memcpy(all + at + nk, thread_bufs[i].samples[k], thread_bufs[i].n[k] * sizeof(uint64_t));
      nk += thread_bufs[i].n[k];
      calls += thread_bufs[i].calls[k];
    }
    total_calls += calls;
    out_latency(kind_names[k], all + at, nk, calls);
    out(",");
    at += nk;
  }
  out_latency("all", all, total, total_calls);
  out(",\"sample_every\":%u,\"dropped_samples\":%llu}", sample_mask + 1,
      (unsigned long long)atomic_load(&dropped_samples));
}

/* ---- peak live requested bytes (pass 3) ------------------------------------------ */

static _Atomic size_t live_bytes, peak_live_bytes;

static void live_add(size_t n) {
  size_t now = atomic_fetch_add(&live_bytes, n) + n;
  size_t peak = atomic_load(&peak_live_bytes);
  while (now > peak && !atomic_compare_exchange_weak(&peak_live_bytes, &peak, now)) {
  }
}

static void *live_malloc(void *ctx, size_t size) {
  (void)ctx;
  size_t *h = malloc(size + 16);
  if (h == NULL) return NULL;
  *h = size;
  live_add(size);
  return h + 2;
}

static void live_free(void *ctx, void *ptr) {
  (void)ctx;
  if (ptr == NULL) return;
  size_t *h = (size_t *)ptr - 2;
  atomic_fetch_sub(&live_bytes, *h);
  free(h);
}

static void *live_realloc(void *ctx, void *ptr, size_t size) {
  (void)ctx;
  if (ptr == NULL) return live_malloc(ctx, size);
  size_t *h = (size_t *)ptr - 2, old = *h;
  size_t *g = realloc(h, size + 16);
  if (g == NULL) return NULL;
  *g = size;
  atomic_fetch_sub(&live_bytes, old);
  live_add(size);
  return g + 2;
}

static const sa_bench_allocator_t live_allocator = {
    .name = "libc+live", .ctx = NULL, .malloc = live_malloc, .free = live_free, .realloc = live_realloc};

/* ---- checkpoint: stratalloc stats at the peak live set (pass 2) ------------------ */

static char stats_peak[16384], stats_end[16384];
static _Atomic int peak_sampled;

static void at_peak(void *arg) {
  (void)arg;
  int expected = 0;
  if (atomic_compare_exchange_strong(&peak_sampled, &expected, 1))
    stratalloc_stats(stats_peak, sizeof stats_peak);
}

static double tv_s(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

/* ---- main ----------------------------------------------------------------------- */

static void usage(void) {
  dprintf(2,
          "usage: compare_driver --workload NAME [--threads N] [--count N] [--scale F]\n"
          "                      [--sample-every K] [--live] [--no-latency] [--linger]\n"
          "       compare_driver --list | --which-malloc\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *name = NULL;
  long threads = -1, sample_every = 0, count = 0;
  double scale = 1.0;
  int live = 0, latency = 1, linger = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--list") == 0) {
      for (const wl_workload_t *w = wl_workloads; w->name != NULL; w++)
        out("%s\t%s\n", w->name, w->help);
      out_flush();
      return 0;
    } else if (strcmp(a, "--which-malloc") == 0) {
      return which_malloc();
    } else if (strcmp(a, "--linger") == 0) {
      linger = 1;
    } else if (strcmp(a, "--workload") == 0 && v) {
      name = v, i++;
    } else if (strcmp(a, "--threads") == 0 && v) {
      threads = strtol(v, NULL, 10), i++;
    } else if (strcmp(a, "--count") == 0 && v) {
      count = strtol(v, NULL, 10), i++;
    } else if (strcmp(a, "--scale") == 0 && v) {
      scale = strtod(v, NULL), i++;
    } else if (strcmp(a, "--sample-every") == 0 && v) {
      sample_every = strtol(v, NULL, 10), i++;
    } else if (strcmp(a, "--live") == 0) {
      live = 1;
    } else if (strcmp(a, "--no-latency") == 0) {
      latency = 0;
    } else {
      usage();
    }
  }
  if (name == NULL) usage();
  const wl_workload_t *w = wl_find(name);
  if (w == NULL) {
    dprintf(2, "compare_driver: unknown workload '%s'; valid:", name);
    for (const wl_workload_t *x = wl_workloads; x->name != NULL; x++) dprintf(2, " %s", x->name);
    dprintf(2, "\n");
    return 2;
  }
  if (scale <= 0 || threads == 0 || threads > 256) usage();

  wl_params_t p;
  wl_params_default(w, &p);
  if (threads > 0) p.threads = (size_t)threads;
  if (count > 0) p.count = (size_t)count;
  p.count = (size_t)((double)p.count * scale);
  if (p.count < 1) p.count = 1;
  size_t slots = wl_scratch_slots(w, &p);
  p.scratch = map(slots * sizeof(void *));
  p.scratch_cap = slots;
  memset(p.scratch, 0, slots * sizeof(void *)); /* touched before the RSS baseline */

  sa_process_heap_p = (process_heap_fn)dlsym(RTLD_DEFAULT, "sa_process_heap");
  sa_stats_write_p = (stats_write_fn)dlsym(RTLD_DEFAULT, "sa_stats_write");
  const char *detected = detect_allocator();
  if (latency) calibrate(); /* 20 ms: only when latencies are sampled */

  /* Pass 1: timed. */
  long rss_before = proc_status_kb("VmRSS");
  struct rusage ru0, ru; /* the timed pass's own share (not the calibration's) */
  getrusage(RUSAGE_SELF, &ru0);
  uint64_t t0 = mono_ns();
  size_t ops = w->run(sa_bench_system_allocator(), &p);
  uint64_t t1 = mono_ns();
  long hwm = proc_status_kb("VmHWM");
  getrusage(RUSAGE_SELF, &ru);
  stratalloc_stats(stats_end, sizeof stats_end);

  out("{\"workload\":\"%s\",\"detected_allocator\":\"%s\",\"ok\":%s,", w->name, detected,
      ops == WL_FAILED ? "false" : "true");
  out("\"params\":{\"count\":%zu,\"threads\":%zu,\"slots\":%zu,\"size\":%zu,\"seed\":%llu},", p.count,
      p.threads, p.slots, p.size, (unsigned long long)p.seed);
  out("\"ops\":%zu,\"wall_ns\":%llu,\"allocs_per_sec\":%.1f,",
      ops == WL_FAILED ? (size_t)0 : ops, (unsigned long long)(t1 - t0),
      ops == WL_FAILED || t1 == t0 ? 0.0 : (double)ops * 1e9 / (double)(t1 - t0));
  out("\"ru\":{\"user_s\":%.6f,\"sys_s\":%.6f,\"minflt\":%ld,\"majflt\":%ld,\"nvcsw\":%ld,\"nivcsw\":%ld},",
      tv_s(ru.ru_utime) - tv_s(ru0.ru_utime), tv_s(ru.ru_stime) - tv_s(ru0.ru_stime),
      ru.ru_minflt - ru0.ru_minflt, ru.ru_majflt - ru0.ru_majflt, ru.ru_nvcsw - ru0.ru_nvcsw,
      ru.ru_nivcsw - ru0.ru_nivcsw);
  out("\"rss_before_kb\":%ld,\"peak_rss_kb\":%ld,\"peak_rss_delta_kb\":%ld,", rss_before, hwm,
      hwm >= 0 && rss_before >= 0 ? hwm - rss_before : -1);
  if (latency)
    out("\"timer\":{\"source\":\"%s\",\"ns_per_tick\":%.6f,\"overhead_ns\":%.2f,\"resolution_ns\":%.2f},",
      use_tsc ? "tsc" : "clock_gettime", ns_per_tick, timer_overhead_ticks * ns_per_tick,
      timer_resolution_ticks * ns_per_tick);

  /* Pass 2: latency. */
  if (latency && ops != WL_FAILED) {
    uint64_t calls = 2 * (uint64_t)ops + 16;
    unsigned every = 1;
    if (sample_every > 0) {
      while (every < (unsigned long)sample_every) every <<= 1;
    } else {
      while (calls / every > 200000) every <<= 1; /* about 200k samples at most */
    }
    sample_mask = every - 1;
    sample_cap = (size_t)(calls / every) + 4096;
    p.checkpoint = at_peak;
    p.checkpoint_arg = NULL;
    snprintf(stats_peak, sizeof stats_peak, "null");
    size_t ops2 = w->run(&lat_allocator, &p);
    p.checkpoint = NULL;
    if (ops2 == WL_FAILED) out("\"latency_failed\":true,");
    else out_latencies(), out(",");
    out("\"sa_stats_peak\":%s,", stats_peak);
  }
  out("\"sa_stats_end\":%s", stats_end);

  /* Pass 3: peak live requested bytes. */
  if (live && ops != WL_FAILED) {
    size_t ops3 = w->run(&live_allocator, &p);
    out(",\"peak_live_bytes\":%zu", ops3 == WL_FAILED ? (size_t)0 : atomic_load(&peak_live_bytes));
  }
  out(",\"rss_end_kb\":%ld}\n", proc_status_kb("VmRSS"));
  out_flush();
  if (linger && ops != WL_FAILED) {
    out("linger\n");
    out_flush();
    close(1);
    for (int i = 0; i < 60; i++) sleep(1); /* killed by the orchestrator long before */
  }
  return ops == WL_FAILED ? 3 : 0;
}

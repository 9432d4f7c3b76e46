/* fork from a multi-threaded program, run under LD_PRELOAD of a libsa_*.so.
 *
 * Worker threads malloc/realloc/free continuously while the main thread forks
 * many times. Each child allocates (malloc, calloc, realloc, strdup, printf to
 * a memory stream, a big printf), checks its data, and exits 0; the parent
 * requires every child to exit 0. A child that deadlocks on an allocator lock
 * held by a worker at fork time is caught by a per-child timeout.
 *
 * This program is NOT linked with the allocator. With --require-stratalloc it
 * requires that the preloaded stratalloc serves malloc: sa_process_heap is
 * found with dlsym(RTLD_DEFAULT), every Nth child runs sa_check on its copy of
 * the heap, and at the end the parent runs sa_check and writes the heap's
 * stats (JSON) to stderr and requires total_allocations > 0.
 *
 * Usage: fork_threads [--require-stratalloc] [forks] [threads] */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef void *(*process_heap_fn)(void);
typedef size_t (*check_fn)(void *heap);
typedef int (*stats_write_fn)(void *heap, int format, int fd);

static process_heap_fn sa_process_heap_p;
static check_fn sa_check_p;
static stats_write_fn sa_stats_write_p;

static atomic_int stop_workers;
static atomic_ulong worker_ops;

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

/* Sizes from tiny to above the default mmap threshold (128 KiB). */
static size_t pick_size(uint64_t *rng) {
  uint64_t r = xorshift(rng);
  switch (r % 16) {
    case 0: return 1 + (r >> 8) % 300000; /* sometimes large */
    case 1: case 2: return 1 + (r >> 8) % 8192;
    default: return 1 + (r >> 8) % 256;
  }
}

#define SLOTS 256

static void *worker(void *arg) {
  uint64_t rng = 0x9E3779B97F4A7C15ull ^ (uintptr_t)arg;
  void *slot[SLOTS] = {0};
  size_t len[SLOTS] = {0};
  unsigned char tag[SLOTS] = {0};
  while (!atomic_load_explicit(&stop_workers, memory_order_relaxed)) {
    size_t i = xorshift(&rng) % SLOTS;
    if (slot[i] != NULL) {
      /* verify the first and last byte we wrote */
      unsigned char *p = slot[i];
      if (p[0] != tag[i] || p[len[i] - 1] != tag[i]) {
        fprintf(stderr, "fork_threads: worker data corrupted at %p (size %zu)\n", slot[i], len[i]);
        abort();
      }
      if (xorshift(&rng) % 4 == 0) {
        size_t n = pick_size(&rng);
        void *q = realloc(slot[i], n);
        if (q == NULL) abort();
        size_t keep = n < len[i] ? n : len[i];
        if (((unsigned char *)q)[0] != tag[i] || ((unsigned char *)q)[keep - 1] != tag[i]) {
          fprintf(stderr, "fork_threads: realloc lost data\n");
          abort();
        }
        slot[i] = q;
        len[i] = n;
        memset(q, tag[i], n);
        continue;
      }
      free(slot[i]);
      slot[i] = NULL;
    } else {
      len[i] = pick_size(&rng);
      slot[i] = (xorshift(&rng) & 1) ? malloc(len[i]) : calloc(1, len[i]);
      if (slot[i] == NULL) abort();
      tag[i] = (unsigned char)(xorshift(&rng) | 1);
      memset(slot[i], tag[i], len[i]);
    }
    atomic_fetch_add_explicit(&worker_ops, 1, memory_order_relaxed);
  }
  for (size_t i = 0; i < SLOTS; i++) free(slot[i]);
  return NULL;
}

/* What every child does. Returns the exit code. */
static int child_main(int index, int run_check) {
  char buf[64];
  snprintf(buf, sizeof buf, "child %d", index);
  char *s = strdup(buf);
  if (s == NULL || strcmp(s, buf) != 0) return 10;

  /* many small, some large, calloc zeroing, realloc growth */
  void *ptrs[200];
  for (int i = 0; i < 200; i++) {
    size_t n = (size_t)(i * 37 % 1000) + 1;
    if (i % 50 == 0) n = 512 * 1024;
    ptrs[i] = malloc(n);
    if (ptrs[i] == NULL) return 11;
    memset(ptrs[i], i, n);
  }
  unsigned char *z = calloc(4096, 3);
  if (z == NULL) return 12;
  for (size_t i = 0; i < 4096 * 3; i++)
    if (z[i] != 0) return 13;
  char *r = NULL;
  for (size_t n = 16; n <= (1u << 20); n *= 2) {
    char *q = realloc(r, n);
    if (q == NULL) return 14;
    q[n - 1] = 'x';
    r = q;
  }
  free(r);
  free(z);
  for (int i = 0; i < 200; i += 2) free(ptrs[i]);

  /* stdio allocates its buffers; open_memstream reallocs as it grows */
  char *text = NULL;
  size_t text_len = 0;
  FILE *ms = open_memstream(&text, &text_len);
  if (ms == NULL) return 15;
  for (int i = 0; i < 2000; i++) fprintf(ms, "%s line %d %s\n", s, i, buf);
  if (fclose(ms) != 0) return 16;
  if (text_len < 2000 * 10 || strncmp(text, s, strlen(s)) != 0) return 17;
  free(text);

  char *big = NULL;
  if (asprintf(&big, "%s:%0*d", s, 200000, index) < 0) return 18;
  if (strlen(big) < 200000) return 19;
  free(big);

  for (int i = 1; i < 200; i += 2) free(ptrs[i]);
  printf("%s ok\n", s);
  fflush(stdout);
  free(s);

  if (run_check && sa_check_p != NULL) {
    size_t failures = sa_check_p(sa_process_heap_p());
    if (failures != 0) {
      fprintf(stderr, "fork_threads: child %d: sa_check found %zu failures\n", index, failures);
      return 20;
    }
  }
  return 0;
}

/* Waits for pid at most timeout_ms; kills it (SIGABRT for a core, then
 * SIGKILL) if it does not exit. Returns the wait status, or -1. */
static int wait_with_timeout(pid_t pid, int timeout_ms) {
  int status = 0;
  for (int waited = 0;; waited += 1) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) return status;
    if (w < 0) {
      perror("waitpid");
      return -1;
    }
    if (waited >= timeout_ms) break;
    struct timespec ts = {0, 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  fprintf(stderr, "fork_threads: child %d did not exit within %d ms (deadlock after fork?)\n",
          (int)pid, timeout_ms);
  kill(pid, SIGABRT);
  struct timespec ts = {0, 200 * 1000 * 1000};
  nanosleep(&ts, NULL);
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

/* Pulls "total_allocations" out of the JSON stats. */
static int stats_total_allocations(void *heap, unsigned long long *out) {
  char path[] = "/tmp/fork_threads_statsXXXXXX";
  const char *dir = getenv("TEST_TMPDIR");
  char pathbuf[4096];
  if (dir != NULL) {
    snprintf(pathbuf, sizeof pathbuf, "%s/fork_threads_statsXXXXXX", dir);
  } else {
    snprintf(pathbuf, sizeof pathbuf, "%s", path);
  }
  int fd = mkstemp(pathbuf);
  if (fd < 0) {
    perror("mkstemp");
    return -1;
  }
  unlink(pathbuf);
  if (sa_stats_write_p(heap, 1 /* SA_FORMAT_JSON */, fd) != 0) {
    perror("sa_stats_write");
    close(fd);
    return -1;
  }
  off_t size = lseek(fd, 0, SEEK_END);
  if (size <= 0) {
    close(fd);
    return -1;
  }
  char *json = malloc((size_t)size + 1);
  if (json == NULL || pread(fd, json, (size_t)size, 0) != size) {
    close(fd);
    free(json);
    return -1;
  }
  close(fd);
  json[size] = '\0';
  fprintf(stderr, "fork_threads: stats of the preloaded heap:\n%s\n", json);
  int rc = -1;
  char *key = strstr(json, "\"total_allocations\"");
  if (key != NULL) {
    key += strlen("\"total_allocations\"");
    while (*key == ' ' || *key == ':') key++;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(key, &end, 10);
    if (end != key && errno == 0) {
      *out = v;
      rc = 0;
    }
  }
  free(json);
  return rc;
}

int main(int argc, char **argv) {
  int require = 0;
  int argi = 1;
  if (argi < argc && strcmp(argv[argi], "--require-stratalloc") == 0) {
    require = 1;
    argi++;
  }
  int forks = argi < argc ? atoi(argv[argi++]) : 200;
  int nthreads = argi < argc ? atoi(argv[argi++]) : 4;
  if (forks <= 0 || nthreads <= 0 || nthreads > 64) {
    fprintf(stderr, "usage: %s [--require-stratalloc] [forks] [threads]\n", argv[0]);
    return 2;
  }

  sa_process_heap_p = (process_heap_fn)dlsym(RTLD_DEFAULT, "sa_process_heap");
  sa_check_p = (check_fn)dlsym(RTLD_DEFAULT, "sa_check");
  sa_stats_write_p = (stats_write_fn)dlsym(RTLD_DEFAULT, "sa_stats_write");
  if (require) {
    if (sa_process_heap_p == NULL || sa_check_p == NULL || sa_stats_write_p == NULL) {
      fprintf(stderr,
              "fork_threads: --require-stratalloc: sa_process_heap/sa_check/sa_stats_write "
              "not found with dlsym (is LD_PRELOAD set? LD_PRELOAD=%s)\n",
              getenv("LD_PRELOAD") ? getenv("LD_PRELOAD") : "(unset)");
      return 3;
    }
    if (sa_process_heap_p() == NULL) {
      fprintf(stderr, "fork_threads: sa_process_heap() returned NULL\n");
      return 3;
    }
    /* malloc must be the preloaded one: the libc name and dlsym agree, and a
     * fresh allocation shows up in the stats. */
    void *libc_malloc = dlsym(RTLD_DEFAULT, "malloc");
    Dl_info info;
    if (libc_malloc == NULL || dladdr(libc_malloc, &info) == 0 || info.dli_fname == NULL ||
        strstr(info.dli_fname, "libsa_") == NULL) {
      fprintf(stderr, "fork_threads: malloc resolves to %s, not a libsa_*.so\n",
              libc_malloc && dladdr(libc_malloc, &info) && info.dli_fname ? info.dli_fname
                                                                        : "(unknown)");
      return 3;
    }
    fprintf(stderr, "fork_threads: malloc is served by %s\n", info.dli_fname);
  }

  pthread_t threads[64];
  for (int i = 0; i < nthreads; i++) {
    if (pthread_create(&threads[i], NULL, worker, (void *)(uintptr_t)(i + 1)) != 0) {
      perror("pthread_create");
      return 4;
    }
  }
  /* let the workers get going so that forks land mid-operation */
  while (atomic_load(&worker_ops) < 1000) sched_yield();

  int failed = 0;
  fflush(stdout);
  fflush(stderr);
  for (int i = 0; i < forks; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      failed++;
      break;
    }
    if (pid == 0) {
      alarm(30); /* a deadlocked child dies by SIGALRM if the parent cannot kill it */
      int rc = child_main(i, i % 25 == 0);
      fflush(stdout);
      _exit(rc);
    }
    /* the parent keeps allocating too */
    char *p = malloc((size_t)(i % 7 + 1) * 1000);
    if (p == NULL) return 5;
    memset(p, 1, (size_t)(i % 7 + 1) * 1000);
    int status = wait_with_timeout(pid, 20000);
    free(p);
    if (status == -1) {
      failed++;
    } else if (WIFSIGNALED(status)) {
      fprintf(stderr, "fork_threads: child %d (pid %d) killed by signal %d (%s)\n", i, (int)pid,
              WTERMSIG(status), strsignal(WTERMSIG(status)));
      failed++;
    } else if (WEXITSTATUS(status) != 0) {
      fprintf(stderr, "fork_threads: child %d (pid %d) exited with %d\n", i, (int)pid,
              WEXITSTATUS(status));
      failed++;
    }
    if (failed >= 5) {
      fprintf(stderr, "fork_threads: stopping after %d failed children\n", failed);
      break;
    }
  }

  atomic_store(&stop_workers, 1);
  for (int i = 0; i < nthreads; i++) pthread_join(threads[i], NULL);

  if (require) {
    size_t failures = sa_check_p(sa_process_heap_p());
    if (failures != 0) {
      fprintf(stderr, "fork_threads: sa_check on the parent's heap: %zu failures\n", failures);
      failed++;
    }
    unsigned long long total = 0;
    if (stats_total_allocations(sa_process_heap_p(), &total) != 0) {
      fprintf(stderr, "fork_threads: could not read total_allocations from sa_stats_write\n");
      failed++;
    } else if (total == 0) {
      fprintf(stderr, "fork_threads: total_allocations is 0: malloc is not served by stratalloc\n");
      failed++;
    } else {
      fprintf(stderr, "fork_threads: total_allocations=%llu\n", total);
    }
  }

  fprintf(stderr, "fork_threads: %d forks, %d threads, %lu worker operations, %d failed\n", forks,
          nthreads, (unsigned long)atomic_load(&worker_ops), failed);
  return failed == 0 ? 0 : 1;
}

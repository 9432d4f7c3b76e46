/* SA_STATS writer: see stats_env.h. Nothing here allocates from the process
 * heap except pthread_create (called from a constructor). */
#define _GNU_SOURCE
#include "stratalloc/stats_env.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h> /* rename */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SINKS 4
#define PATH_MAX_LEN 1024

typedef struct sink {
  sa_format_t format;
  char pattern[PATH_MAX_LEN]; /* as given, %p not yet expanded */
} sink_t;

static sink_t sinks[MAX_SINKS];
static int nsinks;
static unsigned interval_s = 10;
static sa_heap_t *stats_heap;
static int started;
static pid_t owner_pid;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond = PTHREAD_COND_INITIALIZER;
static int stopping;

static void say(const char *a, const char *b) {
  (void)!write(2, "stratalloc: SA_STATS: ", 22);
  (void)!write(2, a, strlen(a));
  if (b) (void)!write(2, b, strlen(b));
  (void)!write(2, "\n", 1);
}

static size_t put_uint(char *dst, size_t len, size_t cap, uint64_t v) {
  char tmp[24];
  int n = 0;
  do tmp[n++] = (char)('0' + v % 10), v /= 10; while (v);
  while (n > 0 && len + 1 < cap) dst[len++] = tmp[--n];
  dst[len] = '\0';
  return len;
}

/* pattern with %p expanded, into out; returns its length or 0 if too long. */
static size_t expand(const char *pattern, char *out, size_t cap) {
  size_t len = 0;
  for (const char *s = pattern; *s; s++) {
    if (s[0] == '%' && s[1] == 'p') {
      len = put_uint(out, len, cap, (uint64_t)getpid());
      s++;
    } else if (len + 1 < cap) {
      out[len++] = *s;
    } else {
      return 0;
    }
  }
  out[len] = '\0';
  return len + 16 < cap ? len : 0;
}

static int write_sink(const sink_t *k) {
  char path[PATH_MAX_LEN + 32], tmp[PATH_MAX_LEN + 64];
  size_t len = expand(k->pattern, path, PATH_MAX_LEN);
  if (len == 0) return -1;
  memcpy(tmp, path, len);
  size_t t = len;
  const char *suffix = ".tmp.";
  memcpy(tmp + t, suffix, 5);
  t += 5;
  t = put_uint(tmp, t, sizeof tmp, (uint64_t)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  int rc = sa_stats_write(stats_heap, k->format, fd);
  if (close(fd) != 0) rc = -1;
  if (rc != 0 || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

int sa_stats_env_write_now(void) {
  if (!__atomic_load_n(&started, __ATOMIC_ACQUIRE)) return 0;
  int saved = errno, rc = 0;
  pthread_mutex_lock(&write_lock);
  for (int i = 0; i < nsinks; i++)
    if (write_sink(&sinks[i]) != 0) rc = -1;
  pthread_mutex_unlock(&write_lock);
  errno = saved;
  return rc;
}

static void *writer(void *arg) {
  (void)arg;
  pthread_mutex_lock(&write_lock);
  while (!stopping) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += interval_s;
    while (!stopping && pthread_cond_timedwait(&stop_cond, &write_lock, &until) != ETIMEDOUT) {
    }
    if (stopping) break;
    for (int i = 0; i < nsinks; i++) (void)write_sink(&sinks[i]);
  }
  pthread_mutex_unlock(&write_lock);
  return NULL;
}

static int paths_per_pid(void) {
  for (int i = 0; i < nsinks; i++)
    if (strstr(sinks[i].pattern, "%p") == NULL) return 0;
  return 1;
}

static void child_after_fork(void) {
  /* The writer thread does not exist here. Keep only the exit write, and
   * only if it cannot overwrite the parent's file. */
  pthread_mutex_init(&write_lock, NULL);
  if (!paths_per_pid()) __atomic_store_n(&started, 0, __ATOMIC_RELEASE);
}

__attribute__((destructor)) static void stats_env_fini(void) {
  if (!__atomic_load_n(&started, __ATOMIC_ACQUIRE)) return;
  pthread_mutex_lock(&write_lock);
  stopping = 1;
  pthread_cond_broadcast(&stop_cond);
  pthread_mutex_unlock(&write_lock);
  (void)sa_stats_env_write_now();
}

static int parse_item(const char *item, size_t n) {
  static const struct { const char *name; sa_format_t format; } kinds[] = {
      {"prom:", SA_FORMAT_PROMETHEUS}, {"json:", SA_FORMAT_JSON}, {"text:", SA_FORMAT_TEXT}};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    size_t kl = strlen(kinds[k].name);
    if (n > kl && strncmp(item, kinds[k].name, kl) == 0) {
      if (nsinks == MAX_SINKS || n - kl >= PATH_MAX_LEN - 48) return -1;
      sinks[nsinks].format = kinds[k].format;
      memcpy(sinks[nsinks].pattern, item + kl, n - kl);
      sinks[nsinks].pattern[n - kl] = '\0';
      nsinks++;
      return 0;
    }
  }
  if (n > 9 && strncmp(item, "interval:", 9) == 0) {
    unsigned v = 0;
    for (size_t i = 9; i < n; i++) {
      if (item[i] < '0' || item[i] > '9' || v > 86400) return -1;
      v = v * 10 + (unsigned)(item[i] - '0');
    }
    interval_s = v;
    return 0;
  }
  return -1;
}

int sa_stats_env_start(sa_heap_t *heap) {
  const char *spec = getenv("SA_STATS");
  if (spec == NULL || *spec == '\0' || heap == NULL) return 0;
  if (__atomic_exchange_n(&owner_pid, getpid(), __ATOMIC_ACQ_REL) != 0) return nsinks;
  const char *s = spec;
  while (*s) {
    const char *e = strchr(s, ',');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n && parse_item(s, n) != 0) {
      say("bad item (want prom:PATH, json:PATH, text:PATH, interval:SECONDS) in ", spec);
      nsinks = 0;
      return -1;
    }
    s += n;
    if (*s == ',') s++;
  }
  if (nsinks == 0) {
    say("no file in ", spec);
    return -1;
  }
  stats_heap = heap;
  __atomic_store_n(&started, 1, __ATOMIC_RELEASE);
  pthread_atfork(NULL, NULL, child_after_fork);
  (void)sa_stats_env_write_now(); /* the file exists from the start */
  if (interval_s > 0) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, writer, NULL) != 0) say("cannot start the writer thread", NULL);
    pthread_attr_destroy(&attr);
  }
  return nsinks;
}

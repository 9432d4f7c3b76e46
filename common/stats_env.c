/* SA_STATS writer: see stats_env.h. Nothing here allocates from the process
 * heap except pthread_create (called from a constructor).
 *
 * Each bad item of SA_STATS is named on stderr with its reason and skipped;
 * the good ones are kept. A file that cannot be written at startup is named
 * with the path and the errno and dropped; a later failure is reported once
 * (until a write succeeds again). SA_STATS is read with secure_getenv: in
 * secure mode (setuid, setgid, file capabilities) it is ignored, or any user
 * could make such a program write a file where only it may. */
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

#include "fmt.h"

#define MAX_SINKS 4
#define PATH_MAX_LEN 1024
#define SHOW_MAX 200 /* bytes of an item shown in a message */

typedef struct sink {
  sa_format_t format;
  int failing;                /* the last write failed (reported once) */
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

/* ======================================================================== */
/* Messages                                                                 */
/* ======================================================================== */

static void msg_begin(sa_buf_t *b, char *storage, size_t cap) {
  sa_buf_init(b, storage, cap, 2);
  sa_buf_str(b, "stratalloc: SA_STATS: ");
}

static void put_text(sa_buf_t *b, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < len && i < SHOW_MAX; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c >= 0x7f) {
      sa_buf_str(b, "\\x");
      sa_buf_char(b, hex[c >> 4]);
      sa_buf_char(b, hex[c & 15]);
    } else {
      sa_buf_char(b, (char)c);
    }
  }
  if (len > SHOW_MAX) sa_buf_str(b, "...");
}

static void msg_end(sa_buf_t *b) {
  sa_buf_char(b, '\n');
  sa_buf_flush(b);
}

/* strerror's text for the errors a file write meets (strerror itself may
 * translate, and so load a locale, which allocates). */
static const char *errno_text(int e) {
  switch (e) {
    case ENOENT: return "No such file or directory";
    case EACCES: return "Permission denied";
    case EPERM: return "Operation not permitted";
    case EROFS: return "Read-only file system";
    case ENOTDIR: return "Not a directory";
    case EISDIR: return "Is a directory";
    case ENOSPC: return "No space left on device";
    case EDQUOT: return "Disk quota exceeded";
    case EFBIG: return "File too large";
    case ENAMETOOLONG: return "File name too long";
    case ELOOP: return "Too many levels of symbolic links";
    case EMFILE: return "Too many open files";
    case ENFILE: return "Too many open files in system";
    case EIO: return "Input/output error";
    case EXDEV: return "Invalid cross-device link";
    case EBUSY: return "Device or resource busy";
    case ETXTBSY: return "Text file busy";
    case EEXIST: return "File exists";
    case ENOTEMPTY: return "Directory not empty";
    case EINVAL: return "Invalid argument";
    case EBADF: return "Bad file descriptor";
    case EINTR: return "Interrupted system call";
    case EAGAIN: return "Resource temporarily unavailable";
    case ENOMEM: return "Cannot allocate memory";
    case ENXIO: return "No such device or address";
    case ENODEV: return "No such device";
    case EOVERFLOW: return "Value too large for defined data type";
    case EPIPE: return "Broken pipe";
    default: return NULL;
  }
}

static void put_errno(sa_buf_t *b, int e) {
  const char *text = errno_text(e);
  if (text) {
    sa_buf_str(b, text);
    sa_buf_str(b, " (errno ");
  } else {
    sa_buf_str(b, "errno ");
  }
  sa_buf_u64(b, (uint64_t)e);
  if (text) sa_buf_char(b, ')');
}

/* "bad item 'ITEM': WHY; ignored" (the other items are kept). */
static void bad_item(const char *item, size_t n, const char *why, const char *more) {
  char storage[1024];
  sa_buf_t b;
  msg_begin(&b, storage, sizeof storage);
  sa_buf_str(&b, "bad item '");
  put_text(&b, item, n);
  sa_buf_str(&b, "': ");
  sa_buf_str(&b, why);
  if (more) sa_buf_str(&b, more);
  sa_buf_str(&b, "; ignored");
  msg_end(&b);
}

/* ======================================================================== */
/* Writing                                                                  */
/* ======================================================================== */

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

/* Why a write failed: the step, the file it was on, the errno. */
typedef struct {
  const char *step;
  const char *file;
  int err;
} write_error_t;

static int write_sink(const sink_t *k, char *path, char *tmp, write_error_t *e) {
  size_t len = expand(k->pattern, path, PATH_MAX_LEN);
  e->file = path;
  if (len == 0) {
    memcpy(path, k->pattern, strlen(k->pattern) + 1); /* fits: PATH_MAX_LEN */
    e->step = "expanding %p in";
    e->err = ENAMETOOLONG;
    return -1;
  }
  memcpy(tmp, path, len);
  size_t t = len;
  memcpy(tmp + t, ".tmp.", 5);
  t += 5;
  t = put_uint(tmp, t, PATH_MAX_LEN + 64, (uint64_t)getpid());
  e->file = tmp;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    e->step = "creating";
    e->err = errno;
    return -1;
  }
  int rc = sa_stats_write(stats_heap, k->format, fd);
  e->err = errno;
  e->step = "writing";
  if (close(fd) != 0 && rc == 0) {
    rc = -1;
    e->err = errno;
    e->step = "closing";
  }
  if (rc == 0 && rename(tmp, path) != 0) {
    rc = -1;
    e->err = errno;
    e->step = "renaming";
  }
  if (rc != 0) unlink(tmp);
  return rc;
}

/* "cannot write PATH: STEP FILE: ERRNO" + tail. */
static void report_write(const char *path, const write_error_t *e, const char *tail) {
  char storage[PATH_MAX_LEN * 2 + 256];
  sa_buf_t b;
  msg_begin(&b, storage, sizeof storage);
  sa_buf_str(&b, "cannot write ");
  sa_buf_str(&b, path);
  sa_buf_str(&b, ": ");
  sa_buf_str(&b, e->step);
  sa_buf_char(&b, ' ');
  sa_buf_str(&b, e->file);
  if (strcmp(e->step, "renaming") == 0) {
    sa_buf_str(&b, " to ");
    sa_buf_str(&b, path);
  }
  sa_buf_str(&b, ": ");
  put_errno(&b, e->err);
  sa_buf_str(&b, tail);
  msg_end(&b);
}

/* Writes every sink (write_lock held). A failure is reported when a sink
 * starts failing, not again until it has written once more. */
static int write_all(int at_exit) {
  int rc = 0;
  char path[PATH_MAX_LEN + 32], tmp[PATH_MAX_LEN + 64];
  for (int i = 0; i < nsinks; i++) {
    write_error_t e;
    if (write_sink(&sinks[i], path, tmp, &e) == 0) {
      sinks[i].failing = 0;
      continue;
    }
    rc = -1;
    if (!sinks[i].failing)
      report_write(path, &e, at_exit ? " (at exit)" : "; trying again at the next interval");
    sinks[i].failing = 1;
  }
  return rc;
}

int sa_stats_env_write_now(void) {
  if (!__atomic_load_n(&started, __ATOMIC_ACQUIRE)) return 0;
  int saved = errno;
  pthread_mutex_lock(&write_lock);
  int rc = write_all(__atomic_load_n(&stopping, __ATOMIC_RELAXED));
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
    (void)write_all(0);
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

/* ======================================================================== */
/* Parsing                                                                  */
/* ======================================================================== */

#define WANT " (want prom:PATH, json:PATH, text:PATH or interval:SECONDS)"

/* One item of n bytes; 0, or -1 (reported). */
static int parse_item(const char *item, size_t n, int *interval_given) {
  static const struct { const char *name; sa_format_t format; } kinds[] = {
      {"prom:", SA_FORMAT_PROMETHEUS}, {"json:", SA_FORMAT_JSON}, {"text:", SA_FORMAT_TEXT}};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    size_t kl = strlen(kinds[k].name);
    if (n < kl || strncmp(item, kinds[k].name, kl) != 0) continue;
    const char *path = item + kl;
    size_t pl = n - kl;
    if (pl == 0) {
      bad_item(item, n, "empty path", NULL);
      return -1;
    }
    if (pl >= PATH_MAX_LEN - 48) {
      bad_item(item, n, "path too long (at most 975 bytes)", NULL);
      return -1;
    }
    for (int i = 0; i < nsinks; i++) {
      if (strlen(sinks[i].pattern) == pl && memcmp(sinks[i].pattern, path, pl) == 0) {
        bad_item(item, n, "the same file as an earlier item (the first one is written)", NULL);
        return -1;
      }
    }
    if (nsinks == MAX_SINKS) {
      bad_item(item, n, "a fifth file: at most 4 files are written (the first 4 items)", NULL);
      return -1;
    }
    sinks[nsinks].format = kinds[k].format;
    sinks[nsinks].failing = 0;
    memcpy(sinks[nsinks].pattern, path, pl);
    sinks[nsinks].pattern[pl] = '\0';
    nsinks++;
    return 0;
  }
  if (n >= 9 && strncmp(item, "interval:", 9) == 0) {
    if (*interval_given) {
      bad_item(item, n, "interval given twice (the first one counts)", NULL);
      return -1;
    }
    *interval_given = 1;
    if (n == 9) {
      bad_item(item, n, "empty value (want a whole number of seconds, 0 to 86400)", NULL);
      return -1;
    }
    unsigned v = 0;
    for (size_t i = 9; i < n; i++) {
      if (item[i] < '0' || item[i] > '9') {
        bad_item(item, n, "not a whole number of seconds (0 to 86400; 0: only at exit)", NULL);
        return -1;
      }
      if (v <= 86400) v = v * 10 + (unsigned)(item[i] - '0');
    }
    if (v > 86400) {
      bad_item(item, n, "above the maximum 86400 seconds (a day)", NULL);
      return -1;
    }
    interval_s = v;
    return 0;
  }
  const char *colon = memchr(item, ':', n);
  if (colon == NULL) {
    bad_item(item, n, item[0] == '/' || item[0] == '.' ? "a path without its format" : "missing ':'", WANT);
    return -1;
  }
  char kind[64];
  size_t kl = (size_t)(colon - item) < sizeof kind - 1 ? (size_t)(colon - item) : sizeof kind - 1;
  memcpy(kind, item, kl);
  kind[kl] = '\0';
  char why[128];
  sa_buf_t w;
  sa_buf_init(&w, why, sizeof why - 1, -1);
  sa_buf_str(&w, "unknown kind '");
  put_text(&w, kind, kl);
  sa_buf_str(&w, kind[0] == ' ' ? "' (no spaces around ',')" : "'");
  why[w.len] = '\0';
  bad_item(item, n, why, kind[0] == ' ' ? NULL : WANT);
  return -1;
}

int sa_stats_env_start(sa_heap_t *heap) {
  /* NULL in secure mode (AT_SECURE): see the top of this file. */
  const char *spec = secure_getenv("SA_STATS");
  if (spec == NULL || *spec == '\0' || heap == NULL) return 0;
  if (__atomic_exchange_n(&owner_pid, getpid(), __ATOMIC_ACQ_REL) != 0) return nsinks;
  int bad = 0, interval_given = 0;
  size_t total = strlen(spec);
  for (const char *s = spec;;) {
    const char *e = strchr(s, ',');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 0) {
      char storage[512];
      sa_buf_t b;
      msg_begin(&b, storage, sizeof storage);
      sa_buf_str(&b, "bad item: empty (");
      sa_buf_str(&b, s == spec ? "leading ','" : e == NULL ? "trailing ','" : "',,'");
      sa_buf_str(&b, ") in '");
      put_text(&b, spec, total);
      sa_buf_str(&b, "'; ignored");
      msg_end(&b);
      bad++;
    } else if (parse_item(s, n, &interval_given) != 0) {
      bad++;
    }
    if (e == NULL) break;
    s = e + 1;
  }
  stats_heap = heap;
  /* The files exist from the start: one that cannot be written now is
   * named, with why, and dropped. */
  pthread_mutex_lock(&write_lock);
  char path[PATH_MAX_LEN + 32], tmp[PATH_MAX_LEN + 64];
  int kept = 0;
  for (int i = 0; i < nsinks; i++) {
    write_error_t e;
    if (write_sink(&sinks[i], path, tmp, &e) != 0) {
      report_write(path, &e, "; this file is not written");
      bad++;
      continue;
    }
    if (kept != i) sinks[kept] = sinks[i];
    kept++;
  }
  nsinks = kept;
  pthread_mutex_unlock(&write_lock);
  if (nsinks == 0) {
    char storage[PATH_MAX_LEN + 256];
    sa_buf_t b;
    msg_begin(&b, storage, sizeof storage);
    sa_buf_str(&b, "no file to write in '");
    put_text(&b, spec, total);
    sa_buf_str(&b, "'; statistics are not written");
    msg_end(&b);
    return -1;
  }
  __atomic_store_n(&started, 1, __ATOMIC_RELEASE);
  pthread_atfork(NULL, NULL, child_after_fork);
  if (interval_s > 0) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, writer, NULL) != 0) {
      char storage[256];
      sa_buf_t b;
      msg_begin(&b, storage, sizeof storage);
      sa_buf_str(&b, "cannot start the writer thread; the files are written at exit only");
      msg_end(&b);
    }
    pthread_attr_destroy(&attr);
  }
  return bad ? -1 : nsinks;
}

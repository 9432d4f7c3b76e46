/* libsa_trace.so: LD_PRELOAD it into any program with SA_TRACE=path and every
 * malloc, free, calloc, realloc, reallocarray, memalign, posix_memalign,
 * aligned_alloc, valloc and pvalloc is recorded (thread, size, alignment,
 * pointer in, result, timestamp) into path, in the format of FORMAT.md, and
 * forwarded to glibc's allocator.
 *
 * Forwarding: glibc's own __libc_malloc/__libc_free/... symbols, never
 * dlsym(RTLD_NEXT) (dlsym may allocate, from inside malloc). A recursion
 * guard (initial-exec TLS) lets a call made while recording go straight
 * through; nothing on the recording path allocates.
 *
 * Buffers: one per thread (mmap'ed, 64 KiB = 2047 records), written to the
 * file under a lock when full, at thread exit (a pthread key destructor) and
 * at process exit (a destructor flushes every thread's buffer). The owner of
 * a buffer takes its `busy` flag (an uncontended xchg) around each append, so
 * the exit flush never races a thread still allocating; a record made after
 * the exit flush is counted as dropped, not written.
 *
 * Processes: SA_TRACE may contain %p (replaced by the pid): one file per
 * process. Without %p, the first process to open the file holds an flock on
 * it; another process (a child that exec'd with the same environment) finds
 * it locked and does not trace (says so on stderr if SA_TRACE_VERBOSE is
 * set). A process that execs closes the file (O_CLOEXEC) and the new image
 * starts the trace again: the file holds the last image of the process. A forked child (no
 * exec) stops tracing: its copy of the parent's unwritten records is
 * dropped, so nothing is written twice.
 *
 * Records before this library's constructor ran (the dynamic loader's
 * allocations) are not traced; a replay counts their frees as unmatched.
 *
 * Secure mode (AT_SECURE: setuid, setgid, file capabilities): SA_TRACE and
 * SA_TRACE_VERBOSE are read with secure_getenv and so ignored, as glibc
 * ignores its tunables there: no user may make such a program create or
 * truncate a file of its choosing. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "analysis/trace/trace_format.h"

#define EXPORT __attribute__((visibility("default")))
#define TLS __attribute__((tls_model("initial-exec"))) __thread

/* glibc's allocator, under its own names (exported by libc.so.6). */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

#define BUF_BYTES (64 * 1024)
#define BUF_RECORDS ((BUF_BYTES - 64) / sizeof(sa_trace_record_t))

typedef struct tbuf {
  int busy;                /* owner appending / flusher writing */
  uint32_t tid;
  uint32_t count;
  int retired;             /* its thread exited: reusable */
  struct tbuf *next;       /* every buffer ever made (never unlinked) */
  sa_trace_record_t rec[BUF_RECORDS];
} tbuf_t;

static int trace_fd = -1;
static int enabled;           /* set once the file is open, cleared at exit/fork */
static struct timespec start_ts;
static pthread_mutex_t file_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static tbuf_t *all_buffers;
static pthread_key_t buf_key;
static uint64_t records_written, records_dropped;

static TLS int in_hook;
static TLS tbuf_t *my_buf;

/* ---- writing ------------------------------------------------------------ */

static int write_all(const void *data, size_t n) {
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(trace_fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Writes b's records as one chunk; caller holds b->busy. */
static void flush_buffer(tbuf_t *b) {
  if (b->count == 0) return;
  sa_trace_chunk_t c = {SA_TRACE_CHUNK_MAGIC, b->tid, b->count,
                        sa_trace_checksum(b->rec, b->count)};
  int saved = errno;
  pthread_mutex_lock(&file_lock);
  if (trace_fd >= 0) {
    if (write_all(&c, sizeof c) == 0 &&
        write_all(b->rec, (size_t)b->count * sizeof(sa_trace_record_t)) == 0)
      records_written += b->count;
    else
      records_dropped += b->count;
  }
  pthread_mutex_unlock(&file_lock);
  b->count = 0;
  errno = saved;
}

static void thread_exit(void *arg) {
  tbuf_t *b = arg;
  if (__atomic_exchange_n(&b->busy, 1, __ATOMIC_ACQUIRE) == 0) {
    flush_buffer(b);
    my_buf = NULL;
    __atomic_store_n(&b->retired, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&b->busy, 0, __ATOMIC_RELEASE);
  }
}

static __attribute__((noinline, cold)) tbuf_t *new_buffer(void) {
  tbuf_t *b = NULL;
  pthread_mutex_lock(&list_lock);
  for (tbuf_t *it = all_buffers; it != NULL; it = it->next)
    if (__atomic_load_n(&it->retired, __ATOMIC_ACQUIRE)) {
      it->retired = 0;
      b = it;
      break;
    }
  pthread_mutex_unlock(&list_lock);
  if (b == NULL) {
    void *m = mmap(NULL, sizeof(tbuf_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (m == MAP_FAILED) return NULL;
    b = m;
    pthread_mutex_lock(&list_lock);
    b->next = all_buffers;
    all_buffers = b;
    pthread_mutex_unlock(&list_lock);
  }
  b->tid = (uint32_t)syscall(SYS_gettid);
  b->count = 0;
  pthread_setspecific(buf_key, b); /* no allocation for the first 32 keys */
  my_buf = b;
  return b;
}

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)(ts.tv_sec - start_ts.tv_sec) * 1000000000u + (uint64_t)ts.tv_nsec -
         (uint64_t)start_ts.tv_nsec;
}

static inline unsigned log2_of(size_t alignment) {
  return alignment ? (unsigned)__builtin_ctzll(alignment) : 0;
}

static void record(unsigned op, uint64_t ts, const void *ptr, size_t size, unsigned align_log2,
                   const void *result) {
  tbuf_t *b = my_buf;
  if (__builtin_expect(b == NULL, 0)) {
    b = new_buffer();
    if (b == NULL) {
      __atomic_fetch_add(&records_dropped, 1, __ATOMIC_RELAXED);
      return;
    }
  }
  if (__builtin_expect(__atomic_exchange_n(&b->busy, 1, __ATOMIC_ACQUIRE) != 0, 0)) {
    /* The exit flush owns it now. */
    __atomic_fetch_add(&records_dropped, 1, __ATOMIC_RELAXED);
    return;
  }
  if (__builtin_expect(size > SA_TRACE_SIZE_MASK, 0)) size = SA_TRACE_SIZE_MASK;
  sa_trace_record_t *r = &b->rec[b->count];
  r->ts_ns = ts;
  r->ptr = (uint64_t)(uintptr_t)ptr;
  r->result = (uint64_t)(uintptr_t)result;
  r->size_op = (uint64_t)size | ((uint64_t)op << 48) | ((uint64_t)align_log2 << 56);
  if (++b->count == BUF_RECORDS) flush_buffer(b);
  __atomic_store_n(&b->busy, 0, __ATOMIC_RELEASE);
}

/* ---- setup and teardown --------------------------------------------------- */

static void child_after_fork(void) {
  /* The child's copies of the buffers hold the parent's unwritten records. */
  enabled = 0;
  if (trace_fd >= 0) close(trace_fd);
  trace_fd = -1;
}

static void put_str(char *dst, size_t *len, size_t cap, const char *s) {
  while (*s && *len + 1 < cap) dst[(*len)++] = *s++;
  dst[*len] = '\0';
}

static void put_uint(char *dst, size_t *len, size_t cap, uint64_t v) {
  char tmp[24];
  int n = 0;
  do tmp[n++] = (char)('0' + v % 10), v /= 10; while (v);
  while (n > 0 && *len + 1 < cap) dst[(*len)++] = tmp[--n];
  dst[*len] = '\0';
}

static void say(const char *a, const char *b) {
  (void)!write(2, "libsa_trace: ", 13);
  (void)!write(2, a, strlen(a));
  if (b) (void)!write(2, b, strlen(b));
  (void)!write(2, "\n", 1);
}

__attribute__((constructor)) static void trace_init(void) {
  in_hook = 1;
  const char *spec = secure_getenv("SA_TRACE"); /* NULL in secure mode */
  if (spec == NULL || *spec == '\0') {
    in_hook = 0;
    return;
  }
  char path[4096];
  size_t len = 0;
  int per_pid = 0;
  path[0] = '\0';
  for (const char *s = spec; *s; s++) {
    if (s[0] == '%' && s[1] == 'p') {
      put_uint(path, &len, sizeof path, (uint64_t)getpid());
      per_pid = 1;
      s++;
    } else {
      char one[2] = {*s, 0};
      put_str(path, &len, sizeof path, one);
    }
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    say("cannot open SA_TRACE file ", path);
    in_hook = 0;
    return;
  }
  if (!per_pid && flock(fd, LOCK_EX | LOCK_NB) != 0) {
    /* Another process traces into it (our parent, which exec'd us or whose
     * shell runs us): silent unless asked, as wrapper scripts do this a lot. */
    if (secure_getenv("SA_TRACE_VERBOSE")) say("another process is tracing into ", path);
    close(fd);
    in_hook = 0;
    return;
  }
  if (ftruncate(fd, 0) != 0) {
    say("cannot truncate ", path);
    close(fd);
    in_hook = 0;
    return;
  }
  trace_fd = fd;
  struct timespec rt, res;
  clock_gettime(CLOCK_REALTIME, &rt);
  clock_getres(CLOCK_MONOTONIC, &res);
  clock_gettime(CLOCK_MONOTONIC, &start_ts);
  sa_trace_header_t h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, SA_TRACE_MAGIC, 8);
  h.version = SA_TRACE_VERSION;
  h.header_size = sizeof(sa_trace_header_t);
  h.record_size = sizeof(sa_trace_record_t);
  h.chunk_header_size = sizeof(sa_trace_chunk_t);
  h.start_realtime_ns = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec;
  h.clock_resolution_ns = (uint64_t)res.tv_sec * 1000000000u + (uint64_t)res.tv_nsec;
  h.pid = (uint32_t)getpid();
  if (write_all(&h, sizeof h) != 0) {
    say("cannot write ", path);
    close(fd);
    trace_fd = -1;
    in_hook = 0;
    return;
  }
  pthread_key_create(&buf_key, thread_exit);
  pthread_atfork(NULL, NULL, child_after_fork);
  __atomic_store_n(&enabled, 1, __ATOMIC_RELEASE);
  in_hook = 0;
}

__attribute__((destructor)) static void trace_fini(void) {
  if (!__atomic_load_n(&enabled, __ATOMIC_ACQUIRE)) return;
  in_hook = 1;
  __atomic_store_n(&enabled, 0, __ATOMIC_RELEASE);
  pthread_mutex_lock(&list_lock);
  for (tbuf_t *b = all_buffers; b != NULL; b = b->next) {
    /* Wait for an owner mid-append; keep busy set afterwards: later appends
     * are dropped. */
    while (__atomic_exchange_n(&b->busy, 1, __ATOMIC_ACQUIRE) != 0) sched_yield();
    flush_buffer(b);
  }
  pthread_mutex_unlock(&list_lock);
  pthread_mutex_lock(&file_lock);
  sa_trace_chunk_t end = {SA_TRACE_END_MAGIC, 0, 0, (uint32_t)records_written};
  (void)write_all(&end, sizeof end);
  close(trace_fd);
  trace_fd = -1;
  pthread_mutex_unlock(&file_lock);
}

/* ---- the entry points ----------------------------------------------------- */

#define ACTIVE() (__builtin_expect(__atomic_load_n(&enabled, __ATOMIC_RELAXED) && !in_hook, 1))

EXPORT void *malloc(size_t size) {
  if (!ACTIVE()) return __libc_malloc(size);
  in_hook = 1;
  void *p = __libc_malloc(size);
  int saved = errno;
  record(SA_TRACE_MALLOC, now_ns(), NULL, size, 0, p);
  errno = saved;
  in_hook = 0;
  return p;
}

EXPORT void free(void *ptr) {
  if (ptr == NULL) return;
  if (!ACTIVE()) {
    __libc_free(ptr);
    return;
  }
  in_hook = 1;
  int saved = errno;
  record(SA_TRACE_FREE, now_ns(), ptr, 0, 0, NULL);
  __libc_free(ptr);
  errno = saved;
  in_hook = 0;
}

EXPORT void cfree(void *ptr) { free(ptr); }

EXPORT void *calloc(size_t count, size_t size) {
  if (!ACTIVE()) return __libc_calloc(count, size);
  in_hook = 1;
  void *p = __libc_calloc(count, size);
  int saved = errno;
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) total = SA_TRACE_SIZE_MASK;
  record(SA_TRACE_CALLOC, now_ns(), NULL, total, 0, p);
  errno = saved;
  in_hook = 0;
  return p;
}

EXPORT void *realloc(void *ptr, size_t size) {
  if (!ACTIVE()) return __libc_realloc(ptr, size);
  in_hook = 1;
  /* The old block is gone inside the call: take the timestamp before it, as
   * for free, and the record orders before any reuse of ptr elsewhere. */
  uint64_t ts = now_ns();
  void *p = __libc_realloc(ptr, size);
  int saved = errno;
  record(SA_TRACE_REALLOC, ts, ptr, size, 0, p);
  errno = saved;
  in_hook = 0;
  return p;
}

EXPORT void *reallocarray(void *ptr, size_t count, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(ptr, total);
}

static void *traced_memalign(size_t alignment, size_t size) {
  void *p = __libc_memalign(alignment, size);
  if (ACTIVE()) {
    in_hook = 1;
    int saved = errno;
    record(SA_TRACE_MEMALIGN, now_ns(), NULL, size, log2_of(alignment), p);
    errno = saved;
    in_hook = 0;
  }
  return p;
}

EXPORT void *memalign(size_t alignment, size_t size) {
  if (alignment & (alignment - 1)) {
    /* glibc rounds a non-power-of-two up; record what it does. */
    size_t a = 1;
    while (a < alignment && a) a <<= 1;
    alignment = a ? a : alignment;
  }
  return traced_memalign(alignment, size);
}

EXPORT int posix_memalign(void **out, size_t alignment, size_t size) {
  if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) || alignment == 0)
    return EINVAL;
  int saved = errno;
  void *p = traced_memalign(alignment, size);
  if (p == NULL) {
    errno = saved;
    return ENOMEM;
  }
  *out = p;
  errno = saved;
  return 0;
}

EXPORT void *aligned_alloc(size_t alignment, size_t size) {
  if (alignment == 0 || (alignment & (alignment - 1))) {
    errno = EINVAL;
    return NULL;
  }
  return traced_memalign(alignment, size);
}

EXPORT void *valloc(size_t size) {
  if (!ACTIVE()) return __libc_valloc(size);
  in_hook = 1;
  void *p = __libc_valloc(size);
  int saved = errno;
  record(SA_TRACE_MEMALIGN, now_ns(), NULL, size, log2_of((size_t)getpagesize()), p);
  errno = saved;
  in_hook = 0;
  return p;
}

EXPORT void *pvalloc(size_t size) {
  if (!ACTIVE()) return __libc_pvalloc(size);
  in_hook = 1;
  void *p = __libc_pvalloc(size);
  int saved = errno;
  size_t page = (size_t)getpagesize();
  record(SA_TRACE_MEMALIGN, now_ns(), NULL, (size + page - 1) & ~(page - 1), log2_of(page), p);
  errno = saved;
  in_hook = 0;
  return p;
}

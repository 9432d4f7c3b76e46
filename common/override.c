/* The libc allocation entry points over one process heap of the strategy
 * chosen at build time (SA_OVERRIDE_STRATEGY, set by sa_strategy() in
 * strategies/variants.bzl).
 *
 * Called from everywhere: before constructors, from the dynamic loader, from
 * atfork handlers and thread exit. So: the heap is created on first use with
 * nothing but mmap and secure_getenv; no libc function that allocates is called;
 * free keeps errno; fork holds every heap lock across the fork. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stratalloc/stats_env.h"
#include "stratalloc/strategy.h"

/* A thread-cache strategy (SA_OVERRIDE_THREAD_CACHE, set by variants.bzl)
 * serves malloc, free, calloc and realloc of small blocks from the calling
 * thread's bins inline, before any call: strategies/thread_cache/tc_fast.h. */
#ifdef SA_OVERRIDE_THREAD_CACHE
#include "strategies/thread_cache/tc_fast.h"
#define OVERRIDE_FAST_MALLOC(size) tc_fast_malloc(size)
#define OVERRIDE_FAST_FREE(ptr) tc_fast_free(ptr)
#define OVERRIDE_FAST_CALLOC(count, size) tc_fast_calloc(count, size)
#define OVERRIDE_FAST_REALLOC(ptr, size) tc_fast_realloc(ptr, size)
#define OVERRIDE_ANNOUNCE(heap) tc_set_process_heap(heap)
#else
#define OVERRIDE_FAST_MALLOC(size) ((void)(size), (void *)0)
#define OVERRIDE_FAST_FREE(ptr) ((void)(ptr), 0)
#define OVERRIDE_FAST_CALLOC(count, size) ((void)(count), (void)(size), (void *)0)
#define OVERRIDE_FAST_REALLOC(ptr, size) ((void)(ptr), (void)(size), (void *)0)
#define OVERRIDE_ANNOUNCE(heap) ((void)(heap))
#endif

#ifndef SA_OVERRIDE_STRATEGY
#error "SA_OVERRIDE_STRATEGY names the strategy vtable, e.g. sa_first_fit"
#endif

extern const sa_strategy_t SA_OVERRIDE_STRATEGY;
void sa_pagemap_lock(void);
void sa_pagemap_unlock(void);
void sa_purge_init(void); /* common/purge.h */
void sa_purge_prefork(void);
void sa_purge_postfork(void);

#define SA_EXPORT __attribute__((visibility("default")))

/* ======================================================================== */
/* The process heap                                                         */
/* ======================================================================== */

enum { HEAP_NONE = 0, HEAP_CREATING = 1, HEAP_READY = 2 };
static sa_heap_t *process_heap;
static int process_heap_state;

/* Called by the first allocation of the process (any thread, possibly before
 * libc's constructors); the others wait for it. */
static __attribute__((noinline, cold)) sa_heap_t *override_heap_create(void) {
  for (;;) {
    int state = HEAP_NONE;
    if (__atomic_compare_exchange_n(&process_heap_state, &state, HEAP_CREATING, 0,
                                    __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
      sa_heap_t *heap = sa_heap_create(&SA_OVERRIDE_STRATEGY, NULL);
      if (heap == NULL) {
        __atomic_store_n(&process_heap_state, HEAP_NONE, __ATOMIC_RELEASE);
        errno = ENOMEM;
        return NULL;
      }
      OVERRIDE_ANNOUNCE(heap);
      __atomic_store_n(&process_heap, heap, __ATOMIC_RELEASE);
      __atomic_store_n(&process_heap_state, HEAP_READY, __ATOMIC_RELEASE);
      return heap;
    }
    if (state == HEAP_READY) return __atomic_load_n(&process_heap, __ATOMIC_ACQUIRE);
    sched_yield();
  }
}

static inline sa_heap_t *override_heap(void) {
  sa_heap_t *heap = __atomic_load_n(&process_heap, __ATOMIC_ACQUIRE);
  if (SA_LIKELY(heap != NULL)) return heap;
  return override_heap_create();
}

SA_EXPORT sa_heap_t *sa_override_heap(void) { return override_heap(); }

/* ======================================================================== */
/* Entry points                                                             */
/* ======================================================================== */

/* malloc and free: the fast path (if any) inline, then a tail call, so the
 * fast path runs without a stack frame. */
static __attribute__((noinline)) void *override_malloc_slow(size_t size) {
  sa_heap_t *heap = override_heap();
  return SA_LIKELY(heap != NULL) ? sa_malloc(heap, size) : NULL;
}

static __attribute__((noinline)) void override_free_slow(void *ptr) {
  if (ptr == NULL) return;
  int saved = errno;
  sa_free(override_heap(), ptr);
  errno = saved;
}

SA_EXPORT void *malloc(size_t size) {
  void *p = OVERRIDE_FAST_MALLOC(size);
  if (SA_LIKELY(p != NULL)) return p;
  return override_malloc_slow(size);
}

SA_EXPORT void free(void *ptr) {
  if (SA_LIKELY(OVERRIDE_FAST_FREE(ptr))) return;
  override_free_slow(ptr);
}

SA_EXPORT void cfree(void *ptr) { free(ptr); }

SA_EXPORT void *calloc(size_t count, size_t size) {
  void *p = OVERRIDE_FAST_CALLOC(count, size);
  if (SA_LIKELY(p != NULL)) return p;
  sa_heap_t *heap = override_heap();
  return SA_LIKELY(heap != NULL) ? sa_calloc(heap, count, size) : NULL;
}

SA_EXPORT void *realloc(void *ptr, size_t size) {
  void *p = OVERRIDE_FAST_REALLOC(ptr, size);
  if (SA_LIKELY(p != NULL)) return p;
  sa_heap_t *heap = override_heap();
  return SA_LIKELY(heap != NULL) ? sa_realloc(heap, ptr, size) : NULL;
}

SA_EXPORT void *reallocarray(void *ptr, size_t count, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(ptr, total);
}

SA_EXPORT void *memalign(size_t alignment, size_t size) {
  sa_heap_t *heap = override_heap();
  return SA_LIKELY(heap != NULL) ? sa_memalign(heap, alignment, size) : NULL;
}

SA_EXPORT void *aligned_alloc(size_t alignment, size_t size) {
  sa_heap_t *heap = override_heap();
  return SA_LIKELY(heap != NULL) ? sa_aligned_alloc(heap, alignment, size) : NULL;
}

SA_EXPORT int posix_memalign(void **out, size_t alignment, size_t size) {
  sa_heap_t *heap = override_heap();
  if (SA_UNLIKELY(heap == NULL)) return ENOMEM;
  return sa_posix_memalign(heap, out, alignment, size);
}

SA_EXPORT void *valloc(size_t size) {
  sa_heap_t *heap = override_heap();
  return SA_LIKELY(heap != NULL) ? sa_valloc(heap, size) : NULL;
}

SA_EXPORT void *pvalloc(size_t size) {
  sa_heap_t *heap = override_heap();
  return SA_LIKELY(heap != NULL) ? sa_pvalloc(heap, size) : NULL;
}

SA_EXPORT size_t malloc_usable_size(void *ptr) {
  if (ptr == NULL) return 0;
  return sa_usable_size(override_heap(), ptr);
}

/* glibc's own versions would act on glibc's arenas: answer for ours. */
SA_EXPORT int malloc_trim(size_t pad) {
  (void)pad; /* glibc keeps pad bytes at the top of its heap; we keep nothing */
  sa_heap_t *heap = override_heap();
  return heap != NULL && sa_heap_trim(heap) != 0;
}

SA_EXPORT int mallopt(int param, int value) {
  (void)param;
  (void)value;
  return 1;
}

SA_EXPORT void malloc_stats(void) {
  sa_heap_t *heap = override_heap();
  if (heap) sa_stats_write(heap, SA_FORMAT_TEXT, 2);
}

SA_EXPORT struct mallinfo2 mallinfo2(void) {
  struct mallinfo2 mi;
  memset(&mi, 0, sizeof mi);
  sa_heap_t *heap = override_heap();
  if (heap == NULL) return mi;
  sa_stats_t s;
  sa_heap_stats(heap, &s);
  mi.arena = s.mapped_bytes - s.current_large_bytes;
  mi.hblks = s.large_allocations;
  mi.hblkhd = s.current_large_bytes;
  mi.uordblks = s.current_allocated_bytes - s.current_large_bytes;
  mi.fordblks = s.free_bytes;
  mi.keepcost = s.largest_free_bytes;
  return mi;
}

SA_EXPORT struct mallinfo mallinfo(void) {
  struct mallinfo2 m2 = mallinfo2();
  struct mallinfo mi;
  memset(&mi, 0, sizeof mi);
  mi.arena = (int)m2.arena;
  mi.hblks = (int)m2.hblks;
  mi.hblkhd = (int)m2.hblkhd;
  mi.uordblks = (int)m2.uordblks;
  mi.fordblks = (int)m2.fordblks;
  mi.keepcost = (int)m2.keepcost;
  return mi;
}

/* The names glibc itself and some programs call directly (as tcmalloc's
 * libc_override.h does). */
SA_EXPORT void *__libc_malloc(size_t size) __attribute__((alias("malloc")));
SA_EXPORT void __libc_free(void *ptr) __attribute__((alias("free")));
SA_EXPORT void *__libc_calloc(size_t count, size_t size) __attribute__((alias("calloc")));
SA_EXPORT void *__libc_realloc(void *ptr, size_t size) __attribute__((alias("realloc")));
SA_EXPORT void *__libc_memalign(size_t alignment, size_t size) __attribute__((alias("memalign")));
SA_EXPORT void *__libc_valloc(size_t size) __attribute__((alias("valloc")));
SA_EXPORT void *__libc_pvalloc(size_t size) __attribute__((alias("pvalloc")));
SA_EXPORT int __posix_memalign(void **out, size_t alignment, size_t size)
    __attribute__((alias("posix_memalign")));

/* ======================================================================== */
/* fork                                                                     */
/* ======================================================================== */

/* Every lock in one order (strategy, segments, page map) so the child never
 * inherits a lock held by a thread that does not exist there. */
static void override_prefork(void) {
  sa_heap_t *heap = override_heap();
  if (heap == NULL) return;
  heap->strategy->lock(heap);
  pthread_mutex_lock(&heap->segment_lock);
  sa_purge_prefork();
  sa_pagemap_lock();
}

static void override_postfork(void) {
  sa_heap_t *heap = __atomic_load_n(&process_heap, __ATOMIC_ACQUIRE);
  if (heap == NULL) return;
  sa_pagemap_unlock();
  sa_purge_postfork();
  pthread_mutex_unlock(&heap->segment_lock);
  heap->strategy->unlock(heap);
}

__attribute__((constructor)) static void override_init(void) {
  sa_heap_t *heap = override_heap();
  pthread_atfork(override_prefork, override_postfork, override_postfork);
  sa_purge_init(); /* a background purger may start from now on */
  sa_stats_env_start(heap); /* SA_STATS=prom:path,...: periodic files */
}

/* The background purger: see purge.h. Nothing here allocates except
 * pthread_create and pthread_atfork, called from safe points only. */
#define _GNU_SOURCE
#include "purge.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "segment.h"

/* A heap whose segment_lock is taken when the purger looks is looked at
 * again this much later (it decays on its own calls meanwhile). */
#define PURGE_RETRY_MS 10
/* The least sleep between two visits: the purger is never busy. */
#define PURGE_MIN_SLEEP_MS 1
#define PURGE_STACK ((size_t)64 * 1024)
/* How long the thread stays with nothing to purge. */
#define PURGE_IDLE_EXIT_MS 200

static pthread_mutex_t purge_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t purge_cond; /* CLOCK_MONOTONIC; set up before the thread exists */
static sa_heap_t *purge_heaps;    /* heaps that cache anything, under purge_lock */
int sa_purger_state; /* strategy.h */
static int process_ready;         /* override.c's constructor ran */
static int own_atfork;            /* purge.c's own atfork handlers registered */
static pid_t prefork_pid;

/* Whether the process's malloc is stratalloc's (override.c linked in). */
__attribute__((weak)) sa_heap_t *sa_override_heap(void);

/* ---- the thread -------------------------------------------------------------- */

/* Sleeps on purge_cond (purge_lock held) until wake, in ms of
 * sa_clock_ms, or a signal. */
static void purge_wait_until(uint64_t wake) {
  struct timespec ts = {.tv_sec = (time_t)(wake / 1000), .tv_nsec = (long)(wake % 1000) * 1000000};
  pthread_cond_timedwait(&purge_cond, &purge_lock, &ts);
}

static void *purge_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&purge_lock);
  for (;;) {
    uint64_t now = sa_clock_ms(), wake = UINT64_MAX;
    for (sa_heap_t **link = &purge_heaps; *link != NULL;) {
      sa_heap_t *heap = *link, *after = heap->segment_cache.purge_next;
      uint64_t next = sa_segment_cache_visit(heap, now, PURGE_RETRY_MS);
      if (next == UINT64_MAX) {
        /* Empty: visit marked it unlisted, so from its unlock on the heap
         * may be destroyed without purge_lock (purge_forget skips an
         * unlisted heap): it is not touched again, only unlinked. */
        *link = after;
        continue;
      }
      if (next < wake) wake = next;
      link = &heap->segment_cache.purge_next;
    }
    if (wake == UINT64_MAX) {
      /* Nothing cached: the thread goes after an idle while, and the next
       * span cached starts another. A thread that stays would keep alive a
       * process whose other threads have all exited (the child of a fork
       * from a thread other than main ends when its last thread does). */
      purge_wait_until(now + PURGE_IDLE_EXIT_MS);
      /* (RUNNING: purge_start is done with the state) */
      if (purge_heaps == NULL && __atomic_load_n(&sa_purger_state, __ATOMIC_ACQUIRE) == SA_PURGER_RUNNING)
        break;
      continue;
    }
    /* Both clocks count from the same origin; the coarse one lags by at
     * most a tick, so a wake-up finds its spans due (or sleeps again). */
    now = sa_clock_ms();
    if (wake < now + PURGE_MIN_SLEEP_MS) wake = now + PURGE_MIN_SLEEP_MS;
    purge_wait_until(wake);
  }
  __atomic_store_n(&sa_purger_state, SA_PURGER_NONE, __ATOMIC_RELEASE); /* purge_lock held */
  pthread_mutex_unlock(&purge_lock);
  return NULL; /* the process's last thread: glibc's exit(0) after it */
}

/* ---- fork ---------------------------------------------------------------------- */

void sa_purge_prefork(void) {
  pthread_mutex_lock(&purge_lock);
  prefork_pid = getpid();
}

/* In the child the purger is gone: one is started again once a heap there
 * caches something (the heaps listed still cache: at once). */
void sa_purge_postfork(void) {
  if (getpid() != prefork_pid) {
    int state = __atomic_load_n(&sa_purger_state, __ATOMIC_RELAXED);
    if (state != SA_PURGER_FAILED)
      __atomic_store_n(&sa_purger_state, purge_heaps ? SA_PURGER_WANTED : SA_PURGER_NONE, __ATOMIC_RELAXED);
  }
  pthread_mutex_unlock(&purge_lock);
}

static void purge_postfork_child(void) { sa_purge_postfork(); }
static void purge_postfork_parent(void) { sa_purge_postfork(); }

/* ---- the list ------------------------------------------------------------------ */

void sa_purge_list(sa_heap_t *heap) {
  pthread_mutex_lock(&purge_lock);
  heap->segment_cache.purge_next = purge_heaps;
  purge_heaps = heap;
  int state = __atomic_load_n(&sa_purger_state, __ATOMIC_ACQUIRE);
  if (state == SA_PURGER_RUNNING) pthread_cond_signal(&purge_cond);
  else if (state == SA_PURGER_NONE)
    __atomic_compare_exchange_n(&sa_purger_state, &state, SA_PURGER_WANTED, 0, __ATOMIC_RELAXED,
                                __ATOMIC_RELAXED);
  pthread_mutex_unlock(&purge_lock);
}

void sa_purge_wake(void) {
  pthread_mutex_lock(&purge_lock);
  if (__atomic_load_n(&sa_purger_state, __ATOMIC_ACQUIRE) == SA_PURGER_RUNNING) pthread_cond_signal(&purge_cond);
  pthread_mutex_unlock(&purge_lock);
}

void sa_purge_unlist(sa_heap_t *heap) {
  pthread_mutex_lock(&purge_lock);
  for (sa_heap_t **link = &purge_heaps; *link != NULL; link = &(*link)->segment_cache.purge_next)
    if (*link == heap) {
      *link = heap->segment_cache.purge_next;
      break;
    }
  heap->segment_cache.purge_next = NULL;
  pthread_mutex_unlock(&purge_lock);
}

/* ---- starting it ------------------------------------------------------------ */

void sa_purge_init(void) {
  __atomic_store_n(&process_ready, 1, __ATOMIC_RELEASE);
  sa_purge_poll(1); /* what the loader and early constructors cached */
}

static __attribute__((noinline, cold)) void purge_start(void) {
  int state = SA_PURGER_WANTED;
  if (!__atomic_compare_exchange_n(&sa_purger_state, &state, SA_PURGER_STARTING, 0, __ATOMIC_ACQUIRE,
                                   __ATOMIC_RELAXED))
    return; /* another thread (or this one, further up: pthread_create's calloc) */
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&purge_cond, &ca); /* glibc: no allocation; no waiter can exist now */
  pthread_condattr_destroy(&ca);
  /* A process without stratalloc's malloc has no override.c handlers to
   * hold purge_lock across fork: register ours (once; children inherit). */
  if (sa_override_heap == NULL && !own_atfork) {
    own_atfork = 1;
    pthread_atfork(sa_purge_prefork, purge_postfork_parent, purge_postfork_child);
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, PURGE_STACK);
  /* No signal is ever delivered to it: the program's handlers run on its
   * own threads. */
  sigset_t all;
  sigfillset(&all);
  pthread_attr_setsigmask_np(&attr, &all);
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, purge_main, NULL);
  pthread_attr_destroy(&attr);
  /* Without a thread (EAGAIN, a sandbox) the caches decay on their heaps'
   * calls only, as with background_purge:0. */
  /* A heap listed between STARTING and RUNNING was not signalled; the
   * thread's first pass sees it anyway. */
  __atomic_store_n(&sa_purger_state, rc == 0 ? SA_PURGER_RUNNING : SA_PURGER_FAILED, __ATOMIC_RELEASE);
}

/* sa_purge_poll's slow part: a purger was asked for. */
void sa_purge_start_wanted(int safe) {
  if (sa_override_heap != NULL) {
    /* stratalloc is the process's malloc: pthread_create would call it. */
    if (!safe || !__atomic_load_n(&process_ready, __ATOMIC_ACQUIRE)) return;
  }
  int saved = errno;
  purge_start();
  errno = saved;
}

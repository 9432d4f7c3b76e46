/* Per-thread state of the thread cache: a thread's caches (one per heap it
 * used), their registry per heap, thread exit, heap create and destroy, fork.
 *
 * Nothing here calls malloc: thread and cache structs come from the OS
 * (sa_os_map), the exit hook is a pthread key created once when the first
 * tc heap is made (pthread_key_create does not allocate), and the key's
 * value is set once per thread on its first cached operation. glibc keeps
 * the first 32 keys' values in the thread descriptor; a later key's
 * pthread_setspecific may call malloc, which then finds this thread in
 * TC_SETUP and goes to the back-end directly, so it cannot recurse. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/random.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "strategies/thread_cache/tc.h"

enum { TC_NONE = 0, TC_SETUP = 1, TC_READY = 2, TC_DEAD = 3 };

pthread_mutex_t tc_registry_lock = PTHREAD_MUTEX_INITIALIZER;
uint64_t tc_key;
uint64_t tc_link_key;
/* heap NULL, bins empty: the fast paths fall through. */
tc_cache_t tc_no_cache = {
    .small_bin = {[0 ... TC_SMALL_SLOTS - 1] = &tc_no_cache.bins[0]},
    .bins = {[0 ... TC_NBINS - 1] = {.head = TC_END}},
};

__thread tc_thread_t *tc_self __attribute__((tls_model("initial-exec")));
__thread tc_cache_t *tc_process_cache __attribute__((tls_model("initial-exec"))) = &tc_no_cache;
static __thread int tc_state __attribute__((tls_model("initial-exec")));

static pthread_key_t tc_exit_key;
static pthread_once_t tc_once = PTHREAD_ONCE_INIT;
static sa_heap_t *tc_process_heap; /* set by override.c before it publishes the heap */
static uint8_t tc_slot_used[TC_MAX_HEAPS]; /* under tc_registry_lock */

static void tc_thread_exit(void *arg);

static void tc_init_once(void) {
  /* The key must be unknown to the program (its data must not match a mark
   * but by chance) and to an attacker (who could forge one): the kernel's
   * entropy (getrandom does not allocate), else time and addresses. */
  uint64_t x[2] = {0, 0};
  if (getrandom(x, sizeof x, GRND_NONBLOCK) != (ssize_t)sizeof x) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t y = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)&ts ^
                 ((uint64_t)getpid() << 17);
    for (int i = 0; i < 2; i++) {
      y ^= y >> 29;
      y *= 0xbf58476d1ce4e5b9ull;
      x[i] = y ^ (y >> 32);
    }
  }
  tc_key = x[0] | ((uint64_t)1 << 63); /* no user address has bit 63: zeroes never look marked */
  tc_link_key = x[1];
  tc_no_cache.key = tc_key;
  tc_no_cache.link_key = tc_link_key;
  pthread_key_create(&tc_exit_key, tc_thread_exit);
}

void tc_set_process_heap(sa_heap_t *heap) { __atomic_store_n(&tc_process_heap, heap, __ATOMIC_RELEASE); }

/* ======================================================================== */
/* A thread's caches                                                        */
/* ======================================================================== */

/* Bin b holds at most this many blocks: the flush threshold, fewer for
 * large blocks (TC_BIN_BYTES). */
static uint32_t tc_bin_limit(const tc_heap_t *h, size_t b) {
  size_t by_bytes = TC_BIN_BYTES / tc_bin_size(b);
  return (uint32_t)(by_bytes < h->flush_threshold ? (by_bytes < 2 ? 2 : by_bytes)
                                                   : h->flush_threshold);
}

static void tc_cache_init(tc_cache_t *c, tc_heap_t *h) {
  c->heap = h->heap;
  c->owner = h;
  c->thread = tc_self;
  c->key = tc_key;
  c->link_key = tc_link_key;
  c->fill_threshold = h->fill_threshold;
  c->grow_budget = TC_GROW_BYTES;
  for (size_t b = 0; b < TC_NBINS; b++) {
    c->bins[b].head = TC_END;
    c->bins[b].limit = tc_bin_limit(h, b);
    c->bins[b].room = (int32_t)c->bins[b].limit;
    c->class_bin[b] = (uint8_t)b;
  }
  for (size_t i = 0; i < TC_SMALL_SLOTS; i++) c->small_bin[i] = &c->bins[tc_bin_ceil(i ? i * 16 : 1)];
}

/* Adds a gone cache's totals to its heap's (tc_registry_lock held). */
static void tc_retire(tc_heap_t *h, tc_cache_t *c) {
  tc_counters_t *n = &c->n;
  tc_retired_t *r = &h->retired;
  uint64_t pops = tc_pops(c);
  r->alloc_delta += (int64_t)(pops - n->fills - n->xfer_in);
  r->free_delta += (int64_t)(n->pushes - n->flushes - n->xfer_out);
  r->alloc_bytes_delta += (int64_t)(n->pop_bytes - n->fill_bytes - n->xfer_in_bytes);
  r->hits += pops - n->misses;
  r->misses += n->misses;
  int64_t peak = n->peak > c->peak_seen ? n->peak : c->peak_seen;
  r->peak += peak > tc_live(n) ? peak : tc_live(n);
  r->live += tc_live(n);
  if (c->prev) c->prev->next = c->next;
  else h->caches = c->next;
  if (c->next) c->next->prev = c->prev;
}

tc_cache_t *tc_cache_create(tc_heap_t *h) {
  if (tc_state != TC_NONE && tc_state != TC_READY) return NULL;
  tc_state = TC_SETUP;
  tc_thread_t *t = tc_self;
  if (t == NULL) {
    t = sa_os_map(sizeof *t, 0);
    if (t == NULL) {
      tc_state = TC_NONE;
      return NULL;
    }
    tc_self = t;
    pthread_setspecific(tc_exit_key, t);
  }
  tc_cache_t *c = t->slot[h->slot];
  if (c != NULL) { /* a cache of a destroyed heap that had this slot */
    t->slot[h->slot] = NULL;
    sa_os_unmap(c, sizeof *c);
  }
  c = sa_os_map(sizeof *c, 0);
  if (c != NULL) {
    tc_cache_init(c, h);
    pthread_mutex_lock(&tc_registry_lock);
    c->next = h->caches;
    if (h->caches) h->caches->prev = c;
    h->caches = c;
    pthread_mutex_unlock(&tc_registry_lock);
    t->slot[h->slot] = c;
    if (h->heap == __atomic_load_n(&tc_process_heap, __ATOMIC_ACQUIRE)) tc_process_cache = c;
  }
  tc_state = TC_READY;
  return c;
}

tc_cache_t *tc_cache_peek(tc_heap_t *h) {
  tc_thread_t *t = tc_self;
  if (t == NULL || !h->enabled) return NULL;
  tc_cache_t *c = t->slot[h->slot];
  return c != NULL && __atomic_load_n(&c->heap, __ATOMIC_RELAXED) == h->heap ? c : NULL;
}

/* The pthread key's destructor: every cache of the exiting thread goes back
 * to its heap's back-end. A later destructor of another key that allocates
 * finds the thread TC_DEAD and uses the back-end directly. */
static void tc_thread_exit(void *arg) {
  tc_thread_t *t = arg;
  tc_state = TC_DEAD;
  tc_process_cache = &tc_no_cache;
  pthread_mutex_lock(&tc_registry_lock);
  for (size_t i = 0; i < TC_MAX_HEAPS; i++) {
    tc_cache_t *c = t->slot[i];
    if (c == NULL) continue;
    if (c->heap != NULL) { /* else: orphaned by its heap's destroy */
      tc_flush_all(c);
      tc_retire(c->owner, c);
    }
    sa_os_unmap(c, sizeof *c);
  }
  pthread_mutex_unlock(&tc_registry_lock);
  tc_self = NULL;
  sa_os_unmap(t, sizeof *t);
  /* A safe point (no lock held, this thread on the back-end from now on):
   * what the flushes left for the purger may be the last work the process
   * does for a while (its other threads idle), so a purger asked for starts
   * now rather than at the next call. */
  sa_purge_poll(1);
}

/* ======================================================================== */
/* Heaps                                                                    */
/* ======================================================================== */

sa_heap_t *sa_tc_create(const sa_strategy_t *self, const sa_config_t *config) {
  pthread_once(&tc_once, tc_init_once);
  /* The back-end builds the heap with our vtable as its strategy: segments
   * and heap.c's dispatch point at it, we keep our state beside it. */
  sa_heap_t *heap = self->backend->create(self, config);
  if (heap == NULL) return NULL;
  tc_heap_t *h = sa_os_map(sizeof *h, 0);
  if (h == NULL) {
    sa_heap_destroy(heap); /* frontend NULL: tc_destroy only forwards */
    errno = ENOMEM;
    return NULL;
  }
  h->heap = heap;
  h->backend = self->backend;
  h->fill_threshold = (uint32_t)heap->config.cache_fill_threshold;
  h->flush_threshold = (uint32_t)heap->config.cache_flush_threshold;
  h->enabled = heap->config.enable_thread_cache != 0;
  if (h->enabled && tc_xfer_init(h) != 0) {
    sa_os_unmap(h, sizeof *h);
    sa_heap_destroy(heap);
    errno = ENOMEM;
    return NULL;
  }
  if (h->enabled) {
    pthread_mutex_lock(&tc_registry_lock);
    h->enabled = 0;
    for (unsigned i = 0; i < TC_MAX_HEAPS; i++) {
      if (!tc_slot_used[i]) {
        tc_slot_used[i] = 1;
        h->slot = i;
        h->enabled = 1;
        break;
      }
    } /* no slot free: this heap runs uncached */
    pthread_mutex_unlock(&tc_registry_lock);
  }
  heap->frontend = h;
  return heap;
}

/* Caches of other threads are orphaned (heap NULL): their blocks go with the
 * heap's segments, their structs with their threads. The caller's own cache
 * goes now. */
void sa_tc_destroy(sa_heap_t *heap) {
  tc_heap_t *h = heap->frontend;
  if (h != NULL) {
    tc_cache_t *own = tc_cache_peek(h);
    pthread_mutex_lock(&tc_registry_lock);
    for (tc_cache_t *c = h->caches; c != NULL; c = c->next)
      __atomic_store_n(&c->heap, NULL, __ATOMIC_RELAXED);
    h->caches = NULL;
    if (h->enabled) tc_slot_used[h->slot] = 0;
    pthread_mutex_unlock(&tc_registry_lock);
    if (own != NULL) {
      tc_self->slot[h->slot] = NULL;
      if (tc_process_cache == own) tc_process_cache = &tc_no_cache;
      sa_os_unmap(own, sizeof *own);
    }
    heap->frontend = NULL;
    tc_xfer_fini(h);
    sa_os_unmap(h, sizeof *h);
  }
  heap->strategy->backend->destroy(heap);
}

/* fork: the registry first (thread exit holds it while it frees to the
 * back-end), then the back-end's locks. */
void sa_tc_lock_all(sa_heap_t *heap) {
  pthread_mutex_lock(&tc_registry_lock);
  heap->strategy->backend->lock(heap);
  if (heap->frontend) tc_xfer_lock_all(heap->frontend);
}

void sa_tc_unlock_all(sa_heap_t *heap) {
  if (heap->frontend) tc_xfer_unlock_all(heap->frontend);
  heap->strategy->backend->unlock(heap);
  pthread_mutex_unlock(&tc_registry_lock);
}

/* The back-end's decay: what the bins hold stays theirs (their thread's). */
uint64_t sa_tc_decay(sa_heap_t *heap, uint64_t now_ms) {
  const sa_strategy_t *backend = heap->strategy->backend;
  return backend->decay != NULL ? backend->decay(heap, now_ms) : UINT64_MAX;
}

/* sa_purge_: the background purger. One thread per process gives back what
 * the heaps' segment caches have kept unused for their segment_decay_ms,
 * so that a program that goes idle returns its cached memory without a
 * further call (as jemalloc's background_thread; glibc returns a freed
 * large block at once, mimalloc on its next call after its purge delay).
 *
 * A heap is on the purger's list while its cache holds anything or its
 * strategy's decay keeps something (segment_cache.c puts it there and takes
 * it off; a strategy asks with sa_purge_want), and a visit runs both. The
 * thread is started lazily, only once something is cached, and only where
 * calling malloc is safe (pthread_create allocates): never under an
 * allocator lock, never before the process heap's constructor has run. It
 * sleeps on a timed wait until the next span comes due; it only try-locks
 * a heap's segment_lock and, under it, a strategy's locks (the decay), so
 * it cannot deadlock with the heap's own calls, and fork holds its lock
 * (override.c's atfork handlers, or its own when no process heap exists).
 * A forked child starts without it and starts one again once it caches
 * something.
 *
 * Lock order: strategy locks, a heap's segment_lock, purge_lock, the page
 * map's lock. */
#ifndef STRATALLOC_COMMON_PURGE_H
#define STRATALLOC_COMMON_PURGE_H

#include "stratalloc/strategy.h"

#pragma GCC visibility push(hidden)

/* Called with heap->segment_lock held when heap's cache got something and
 * heap->segment_cache.purge_listed was 0 (the caller sets it): puts heap on
 * the list and wakes the purger, or asks for one to be started. */
void sa_purge_list(sa_heap_t *heap);
/* Called with heap->segment_lock held, heap listed, its cache empty: takes
 * heap off the list (destroy: the purger never touches it afterwards). */
void sa_purge_unlist(sa_heap_t *heap);
/* Wakes a running purger for a visit of its heaps now (sa_purge_want). */
void sa_purge_wake(void);
/* sa_purge_poll, the safe point, is in stratalloc/strategy.h: layers call it. */

/* override.c's hooks: its constructor (the process is initialised: a
 * purger may be started from now on), and its atfork handlers (after the
 * process heap's segment_lock, before the page map's lock). */
void sa_purge_init(void);
void sa_purge_prefork(void);
void sa_purge_postfork(void);

#pragma GCC visibility pop

#endif

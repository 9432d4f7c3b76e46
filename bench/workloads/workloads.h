/* Benchmark workloads: plain C functions over an sa_bench_allocator_t, shared
 * by every driver (Google Benchmark, the standalone LD_PRELOAD driver, ...).
 *
 *   const wl_workload_t *w = wl_find("mixed");
 *   wl_params_t p;
 *   wl_params_default(w, &p);
 *   size_t ops = w->run(sa_bench_system_allocator(), &p);  // WL_FAILED on ENOMEM
 *
 * Every workload is seeded and deterministic (p->seed, own PRNG): the same
 * parameters make the same sequence of calls with the same sizes. A workload
 * frees everything it allocated before returning, so it can be called again
 * on the same heap. It returns its number of operations, where one operation
 * is one allocation call (malloc or realloc) together with its eventual free.
 *
 * Adding a workload: write wl_<name> in workloads.c (or its own file), declare
 * it here, add a row to wl_workloads[]: every driver then runs it. */
#ifndef STRATALLOC_BENCH_WORKLOADS_WORKLOADS_H
#define STRATALLOC_BENCH_WORKLOADS_WORKLOADS_H

#include <stddef.h>
#include <stdint.h>

#include "bench/workloads/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Returned by a workload when an allocation failed (all it held is freed). */
#define WL_FAILED ((size_t)-1)

typedef struct wl_params {
  uint64_t seed;   /* PRNG seed */
  size_t count;    /* allocations per call */
  size_t size;     /* malloc_free_loop, sequential: request size;
                      realloc_grow: size a buffer grows to */
  size_t min_size; /* random_sizes, mixed: sizes are min_size + r % size_span */
  size_t size_span;
  size_t slots;    /* mixed, bursty, realloc_double, threaded, larson:
                      slot table entries (per thread where threaded) */
  size_t threads;  /* threaded, producer_consumer, larson: threads (>= 1;
                      producer_consumer runs max(1, threads/2) pairs) */
  size_t phases;   /* long_lived, larson, fragmentation: phases or rounds */
  size_t survivors_pct; /* long_lived: % of a phase's blocks that survive */
  size_t repeat;   /* cache_thrash, cache_scratch: write passes over each
                      object before it is freed */
  /* Caller-owned pointer table of scratch_cap entries, at least
   * wl_scratch_slots(w, p). NULL (or too small): the workload allocates its
   * own table from libc malloc on every call, and that call is then timed. */
  void **scratch;
  size_t scratch_cap;
  /* Called once per call at the workload's peak live set (before the final
   * frees), if not NULL: where a driver samples fragmentation or RSS. Not
   * called by workloads that never hold more than one block. */
  void (*checkpoint)(void *arg);
  void *checkpoint_arg;
} wl_params_t;

typedef size_t (*wl_fn)(const sa_bench_allocator_t *a, const wl_params_t *p);

/* Which parameter a driver's sweep argument sets. */
typedef enum { WL_ARG_SIZE = 0, WL_ARG_COUNT = 1 } wl_arg_t;

#define WL_SWEEP_MAX 8

typedef struct wl_workload {
  const char *name;
  wl_fn run;
  const char *help;
  /* Pointer-table entries run needs for these parameters (0: none). */
  size_t (*scratch_slots)(const wl_params_t *p);
  wl_params_t defaults;
  wl_arg_t arg;                 /* what the sweep values set */
  size_t sweep[WL_SWEEP_MAX];   /* the standard sweep, 0-terminated */
  unsigned flags;               /* WL_F_* */
} wl_workload_t;

/* flags: the sequence of calls does not depend on p->seed (fixed sizes, no
 * random choice), so two seeds give the same calls. */
#define WL_F_UNSEEDED 1u

/* Every workload, terminated by an entry whose name is NULL. */
extern const wl_workload_t wl_workloads[];
/* NULL if unknown. */
const wl_workload_t *wl_find(const char *name);
/* *p = w->defaults. */
void wl_params_default(const wl_workload_t *w, wl_params_t *p);
/* Sets the parameter w->arg names (size or count) to value. */
void wl_params_set_arg(const wl_workload_t *w, wl_params_t *p, size_t value);
size_t wl_scratch_slots(const wl_workload_t *w, const wl_params_t *p);

/* count x { malloc(size); write one byte; free }. */
size_t wl_malloc_free_loop(const sa_bench_allocator_t *a, const wl_params_t *p);
/* count x malloc(size) (64 by default), then free them in allocation order. */
size_t wl_sequential(const sa_bench_allocator_t *a, const wl_params_t *p);
/* count x malloc(min_size + r % size_span) (16 + r % 1024), then free them in
 * a shuffled order. */
size_t wl_random_sizes(const sa_bench_allocator_t *a, const wl_params_t *p);
/* A table of `slots` (10k) slots; count times: pick a random slot, free what
 * it holds, malloc(min_size + r % size_span) (16..1024 B) into it. Then free
 * the rest. */
size_t wl_mixed(const sa_bench_allocator_t *a, const wl_params_t *p);
/* A buffer grown by realloc in random steps of 1..64 B up to `size`, then
 * freed; repeated until count reallocs have been made. */
size_t wl_realloc_grow(const sa_bench_allocator_t *a, const wl_params_t *p);
/* `slots` vectors growing side by side, each by doubling its capacity with
 * realloc (16, 32, ... up to `size`), freed and restarted when full; count
 * reallocs in all. */
size_t wl_realloc_double(const sa_bench_allocator_t *a, const wl_params_t *p);
/* Bursts of 1..slots allocations (min_size + r % size_span), each burst then
 * freed all at once (alternately in and against allocation order); count
 * allocations in all. */
size_t wl_bursty(const sa_bench_allocator_t *a, const wl_params_t *p);
/* `phases` phases of count/phases allocations (16..1024 B); at the end of a
 * phase all but survivors_pct % of that phase's blocks are freed, the
 * survivors live on to the end. */
size_t wl_long_lived(const sa_bench_allocator_t *a, const wl_params_t *p);
/* Hole punching: per phase, allocate interleaved short- and long-lived
 * blocks, free the short-lived ones (holes between survivors), then
 * allocate blocks slightly larger than the holes. Sizes grow per phase. */
size_t wl_fragmentation(const sa_bench_allocator_t *a, const wl_params_t *p);

/* ---- multi-threaded (threaded.c); every thread has its own PRNG stream,
 * seeded from seed and its index, so each thread's calls are deterministic;
 * the interleaving between threads is not. ------------------------------- */

/* `threads` threads, each its own mixed workload (count/threads operations on
 * its own `slots` table). */
size_t wl_threaded(const sa_bench_allocator_t *a, const wl_params_t *p);
/* max(1, threads/2) producer/consumer pairs: producers malloc
 * (min_size + r % size_span) and pass the block through a bounded ring,
 * consumers free it (every free is on another thread); count blocks in all. */
size_t wl_producer_consumer(const sa_bench_allocator_t *a, const wl_params_t *p);
/* Larson-style server: `threads` threads, each owning a table of `slots`
 * blocks, replace random blocks with new random-size ones; after each of
 * `phases` rounds the tables rotate between threads, so blocks are freed by
 * a thread that did not allocate them. count replacements in all. */
size_t wl_larson(const sa_bench_allocator_t *a, const wl_params_t *p);

/* ---- parallel (parallel.c): a single-thread workload on `threads` threads
 * at once, each its own share (count / threads operations, seed + index),
 * started together. ---------------------------------------------------------- */
size_t wl_malloc_free_loop_mt(const sa_bench_allocator_t *a, const wl_params_t *p);
size_t wl_sequential_mt(const sa_bench_allocator_t *a, const wl_params_t *p);
size_t wl_random_sizes_mt(const sa_bench_allocator_t *a, const wl_params_t *p);
size_t wl_mixed_mt(const sa_bench_allocator_t *a, const wl_params_t *p);

/* ---- the classic allocator benchmarks, each in its own file ---------------- */

/* large.c -- mimalloc-bench's malloc-large: a table of `slots` (4) buffers;
 * count times: free a random slot and allocate into it a buffer of
 * min_size + r % size_span bytes (5..25 MiB), writing one byte in every 4 KiB
 * page (every page faulted in, as a program filling its buffer would). The
 * time is mostly page faults: an allocator that keeps freed large buffers
 * mapped and reuses them is several times faster than one that unmaps (or
 * purges) them and faults the next one in. */
size_t wl_large_objects(const sa_bench_allocator_t *a, const wl_params_t *p);

/* false_sharing.c -- Hoard's cache-thrash (active false sharing): each of
 * `threads` (2) threads, count/threads times, allocates a `size` (8) byte
 * object, writes (and reads back) each byte `repeat` times through a
 * volatile pointer, frees it. An allocator that hands bytes of one cache
 * line to different threads makes the writes bounce the line between cores;
 * the allocation calls themselves are a negligible part of the time. */
size_t wl_cache_thrash(const sa_bench_allocator_t *a, const wl_params_t *p);

/* false_sharing.c -- Hoard's cache-scratch (passive false sharing): the
 * calling thread allocates `threads` objects of `size` bytes one after the
 * other (neighbours, often in one cache line), hands object t to thread t,
 * which frees it and then runs the cache_thrash loop. An allocator that
 * gives a freed block back to the thread that freed it keeps the threads on
 * one cache line for the whole run. Returns count + threads operations. */
size_t wl_cache_scratch(const sa_bench_allocator_t *a, const wl_params_t *p);

/* ring.c -- xmalloc-test (Lever and Boreham): max(1, threads/2) producers
 * allocate count blocks in all (min_size + r % size_span, 16..1024 B), write
 * up to 128 B of each, and pass them in batches of `slots` (256) pointers
 * through one shared locked queue (16 batches deep) to as many consumers,
 * which free them: every free is remote, thousands of blocks in flight, one
 * lock round trip per batch, so the allocator dominates, not the handoff. */
size_t wl_xmalloc_ring(const sa_bench_allocator_t *a, const wl_params_t *p);
/* Its scratch entries: batch buffers for the queue and every thread. */
size_t wl_xmalloc_ring_slots(const wl_params_t *p);

/* glibc_bench.c -- glibc's benchtests/bench-malloc-simple: single-threaded
 * rounds of {malloc(size) n times, then free the n blocks}, with n = slots/64,
 * slots/16, slots/4, slots (25, 100, 400, 1600), a quarter of count each. */
size_t wl_glibc_simple(const sa_bench_allocator_t *a, const wl_params_t *p);

/* glibc_bench.c -- glibc's benchtests/bench-malloc-thread: `threads` (2)
 * threads at once, each with its own working set of `slots` (1024) slots,
 * count/threads times free a random slot and malloc into it a size from an
 * inverse-square distribution on [min_size, min_size + size_span]
 * (4 B .. 32 KiB: mostly tiny blocks, a few large). */
size_t wl_glibc_thread(const sa_bench_allocator_t *a, const wl_params_t *p);

#ifdef __cplusplus
}
#endif

#endif /* STRATALLOC_BENCH_WORKLOADS_WORKLOADS_H */

/* SA_STATS: periodic statistics files for a process that preloads (or links)
 * stratalloc, for node_exporter's textfile collector and the like.
 *
 *   SA_STATS=prom:/var/lib/node_exporter/app.prom,interval:5
 *   SA_STATS=json:/tmp/heap-%p.json,prom:/tmp/heap-%p.prom,interval:1
 *
 * Items, comma-separated: prom:PATH (Prometheus text exposition format,
 * sa_stats_write SA_FORMAT_PROMETHEUS), json:PATH (one JSON object),
 * text:PATH (the human report), interval:SECONDS (default 10; 0: only at
 * exit). %p in a path is the pid. Each file is written to PATH.tmp.<pid>
 * and renamed over PATH, so a reader never sees a partial file. Written
 * every interval by a writer thread and once more at exit. A forked child
 * stops writing (it would overwrite its parent's file) unless the path has
 * %p, in which case the child writes its own file at its exit.
 *
 * The hook: call sa_stats_env_start(heap) once, from a constructor, after
 * the process heap exists (common/override.c does). It reads the
 * environment with secure_getenv (nothing in a setuid or setgid program),
 * parses without allocating, and starts the writer thread (pthread_create:
 * not from inside malloc). */
#ifndef STRATALLOC_STATS_ENV_H
#define STRATALLOC_STATS_ENV_H

#include "stratalloc/stratalloc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads SA_STATS; does nothing if it is unset or empty or heap is NULL.
 * Each bad item is named on stderr and skipped; the good ones are started
 * all the same. Returns the number of files configured, or -1 if any item
 * was bad (the good files are still written). Safe to call more than once: only the first call
 * with SA_STATS set starts anything. */
int sa_stats_env_start(sa_heap_t *heap);

/* Writes every configured file now (also what the thread and the exit
 * hook call). Returns 0, or -1 if a file could not be written. */
int sa_stats_env_write_now(void);

#ifdef __cplusplus
}
#endif

#endif

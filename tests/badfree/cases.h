/* The bad-free cases, shared by the three ways the suite calls an allocator:
 * the sa_ API on a fresh heap (api_test.cc), the libc names linked into a
 * program and the libc names of an LD_PRELOADed .so (driver.c, run by
 * run_test.cc).
 *
 * A case sets up a heap state, announces on stderr the exact pointer the
 * allocator must name ("badfree: expecting a report of 0x..."), then makes
 * the bad call. The allocator must print the report and abort(); if the call
 * returns, the case says so ("badfree: no report ...") and, for the thread
 * cases, checks whether malloc now hands one block out twice. */
#ifndef STRATALLOC_TESTS_BADFREE_CASES_H
#define STRATALLOC_TESTS_BADFREE_CASES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The report a case expects: the message of common/error.c for P, the
 * announced pointer, and S, the strategy. */
typedef enum bf_expect {
  BF_DOUBLE,           /* stratalloc: double free of P (S) */
  BF_INTERIOR,         /* stratalloc: invalid free of P (S): not the start of a block */
  BF_FOREIGN,          /* stratalloc: invalid free of P (S): not memory of this heap */
  BF_OUTSIDE,          /* P lies outside every live block but may be heap memory, the
                          start of a free block or no heap memory at all: any of the
                          three above */
  BF_REALLOC_FREED,    /* stratalloc: realloc of freed pointer P (S) */
  BF_REALLOC_INTERIOR, /* stratalloc: invalid realloc of P (S): not the start of a block */
  BF_REALLOC_FOREIGN,  /* stratalloc: invalid realloc of P (S): not memory of this heap */
  BF_USABLE_FREED,     /* stratalloc: malloc_usable_size of freed pointer P (S) */
  BF_USABLE_INTERIOR,  /* stratalloc: invalid malloc_usable_size of P (S): not the start of a block */
  BF_USABLE_FOREIGN    /* stratalloc: invalid malloc_usable_size of P (S): not memory of this heap */
} bf_expect_t;

typedef enum bf_scope {
  BF_ALL = 0,     /* sa_ API, linked libc names, LD_PRELOAD */
  BF_API_ONLY = 1 /* needs heaps as instances (a destroyed heap) */
} bf_scope_t;

/* The allocator under test. */
typedef struct bf_ops {
  void *(*malloc)(size_t size);
  void (*free)(void *ptr);
  void *(*realloc)(void *ptr, size_t size);
  void *(*memalign)(size_t alignment, size_t size);
  size_t (*usable_size)(void *ptr);
  /* A live block of another heap of the same strategy; NULL if there is none. */
  void *(*other_heap_malloc)(size_t size);
  /* A block of a heap of the same strategy that has been destroyed since (the
   * heap under test mapped its memory before); NULL if not supported. */
  void *(*destroyed_heap_block)(size_t size);
} bf_ops_t;

typedef struct bf_case {
  const char *name;
  bf_expect_t expect;
  bf_scope_t scope;
  const char *what;
  void (*run)(void); /* uses the ops bf_run was given */
} bf_case_t;

extern const bf_case_t bf_cases[];
extern const size_t bf_case_count;
/* NULL if no case has that name. */
const bf_case_t *bf_case_find(const char *name);

/* Runs c; returns only if the allocator let the bad call through (after
 * printing "badfree: no report ..." on stderr). Sets a watchdog alarm first:
 * a hang ends with SIGALRM, not with the test's timeout. */
void bf_run(const bf_case_t *c, const bf_ops_t *ops);

/* The announcement line's prefix, followed by 0x%lx and a newline. */
#define BF_ANNOUNCE_PREFIX "badfree: expecting a report of "

#ifdef __cplusplus
}
#endif

#endif

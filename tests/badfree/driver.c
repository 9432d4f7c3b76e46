/* The bad-free cases through the libc names: `driver CASE` runs one case of
 * cases.c with malloc, free, realloc, memalign and malloc_usable_size. Built
 * twice (badfree.bzl): linked with a strategy's //strategies/...:malloc
 * library, and plain, to run with LD_PRELOAD of its libsa_<name>.so.
 * run_test.cc runs it once per case and reads its stderr.
 *
 * "Another heap" is a heap of the same strategy made with the sa_ API, whose
 * names the driver reaches as weak references: linked in, or bound at load
 * time to the preloaded library, which exports them. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/badfree/cases.h"

typedef struct sa_heap sa_heap_t;
typedef struct sa_strategy sa_strategy_t;
typedef struct sa_config sa_config_t;
extern sa_heap_t *sa_process_heap(void) __attribute__((weak));
extern const sa_strategy_t *sa_heap_strategy(const sa_heap_t *heap) __attribute__((weak));
extern sa_heap_t *sa_heap_create(const sa_strategy_t *strategy, const sa_config_t *config)
    __attribute__((weak));
extern void *sa_malloc(sa_heap_t *heap, size_t size) __attribute__((weak));

static void *libc_malloc(size_t n) { return malloc(n); }
static void libc_free(void *p) { free(p); }
static void *libc_realloc(void *p, size_t n) { return realloc(p, n); }
static void *libc_memalign(size_t a, size_t n) { return memalign(a, n); }
static size_t libc_usable_size(void *p) { return malloc_usable_size(p); }

static void *other_heap_malloc(size_t n) {
  if (!sa_process_heap || !sa_heap_strategy || !sa_heap_create || !sa_malloc) return NULL;
  sa_heap_t *process = sa_process_heap();
  if (process == NULL) return NULL;
  sa_heap_t *other = sa_heap_create(sa_heap_strategy(process), NULL);
  return other ? sa_malloc(other, n) : NULL;
}

static const bf_ops_t libc_ops = {libc_malloc,      libc_free,         libc_realloc, libc_memalign,
                                  libc_usable_size, other_heap_malloc, NULL};

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CASE\n", argv[0]);
    return 2;
  }
  const bf_case_t *c = bf_case_find(argv[1]);
  if (c == NULL || c->scope != BF_ALL) {
    fprintf(stderr, "badfree: no case '%s' for the libc names\n", argv[1]);
    return 2;
  }
  bf_run(c, &libc_ops);
  return 0;
}

/* The system allocator adapter: the libc entry points of this process. */
#include <stdlib.h>

#include "bench/workloads/allocator.h"

static void *sys_malloc(void *ctx, size_t size) {
  (void)ctx;
  return malloc(size);
}

static void sys_free(void *ctx, void *ptr) {
  (void)ctx;
  free(ptr);
}

static void *sys_realloc(void *ctx, void *ptr, size_t size) {
  (void)ctx;
  return realloc(ptr, size);
}

static const sa_bench_allocator_t sys_allocator = {
    .name = "system",
    .ctx = NULL,
    .malloc = sys_malloc,
    .free = sys_free,
    .realloc = sys_realloc,
};

const sa_bench_allocator_t *sa_bench_system_allocator(void) { return &sys_allocator; }

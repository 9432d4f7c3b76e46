/* large_objects: mimalloc-bench's malloc-large pattern (random buffers of
 * 5..25 MiB, a few live at a time, replaced at random), every page of each
 * buffer written. What it measures is mostly the kernel: an allocator that
 * keeps freed large buffers mapped and hands them out again pays no page
 * faults; one that returns them to the OS (munmap, or madvise and refault)
 * pays one fault per 4 KiB page of every buffer. */
#include <stdint.h>
#include <string.h>

#include "bench/workloads/internal.h"
#include "bench/workloads/rng.h"
#include "bench/workloads/workloads.h"

#define WL_PAGE 4096

/* One store per 4 KiB page and one into the last byte: every page of the
 * buffer is faulted in, as a program that fills its buffer would. */
static void wl_write_pages(void *ptr, size_t size, size_t i) {
  volatile unsigned char *b = ptr;
  for (size_t off = 0; off < size; off += WL_PAGE) b[off] = (unsigned char)(i + off / WL_PAGE);
  b[size - 1] = (unsigned char)i;
}

size_t wl_large_objects(const sa_bench_allocator_t *a, const wl_params_t *p) {
  const size_t slots = p->slots != 0 ? p->slots : 1;
  const size_t span = p->size_span != 0 ? p->size_span : 1;
  int owned;
  void **table = wl_scratch_get(p, slots, &owned);
  if (table == NULL) return WL_FAILED;
  memset(table, 0, slots * sizeof(void *));
  wl_rng_t rng;
  wl_rng_seed(&rng, p->seed);
  size_t result = p->count;
  for (size_t i = 0; i < p->count; i++) {
    size_t slot = (size_t)wl_rng_below(&rng, slots);
    if (table[slot] != NULL) a->free(a->ctx, table[slot]);
    size_t size = p->min_size + (size_t)wl_rng_below(&rng, span);
    if (size == 0) size = 1;
    void *ptr = a->malloc(a->ctx, size);
    table[slot] = ptr;
    if (ptr == NULL) {
      result = WL_FAILED;
      break;
    }
    wl_write_pages(ptr, size, i);
  }
  if (result != WL_FAILED) wl_call_checkpoint(p);
  for (size_t i = 0; i < slots; i++)
    if (table[i] != NULL) a->free(a->ctx, table[i]);
  wl_scratch_put(table, owned);
  return result;
}

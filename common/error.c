/* Error reports. They never allocate: a corrupted heap must still be able
 * to say what it found. */
#include <errno.h>
#include <stdlib.h>

#include "fmt.h"
#include "stratalloc/strategy.h"

static const char *heap_name(const sa_heap_t *heap) {
  return heap && heap->strategy ? heap->strategy->name : "stratalloc";
}

void sa_fatal_pointer(const char *what, const void *ptr, const sa_heap_t *heap) {
  char storage[256];
  sa_buf_t b;
  sa_buf_init(&b, storage, sizeof storage, 2);
  sa_buf_str(&b, "stratalloc: ");
  sa_buf_str(&b, what);
  sa_buf_str(&b, " of ");
  sa_buf_hex(&b, (uintptr_t)ptr);
  sa_buf_str(&b, " (");
  sa_buf_str(&b, heap_name(heap));
  sa_buf_str(&b, ")\n");
  sa_buf_flush(&b);
  abort();
}

void sa_check_report(const sa_heap_t *heap, const char *message, const void *ptr) {
  int saved = errno;
  char storage[256];
  sa_buf_t b;
  sa_buf_init(&b, storage, sizeof storage, 2);
  sa_buf_str(&b, "stratalloc: check: ");
  sa_buf_str(&b, heap_name(heap));
  sa_buf_str(&b, ": ");
  sa_buf_str(&b, message);
  if (ptr) {
    sa_buf_str(&b, " at ");
    sa_buf_hex(&b, (uintptr_t)ptr);
  }
  sa_buf_char(&b, '\n');
  sa_buf_flush(&b);
  errno = saved;
}

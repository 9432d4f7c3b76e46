/* Error reports. They never allocate: a corrupted heap must still be able
 * to say what it found. The messages are the table in strategy.h. */
#include <errno.h>
#include <stdlib.h>

#include "fmt.h"
#include "stratalloc/strategy.h"

static const char *heap_name(const sa_heap_t *heap) {
  return heap && heap->strategy ? heap->strategy->name : "stratalloc";
}

static const char *const op_freed[] = {
    [SA_OP_FREE] = "double free of",
    [SA_OP_REALLOC] = "realloc of freed pointer",
    [SA_OP_USABLE_SIZE] = "malloc_usable_size of freed pointer",
    [SA_OP_MALLOC] = "malloc met a freed block:",
};
static const char *const op_invalid[] = {
    [SA_OP_FREE] = "invalid free of",
    [SA_OP_REALLOC] = "invalid realloc of",
    [SA_OP_USABLE_SIZE] = "invalid malloc_usable_size of",
    [SA_OP_MALLOC] = "malloc met an invalid block:",
};
static const char *const op_name[] = {
    [SA_OP_FREE] = "free",
    [SA_OP_REALLOC] = "realloc",
    [SA_OP_USABLE_SIZE] = "malloc_usable_size",
    [SA_OP_MALLOC] = "malloc",
};

void sa_fatal_block(const sa_heap_t *heap, sa_op_t op, sa_fault_t fault, const void *ptr) {
  char storage[256];
  sa_buf_t b;
  sa_buf_init(&b, storage, sizeof storage, 2);
  sa_buf_str(&b, "stratalloc: ");
  sa_buf_str(&b, fault == SA_FAULT_FREED ? op_freed[op] : op_invalid[op]);
  sa_buf_char(&b, ' ');
  sa_buf_hex(&b, (uintptr_t)ptr);
  sa_buf_str(&b, " (");
  sa_buf_str(&b, heap_name(heap));
  sa_buf_str(&b, ")");
  if (fault == SA_FAULT_INTERIOR) sa_buf_str(&b, ": not the start of a block");
  if (fault == SA_FAULT_FOREIGN) sa_buf_str(&b, ": not memory of this heap");
  sa_buf_char(&b, '\n');
  sa_buf_flush(&b);
  abort();
}

void sa_fatal_corrupt(const sa_heap_t *heap, const char *what, const void *where, sa_op_t op,
                      const void *ptr) {
  char storage[256];
  sa_buf_t b;
  sa_buf_init(&b, storage, sizeof storage, 2);
  sa_buf_str(&b, "stratalloc: corrupted ");
  sa_buf_str(&b, what);
  sa_buf_str(&b, " at ");
  sa_buf_hex(&b, (uintptr_t)where);
  sa_buf_str(&b, " (");
  sa_buf_str(&b, heap_name(heap));
  sa_buf_str(&b, ")");
  if (ptr != NULL && op != SA_OP_MALLOC) {
    sa_buf_str(&b, ", found by the ");
    sa_buf_str(&b, op_name[op]);
    sa_buf_str(&b, " of ");
    sa_buf_hex(&b, (uintptr_t)ptr);
  }
  sa_buf_char(&b, '\n');
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

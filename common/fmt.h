/* sa_buf_: text formatting into a caller's buffer without malloc, so the
 * allocator can report errors and export stats from inside malloc itself.
 * Output that does not fit is truncated; sa_buf_flush writes and resets. */
#ifndef STRATALLOC_COMMON_FMT_H
#define STRATALLOC_COMMON_FMT_H

#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

typedef struct sa_buf {
  char *data;
  size_t cap, len;
  int fd;      /* flushed to this fd when full; -1: truncate instead */
  int failed;  /* a write failed (errno kept) */
} sa_buf_t;

void sa_buf_init(sa_buf_t *b, char *storage, size_t cap, int fd);
void sa_buf_str(sa_buf_t *b, const char *s);
void sa_buf_char(sa_buf_t *b, char c);
void sa_buf_u64(sa_buf_t *b, uint64_t v);
void sa_buf_hex(sa_buf_t *b, uintptr_t v); /* 0x... */
void sa_buf_f64(sa_buf_t *b, double v, int decimals);
/* Writes what is buffered to fd (retrying short writes); 0 or -1. */
int sa_buf_flush(sa_buf_t *b);
/* Writes s to fd 2 directly. */
void sa_write_stderr(const char *s);

#pragma GCC visibility pop

#endif

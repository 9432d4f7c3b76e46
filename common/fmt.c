#include "fmt.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void sa_buf_init(sa_buf_t *b, char *storage, size_t cap, int fd) {
  b->data = storage;
  b->cap = cap;
  b->len = 0;
  b->fd = fd;
  b->failed = 0;
}

int sa_buf_flush(sa_buf_t *b) {
  size_t off = 0;
  while (b->fd >= 0 && off < b->len) {
    ssize_t n = write(b->fd, b->data + off, b->len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      b->failed = 1;
      b->len = 0;
      return -1;
    }
    off += (size_t)n;
  }
  b->len = 0;
  return b->failed ? -1 : 0;
}

void sa_buf_char(sa_buf_t *b, char c) {
  if (b->len == b->cap) {
    if (b->fd < 0) return;
    sa_buf_flush(b);
  }
  b->data[b->len++] = c;
}

void sa_buf_str(sa_buf_t *b, const char *s) {
  for (; s && *s; s++) sa_buf_char(b, *s);
}

void sa_buf_u64(sa_buf_t *b, uint64_t v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) sa_buf_char(b, tmp[--n]);
}

void sa_buf_hex(sa_buf_t *b, uintptr_t v) {
  static const char digits[] = "0123456789abcdef";
  char tmp[2 * sizeof v];
  int n = 0;
  do {
    tmp[n++] = digits[v & 15];
    v >>= 4;
  } while (v);
  sa_buf_str(b, "0x");
  while (n) sa_buf_char(b, tmp[--n]);
}

void sa_buf_f64(sa_buf_t *b, double v, int decimals) {
  if (v != v) {
    sa_buf_str(b, "NaN");
    return;
  }
  if (v < 0) {
    sa_buf_char(b, '-');
    v = -v;
  }
  if (v > 1e18) {
    sa_buf_str(b, "+Inf");
    return;
  }
  uint64_t scale = 1;
  for (int i = 0; i < decimals; i++) scale *= 10;
  uint64_t fixed = (uint64_t)(v * (double)scale + 0.5);
  sa_buf_u64(b, fixed / scale);
  if (decimals > 0) {
    sa_buf_char(b, '.');
    uint64_t frac = fixed % scale;
    for (uint64_t div = scale / 10; div > 0; div /= 10) sa_buf_char(b, (char)('0' + (frac / div) % 10));
  }
}

void sa_write_stderr(const char *s) {
  size_t len = strlen(s);
  while (len > 0) {
    ssize_t n = write(2, s, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    s += n;
    len -= (size_t)n;
  }
}

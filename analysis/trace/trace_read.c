#define _GNU_SOURCE
#include "analysis/trace/trace_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

const char *sa_trace_op_name(unsigned op) {
  switch (op) {
    case SA_TRACE_MALLOC: return "malloc";
    case SA_TRACE_FREE: return "free";
    case SA_TRACE_CALLOC: return "calloc";
    case SA_TRACE_REALLOC: return "realloc";
    case SA_TRACE_MEMALIGN: return "memalign";
  }
  return "?";
}

static int cmp_event(const void *a, const void *b) {
  const sa_trace_event_t *x = a, *y = b;
  if (x->ts_ns != y->ts_ns) return x->ts_ns < y->ts_ns ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

int sa_trace_load(const char *path, sa_trace_t *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(err, errlen, "cannot open: %s", strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return fail(err, errlen, "not a regular file");
  }
  size_t n = (size_t)st.st_size;
  unsigned char *data = malloc(n ? n : 1);
  if (data == NULL) {
    close(fd);
    return fail(err, errlen, "out of memory reading %zu bytes", n);
  }
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, data + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  n = got;
  int rc = -1;
  if (n < sizeof(sa_trace_header_t)) {
    fail(err, errlen, "truncated header at offset 0: %zu bytes, a header is %zu", n,
         sizeof(sa_trace_header_t));
    goto out;
  }
  memcpy(&out->header, data, sizeof out->header);
  const sa_trace_header_t *h = &out->header;
  if (memcmp(h->magic, SA_TRACE_MAGIC, 8) != 0) {
    fail(err, errlen, "bad magic at offset 0: not a stratalloc trace");
    goto out;
  }
  if (h->version != SA_TRACE_VERSION) {
    fail(err, errlen, "unsupported version %u at offset 8 (this reader: %u)", h->version,
         SA_TRACE_VERSION);
    goto out;
  }
  if (h->header_size != sizeof(sa_trace_header_t) || h->record_size != sizeof(sa_trace_record_t) ||
      h->chunk_header_size != sizeof(sa_trace_chunk_t)) {
    fail(err, errlen, "unexpected header/record/chunk sizes %u/%u/%u at offset 10",
         h->header_size, h->record_size, h->chunk_header_size);
    goto out;
  }
  /* Pass 1: validate every chunk, count records. */
  size_t total = 0, off = sizeof(sa_trace_header_t);
  int complete = 0;
  while (off < n) {
    if (n - off < sizeof(sa_trace_chunk_t)) {
      fail(err, errlen, "truncated chunk header at offset %zu (%zu bytes left)", off, n - off);
      goto out;
    }
    sa_trace_chunk_t c;
    memcpy(&c, data + off, sizeof c);
    if (c.magic == SA_TRACE_END_MAGIC) {
      complete = 1;
      if (off + sizeof c != n)
        snprintf(out->warning, sizeof out->warning,
                 "%zu bytes after the end marker at offset %zu ignored", n - off - sizeof c, off);
      break;
    }
    if (c.magic != SA_TRACE_CHUNK_MAGIC) {
      fail(err, errlen, "bad chunk magic 0x%08x at offset %zu", c.magic, off);
      goto out;
    }
    if (c.count == 0 || c.count > SA_TRACE_MAX_CHUNK_RECORDS) {
      fail(err, errlen, "chunk at offset %zu claims %u records (1..%u allowed)", off, c.count,
           SA_TRACE_MAX_CHUNK_RECORDS);
      goto out;
    }
    size_t bytes = (size_t)c.count * sizeof(sa_trace_record_t);
    if (n - off - sizeof c < bytes) {
      fail(err, errlen, "truncated chunk at offset %zu: %u records (%zu bytes) announced, %zu "
           "bytes left", off, c.count, bytes, n - off - sizeof c);
      goto out;
    }
    /* The records are 8-byte aligned in the file only by luck: copy. */
    const unsigned char *recs = data + off + sizeof c;
    sa_trace_record_t *tmp = malloc(bytes);
    if (tmp == NULL) {
      fail(err, errlen, "out of memory");
      goto out;
    }
    memcpy(tmp, recs, bytes);
    uint32_t sum = sa_trace_checksum(tmp, c.count);
    if (sum != c.checksum) {
      free(tmp);
      fail(err, errlen, "checksum mismatch in chunk at offset %zu (stored 0x%08x, computed "
           "0x%08x): corrupt data in bytes %zu..%zu", off, c.checksum, sum, off, off + sizeof c + bytes);
      goto out;
    }
    for (uint32_t i = 0; i < c.count; i++) {
      unsigned op = SA_TRACE_RECORD_OP(&tmp[i]);
      if (op < 1 || op > SA_TRACE_OP_MAX || SA_TRACE_RECORD_ALIGN_LOG2(&tmp[i]) > 47) {
        size_t at = off + sizeof c + (size_t)i * sizeof(sa_trace_record_t);
        free(tmp);
        fail(err, errlen, "bad record at offset %zu (op %u)", at, op);
        goto out;
      }
    }
    free(tmp);
    total += c.count;
    out->chunks++;
    off += sizeof c + bytes;
  }
  out->complete = complete;
  if (!complete && out->warning[0] == '\0')
    snprintf(out->warning, sizeof out->warning,
             "no end marker (the process did not exit through exit()): %zu records of %zu "
             "chunks read", total, out->chunks);
  /* Pass 2: events. */
  out->events = calloc(total ? total : 1, sizeof(sa_trace_event_t));
  uint32_t *tids = calloc(out->chunks ? out->chunks : 1, sizeof(uint32_t));
  if (out->events == NULL || tids == NULL) {
    free(tids);
    fail(err, errlen, "out of memory for %zu events", total);
    goto out;
  }
  off = sizeof(sa_trace_header_t);
  size_t k = 0, ci = 0;
  while (ci < out->chunks) {
    sa_trace_chunk_t c;
    memcpy(&c, data + off, sizeof c);
    tids[ci++] = c.tid;
    for (uint32_t i = 0; i < c.count; i++) {
      sa_trace_record_t r;
      memcpy(&r, data + off + sizeof c + (size_t)i * sizeof r, sizeof r);
      sa_trace_event_t *e = &out->events[k];
      e->ts_ns = r.ts_ns;
      e->ptr = r.ptr;
      e->result = r.result;
      e->size = SA_TRACE_RECORD_SIZE(&r);
      e->op = (uint8_t)SA_TRACE_RECORD_OP(&r);
      e->align_log2 = (uint8_t)SA_TRACE_RECORD_ALIGN_LOG2(&r);
      e->tid = c.tid;
      e->seq = k++;
    }
    off += sizeof c + (size_t)c.count * sizeof(sa_trace_record_t);
  }
  out->count = total;
  qsort(out->events, total, sizeof(sa_trace_event_t), cmp_event);
  qsort(tids, out->chunks, sizeof(uint32_t), cmp_u32);
  for (size_t i = 0; i < out->chunks; i++)
    if (i == 0 || tids[i] != tids[i - 1]) out->threads++;
  free(tids);
  rc = 0;
out:
  free(data);
  if (rc != 0) {
    free(out->events);
    out->events = NULL;
    out->count = 0;
  }
  return rc;
}

void sa_trace_free(sa_trace_t *t) {
  free(t->events);
  t->events = NULL;
  t->count = 0;
}

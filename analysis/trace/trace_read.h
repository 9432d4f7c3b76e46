/* Reading a trace (FORMAT.md) into memory, validated: every error names the
 * file offset where it was found; nothing in a corrupt file can crash the
 * reader. No dependency on stratalloc. */
#ifndef STRATALLOC_ANALYSIS_TRACE_READ_H
#define STRATALLOC_ANALYSIS_TRACE_READ_H

#include <stddef.h>
#include <stdint.h>

#include "analysis/trace/trace_format.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_trace_event {
  uint64_t ts_ns, ptr, result, size;
  uint64_t seq; /* position in the file: ties in ts keep file order */
  uint32_t tid;
  uint8_t op, align_log2;
} sa_trace_event_t;

typedef struct sa_trace {
  sa_trace_header_t header;
  sa_trace_event_t *events; /* sorted by (ts_ns, seq): one global order */
  size_t count;
  size_t chunks;
  size_t threads;      /* distinct tids */
  int complete;        /* the end marker was found */
  char warning[256];   /* non-fatal: no end marker, data after it */
} sa_trace_t;

/* Returns 0, or -1 with a message naming the offset in err. */
int sa_trace_load(const char *path, sa_trace_t *out, char *err, size_t errlen);
void sa_trace_free(sa_trace_t *t);
const char *sa_trace_op_name(unsigned op);

#ifdef __cplusplus
}
#endif

#endif

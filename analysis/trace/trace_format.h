/* The stratalloc trace format (analysis/trace/FORMAT.md): what libsa_trace.so
 * writes and //analysis:replay and analysis/tools/trace_summary.py read.
 * Little-endian, fixed-size records. No dependency on stratalloc. */
#ifndef STRATALLOC_ANALYSIS_TRACE_FORMAT_H
#define STRATALLOC_ANALYSIS_TRACE_FORMAT_H

#include <stdint.h>

#define SA_TRACE_MAGIC "SATRACE"   /* 8 bytes with its NUL */
#define SA_TRACE_VERSION 1
#define SA_TRACE_CHUNK_MAGIC 0x4b484353u /* "SCHK" */
#define SA_TRACE_END_MAGIC 0x444e4553u   /* "SEND" */
#define SA_TRACE_MAX_CHUNK_RECORDS (1u << 20)

/* File header: 48 bytes at offset 0. */
typedef struct sa_trace_header {
  char magic[8];          /* "SATRACE\0" */
  uint16_t version;       /* SA_TRACE_VERSION */
  uint16_t header_size;   /* sizeof(sa_trace_header_t) */
  uint16_t record_size;   /* sizeof(sa_trace_record_t) */
  uint16_t chunk_header_size; /* sizeof(sa_trace_chunk_t) */
  uint64_t start_realtime_ns; /* CLOCK_REALTIME when tracing started */
  uint64_t clock_resolution_ns;
  uint32_t pid;
  uint32_t flags;         /* 0 */
  uint64_t reserved;
} sa_trace_header_t;

/* A chunk: one thread's buffer, flushed when full, at thread exit or at
 * process exit. Followed by count records in that thread's call order. */
typedef struct sa_trace_chunk {
  uint32_t magic;    /* SA_TRACE_CHUNK_MAGIC, or SA_TRACE_END_MAGIC (count 0) */
  uint32_t tid;      /* gettid() of the thread */
  uint32_t count;    /* records that follow (END: 0) */
  uint32_t checksum; /* sa_trace_checksum() of the records (END: records written) */
} sa_trace_chunk_t;

enum {
  SA_TRACE_MALLOC = 1,   /* size -> result */
  SA_TRACE_FREE = 2,     /* ptr */
  SA_TRACE_CALLOC = 3,   /* size = count * size (saturated) -> result */
  SA_TRACE_REALLOC = 4,  /* ptr, size -> result (glibc: size 0 frees, result NULL) */
  SA_TRACE_MEMALIGN = 5, /* memalign, posix_memalign, aligned_alloc, valloc, pvalloc */
  SA_TRACE_OP_MAX = 5
};

/* One call: 32 bytes. */
typedef struct sa_trace_record {
  uint64_t ts_ns;    /* CLOCK_MONOTONIC - start: taken after the call returns
                        for allocations, before the call for free (so a free
                        and a reuse of its address order correctly across
                        threads) */
  uint64_t ptr;      /* free/realloc: the pointer passed in; else 0 */
  uint64_t result;   /* what the call returned (0: NULL / failure) */
  uint64_t size_op;  /* bits 0..47 size (saturated at 2^48-1), 48..55 op,
                        56..63 log2(alignment) (0: default) */
} sa_trace_record_t;

#define SA_TRACE_SIZE_MASK ((UINT64_C(1) << 48) - 1)
#define SA_TRACE_RECORD_SIZE(r) ((r)->size_op & SA_TRACE_SIZE_MASK)
#define SA_TRACE_RECORD_OP(r) ((unsigned)(((r)->size_op >> 48) & 0xff))
#define SA_TRACE_RECORD_ALIGN_LOG2(r) ((unsigned)((r)->size_op >> 56))

/* The chunk checksum: over the records as 64-bit words,
 * h = (h ^ w) * 0x100000001b3 from h = 0xcbf29ce484222325, folded to 32 bits
 * as (h ^ (h >> 32)). About 1 ns per record. */
static inline uint32_t sa_trace_checksum(const sa_trace_record_t *r, uint64_t count) {
  const uint64_t *w = (const uint64_t *)r;
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (uint64_t i = 0; i < count * 4; i++) h = (h ^ w[i]) * UINT64_C(0x100000001b3);
  return (uint32_t)(h ^ (h >> 32));
}

#endif /* STRATALLOC_ANALYSIS_TRACE_FORMAT_H */

/* Exporters: human text, JSON, Prometheus text exposition, heap dump. All
 * write through a stack buffer (fmt.c): they run inside the allocator. */
#include <errno.h>
#include <string.h>

#include "fmt.h"
#include "stratalloc/strategy.h"

#define BUF_SIZE 4096

/* ======================================================================== */
/* Stats                                                                    */
/* ======================================================================== */

static void write_text(sa_buf_t *b, const sa_stats_t *s) {
  sa_buf_str(b, "stratalloc heap statistics (");
  sa_buf_str(b, s->strategy);
  sa_buf_str(b, ")\n");
#define TEXT_ROW_(name, kind, help)              \
  sa_buf_str(b, "  " #name);                     \
  for (int pad = (int)sizeof(#name); pad < 26; pad++) sa_buf_char(b, ' '); \
  sa_buf_u64(b, s->name);                        \
  sa_buf_char(b, '\n');
  SA_STATS_FIELDS(TEXT_ROW_)
#undef TEXT_ROW_
  sa_buf_str(b, "  average_allocation_size  ");
  sa_buf_f64(b, s->average_allocation_size, 1);
  sa_buf_str(b, "\n  fragmentation_pct        ");
  sa_buf_f64(b, s->fragmentation_pct, 2);
  sa_buf_str(b, "\n  overhead_pct             ");
  sa_buf_f64(b, s->overhead_pct, 2);
  sa_buf_str(b, "\n  cache_hit_rate_pct       ");
  sa_buf_f64(b, s->cache_hit_rate_pct, 2);
  sa_buf_char(b, '\n');
}

static void write_json(sa_buf_t *b, const sa_stats_t *s) {
  sa_buf_str(b, "{\"strategy\":\"");
  sa_buf_str(b, s->strategy);
  sa_buf_char(b, '"');
#define JSON_ROW_(name, kind, help) \
  sa_buf_str(b, ",\"" #name "\":");  \
  sa_buf_u64(b, s->name);
  SA_STATS_FIELDS(JSON_ROW_)
#undef JSON_ROW_
  sa_buf_str(b, ",\"average_allocation_size\":");
  sa_buf_f64(b, s->average_allocation_size, 3);
  sa_buf_str(b, ",\"fragmentation_pct\":");
  sa_buf_f64(b, s->fragmentation_pct, 3);
  sa_buf_str(b, ",\"overhead_pct\":");
  sa_buf_f64(b, s->overhead_pct, 3);
  sa_buf_str(b, ",\"cache_hit_rate_pct\":");
  sa_buf_f64(b, s->cache_hit_rate_pct, 3);
  sa_buf_str(b, "}\n");
}

/* Prometheus names: stratalloc_<field>, counters end in _total, byte
 * quantities keep their _bytes unit (counters of bytes: _bytes_total). */
static void prom_name(sa_buf_t *b, const char *field, int counter) {
  sa_buf_str(b, "stratalloc_");
  sa_buf_str(b, field);
  if (counter) sa_buf_str(b, "_total");
}

static void prom_metric(sa_buf_t *b, const char *field, const char *help, int counter,
                        const char *strategy, double value, int is_int) {
  sa_buf_str(b, "# HELP ");
  prom_name(b, field, counter);
  sa_buf_char(b, ' ');
  sa_buf_str(b, help);
  sa_buf_str(b, "\n# TYPE ");
  prom_name(b, field, counter);
  sa_buf_str(b, counter ? " counter\n" : " gauge\n");
  prom_name(b, field, counter);
  sa_buf_str(b, "{strategy=\"");
  sa_buf_str(b, strategy);
  sa_buf_str(b, "\"} ");
  if (is_int) sa_buf_u64(b, (uint64_t)value);
  else sa_buf_f64(b, value, 4);
  sa_buf_char(b, '\n');
}

static void write_prometheus(sa_buf_t *b, const sa_stats_t *s) {
  /* Counter names drop a leading "total_": stratalloc_allocations_total. */
#define PROM_ROW_(name, kind, help)                                                  \
  {                                                                                  \
    const char *field = #name;                                                       \
    int counter = sizeof(#kind) == sizeof("counter");                                \
    if (counter && strncmp(field, "total_", 6) == 0) field += 6;                 \
    prom_metric(b, field, help, counter, s->strategy, (double)s->name, 1);           \
  }
  SA_STATS_FIELDS(PROM_ROW_)
#undef PROM_ROW_
  prom_metric(b, "average_allocation_size_bytes", "mean usable bytes per allocation", 0,
              s->strategy, s->average_allocation_size, 0);
  prom_metric(b, "fragmentation_ratio", "external fragmentation: (free - largest free) / free",
              0, s->strategy, s->fragmentation_pct / 100.0, 0);
  prom_metric(b, "overhead_ratio", "(mapped - allocated) / allocated", 0, s->strategy,
              s->overhead_pct / 100.0, 0);
  prom_metric(b, "cache_hit_ratio", "thread cache hits / lookups", 0, s->strategy,
              s->cache_hit_rate_pct / 100.0, 0);
}

int sa_stats_write(sa_heap_t *heap, sa_format_t format, int fd) {
  if (fd < 0) { /* sa_buf treats -1 as "truncate": not a file */
    errno = EBADF;
    return -1;
  }
  sa_stats_t s;
  sa_heap_stats(heap, &s);
  char storage[BUF_SIZE];
  sa_buf_t b;
  sa_buf_init(&b, storage, sizeof storage, fd);
  switch (format) {
    case SA_FORMAT_JSON: write_json(&b, &s); break;
    case SA_FORMAT_PROMETHEUS: write_prometheus(&b, &s); break;
    case SA_FORMAT_TEXT:
    default: write_text(&b, &s); break;
  }
  return sa_buf_flush(&b);
}

/* ======================================================================== */
/* Heap dump                                                                */
/* ======================================================================== */

static void dump_visit(void *ptr, size_t size, sa_block_state_t state, void *arg) {
  sa_buf_t *b = arg;
  sa_buf_hex(b, (uintptr_t)ptr);
  sa_buf_char(b, ' ');
  sa_buf_u64(b, size);
  sa_buf_str(b, state == SA_BLOCK_USED ? " used\n" : " free\n");
}

int sa_heap_dump(sa_heap_t *heap, int fd) {
  if (fd < 0) {
    errno = EBADF;
    return -1;
  }
  char storage[BUF_SIZE];
  sa_buf_t b;
  sa_buf_init(&b, storage, sizeof storage, fd);
  sa_buf_str(&b, "# stratalloc heap dump (");
  sa_buf_str(&b, heap->strategy->name);
  sa_buf_str(&b, "): address size state\n");
  sa_walk(heap, dump_visit, &b);
  return sa_buf_flush(&b);
}

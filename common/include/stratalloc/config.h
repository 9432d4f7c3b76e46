/* sa_config_t: every tunable, from code or from SA_CONF ("key:value,...",
 * like jemalloc's MALLOC_CONF). Sizes take k/m/g suffixes; booleans 0/1,
 * true/false. Each bad item (unknown key, bad or out-of-range value, missing
 * ':', empty item, a key given twice, spaces) is named on stderr with the
 * item, the reason and what its key keeps; the good items are applied.
 * SA_CONF is ignored in secure mode (setuid, setgid, file capabilities:
 * AT_SECURE), as glibc's tunables and jemalloc's MALLOC_CONF are.
 *
 * Every value inside a key's range works with every strategy (the ranges
 * below are checked at both ends by tests/config). Some are capped where
 * they are used; the help says where. */
#ifndef STRATALLOC_CONFIG_H
#define STRATALLOC_CONFIG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(type, name, default, min, max, help). One table: the struct, the defaults,
 * the parser, the README and the exporters all come from it. */
#define SA_CONFIG_FIELDS(X)                                                     \
  X(size, mmap_threshold, 128 * 1024, 4096, (size_t)1 << 40,                    \
    "requests above this many bytes are mapped directly from the OS "           \
    "(buddy: at most its largest block, 16m; segregated: above 128k a block has its own mapping)") \
  X(size, heap_extension_size, 1024 * 1024, 64 * 1024, (size_t)1 << 40,         \
    "bytes a back-end asks of the OS each time it grows; first_fit and buddy take at most " \
    "1g at once, less while the OS refuses (buddy: at least two of its largest blocks); "  \
    "segregated: unused")                                                                   \
  X(size, min_block_size, 32, 32, 4096,                                          \
    "first_fit: smallest block a split may leave (rounded to 16); "              \
    "buddy: smallest block (rounded up to a power of two)")                       \
  X(size, retain_empty_chunks, 1, 0, 1 << 20,                                    \
    "first_fit, buddy: empty chunks or arenas kept mapped for reuse")            \
  X(size, retain_empty_slabs, 1, 0, 1 << 20,                                     \
    "segregated: empty slabs kept mapped per size class; more go back to the OS") \
  X(size, segment_cache_bytes, (size_t)1 << 30, 0, (size_t)1 << 40,               \
    "freed slab and large-object bytes kept for reuse before all go back; 0: none") \
  X(size, segment_decay_ms, 1000, 0, (size_t)1 << 32,                            \
    "freed slab and large-object memory unused this long (ms) goes back to the OS "  \
    "(between 7/8 of it and all of it after its last use)")                       \
  X(bool, background_purge, 1, 0, 1,                                             \
    "1: one thread per process (started at the first cached large object) gives back " \
    "decayed memory while the program makes no call; 0: only the heap's own calls do") \
  X(size, cache_fill_threshold, 32, 1, 1 << 16,                                  \
    "thread_cache: blocks fetched from the back-end on a miss, at most half "    \
    "of what the bin holds and 32 KiB; a bin's first fills take 1, 2, 4, ...")   \
  X(size, cache_flush_threshold, 64, 2, 1 << 16,                                 \
    "thread_cache: a bin holding more blocks flushes half back; a bin holds at " \
    "most 64 KiB of blocks (4096 of 16 bytes); one that runs dry and overflows " \
    "in turn doubles, up to 32x and 128 KiB")                                     \
  X(bool, enable_thread_cache, 1, 0, 1,                                          \
    "thread_cache: 0 turns the per-thread bins off at run time")                 \
  X(bool, enable_aggressive_coalescing, 1, 0, 1,                                 \
    "1: merge free neighbours on every free; 0: defer and merge in bulk")

typedef struct sa_config {
#define SA_CONFIG_FIELD_(type, name, def, lo, hi, help) size_t name;
  SA_CONFIG_FIELDS(SA_CONFIG_FIELD_)
#undef SA_CONFIG_FIELD_
} sa_config_t;

/* Defaults only (ignores the environment). */
void sa_config_default(sa_config_t *config);
/* Defaults, then SA_CONF from the environment, read with secure_getenv:
 * ignored in secure mode. */
void sa_config_from_env(sa_config_t *config);
/* Applies "key:value,key:value"; each bad item is reported on stderr and
 * leaves its field unchanged (a key given twice keeps its first value).
 * Returns the number of bad items. */
int sa_config_parse(sa_config_t *config, const char *text);
/* One pair, checked as the item "key:value" is; returns 0, or -1 (reported
 * on stderr, field unchanged). */
int sa_config_set(sa_config_t *config, const char *key, const char *value);
/* For a config filled in by code: each field outside its range is reported
 * on stderr and set to its default. Returns the number of such fields. */
int sa_config_check(sa_config_t *config);

#ifdef __cplusplus
}
#endif

#endif /* STRATALLOC_CONFIG_H */

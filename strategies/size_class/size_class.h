/* sa_sc_: the size classes of the slab back-end (segregated) and of the
 * thread cache's bins, defined once. A class is an index; its size is the
 * usable size of every block of that class.
 *
 * 16, 32, ..., 128; then for each power of two 2^k (k >= 7) the four sizes
 * 5, 6, 7, 8 times 2^(k-2), up to SA_SC_MAX. */
#ifndef STRATALLOC_STRATEGIES_SIZE_CLASS_SIZE_CLASS_H
#define STRATALLOC_STRATEGIES_SIZE_CLASS_SIZE_CLASS_H

#include <stddef.h>

#define SA_SC_COUNT 48                 /* classes 0 .. SA_SC_COUNT - 1 */
#define SA_SC_MAX ((size_t)128 * 1024) /* the size of the last class */

/* The class of size 2^lg, 7 <= lg <= 17, as a constant expression (array
 * bounds: the thread cache has a bin per class up to its largest). */
#define SA_SC_POW2_CLASS(lg) (7 + 4 * ((lg) - 7))

static inline size_t sa_sc_size(size_t cls) {
  return cls < 8 ? (cls + 1) * 16 : (size_t)(5 + (cls - 8) % 4) << ((cls - 8) / 4 + 5);
}

/* The smallest class whose size is >= n, 1 <= n <= SA_SC_MAX. O(1): a shift,
 * or a count of leading zeros. */
static inline size_t sa_sc_ceil(size_t n) {
  if (n <= 128) return (n - 1) >> 4;
  unsigned lg = 63u - (unsigned)__builtin_clzl(n - 1); /* 2^lg < n <= 2^(lg+1) */
  return 8 + (lg - 7) * 4 + ((n - 1) >> (lg - 2)) - 4;
}

/* The largest class whose size is <= u, 16 <= u <= SA_SC_MAX. */
static inline size_t sa_sc_floor(size_t u) {
  size_t c = sa_sc_ceil(u);
  return sa_sc_size(c) == u ? c : c - 1;
}

#endif /* STRATALLOC_STRATEGIES_SIZE_CLASS_SIZE_CLASS_H */

/* sa_sc_: the size classes of the slab back-end (segregated) and of the
 * thread cache's bins, defined once. A class is an index; its size is the
 * usable size of every block of that class.
 *
 *   16, 32, ..., 128                          (8 classes, step 16)
 *   (2^k, 2^(k+1)], 7 <= k <= 9: 5, 6, 7, 8 x 2^(k-2)      (4 per power of two)
 *   (2^k, 2^(k+1)], 10 <= k <= 16: 9, 10, ..., 16 x 2^(k-3) (8 per power of two)
 *
 * up to SA_SC_MAX. Rounding waste: at most 15 bytes up to 128, below 25% of
 * the request up to 1 KiB and below 12.5% above (a sqlite page of 4096 + a
 * header takes 4608, not 5120). */
#ifndef STRATALLOC_STRATEGIES_SIZE_CLASS_SIZE_CLASS_H
#define STRATALLOC_STRATEGIES_SIZE_CLASS_SIZE_CLASS_H

#include <stddef.h>

#define SA_SC_COUNT 76                 /* classes 0 .. SA_SC_COUNT - 1 */
#define SA_SC_MAX ((size_t)128 * 1024) /* the size of the last class */

/* The first class of the 8-per-power-of-two range (size 1152) and the
 * log2 of the size that range starts above (1024). */
#define SA_SC_FINE_FIRST 20
#define SA_SC_FINE_LG 10

/* The class of size 2^lg, 7 <= lg <= 17, as a constant expression (array
 * bounds: the thread cache has a bin per class up to its largest). */
#define SA_SC_POW2_CLASS(lg) \
  ((lg) <= SA_SC_FINE_LG ? 7 + 4 * ((lg) - 7) : SA_SC_FINE_FIRST - 1 + 8 * ((lg) - SA_SC_FINE_LG))

static inline size_t sa_sc_size(size_t cls) {
  if (cls < 8) return (cls + 1) * 16;
  if (cls < SA_SC_FINE_FIRST) return (size_t)(5 + (cls - 8) % 4) << ((cls - 8) / 4 + 5);
  return (size_t)(9 + (cls - SA_SC_FINE_FIRST) % 8) << ((cls - SA_SC_FINE_FIRST) / 8 + SA_SC_FINE_LG - 3);
}

/* The smallest class whose size is >= n, 1 <= n <= SA_SC_MAX. O(1): a shift,
 * or a count of leading zeros, a compare and a shift. */
static inline size_t sa_sc_ceil(size_t n) {
  if (n <= 128) return (n - 1) >> 4;
  unsigned lg = 63u - (unsigned)__builtin_clzl(n - 1); /* 2^lg < n <= 2^(lg+1) */
  if (lg < SA_SC_FINE_LG) return 8 + (lg - 7) * 4 + ((n - 1) >> (lg - 2)) - 4;
  return SA_SC_FINE_FIRST + (lg - SA_SC_FINE_LG) * 8 + ((n - 1) >> (lg - 3)) - 8;
}

/* The largest class whose size is <= u, 16 <= u <= SA_SC_MAX. */
static inline size_t sa_sc_floor(size_t u) {
  size_t c = sa_sc_ceil(u);
  return sa_sc_size(c) == u ? c : c - 1;
}

#endif /* STRATALLOC_STRATEGIES_SIZE_CLASS_SIZE_CLASS_H */

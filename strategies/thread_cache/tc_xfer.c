/* The transfer cache: per bin, whole lists of cached blocks handed from a
 * thread whose bin overflowed to the next thread whose bin runs dry (see
 * tc.h). Each bin's lists are under its own lock, a leaf: nothing else is
 * taken while one is held, and it is taken after tc_registry_lock where
 * both are (the double-free scan, fork). */
#include <errno.h>

#include "strategies/thread_cache/tc.h"

int tc_xfer_init(tc_heap_t *h) {
  h->xfer = sa_os_map(TC_NBINS * sizeof(tc_xfer_t), 0);
  if (h->xfer == NULL) return -1;
  for (size_t b = 0; b < TC_NBINS; b++) sa_mutex_init_zeroed(&h->xfer[b].lock);
  return 0;
}

void tc_xfer_fini(tc_heap_t *h) {
  if (h->xfer == NULL) return;
  for (size_t b = 0; b < TC_NBINS; b++) pthread_mutex_destroy(&h->xfer[b].lock);
  sa_os_unmap(h->xfer, TC_NBINS * sizeof(tc_xfer_t));
  h->xfer = NULL;
}

int tc_xfer_put(tc_heap_t *h, size_t b, void *head, uint32_t count, uint64_t bytes) {
  tc_xfer_t *x = &h->xfer[b];
  if (__atomic_load_n(&x->n, __ATOMIC_RELAXED) >= TC_XFER_LISTS) return 0; /* hint */
  if (__atomic_add_fetch(&h->xfer_bytes, bytes, __ATOMIC_RELAXED) > TC_XFER_HEAP_BYTES) {
    __atomic_sub_fetch(&h->xfer_bytes, bytes, __ATOMIC_RELAXED);
    return 0;
  }
  int taken = 0;
  sa_mutex_lock_spinning(&x->lock);
  if (x->n < TC_XFER_LISTS && x->sum.bytes + bytes <= TC_XFER_BYTES) {
    x->list[x->n] = (tc_xfer_list_t){head, count, bytes};
    __atomic_store_n(&x->n, x->n + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&x->sum.bytes, x->sum.bytes + bytes, __ATOMIC_RELAXED);
    __atomic_store_n(&x->sum.blocks, x->sum.blocks + count, __ATOMIC_RELAXED);
    __atomic_store_n(&x->sum.puts, x->sum.puts + count, __ATOMIC_RELAXED);
    taken = 1;
  }
  pthread_mutex_unlock(&x->lock);
  if (!taken) __atomic_sub_fetch(&h->xfer_bytes, bytes, __ATOMIC_RELAXED);
  return taken;
}

void *tc_xfer_take(tc_heap_t *h, size_t b, uint32_t max, uint32_t *count, uint64_t *bytes) {
  tc_xfer_t *x = &h->xfer[b];
  if (__atomic_load_n(&x->n, __ATOMIC_RELAXED) == 0) return NULL; /* hint: most misses */
  void *head = NULL;
  sa_mutex_lock_spinning(&x->lock);
  for (uint32_t i = x->n; i-- > 0;) { /* the newest that fits: the warmest */
    if (x->list[i].count > max) continue;
    head = x->list[i].head;
    *count = x->list[i].count;
    *bytes = x->list[i].bytes;
    x->list[i] = x->list[x->n - 1];
    __atomic_store_n(&x->n, x->n - 1, __ATOMIC_RELAXED);
    __atomic_store_n(&x->sum.bytes, x->sum.bytes - *bytes, __ATOMIC_RELAXED);
    __atomic_store_n(&x->sum.blocks, x->sum.blocks - *count, __ATOMIC_RELAXED);
    __atomic_store_n(&x->sum.takes, x->sum.takes + *count, __ATOMIC_RELAXED);
    __atomic_store_n(&x->sum.take_bytes, x->sum.take_bytes + *bytes, __ATOMIC_RELAXED);
    break;
  }
  pthread_mutex_unlock(&x->lock);
  if (head != NULL) __atomic_sub_fetch(&h->xfer_bytes, *bytes, __ATOMIC_RELAXED);
  return head;
}

/* The lists are well formed while the lock is held (only whole lists move,
 * under it), but a use-after-free write may have broken a link: every link
 * is checked before it is followed. */
int tc_xfer_holds(tc_heap_t *h, const void *p, size_t u) {
  if (h->xfer == NULL || u < 16 || u > TC_MAX_CACHED) return 0;
  tc_xfer_t *x = &h->xfer[tc_bin_floor(u)];
  int found = 0;
  pthread_mutex_lock(&x->lock);
  for (uint32_t i = 0; i < x->n && !found; i++) {
    const void *q = x->list[i].head;
    for (uint32_t k = 0; k < x->list[i].count && q != TC_END && tc_plausible(h->heap, q) && !found; k++) {
      found = q == p;
      q = tc_next(&tc_no_cache, q);
    }
  }
  pthread_mutex_unlock(&x->lock);
  return found;
}

void tc_xfer_totals(tc_heap_t *h, tc_xfer_sum_t *sum) {
  *sum = (tc_xfer_sum_t){0, 0, 0, 0, 0};
  if (h->xfer == NULL) return;
  for (size_t b = 0; b < TC_NBINS; b++) {
    const tc_xfer_sum_t *x = &h->xfer[b].sum;
    sum->blocks += __atomic_load_n(&x->blocks, __ATOMIC_RELAXED);
    sum->bytes += __atomic_load_n(&x->bytes, __ATOMIC_RELAXED);
    sum->puts += __atomic_load_n(&x->puts, __ATOMIC_RELAXED);
    sum->takes += __atomic_load_n(&x->takes, __ATOMIC_RELAXED);
    sum->take_bytes += __atomic_load_n(&x->take_bytes, __ATOMIC_RELAXED);
  }
}

size_t tc_xfer_collect(tc_heap_t *h, uintptr_t *out, size_t max) {
  size_t n = 0;
  if (h->xfer == NULL) return 0;
  for (size_t b = 0; b < TC_NBINS; b++) {
    tc_xfer_t *x = &h->xfer[b];
    /* An empty bin without its lock: taking it writes, and a walk would
     * fault in every page of the lists no one used. */
    if (__atomic_load_n(&x->n, __ATOMIC_RELAXED) == 0) continue;
    pthread_mutex_lock(&x->lock);
    for (uint32_t i = 0; i < x->n; i++) {
      const void *q = x->list[i].head;
      for (uint32_t k = 0; k < x->list[i].count && q != TC_END && n < max; k++) {
        out[n++] = (uintptr_t)q;
        q = tc_next(&tc_no_cache, q);
      }
    }
    pthread_mutex_unlock(&x->lock);
  }
  return n;
}

#define TC_XFER_EXPECT(cond, message, ptr)         \
  do {                                             \
    if (!(cond)) {                                 \
      sa_check_report(h->heap, message, (ptr));    \
      failures++;                                  \
    }                                              \
  } while (0)

size_t tc_xfer_check(tc_heap_t *h) {
  size_t failures = 0;
  if (h->xfer == NULL) return 0;
  for (size_t b = 0; b < TC_NBINS; b++) {
    tc_xfer_t *x = &h->xfer[b];
    pthread_mutex_lock(&x->lock);
    uint64_t blocks = 0, bytes = 0;
    for (uint32_t i = 0; i < x->n; i++) {
      const void *q = x->list[i].head;
      uint32_t k = 0;
      uint64_t list_bytes = 0;
      for (; q != TC_END; k++) {
        if (k >= x->list[i].count || !tc_plausible(h->heap, q)) {
          TC_XFER_EXPECT(0, "transfer cache list longer than its count, or out of the heap", q);
          break;
        }
        uint64_t u = tc_mark_of(&tc_no_cache, q);
        if (u >> 16) {
          TC_XFER_EXPECT(0, "block in the transfer cache lost its mark (written after free)", q);
          break;
        }
        TC_XFER_EXPECT(tc_bin_floor(u) == b, "block in the wrong transfer cache bin", q);
        list_bytes += u;
        q = tc_next(&tc_no_cache, q);
      }
      TC_XFER_EXPECT(k == x->list[i].count && list_bytes == x->list[i].bytes,
                     "transfer cache list disagrees with its count or bytes", x->list[i].head);
      blocks += x->list[i].count;
      bytes += x->list[i].bytes;
    }
    TC_XFER_EXPECT(blocks == x->sum.blocks && bytes == x->sum.bytes && bytes <= TC_XFER_BYTES &&
                       x->sum.puts - x->sum.takes == blocks,
                   "transfer cache totals disagree with its lists", x);
    pthread_mutex_unlock(&x->lock);
  }
  return failures;
}

void tc_xfer_lock_all(tc_heap_t *h) {
  if (h->xfer == NULL) return;
  for (size_t b = 0; b < TC_NBINS; b++) pthread_mutex_lock(&h->xfer[b].lock);
}

void tc_xfer_unlock_all(tc_heap_t *h) {
  if (h->xfer == NULL) return;
  for (size_t b = TC_NBINS; b-- > 0;) pthread_mutex_unlock(&h->xfer[b].lock);
}

/* The segment cache: address space a heap keeps between its segments' lives,
 * so that a strategy that cycles same-size segments (segregated's slabs)
 * does not pay an mmap and a munmap, two page-table walks and a TLB
 * shootdown every time. Two sources, both under heap->segment_lock:
 *
 *   released   segments given back by sa_segment_release: their pages are
 *              resident and dirty; one LIFO list per size in pages
 *              (released[pages]) and one list of bigger spans, counted in
 *              mapped_bytes and in segment_cache_bytes.
 *   reserve    one untouched mapping that new segments are carved from in
 *              address order (zero, not resident, not counted); it grows
 *              with the heap, so a heap of N segments makes O(log N) mmaps.
 *
 * Released memory goes back to the OS (as jemalloc's dirty decay, without
 * a background thread): a span released more than config.segment_decay_ms
 * ago is unmapped by the next take or release that looks (at most four
 * times per decay period), and when the cache passes
 * config.segment_cache_bytes all of it goes at once. Either way the spans
 * leave sorted by address, neighbours in one munmap. A heap that stops
 * calling the allocator keeps its cache until the next call or destroy.
 *
 * Users: segregated's slabs (sa_segment_take/release, exact sizes) and
 * large objects (large.c: a freed object's span serves a later request
 * needing at most 1/8 less, from the exact lists up to SA_SEGMENT_CACHE_MAX
 * or the first-fit big list up to SA_SEGMENT_CACHE_BIG_MAX). Larger spans
 * (and any with a cache of 0 bytes) map and unmap directly. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "os.h"
#include "pagemap.h"
#include "segment.h"
#include "stratalloc/strategy.h"

#define RESERVE_MIN ((size_t)256 * 1024)
#define RESERVE_MAX ((size_t)4 * 1024 * 1024)
#define SHRINK_FLOOR ((size_t)16 * 1024 * 1024)

/* A released span, the link written into its own first bytes (the segment
 * header's, never the user bytes of a large object: a write after free
 * there leaves the list intact). */
typedef struct sa_span {
  struct sa_span *next;
  size_t size;
  uint64_t released_ms; /* CLOCK_MONOTONIC_COARSE */
  const void *user;     /* a large object's user pointer, else NULL (sa_segment_cache_holds) */
} sa_span_t;
_Static_assert(sizeof(sa_span_t) <= SA_SEGMENT_HEADER_SIZE, "a span's link fits its segment header");

/* vDSO: no system call, no allocation. */
static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#define BIG_LIST (SA_SEGMENT_CACHE_PAGES + 1)

/* The released[] list a span of size bytes belongs on. */
static inline size_t span_list(size_t size) {
  return size <= SA_SEGMENT_CACHE_MAX ? size >> SA_PAGEMAP_PAGE_SHIFT : BIG_LIST;
}

static int cacheable(const sa_heap_t *heap, size_t size) {
  return heap->config.segment_cache_bytes != 0 && size <= SA_SEGMENT_CACHE_BIG_MAX &&
         sa_os_page_size() == ((size_t)1 << SA_PAGEMAP_PAGE_SHIFT);
}

/* ---- the reserve ----------------------------------------------------------- */

/* Called with segment_lock held. A fresh range of size bytes carved from the
 * reserve, which is replaced (its untouched rest unmapped) when too small. */
static void *reserve_take(sa_heap_t *heap, size_t size) {
  sa_segment_cache_t *sc = &heap->segment_cache;
  if ((size_t)(sc->reserve_end - sc->reserve) < size) {
    size_t want = __atomic_load_n(&heap->mapped_bytes, __ATOMIC_RELAXED) / 4;
    if (want < RESERVE_MIN) want = RESERVE_MIN;
    if (want > RESERVE_MAX) want = RESERVE_MAX;
    want = (want / size) * size;
    if (want < size) want = size;
    char *mem = sa_os_map(want, 0);
    if (mem == NULL && want > size) mem = sa_os_map(want = size, 0);
    if (mem == NULL) return NULL;
    sa_os_unmap(sc->reserve, (size_t)(sc->reserve_end - sc->reserve));
    sc->reserve = mem;
    sc->reserve_end = mem + want;
  }
  void *p = sc->reserve;
  sc->reserve += size;
  return p;
}

/* ---- released spans -------------------------------------------------------- */

/* Sorts a list by address (merge sort, no allocation). */
static sa_span_t *spans_sort(sa_span_t *list) {
  if (list == NULL || list->next == NULL) return list;
  sa_span_t *slow = list, *fast = list->next;
  while (fast && fast->next) {
    slow = slow->next;
    fast = fast->next->next;
  }
  sa_span_t *right = slow->next;
  slow->next = NULL;
  sa_span_t *a = spans_sort(list), *b = spans_sort(right), head, *tail = &head;
  while (a && b) {
    if (a < b) tail->next = a, a = a->next;
    else tail->next = b, b = b->next;
    tail = tail->next;
  }
  tail->next = a ? a : b;
  return head.next;
}

/* Called with segment_lock held: bytes of released spans were unmapped. */
static void released_gone(sa_heap_t *heap, size_t bytes) {
  __atomic_sub_fetch(&heap->mapped_bytes, bytes, __ATOMIC_RELAXED);
  heap->segment_cache.cached_bytes -= bytes;
  heap->segment_cache.purged_bytes += bytes;
}

/* Called with segment_lock held: the released spans released at or before
 * `before` (ms; UINT64_MAX: all) back to the OS, address-adjacent ones in
 * one munmap. */
static void released_purge(sa_heap_t *heap, uint64_t before) {
  sa_segment_cache_t *sc = &heap->segment_cache;
  sa_span_t *old = NULL;
  size_t bytes = 0;
  for (size_t i = 0; i <= BIG_LIST; i++) {
    sa_span_t **link = &sc->released[i];
    while (*link) {
      sa_span_t *s = *link;
      if (s->released_ms > before) {
        link = &s->next;
        continue;
      }
      *link = s->next;
      s->next = old;
      old = s;
      bytes += s->size;
    }
  }
  if (old == NULL) return;
  old = spans_sort(old);
  while (old) {
    char *start = (char *)old;
    char *end = start + old->size;
    old = old->next;
    while (old && (char *)old == end) {
      end += old->size;
      old = old->next;
    }
    sa_os_unmap(start, (size_t)(end - start));
  }
  released_gone(heap, bytes);
}

/* Called with segment_lock held by take and release: decays the cache. */
static void released_decay(sa_heap_t *heap) {
  sa_segment_cache_t *sc = &heap->segment_cache;
  if (sc->cached_bytes == 0) return;
  uint64_t decay = heap->config.segment_decay_ms, now = now_ms();
  if (now - sc->decay_checked_ms < decay / 4) return;
  sc->decay_checked_ms = now;
  if (now >= decay) released_purge(heap, now - decay);
}

/* Called with segment_lock held when a request of size bytes found nothing
 * of its size here and will map afresh: gives back at least as many cached
 * bytes (biggest lists first), so that spans of the wrong sizes do not
 * pile up on top of new mappings (a program freeing and allocating large
 * buffers of ever different sizes otherwise peaks at its live bytes plus
 * the cache: python with random 128 KiB..2 MiB buffers, +35% RSS), beyond
 * the first SHRINK_FLOOR bytes. */
static void released_shrink(sa_heap_t *heap, size_t size) {
  sa_segment_cache_t *sc = &heap->segment_cache;
  /* Up to SHRINK_FLOOR stays: a few spans of neighbouring sizes serve a
   * loop whose sizes vary a little. */
  if (sc->cached_bytes <= SHRINK_FLOOR) return;
  if (size > sc->cached_bytes - SHRINK_FLOOR) size = sc->cached_bytes - SHRINK_FLOOR;
  size_t bytes = 0;
  for (size_t i = BIG_LIST + 1; i-- > 0 && bytes < size && sc->cached_bytes > bytes;) {
    while (sc->released[i] != NULL && bytes < size) {
      sa_span_t *s = sc->released[i];
      sc->released[i] = s->next;
      bytes += s->size;
      sa_os_unmap(s, s->size);
    }
  }
  released_gone(heap, bytes);
}

/* Called with segment_lock held: unlinks a released span of at least size
 * and at most size + slack bytes, smallest list first (the exact lists), or
 * the first fit of the big list. NULL if none. */
static sa_span_t *released_take(sa_heap_t *heap, size_t size, size_t slack) {
  sa_segment_cache_t *sc = &heap->segment_cache;
  sa_span_t *s = NULL, **link = NULL;
  if (size <= SA_SEGMENT_CACHE_MAX) {
    size_t last = span_list(size + slack < SA_SEGMENT_CACHE_MAX ? size + slack : SA_SEGMENT_CACHE_MAX);
    for (size_t i = span_list(size); i <= last && s == NULL; i++)
      if (sc->released[i]) s = *(link = &sc->released[i]);
  }
  if (s == NULL && size + slack > SA_SEGMENT_CACHE_MAX) {
    for (link = &sc->released[BIG_LIST]; (s = *link) != NULL; link = &s->next)
      if (s->size >= size && s->size - size <= slack) break;
  }
  if (s == NULL) return NULL;
  *link = s->next;
  sc->cached_bytes -= s->size;
  /* Still in mapped_bytes as cached; registering counts it as in use. */
  __atomic_sub_fetch(&heap->mapped_bytes, s->size, __ATOMIC_RELAXED);
  sc->reused++;
  return s;
}

void *sa_segment_cache_pop(sa_heap_t *heap, size_t size, size_t slack, size_t *got) {
  if (!cacheable(heap, size)) return NULL;
  pthread_mutex_lock(&heap->segment_lock);
  sa_span_t *s = released_take(heap, size, slack);
  if (s) *got = s->size;
  else if (heap->segment_cache.cached_bytes != 0) released_shrink(heap, size);
  released_decay(heap);
  pthread_mutex_unlock(&heap->segment_lock);
  return s;
}

/* ---- the API ----------------------------------------------------------------- */

sa_segment_t *sa_segment_take(sa_heap_t *heap, size_t size, int *zeroed) {
  size = sa_align_up(size, sa_os_page_size());
  if (!cacheable(heap, size)) {
    *zeroed = 1;
    return sa_segment_map(heap, size, 0, SA_SEGMENT_HEAP);
  }
  sa_segment_cache_t *sc = &heap->segment_cache;
  pthread_mutex_lock(&heap->segment_lock);
  sa_span_t *s = released_take(heap, size, 0);
  void *mem;
  if (s != NULL) {
    mem = s;
    *zeroed = 0;
  } else {
    if (sc->cached_bytes != 0) released_shrink(heap, size);
    mem = reserve_take(heap, size);
    if (mem == NULL && sc->cached_bytes != 0) {
      released_purge(heap, UINT64_MAX); /* address space is short: give back what we keep */
      mem = reserve_take(heap, size);
    }
    *zeroed = 1;
  }
  released_decay(heap);
  pthread_mutex_unlock(&heap->segment_lock);
  if (mem == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  /* A stale header must not be seen through the page map before the
   * strategy sets its fields (front-ends read seg->usable without a lock). */
  if (!*zeroed) memset(mem, 0, SA_SEGMENT_HEADER_SIZE);
  sa_segment_t *seg = *zeroed ? sa_segment_register(heap, mem, size, SA_SEGMENT_HEAP)
                              : sa_segment_reregister(heap, mem, size, SA_SEGMENT_HEAP);
  if (seg == NULL) {
    sa_os_unmap(mem, size);
    errno = ENOMEM;
  }
  return seg;
}

void sa_segment_release(sa_heap_t *heap, sa_segment_t *seg) {
  size_t size = seg->size;
  if (!cacheable(heap, size)) {
    sa_segment_unmap(heap, seg);
    return;
  }
  const void *user = seg->kind == SA_SEGMENT_LARGE ? seg->user : NULL;
  sa_segment_unregister(heap, seg);
  sa_segment_cache_t *sc = &heap->segment_cache;
  sa_span_t *s = (sa_span_t *)seg;
  s->size = size;
  s->released_ms = now_ms();
  s->user = user;
  pthread_mutex_lock(&heap->segment_lock);
  s->next = sc->released[span_list(size)];
  sc->released[span_list(size)] = s;
  sc->cached_bytes += size;
  __atomic_add_fetch(&heap->mapped_bytes, size, __ATOMIC_RELAXED);
  if (sc->cached_bytes > heap->config.segment_cache_bytes) released_purge(heap, UINT64_MAX);
  else released_decay(heap);
  pthread_mutex_unlock(&heap->segment_lock);
}

size_t sa_segment_cache_purge(sa_heap_t *heap) {
  pthread_mutex_lock(&heap->segment_lock);
  size_t bytes = heap->segment_cache.cached_bytes;
  released_purge(heap, UINT64_MAX);
  sa_segment_cache_t *sc = &heap->segment_cache;
  sa_os_unmap(sc->reserve, (size_t)(sc->reserve_end - sc->reserve));
  sc->reserve = sc->reserve_end = NULL;
  pthread_mutex_unlock(&heap->segment_lock);
  return bytes;
}

/* The error path of a pointer the page map does not know (large.c's
 * sa_large_fault): 1 if ptr is the user pointer of a freed large object
 * whose span the cache still holds, else 0. */
__attribute__((visibility("hidden"), cold)) int sa_segment_cache_holds(sa_heap_t *heap,
                                                                       const void *ptr) {
  int found = 0;
  pthread_mutex_lock(&heap->segment_lock);
  for (size_t i = 0; i <= BIG_LIST && !found; i++)
    for (sa_span_t *s = heap->segment_cache.released[i]; s; s = s->next)
      if (s->user == ptr) {
        found = 1;
        break;
      }
  pthread_mutex_unlock(&heap->segment_lock);
  return found;
}

/* ---- check ------------------------------------------------------------------- */

size_t sa_segment_cache_check(sa_heap_t *heap) {
  sa_segment_cache_t *sc = &heap->segment_cache;
  size_t failures = 0, bytes = 0;
  pthread_mutex_lock(&heap->segment_lock);
  for (size_t i = 0; i <= BIG_LIST; i++) {
    for (sa_span_t *s = sc->released[i]; s; s = s->next) {
      bytes += s->size;
      SA_CHECK_EXPECT(heap, failures, span_list(s->size) == i && s->size % sa_os_page_size() == 0,
                      "cached span on the wrong size list", s);
      SA_CHECK_EXPECT(heap, failures, sa_pagemap_get(s) == NULL && sa_pagemap_get((char *)s + s->size - 1) == NULL,
                      "cached span still in the page map", s);
    }
  }
  SA_CHECK_EXPECT(heap, failures, bytes == sc->cached_bytes, "segment cache bytes disagree with its lists", NULL);
  SA_CHECK_EXPECT(heap, failures, sc->reserve <= sc->reserve_end, "segment reserve inverted", sc->reserve);
  pthread_mutex_unlock(&heap->segment_lock);
  return failures;
}

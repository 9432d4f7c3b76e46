/* The segment cache: address space a heap keeps between its segments' lives,
 * so that a strategy that cycles same-size segments (segregated's slabs)
 * does not pay an mmap and a munmap, two page-table walks and a TLB
 * shootdown every time, and a program that cycles large buffers does not
 * pay a page fault per page of each. Two sources, both under
 * heap->segment_lock:
 *
 *   released   segments given back by sa_segment_release (and the tails of
 *              large objects that shrank or were split): their pages are
 *              resident and dirty; one LIFO list per size in pages
 *              (released[pages]) up to SA_SEGMENT_CACHE_MAX and one list of
 *              bigger spans, counted in mapped_bytes and in
 *              segment_cache_bytes.
 *   reserve    one untouched mapping that new segments are carved from in
 *              address order (zero, not resident, not counted); it grows
 *              with the heap, so a heap of N segments makes O(log N) mmaps.
 *
 * Large objects (large.c) take what is nearest: a span within 1/8 of the
 * request from the exact lists, else the best fit of the big list, split
 * when more than 1/8 is left over (the head is handed out, the tail stays
 * cached, its pages resident), else up to GLUE_MAX big spans moved side by
 * side by mremap into one new range (their pages go with them: only what
 * they do not cover is new), or with one candidate the largest big span
 * grown by mremap (only the missing pages are new; the kernel moves the
 * rest without a fault): a fresh mapping beside a cached span would hold
 * both resident. tcmalloc's page heap does the same with address-ordered
 * spans; here each span remembers its origin, the mapping
 * it was cut from (a tag in the large object's header while it lives):
 * address-adjacent big spans of one origin lie in one VMA, so a freed
 * object and its cached tail merge back into one span that mremap can
 * grow. A live large object grows into the cached span right after it, or
 * leaves its tail here when it shrinks, without a system call.
 *
 * Released memory goes back to the OS (as jemalloc's dirty decay): a span
 * unused for config.segment_decay_ms is unmapped, by the heap's next call
 * that sees something due, or by the background purger (purge.c) while the
 * heap makes none; what comes due within the next eighth of the period goes
 * in the same pass, so a span is unmapped between 7/8 and all of the
 * period after its last use. When the cache passes
 * config.segment_cache_bytes all of it goes at once. Either way the spans
 * leave sorted by address, neighbours in one munmap, and the munmaps run
 * without segment_lock held.
 *
 * Spans above SA_SEGMENT_CACHE_BIG_MAX (and any with a cache of 0 bytes)
 * map and unmap directly. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "os.h"
#include "pagemap.h"
#include "purge.h"
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
  uint32_t origin;      /* the mapping it was cut from; 0: unknown (never merged) */
} sa_span_t;
_Static_assert(sizeof(sa_span_t) <= SA_SEGMENT_HEADER_SIZE, "a span's link fits its segment header");

static uint64_t now_ms(void) { return sa_os_clock_ms(); }

uint64_t sa_clock_ms(void) { return now_ms(); }

static uint32_t g_origin;

uint32_t sa_segment_new_origin(void) {
  uint32_t o;
  do o = __atomic_add_fetch(&g_origin, 1, __ATOMIC_RELAXED) & ~SA_ORIGIN_GLUED;
  while (o == 0);
  return o;
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

/* The time by which everything released at or before t is due. */
static inline uint64_t due_at(const sa_heap_t *heap, uint64_t released) {
  uint64_t decay = heap->config.segment_decay_ms;
  return released + decay - decay / 8;
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

/* ---- giving spans back ------------------------------------------------------- */

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

/* Unmaps a list of spans taken off the cache (no lock needed: they are no
 * one's), address-adjacent ones in one munmap. */
static void spans_unmap(sa_span_t *list) {
  list = spans_sort(list);
  while (list) {
    char *start = (char *)list;
    char *end = start + list->size;
    list = list->next;
    while (list && (char *)list == end) {
      end += list->size;
      list = list->next;
    }
    sa_os_unmap(start, (size_t)(end - start));
  }
}

/* Called with segment_lock held: s (off its list) is on its way to the OS
 * through *dead. */
static void span_dead(sa_heap_t *heap, sa_span_t *s, sa_span_t **dead) {
  __atomic_sub_fetch(&heap->mapped_bytes, s->size, __ATOMIC_RELAXED);
  heap->segment_cache.cached_bytes -= s->size;
  heap->segment_cache.purged_bytes += s->size;
  s->next = *dead;
  *dead = s;
}

/* Called with segment_lock held: every span due at now (UINT64_MAX: every
 * span) onto *dead; oldest_ms recomputed from what stays. */
static void released_collect(sa_heap_t *heap, uint64_t now, sa_span_t **dead) {
  sa_segment_cache_t *sc = &heap->segment_cache;
  uint64_t oldest = UINT64_MAX;
  for (size_t i = 0; i <= BIG_LIST && sc->cached_bytes != 0; i++) {
    sa_span_t **link = &sc->released[i];
    while (*link) {
      sa_span_t *s = *link;
      if (now != UINT64_MAX && due_at(heap, s->released_ms) > now) {
        if (s->released_ms < oldest) oldest = s->released_ms;
        link = &s->next;
        continue;
      }
      *link = s->next;
      span_dead(heap, s, dead);
    }
  }
  sc->oldest_ms = oldest;
}

/* Called with segment_lock held by the heap's calls: the decay, when
 * something may be due (one comparison otherwise). */
static void released_decay(sa_heap_t *heap, uint64_t now, sa_span_t **dead) {
  sa_segment_cache_t *sc = &heap->segment_cache;
  if (sc->cached_bytes != 0 && due_at(heap, sc->oldest_ms) <= now) released_collect(heap, now, dead);
}

/* Called with segment_lock held when a request of size bytes found nothing
 * to reuse here and will map afresh: gives back at least as many cached
 * bytes (biggest lists first), so that spans of the wrong sizes do not
 * pile up on top of new mappings (a program freeing and allocating large
 * buffers of ever different sizes otherwise peaks at its live bytes plus
 * the cache: python with random 128 KiB..2 MiB buffers, +35% RSS), beyond
 * the first SHRINK_FLOOR bytes. */
static void released_shrink(sa_heap_t *heap, size_t size, sa_span_t **dead) {
  sa_segment_cache_t *sc = &heap->segment_cache;
  /* Up to SHRINK_FLOOR stays: a few spans of neighbouring sizes serve a
   * loop whose sizes vary a little. */
  if (sc->cached_bytes <= SHRINK_FLOOR) return;
  if (size > sc->cached_bytes - SHRINK_FLOOR) size = sc->cached_bytes - SHRINK_FLOOR;
  size_t bytes = 0;
  for (size_t i = BIG_LIST + 1; i-- > 0 && bytes < size;) {
    while (sc->released[i] != NULL && bytes < size) {
      sa_span_t *s = sc->released[i];
      sc->released[i] = s->next;
      bytes += s->size;
      span_dead(heap, s, dead);
    }
  }
}

/* ---- keeping spans --------------------------------------------------------- */

static void purge_want_locked(sa_heap_t *heap);

/* Called with segment_lock held: s (size, released_ms, user, origin set)
 * joins the cache, merged with a big neighbour of its origin (below and
 * above; not two user pointers in one span, so that each freed object's
 * double free stays recognisable), and the heap onto the purger's list.
 * cached_bytes grows by s's size; mapped_bytes is the caller's. */
static void span_keep(sa_heap_t *heap, sa_span_t *s) {
  sa_segment_cache_t *sc = &heap->segment_cache;
  if (sc->cached_bytes == 0 || s->released_ms < sc->oldest_ms) sc->oldest_ms = s->released_ms;
  sc->cached_bytes += s->size;
  if (s->origin != 0 && span_list(s->size) == BIG_LIST) {
    for (sa_span_t **link = &sc->released[BIG_LIST]; *link;) {
      sa_span_t *n = *link;
      int below = (char *)n + n->size == (char *)s, above = (char *)s + s->size == (char *)n;
      if (n->origin != s->origin || !(below || above) || (n->user && s->user)) {
        link = &n->next;
        continue;
      }
      *link = n->next;
      if (n->released_ms > s->released_ms) s->released_ms = n->released_ms;
      if (s->user == NULL) s->user = n->user;
      if (below) {
        n->size += s->size;
        n->released_ms = s->released_ms;
        n->user = s->user;
        s = n;
      } else {
        s->size += n->size;
      }
    }
  }
  size_t list = span_list(s->size);
  s->next = sc->released[list];
  sc->released[list] = s;
  purge_want_locked(heap);
}

/* Called with segment_lock held: the heap on the purger's list, if it is not. */
static void purge_want_locked(sa_heap_t *heap) {
  sa_segment_cache_t *sc = &heap->segment_cache;
  if (!sc->purge_listed && heap->config.background_purge) {
    __atomic_store_n(&sc->purge_listed, 1, __ATOMIC_RELAXED); /* read as a hint (sa_purge_want) */
    sa_purge_list(heap);
  }
}

void sa_purge_want(sa_heap_t *heap) {
  if (!heap->config.background_purge) return;
  pthread_mutex_lock(&heap->segment_lock);
  if (heap->segment_cache.purge_listed) sa_purge_wake(); /* listed: its sleep may be too long */
  else purge_want_locked(heap);
  pthread_mutex_unlock(&heap->segment_lock);
}

/* Called with segment_lock held: [at, end) of a span taken off the cache
 * (its fields in *was) kept; mapped_bytes is the caller's. */
static void span_keep_tail(sa_heap_t *heap, const sa_span_t *was, char *at, char *end) {
  sa_span_t *t = (sa_span_t *)at;
  t->size = (size_t)(end - at);
  t->released_ms = was->released_ms;
  t->user = was->user && (const char *)was->user >= at ? was->user : NULL;
  t->origin = was->origin;
  span_keep(heap, t);
}

/* Called with segment_lock held: unlinks s (*link == s) from the cache,
 * its bytes in use from now on (out of segment_cache_bytes and, until they
 * are registered again, out of mapped_bytes). */
static void span_unlink(sa_heap_t *heap, sa_span_t **link, sa_span_t *s) {
  *link = s->next;
  heap->segment_cache.cached_bytes -= s->size;
  __atomic_sub_fetch(&heap->mapped_bytes, s->size, __ATOMIC_RELAXED);
}

static void span_take(sa_heap_t *heap, sa_span_t **link, sa_span_t *s) {
  span_unlink(heap, link, s);
  heap->segment_cache.reused++;
}

/* Called with segment_lock held: s, taken off the cache and not used after
 * all, back in it as it was. */
static void span_return(sa_heap_t *heap, sa_span_t *s) {
  __atomic_add_fetch(&heap->mapped_bytes, s->size, __ATOMIC_RELAXED);
  span_keep(heap, s);
}

/* Called with segment_lock held: takes s (*link) for size bytes, the rest
 * kept as a span of its own when more than slack is left over. */
static void span_take_head(sa_heap_t *heap, sa_span_t **link, sa_span_t *s, size_t size,
                           size_t slack) {
  size_t have = s->size;
  span_take(heap, link, s);
  if (have - size > slack) {
    sa_span_t was = *s;
    s->size = size;
    span_keep_tail(heap, &was, (char *)s + size, (char *)s + have);
    __atomic_add_fetch(&heap->mapped_bytes, have - size, __ATOMIC_RELAXED);
  }
}

/* ---- glued spans ------------------------------------------------------------- */

/* A large request that no cached span holds is put together from several:
 * a program that frees buffers of 8 and 14 MiB and asks for 20 gets the
 * pages of both, moved side by side, and 12 MiB fewer faults (tcmalloc
 * gets the same from coalescing neighbours in its one address range). The
 * result is several VMAs, so its origin has SA_ORIGIN_GLUED: mremap cannot
 * grow it, and only kernels that move a range of several VMAs in one
 * mremap (Linux 6.17 on) take it as a piece again (the first refusal,
 * EFAULT, turns that off for the process; glued spans then serve only the
 * requests they fit). Each glue adds VMAs: the process's count is looked
 * at every GLUE_CHECK glues, and gluing pauses while it is above a quarter
 * of the kernel's limit (sa_os_vma_room), so that big-buffer churn never
 * runs a program, which maps on its own too, into it. */
#define GLUE_MAX 8
#define GLUE_CHECK 64
static int g_move_glued = 1; /* relaxed: a stale 1 costs one refused mremap */
static unsigned g_glues;
static int g_glue_room;

/* Whether the next request may glue: every GLUE_CHECK-th call looks at
 * the process's VMAs (not under segment_lock: a read of /proc). */
static int glue_allowed(void) {
  if (__atomic_fetch_add(&g_glues, 1, __ATOMIC_RELAXED) % GLUE_CHECK == 0)
    __atomic_store_n(&g_glue_room, sa_os_vma_room(), __ATOMIC_RELAXED);
  return __atomic_load_n(&g_glue_room, __ATOMIC_RELAXED);
}

/* Called with segment_lock held: pieces for size bytes off the big list,
 * GLUE_MAX at most when may_glue, else one that is not glued (to be grown
 * in place): at each step the smallest that covers what is still missing
 * (split), else the largest. Returns how many; *covered: their bytes. */
static size_t glue_take(sa_heap_t *heap, size_t size, int may_glue, sa_span_t **piece,
                        size_t *covered) {
  sa_segment_cache_t *sc = &heap->segment_cache;
  const size_t max = may_glue ? GLUE_MAX : 1;
  const int glued_ok = may_glue && __atomic_load_n(&g_move_glued, __ATOMIC_RELAXED);
  size_t n = 0, have = 0;
  while (n < max && have < size) {
    size_t missing = size - have;
    sa_span_t **fit = NULL, **big = NULL;
    for (sa_span_t **l = &sc->released[BIG_LIST]; *l; l = &(*l)->next) {
      sa_span_t *c = *l;
      if ((c->origin & SA_ORIGIN_GLUED) && !glued_ok) continue;
      if (c->size >= missing && (fit == NULL || c->size < (*fit)->size)) fit = l;
      if (big == NULL || c->size > (*big)->size) big = l;
    }
    sa_span_t **l = fit != NULL ? fit : big;
    if (l == NULL) break;
    sa_span_t *s = *l;
    span_take_head(heap, l, s, s->size < missing ? s->size : missing, missing / 8);
    piece[n++] = s;
    have += s->size;
  }
  *covered = have;
  return n;
}

/* Moves the n pieces side by side into a new range of got bytes, the first
 * at its start: the range, or NULL (every piece back in the cache). *fresh:
 * the bytes at its end that no piece covers (zero). A piece the OS does not
 * move goes back to the cache with those after it, their bytes fresh. */
static void *glue(sa_heap_t *heap, sa_span_t **piece, size_t n, size_t got, size_t *fresh) {
  char *dst = sa_os_map(got, 0);
  size_t off = 0, i = 0;
  if (dst != NULL) {
    for (; i < n; i++) {
      size_t len = piece[i]->size; /* read before the move: the header goes with it */
      int glued = (piece[i]->origin & SA_ORIGIN_GLUED) != 0;
      if (sa_os_move(piece[i], len, dst + off) != 0) {
        if (glued && errno == EFAULT) __atomic_store_n(&g_move_glued, 0, __ATOMIC_RELAXED);
        break;
      }
      off += len;
    }
  }
  if (i < n) {
    pthread_mutex_lock(&heap->segment_lock);
    for (size_t j = i; j < n; j++) span_return(heap, piece[j]);
    pthread_mutex_unlock(&heap->segment_lock);
  }
  *fresh = got - off;
  return dst;
}

/* Called with segment_lock held: unlinks an exact-size span of size bytes
 * (a slab's), or NULL. */
static sa_span_t *released_take_exact(sa_heap_t *heap, size_t size) {
  sa_segment_cache_t *sc = &heap->segment_cache;
  sa_span_t **link = size <= SA_SEGMENT_CACHE_MAX ? &sc->released[span_list(size)] : NULL;
  if (link == NULL) {
    for (link = &sc->released[BIG_LIST]; *link; link = &(*link)->next)
      if ((*link)->size == size) break;
  }
  sa_span_t *s = *link;
  if (s) span_take(heap, link, s);
  return s;
}

void *sa_segment_cache_pop(sa_heap_t *heap, size_t size, size_t *got, uint32_t *origin,
                           size_t *fresh) {
  if (!cacheable(heap, size)) return NULL;
  sa_segment_cache_t *sc = &heap->segment_cache;
  sa_span_t *dead = NULL, *s = NULL, *grow = NULL, **link = NULL;
  size_t slack = size / 8;
  const int may_glue = glue_allowed();
  pthread_mutex_lock(&heap->segment_lock);
  released_decay(heap, now_ms(), &dead);
  if (size <= SA_SEGMENT_CACHE_MAX) { /* an exact list within 1/8 */
    size_t last = span_list(size + slack < SA_SEGMENT_CACHE_MAX ? size + slack : SA_SEGMENT_CACHE_MAX);
    for (size_t i = span_list(size); i <= last && s == NULL; i++)
      if (sc->released[i]) s = *(link = &sc->released[i]);
  }
  if (s == NULL) { /* the best fit of the big list */
    for (sa_span_t **l = &sc->released[BIG_LIST]; *l; l = &(*l)->next)
      if ((*l)->size >= size && (s == NULL || (*l)->size < s->size)) s = *l, link = l;
  }
  *fresh = 0;
  sa_span_t *piece[GLUE_MAX];
  size_t pieces = 0, covered = 0;
  if (s != NULL) {
    span_take_head(heap, link, s, size, slack); /* split: the tail stays, resident */
    *got = s->size;
    *origin = s->origin;
  } else {
    pieces = glue_take(heap, size, may_glue, piece, &covered); /* off the list */
    /* One piece, one VMA: grown by mremap below, which keeps it one VMA. */
    if (pieces == 1 && !(piece[0]->origin & SA_ORIGIN_GLUED)) grow = piece[0];
  }
  /* As a miss: what is new leaves the cache, so the program's resident
   * bytes do not grow by both. */
  if (s == NULL && covered < size) released_shrink(heap, size - covered, &dead);
  pthread_mutex_unlock(&heap->segment_lock);
  spans_unmap(dead);
  if (pieces != 0 && grow == NULL) {
    size_t total = covered > size ? covered : size;
    void *mem = glue(heap, piece, pieces, total, fresh);
    if (mem == NULL) return NULL;
    *got = total;
    *origin = sa_segment_new_origin() | SA_ORIGIN_GLUED;
    return mem;
  }
  if (grow == NULL) return s;
  /* Outside the lock: the span is no one's while it moves. */
  size_t had = grow->size;
  sa_span_t keep = *grow;
  void *mem = sa_os_remap(grow, had, size, 1);
  if (mem == NULL) { /* back where it was */
    pthread_mutex_lock(&heap->segment_lock);
    *grow = keep;
    span_return(heap, grow);
    pthread_mutex_unlock(&heap->segment_lock);
    return NULL;
  }
  *got = size;
  *fresh = size - had;
  *origin = sa_segment_new_origin(); /* its own VMA now (or the old one, grown) */
  return mem;
}

/* ---- live large objects resized in place ------------------------------------ */

int sa_segment_cache_resize(sa_heap_t *heap, sa_segment_t *seg, size_t new_size) {
  sa_segment_cache_t *sc = &heap->segment_cache;
  size_t old_size = seg->size, old_usable = seg->usable;
  char *end = (char *)seg + old_size;
  int done = -1;
  sa_span_t *dead = NULL;
  if (new_size < old_size) {
    if (!cacheable(heap, old_size - new_size)) return -1;
    pthread_mutex_lock(&heap->segment_lock);
    uint64_t now = now_ms();
    released_decay(heap, now, &dead);
    seg->size = new_size;
    seg->usable -= old_size - new_size;
    sa_segment_large_resized(heap, seg, old_usable);
    sa_span_t *t = (sa_span_t *)((char *)seg + new_size);
    t->size = old_size - new_size;
    t->released_ms = now;
    t->user = NULL;
    t->origin = seg->strategy_data;
    span_keep(heap, t); /* mapped_bytes: the same bytes, now cached */
    if (sc->cached_bytes > heap->config.segment_cache_bytes) released_collect(heap, UINT64_MAX, &dead);
    done = 0;
  } else {
    size_t more = new_size - old_size;
    uint32_t origin = seg->strategy_data;
    if (origin == 0) return -1;
    pthread_mutex_lock(&heap->segment_lock);
    /* The big span right after the object, of its origin (one VMA): the
     * tails that splits and shrinks leave. */
    for (sa_span_t **link = &sc->released[BIG_LIST]; *link; link = &(*link)->next) {
      sa_span_t *s = *link;
      if ((char *)s != end || s->origin != origin || s->size < more) continue;
      size_t have = s->size;
      sa_span_t was = *s;
      span_unlink(heap, link, s);
      __atomic_add_fetch(&heap->mapped_bytes, have, __ATOMIC_RELAXED); /* still mapped, now in use */
      size_t used = have - more <= more / 8 ? have : more;
      if (used < have) span_keep_tail(heap, &was, end + used, end + have);
      seg->size = old_size + used;
      seg->usable += used;
      sa_segment_large_resized(heap, seg, old_usable);
      done = 0;
      break;
    }
    released_decay(heap, now_ms(), &dead);
  }
  pthread_mutex_unlock(&heap->segment_lock);
  spans_unmap(dead);
  return done;
}

/* ---- the API ----------------------------------------------------------------- */

sa_segment_t *sa_segment_take(sa_heap_t *heap, size_t size, int *zeroed) {
  size = sa_align_up(size, sa_os_page_size());
  if (!cacheable(heap, size)) {
    *zeroed = 1;
    return sa_segment_map(heap, size, 0, SA_SEGMENT_HEAP);
  }
  sa_segment_cache_t *sc = &heap->segment_cache;
  sa_span_t *dead = NULL;
  pthread_mutex_lock(&heap->segment_lock);
  sa_span_t *s = released_take_exact(heap, size);
  void *mem;
  if (s != NULL) {
    mem = s;
    *zeroed = 0;
  } else {
    if (sc->cached_bytes != 0) released_shrink(heap, size, &dead);
    mem = reserve_take(heap, size);
    if (mem == NULL && (sc->cached_bytes != 0 || dead != NULL)) {
      /* Address space is short: give back what we keep, now. */
      released_collect(heap, UINT64_MAX, &dead);
      spans_unmap(dead);
      dead = NULL;
      mem = reserve_take(heap, size);
    }
    *zeroed = 1;
  }
  released_decay(heap, now_ms(), &dead);
  pthread_mutex_unlock(&heap->segment_lock);
  spans_unmap(dead);
  if (mem == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  /* A stale header must not be seen through the page map before the
   * strategy sets its fields (front-ends read seg->usable without a lock). */
  if (!*zeroed) memset(mem, 0, SA_SEGMENT_HEADER_SIZE);
  sa_segment_t *seg = *zeroed ? sa_segment_register(heap, mem, size, SA_SEGMENT_HEAP)
                              : sa_segment_reregister(heap, mem, size, SA_SEGMENT_HEAP, 0);
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
  int large = seg->kind == SA_SEGMENT_LARGE;
  const void *user = large ? seg->user : NULL;
  uint32_t origin = large ? seg->strategy_data : 0;
  sa_segment_unregister(heap, seg);
  sa_segment_cache_t *sc = &heap->segment_cache;
  sa_span_t *s = (sa_span_t *)seg, *dead = NULL;
  uint64_t now = now_ms();
  pthread_mutex_lock(&heap->segment_lock);
  /* What is due goes first: with segment_decay_ms 0 the span released now
   * still serves the next take. */
  released_decay(heap, now, &dead);
  s->size = size;
  s->released_ms = now;
  s->user = user;
  s->origin = origin;
  __atomic_add_fetch(&heap->mapped_bytes, size, __ATOMIC_RELAXED);
  span_keep(heap, s);
  if (sc->cached_bytes > heap->config.segment_cache_bytes) released_collect(heap, UINT64_MAX, &dead);
  pthread_mutex_unlock(&heap->segment_lock);
  spans_unmap(dead);
  sa_purge_poll(0);
}

/* Called with segment_lock held: the heap off the purger's list if it is on it. */
static void purge_unlist_locked(sa_heap_t *heap) {
  if (!heap->segment_cache.purge_listed) return;
  sa_purge_unlist(heap); /* waits for purge_lock: the purger's pass is over */
  __atomic_store_n(&heap->segment_cache.purge_listed, 0, __ATOMIC_RELAXED);
}

/* Called with segment_lock held: the heap off the purger's list when its
 * cache is empty (trim; destroy quiesced it already). */
static void purge_forget(sa_heap_t *heap) {
  if (heap->segment_cache.cached_bytes == 0) purge_unlist_locked(heap);
}

void sa_segment_cache_quiesce(sa_heap_t *heap) {
  pthread_mutex_lock(&heap->segment_lock);
  heap->config.background_purge = 0; /* purge_want_locked lists it no more */
  purge_unlist_locked(heap);
  pthread_mutex_unlock(&heap->segment_lock);
}

size_t sa_segment_cache_purge(sa_heap_t *heap) {
  sa_span_t *dead = NULL;
  pthread_mutex_lock(&heap->segment_lock);
  size_t bytes = heap->segment_cache.cached_bytes;
  released_collect(heap, UINT64_MAX, &dead);
  sa_segment_cache_t *sc = &heap->segment_cache;
  sa_os_unmap(sc->reserve, (size_t)(sc->reserve_end - sc->reserve));
  sc->reserve = sc->reserve_end = NULL;
  purge_forget(heap);
  pthread_mutex_unlock(&heap->segment_lock);
  spans_unmap(dead);
  return bytes;
}

size_t sa_segment_cache_decay(sa_heap_t *heap, uint64_t now) {
  sa_span_t *dead = NULL;
  pthread_mutex_lock(&heap->segment_lock);
  size_t before = heap->segment_cache.cached_bytes;
  released_collect(heap, now, &dead);
  size_t bytes = before - heap->segment_cache.cached_bytes;
  pthread_mutex_unlock(&heap->segment_lock);
  spans_unmap(dead);
  return bytes;
}

uint64_t sa_segment_cache_visit(sa_heap_t *heap, uint64_t now, uint64_t retry_ms) {
  sa_segment_cache_t *sc = &heap->segment_cache;
  if (pthread_mutex_trylock(&heap->segment_lock) != 0) return now + retry_ms;
  sa_span_t *dead = NULL;
  released_decay(heap, now, &dead);
  uint64_t next = UINT64_MAX;
  if (sc->cached_bytes != 0) next = due_at(heap, sc->oldest_ms);
  /* Under segment_lock, so that a strategy that starts to keep something
   * meanwhile either is seen here or finds the heap unlisted (sa_purge_want). */
  if (heap->strategy->decay != NULL) {
    uint64_t own = heap->strategy->decay(heap, now);
    if (own < next) next = own;
  }
  if (next == UINT64_MAX) __atomic_store_n(&sc->purge_listed, 0, __ATOMIC_RELAXED); /* the caller unlinks it, under purge_lock */
  pthread_mutex_unlock(&heap->segment_lock);
  spans_unmap(dead);
  return next;
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

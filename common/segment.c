/* Segments: a heap's mappings, each registered with the page map so that
 * any pointer finds its owner, and linked into the heap so destroy, walk and
 * fork find them all. */
#include <errno.h>
#include <string.h>

#include "os.h"
#include "pagemap.h"
#include "segment.h"
#include "stratalloc/strategy.h"


/* fresh: bytes of size new from the OS (counted in total_mapped_bytes); the
 * rest is back from the segment cache, counted once already. */
static void add_mapped(sa_heap_t *heap, size_t size, size_t fresh) {
  uint64_t now = __atomic_add_fetch(&heap->mapped_bytes, size, __ATOMIC_RELAXED);
  if (fresh) __atomic_add_fetch(&heap->total_mapped_bytes, fresh, __ATOMIC_RELAXED);
  uint64_t peak = __atomic_load_n(&heap->peak_mapped_bytes, __ATOMIC_RELAXED);
  while (now > peak && !__atomic_compare_exchange_n(&heap->peak_mapped_bytes, &peak, now, 1,
                                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
}

static void link_segment(sa_heap_t *heap, sa_segment_t *seg, size_t fresh) {
  pthread_mutex_lock(&heap->segment_lock);
  seg->prev = NULL;
  seg->next = heap->segments;
  if (heap->segments) heap->segments->prev = seg;
  heap->segments = seg;
  add_mapped(heap, seg->size, fresh);
  /* Under the same lock as the list: a fork (which holds this lock) never
   * sees a large object listed but not counted. */
  if (seg->kind == SA_SEGMENT_LARGE) sa_counters_on_alloc(&heap->large, seg->usable);
  pthread_mutex_unlock(&heap->segment_lock);
}

static void unlink_segment(sa_heap_t *heap, sa_segment_t *seg) {
  pthread_mutex_lock(&heap->segment_lock);
  if (seg->prev) seg->prev->next = seg->next;
  else heap->segments = seg->next;
  if (seg->next) seg->next->prev = seg->prev;
  __atomic_sub_fetch(&heap->mapped_bytes, seg->size, __ATOMIC_RELAXED);
  if (seg->kind == SA_SEGMENT_LARGE) sa_counters_on_free(&heap->large, seg->usable);
  pthread_mutex_unlock(&heap->segment_lock);
}

static sa_segment_t *segment_register(sa_heap_t *heap, void *mem, size_t size,
                                      sa_segment_kind_t kind, size_t fresh) {
  sa_segment_t *seg = mem;
  seg->heap = heap;
  seg->size = size;
  seg->kind = (uint8_t)kind;
  /* Large objects are only ever looked up by the pointer handed out, which
   * large.c registers; heap segments register every page. */
  if (kind == SA_SEGMENT_HEAP && sa_pagemap_set(seg, size, seg) != 0) return NULL;
  link_segment(heap, seg, fresh);
  return seg;
}

sa_segment_t *sa_segment_register(sa_heap_t *heap, void *mem, size_t size,
                                  sa_segment_kind_t kind) {
  return segment_register(heap, mem, size, kind, size);
}

sa_segment_t *sa_segment_reregister(sa_heap_t *heap, void *mem, size_t size,
                                    sa_segment_kind_t kind, size_t fresh) {
  return segment_register(heap, mem, size, kind, fresh);
}

sa_segment_t *sa_segment_map(sa_heap_t *heap, size_t size, size_t alignment,
                             sa_segment_kind_t kind) {
  if (size > (SIZE_MAX >> 2)) {
    errno = ENOMEM;
    return NULL;
  }
  size = sa_align_up(size, sa_os_page_size());
  void *mem = sa_os_map(size, alignment);
  /* Out of address space (RLIMIT_AS): what the segment cache keeps goes first. */
  if (mem == NULL && sa_segment_cache_purge(heap) != 0) mem = sa_os_map(size, alignment);
  if (mem == NULL) return NULL;
  sa_segment_t *seg = sa_segment_register(heap, mem, size, kind);
  if (seg == NULL) {
    sa_os_unmap(mem, size);
    errno = ENOMEM;
  }
  return seg;
}

void sa_segment_unregister(sa_heap_t *heap, sa_segment_t *seg) {
  unlink_segment(heap, seg);
  if (seg->kind == SA_SEGMENT_HEAP) sa_pagemap_set(seg, seg->size, NULL);
  else sa_pagemap_set(seg->user, 1, NULL);
}

void sa_segment_unmap(sa_heap_t *heap, sa_segment_t *seg) {
  size_t size = seg->size;
  sa_segment_unregister(heap, seg);
  sa_os_unmap(seg, size);
}

void sa_segment_large_resized(sa_heap_t *heap, sa_segment_t *seg, size_t old_usable) {
  sa_heap_counters_t *c = &heap->large;
  c->current_bytes += seg->usable - old_usable; /* wraps right when shrinking */
  if (seg->usable > old_usable) c->allocated_bytes += seg->usable - old_usable;
  if (c->current_bytes > c->peak_bytes) c->peak_bytes = c->current_bytes;
}

/* Resizes a large object's mapping (mremap may move it when may_move), its
 * user pointer at the same offset from the header. The segment lock is held
 * across the move: neighbours' links point at the old address until they
 * are fixed. Returns the segment at its new address, or NULL (errno ENOMEM,
 * segment untouched), registered in the page map either way. A moved
 * mapping is a new VMA: it gets a new origin (segment_cache.c). */
sa_segment_t *sa_segment_remap(sa_heap_t *heap, sa_segment_t *seg, size_t new_size, int may_move) {
  if (seg->strategy_data & SA_ORIGIN_GLUED) { /* several VMAs: mremap would refuse */
    errno = ENOMEM;
    return NULL;
  }
  new_size = sa_align_up(new_size, sa_os_page_size());
  size_t old_size = seg->size;
  pthread_mutex_lock(&heap->segment_lock);
  /* The page map changes under the list lock too, so a fork (which holds it)
   * never sees a listed object it cannot find. Unregister before the move:
   * once mremap frees the old range another thread may map it. */
  void *old_user = seg->user;
  size_t offset = (size_t)((char *)old_user - (char *)seg);
  sa_pagemap_set(old_user, 1, NULL);
  sa_segment_t *moved = sa_os_remap(seg, old_size, new_size, may_move);
  if (moved == NULL) {
    sa_pagemap_set(old_user, 1, seg);
    pthread_mutex_unlock(&heap->segment_lock);
    return NULL;
  }
  if (moved != seg) moved->strategy_data = sa_segment_new_origin();
  moved->size = new_size;
  moved->user = (char *)moved + offset;
  size_t old_usable = moved->usable;
  moved->usable = new_size - offset;
  sa_segment_large_resized(heap, moved, old_usable);
  if (moved->prev) moved->prev->next = moved;
  else heap->segments = moved;
  if (moved->next) moved->next->prev = moved;
  /* Fails only if the OS refuses a 32 KiB page-map node: the object then
   * stays listed and counted but unfindable, and sa_check names it. */
  sa_pagemap_set(moved->user, 1, moved);
  if (new_size > old_size) add_mapped(heap, new_size - old_size, new_size - old_size);
  else __atomic_sub_fetch(&heap->mapped_bytes, old_size - new_size, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&heap->segment_lock);
  return moved;
}

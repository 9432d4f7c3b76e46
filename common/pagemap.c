#include "pagemap.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include "os.h"

#define PM_PAGE_SHIFT SA_PAGEMAP_PAGE_SHIFT
#define PM_BITS SA_PAGEMAP_BITS
#define PM_FANOUT SA_PAGEMAP_FANOUT
#define PM_ADDR_BITS 48

typedef sa_pagemap_leaf_t pm_leaf_t;

/* 2 MiB of BSS, untouched pages free (a read of one maps the zero page). A
 * leaf is 2 MiB of address space reserved on first use, of which only the
 * pages that hold registered slots become resident (4 KiB per 2 MiB of
 * registered memory). Read by sa_segment_of (strategy.h). */
pm_leaf_t *sa_pagemap_root[PM_FANOUT];
#define pm_root sa_pagemap_root
static pthread_mutex_t pm_grow_lock = PTHREAD_MUTEX_INITIALIZER;

static inline void pm_split(uintptr_t addr, size_t *i0, size_t *i1) {
  uintptr_t page = addr >> PM_PAGE_SHIFT;
  *i1 = page & (PM_FANOUT - 1);
  *i0 = (page >> PM_BITS) & (PM_FANOUT - 1);
}

/* Returns the leaf for addr, mapping it if missing; NULL on ENOMEM. */
static pm_leaf_t *pm_leaf_for(uintptr_t a) {
  size_t i0, i1;
  pm_split(a, &i0, &i1);
  pm_leaf_t *leaf = __atomic_load_n(&pm_root[i0], __ATOMIC_ACQUIRE);
  if (leaf) return leaf;
  pthread_mutex_lock(&pm_grow_lock);
  leaf = pm_root[i0];
  if (leaf == NULL) {
    leaf = sa_os_map(sizeof(pm_leaf_t), 0);
    if (leaf) __atomic_store_n(&pm_root[i0], leaf, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&pm_grow_lock);
  return leaf;
}

int sa_pagemap_set(const void *addr, size_t size, sa_segment_t *segment) {
  uintptr_t start = (uintptr_t)addr & ~(((uintptr_t)1 << PM_PAGE_SHIFT) - 1);
  uintptr_t end = (uintptr_t)addr + size;
  if (end >> PM_ADDR_BITS) {
    errno = ENOMEM;
    return -1;
  }
  /* Make every node exist first, so a failure leaves nothing half set. */
  if (segment) {
    for (uintptr_t a = start; a < end; a += (uintptr_t)PM_FANOUT << PM_PAGE_SHIFT) {
      if (pm_leaf_for(a) == NULL) return -1;
    }
    if (pm_leaf_for(end - 1) == NULL) return -1;
  }
  for (uintptr_t a = start; a < end; a += (uintptr_t)1 << PM_PAGE_SHIFT) {
    size_t i0, i1;
    pm_split(a, &i0, &i1);
    pm_leaf_t *leaf = __atomic_load_n(&pm_root[i0], __ATOMIC_ACQUIRE);
    if (leaf) __atomic_store_n(&leaf->slot[i1], segment, __ATOMIC_RELEASE);
  }
  return 0;
}

void sa_pagemap_lock(void) { pthread_mutex_lock(&pm_grow_lock); }
void sa_pagemap_unlock(void) { pthread_mutex_unlock(&pm_grow_lock); }

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
typedef sa_pagemap_mid_t pm_mid_t;

/* 32 KiB of BSS, untouched pages free. Read by sa_segment_of (strategy.h). */
pm_mid_t *sa_pagemap_root[PM_FANOUT];
#define pm_root sa_pagemap_root
static pthread_mutex_t pm_grow_lock = PTHREAD_MUTEX_INITIALIZER;

static inline void pm_split(uintptr_t addr, size_t *i0, size_t *i1, size_t *i2) {
  uintptr_t page = addr >> PM_PAGE_SHIFT;
  *i2 = page & (PM_FANOUT - 1);
  *i1 = (page >> PM_BITS) & (PM_FANOUT - 1);
  *i0 = (page >> (2 * PM_BITS)) & (PM_FANOUT - 1);
}

/* Returns the leaf for addr, mapping missing nodes; NULL on ENOMEM. */
static pm_leaf_t *pm_leaf_for(uintptr_t a) {
  size_t i0, i1, i2;
  pm_split(a, &i0, &i1, &i2);
  pm_mid_t *mid = __atomic_load_n(&pm_root[i0], __ATOMIC_ACQUIRE);
  pm_leaf_t *leaf = mid ? __atomic_load_n(&mid->leaf[i1], __ATOMIC_ACQUIRE) : NULL;
  if (leaf) return leaf;
  pthread_mutex_lock(&pm_grow_lock);
  mid = pm_root[i0];
  if (mid == NULL) {
    mid = sa_os_map(sizeof(pm_mid_t), 0);
    if (mid) __atomic_store_n(&pm_root[i0], mid, __ATOMIC_RELEASE);
  }
  if (mid) {
    leaf = mid->leaf[i1];
    if (leaf == NULL) {
      leaf = sa_os_map(sizeof(pm_leaf_t), 0);
      if (leaf) __atomic_store_n(&mid->leaf[i1], leaf, __ATOMIC_RELEASE);
    }
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
    size_t i0, i1, i2;
    pm_split(a, &i0, &i1, &i2);
    pm_mid_t *mid = __atomic_load_n(&pm_root[i0], __ATOMIC_ACQUIRE);
    pm_leaf_t *leaf = mid ? __atomic_load_n(&mid->leaf[i1], __ATOMIC_ACQUIRE) : NULL;
    if (leaf) __atomic_store_n(&leaf->slot[i2], segment, __ATOMIC_RELEASE);
  }
  return 0;
}

void sa_pagemap_lock(void) { pthread_mutex_lock(&pm_grow_lock); }
void sa_pagemap_unlock(void) { pthread_mutex_unlock(&pm_grow_lock); }

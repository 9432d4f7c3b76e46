/* sa_pagemap_: which segment owns an address, in O(1) (two dependent
 * loads), for every heap of the process. A radix tree over the 36-bit page
 * number of a 48-bit address, as tcmalloc's PageMap2. Nodes are mapped on
 * first use and never freed, so lookups take no lock. The lookup itself is
 * sa_segment_of (inline, strategy.h). */
#ifndef STRATALLOC_COMMON_PAGEMAP_H
#define STRATALLOC_COMMON_PAGEMAP_H

#include <stddef.h>

#include "stratalloc/strategy.h"

#pragma GCC visibility push(hidden)

/* Maps every page of [addr, addr+size) to segment (NULL clears). Returns 0,
 * or -1 with errno ENOMEM if a node could not be mapped (nothing set). */
int sa_pagemap_set(const void *addr, size_t size, sa_segment_t *segment);
static inline sa_segment_t *sa_pagemap_get(const void *addr) { return sa_segment_of(addr); }

void sa_pagemap_lock(void);   /* fork */
void sa_pagemap_unlock(void);

#pragma GCC visibility pop

#endif

/* The registry: every strategy listed in strategies/variants.bzl. */
#include <string.h>

#include "stratalloc/strategy.h"
#include "strategies/registry_list.h"

#define SA_DECLARE_(sym) extern const sa_strategy_t sym;
SA_REGISTRY_LIST(SA_DECLARE_)
#undef SA_DECLARE_

#define SA_ENTRY_(sym) &sym,
const sa_strategy_t *const sa_registry[] = {SA_REGISTRY_LIST(SA_ENTRY_) NULL};
#undef SA_ENTRY_

size_t sa_registry_count(void) { return sizeof(sa_registry) / sizeof(sa_registry[0]) - 1; }

const sa_strategy_t *sa_strategy_find(const char *name) {
  if (name == NULL) return NULL;
  for (size_t i = 0; sa_registry[i] != NULL; i++)
    if (strcmp(sa_registry[i]->name, name) == 0) return sa_registry[i];
  return NULL;
}

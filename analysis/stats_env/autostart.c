/* For tests and for trying SA_STATS before common/override.c calls
 * sa_stats_env_start itself: a constructor that does that call. Linked into
 * the libsa_<name>_stats.so test libraries (analysis/BUILD), next to the
 * strategy's own override, so there is one copy of common/ in the .so. */
#include "stratalloc/stats_env.h"

__attribute__((constructor)) static void stats_env_autostart(void) {
  sa_stats_env_start(sa_process_heap());
}

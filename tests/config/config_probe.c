/* config_probe: a program whose malloc is stratalloc's (first_fit's libc
 * override linked in), for tests/config. It prints what its process heap
 * took from the environment:
 *
 *   at_secure=0|1          getauxval(AT_SECURE)
 *   process_heap=0|1
 *   <key>=<value>          every sa_config_t field of the process heap
 *
 * and writes "config_probe: main" to stderr first thing in main, so a test
 * can tell a startup message (before it) from an exit one (after it).
 * Options, in order: --rm FILE (unlink), --rmdir DIR, --sleep-ms N. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

#include "stratalloc/stratalloc.h"

int main(int argc, char **argv) {
  (void)!write(2, "config_probe: main\n", 19);
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--rm") == 0) {
      unlink(argv[i + 1]);
    } else if (strcmp(argv[i], "--rmdir") == 0) {
      rmdir(argv[i + 1]);
    } else if (strcmp(argv[i], "--sleep-ms") == 0) {
      long ms = atol(argv[i + 1]);
      struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
      while (nanosleep(&ts, &ts) != 0) {
      }
    } else {
      fprintf(stderr, "config_probe: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  char *p = malloc(100);
  if (p == NULL) return 3;
  memset(p, 1, 100);
  free(p);
  sa_heap_t *heap = sa_process_heap();
  printf("at_secure=%lu\n", getauxval(AT_SECURE));
  printf("process_heap=%d\n", heap != NULL);
  if (heap != NULL) {
    const sa_config_t *c = sa_heap_config(heap);
#define PRINT_(type, name, def, lo, hi, help) printf(#name "=%zu\n", c->name);
    SA_CONFIG_FIELDS(PRINT_)
#undef PRINT_
  }
  return 0;
}

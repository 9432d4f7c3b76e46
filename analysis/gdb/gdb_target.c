/* The program the gdb test inspects: stratalloc linked in (first_fit), some
 * small blocks, a few freed, two large objects; then it stops in
 * sa_gdb_ready() (a breakpoint) and exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keep the exporters in the static link, as a preloaded .so has them. */
struct sa_heap;
int sa_heap_dump(struct sa_heap *heap, int fd);
int sa_stats_write(struct sa_heap *heap, int format, int fd);

void *volatile sa_gdb_keep[2];
__attribute__((noinline)) void sa_gdb_ready(void) { __asm__ volatile("" ::: "memory"); }

int main(void) {
  sa_gdb_keep[0] = (void *)sa_heap_dump; /* --gc-sections must keep them */
  sa_gdb_keep[1] = (void *)sa_stats_write;
  static void *p[1000];
  for (int i = 0; i < 1000; i++) {
    p[i] = malloc(16 + (size_t)(i % 50) * 8);
    memset(p[i], 1, 16);
  }
  for (int i = 0; i < 1000; i += 3) free(p[i]);
  void *big1 = malloc(1 << 20), *big2 = malloc(3 << 20);
  memset(big1, 2, 64);
  memset(big2, 3, 64);
  sa_gdb_ready();
  printf("done %p %p\n", big1, big2);
  return 0;
}

/* A program of small blocks only that goes idle: it fills about 48 MiB with
 * blocks of 16..1024 bytes (every page written), frees them all in the order
 * they were allocated, then makes no allocator call at all and watches its
 * own RSS (read(2) of /proc/self/statm into a stack buffer). The allocator
 * must give the memory back by itself, as glibc's trim does at free and a
 * background purger does after its decay: no large object and no further
 * call ever reaches a safe point of the allocator's own.
 *
 * Usage: idle_rss [max_wait_s]   exit 0 once RSS <= baseline + slack. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOTAL_BYTES ((size_t)48 << 20)
/* What an allocator may keep idle: thread caches, a retained slab per
 * size class, its metadata. Far below the 48 MiB it has to give back. */
#define SLACK_KB (12 * 1024)

static long rss_kb(void) {
  char buf[128];
  int fd = open("/proc/self/statm", O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  /* by hand: scanf may allocate */
  char *q = strchr(buf, ' ');
  if (q == NULL) return -1;
  long resident = 0;
  for (q++; *q >= '0' && *q <= '9'; q++) resident = resident * 10 + (*q - '0');
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char **argv) {
  int max_wait_s = argc > 1 ? atoi(argv[1]) : 30;
  size_t cap = TOTAL_BYTES / 16;
  void **blocks = malloc(cap * sizeof *blocks); /* freed last, never touched again */
  if (blocks == NULL) return 2;
  long before = rss_kb();
  printf("rss before %ld kB\n", before);
  fflush(stdout); /* stdout's buffer allocated now: no allocator call after the frees */
  size_t n = 0, bytes = 0;
  uint64_t x = 88172645463325252ull;
  while (bytes < TOTAL_BYTES && n < cap) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t size = 16 + x % 1009;
    char *p = malloc(size);
    if (p == NULL) return 2;
    memset(p, 0x5a, size);
    blocks[n++] = p;
    bytes += size;
  }
  long full = rss_kb();
  for (size_t i = 0; i < n; i++) free(blocks[i]);
  free(blocks);
  printf("blocks %zu, %zu bytes; rss full %ld kB\n", n, bytes, full);
  fflush(stdout);
  if (full - before < (long)(TOTAL_BYTES >> 10) / 2) {
    printf("FAIL: the blocks did not make the RSS grow (%ld kB)\n", full - before);
    return 1;
  }
  long now = full;
  struct timespec tick = {0, 50 * 1000 * 1000};
  for (int i = 0; i < max_wait_s * 20; i++) {
    now = rss_kb();
    if (now <= before + SLACK_KB) {
      printf("returned: rss %ld kB after %d ms idle\n", now, i * 50);
      return 0;
    }
    nanosleep(&tick, NULL);
  }
  printf("FAIL: rss still %ld kB after %d s idle (before %ld kB, slack %d kB)\n", now, max_wait_s,
         before, SLACK_KB);
  return 1;
}

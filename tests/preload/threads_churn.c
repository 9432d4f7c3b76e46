/* A multi-threaded allocation workload with cross-thread frees, run under
 * LD_PRELOAD of a libsa_*.so and on the system allocator; the output must be
 * identical (it does not depend on thread interleaving).
 *
 * Producers allocate blocks (malloc, calloc, realloc, aligned_alloc,
 * posix_memalign; sizes from 1 byte to above the mmap threshold), fill them
 * with a pattern derived from (producer, sequence) and hand them through a
 * bounded queue to consumers, which verify the pattern, sum a hash of it and
 * free the block: most frees happen on a thread other than the allocating
 * one. Each thread also churns private allocations. The output is the sums.
 *
 * This program is NOT linked with the allocator.
 * Usage: threads_churn [producers] [consumers] [blocks per producer] */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  unsigned char *ptr;
  size_t size;
  uint32_t producer, seq;
} item_t;

#define QUEUE_CAP 1024

static struct {
  pthread_mutex_t lock;
  pthread_cond_t not_empty, not_full;
  item_t items[QUEUE_CAP];
  size_t head, count;
  int producers_left;
} queue = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
           {{0}}, 0, 0, 0};

static int blocks_per_producer = 20000;

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

static size_t size_of(uint32_t producer, uint32_t seq) {
  uint64_t r = mix(((uint64_t)producer << 32) | seq);
  switch (r % 32) {
    case 0: return 128 * 1024 + r % (512 * 1024); /* above the mmap threshold */
    case 1: case 2: case 3: return 1 + (r >> 8) % 16384;
    default: return 1 + (r >> 8) % 512;
  }
}

static unsigned char byte_of(uint32_t producer, uint32_t seq, size_t i) {
  return (unsigned char)(producer * 131 + seq * 7 + i * 13);
}

static void fail(const char *what, const item_t *it) {
  fprintf(stderr, "threads_churn: %s: producer %u seq %u size %zu ptr %p\n", what, it->producer,
          it->seq, it->size, (void *)it->ptr);
  abort();
}

static void *producer(void *arg) {
  uint32_t id = (uint32_t)(uintptr_t)arg;
  void *priv[64] = {0};
  for (uint32_t seq = 0; seq < (uint32_t)blocks_per_producer; seq++) {
    item_t it = {NULL, size_of(id, seq), id, seq};
    switch (seq % 6) {
      case 0: it.ptr = malloc(it.size); break;
      case 1: it.ptr = calloc(1, it.size);
        if (it.ptr) for (size_t i = 0; i < it.size; i++) if (it.ptr[i]) fail("calloc not zeroed", &it);
        break;
      case 2: { /* grow by realloc */
        it.ptr = malloc(1 + it.size / 3);
        if (it.ptr) {
          memset(it.ptr, 0xAB, 1 + it.size / 3);
          unsigned char *q = realloc(it.ptr, it.size);
          if (q == NULL) fail("realloc", &it);
          for (size_t i = 0; i < 1 + it.size / 3 && i < it.size; i++)
            if (q[i] != 0xAB) fail("realloc lost data", &it);
          it.ptr = q;
        }
        break;
      }
      case 3: it.ptr = aligned_alloc(64, (it.size + 63) & ~(size_t)63);
        if (it.ptr && ((uintptr_t)it.ptr & 63)) fail("aligned_alloc misaligned", &it);
        break;
      case 4: {
        void *p = NULL;
        size_t align = (size_t)1 << (4 + seq % 9); /* 16 .. 4096 */
        if (posix_memalign(&p, align, it.size) != 0) fail("posix_memalign", &it);
        if ((uintptr_t)p & (align - 1)) fail("posix_memalign misaligned", &it);
        it.ptr = p;
        break;
      }
      default: it.ptr = malloc(it.size); break;
    }
    if (it.ptr == NULL) fail("allocation returned NULL", &it);
    if (malloc_usable_size(it.ptr) < it.size) fail("malloc_usable_size too small", &it);
    for (size_t i = 0; i < it.size; i++) it.ptr[i] = byte_of(id, seq, i);

    /* private churn: a thread-local working set */
    size_t slot = mix(seq ^ id) % 64;
    free(priv[slot]);
    priv[slot] = malloc(1 + seq % 300);
    if (priv[slot] == NULL) fail("private malloc", &it);
    memset(priv[slot], (int)seq, 1 + seq % 300);

    pthread_mutex_lock(&queue.lock);
    while (queue.count == QUEUE_CAP) pthread_cond_wait(&queue.not_full, &queue.lock);
    queue.items[(queue.head + queue.count) % QUEUE_CAP] = it;
    queue.count++;
    pthread_cond_signal(&queue.not_empty);
    pthread_mutex_unlock(&queue.lock);
  }
  for (int i = 0; i < 64; i++) free(priv[i]);
  pthread_mutex_lock(&queue.lock);
  queue.producers_left--;
  pthread_cond_broadcast(&queue.not_empty);
  pthread_mutex_unlock(&queue.lock);
  return NULL;
}

typedef struct {
  uint64_t sum, blocks, bytes;
} consumer_result_t;

static void *consumer(void *arg) {
  consumer_result_t *res = arg;
  for (;;) {
    pthread_mutex_lock(&queue.lock);
    while (queue.count == 0 && queue.producers_left > 0)
      pthread_cond_wait(&queue.not_empty, &queue.lock);
    if (queue.count == 0) {
      pthread_mutex_unlock(&queue.lock);
      return NULL;
    }
    item_t it = queue.items[queue.head];
    queue.head = (queue.head + 1) % QUEUE_CAP;
    queue.count--;
    pthread_cond_signal(&queue.not_full);
    pthread_mutex_unlock(&queue.lock);

    uint64_t h = 0;
    for (size_t i = 0; i < it.size; i++) {
      if (it.ptr[i] != byte_of(it.producer, it.seq, i)) fail("data corrupted", &it);
      h = h * 31 + it.ptr[i];
    }
    free(it.ptr); /* usually not the allocating thread */
    res->sum += mix(h ^ it.size);
    res->blocks++;
    res->bytes += it.size;
  }
}

int main(int argc, char **argv) {
  int producers = argc > 1 ? atoi(argv[1]) : 4;
  int consumers = argc > 2 ? atoi(argv[2]) : 3;
  if (argc > 3) blocks_per_producer = atoi(argv[3]);
  if (producers < 1 || producers > 64 || consumers < 1 || consumers > 64 ||
      blocks_per_producer < 1) {
    fprintf(stderr, "usage: %s [producers] [consumers] [blocks per producer]\n", argv[0]);
    return 2;
  }
  queue.producers_left = producers;
  pthread_t pt[64], ct[64];
  consumer_result_t res[64];
  memset(res, 0, sizeof res);
  for (int i = 0; i < consumers; i++)
    if (pthread_create(&ct[i], NULL, consumer, &res[i]) != 0) return 3;
  for (int i = 0; i < producers; i++)
    if (pthread_create(&pt[i], NULL, producer, (void *)(uintptr_t)i) != 0) return 3;
  for (int i = 0; i < producers; i++) pthread_join(pt[i], NULL);
  for (int i = 0; i < consumers; i++) pthread_join(ct[i], NULL);

  uint64_t sum = 0, blocks = 0, bytes = 0;
  for (int i = 0; i < consumers; i++) {
    sum += res[i].sum;
    blocks += res[i].blocks;
    bytes += res[i].bytes;
  }
  printf("producers=%d consumers=%d blocks=%llu bytes=%llu checksum=%016llx\n", producers,
         consumers, (unsigned long long)blocks, (unsigned long long)bytes,
         (unsigned long long)sum);
  return blocks == (uint64_t)producers * (uint64_t)blocks_per_producer ? 0 : 1;
}

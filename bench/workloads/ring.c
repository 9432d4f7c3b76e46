/* xmalloc_ring: the xmalloc-test pattern (Lever and Boreham, "malloc()
 * Performance in a Multithreaded Linux Environment", USENIX 2000; the
 * version in mimalloc-bench): producer threads allocate blocks of random
 * sizes, write them, and hand them over in batches through one shared queue
 * to consumer threads, which free them. Every free is a remote free, and
 * thousands of blocks are in flight.
 *
 * The handoff is cheap next to the allocator's work: one lock round trip per
 * batch of `slots` (256) blocks, and a thread that must wait sleeps until the
 * queue is half full (consumers) or half empty (producers), so wake-ups are
 * rare. Batch buffers come from the caller's scratch table: WL_RING_DEPTH
 * queued plus one in the hands of every thread. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "bench/workloads/internal.h"
#include "bench/workloads/rng.h"
#include "bench/workloads/workloads.h"

/* Batches the queue holds at most. */
#define WL_RING_DEPTH 16
/* Bytes of each block the producer writes (xmalloc-test writes 128). */
#define WL_RING_WRITE 128

typedef struct wl_batch {
  void **blocks;
  size_t n;
} wl_batch_t;

typedef struct wl_queue {
  pthread_mutex_t lock;
  pthread_cond_t nonempty, nonfull;
  wl_batch_t ring[WL_RING_DEPTH];
  size_t head, n;          /* ring[head .. head + n) are queued */
  void **pool[WL_RING_DEPTH + WL_THREADS_MAX]; /* empty batch buffers */
  size_t pooled;
  size_t producers, producers_done;
  size_t consumers_waiting, producers_waiting;
  size_t batches_total, batches_popped; /* for the checkpoint */
  int checkpointed;
} wl_queue_t;

typedef struct wl_ring_ctx {
  const sa_bench_allocator_t *a;
  const wl_params_t *p;
  wl_queue_t *q;
  size_t index;  /* producer index: its PRNG stream */
  size_t blocks; /* producer: blocks to make */
  size_t ops;    /* producer: blocks made, or WL_FAILED */
} wl_ring_ctx_t;

/* Producer: queue a full batch (n blocks in buf), get an empty buffer back. */
static void **wl_queue_push(wl_queue_t *q, void **buf, size_t n) {
  pthread_mutex_lock(&q->lock);
  while (q->n == WL_RING_DEPTH) {
    q->producers_waiting++;
    pthread_cond_wait(&q->nonfull, &q->lock);
    q->producers_waiting--;
  }
  q->ring[(q->head + q->n) % WL_RING_DEPTH] = (wl_batch_t){.blocks = buf, .n = n};
  q->n++;
  if (q->consumers_waiting != 0 && q->n >= WL_RING_DEPTH / 2) pthread_cond_broadcast(&q->nonempty);
  void **empty = q->pool[--q->pooled];
  pthread_mutex_unlock(&q->lock);
  return empty;
}

/* Producer: give an empty buffer back and say this producer is done. */
static void wl_queue_producer_done(wl_queue_t *q, void **buf) {
  pthread_mutex_lock(&q->lock);
  q->pool[q->pooled++] = buf;
  q->producers_done++;
  pthread_cond_broadcast(&q->nonempty); /* consumers drain what is left */
  pthread_mutex_unlock(&q->lock);
}

/* Consumer: give the last batch's buffer back (NULL: none), take the next
 * batch; 0 when every producer is done and the queue is empty. *checkpoint
 * is set for the one consumer that pops the middle batch of the run. */
static int wl_queue_pop(wl_queue_t *q, void **done_buf, wl_batch_t *out, int *checkpoint) {
  pthread_mutex_lock(&q->lock);
  if (done_buf != NULL) q->pool[q->pooled++] = done_buf;
  while (q->n == 0 && q->producers_done < q->producers) {
    q->consumers_waiting++;
    pthread_cond_wait(&q->nonempty, &q->lock);
    q->consumers_waiting--;
  }
  int got = q->n != 0;
  if (got) {
    *out = q->ring[q->head];
    q->head = (q->head + 1) % WL_RING_DEPTH;
    q->n--;
    if (q->producers_waiting != 0 && q->n <= WL_RING_DEPTH / 2) pthread_cond_broadcast(&q->nonfull);
    *checkpoint = !q->checkpointed && ++q->batches_popped >= q->batches_total / 2;
    if (*checkpoint) q->checkpointed = 1;
  }
  pthread_mutex_unlock(&q->lock);
  return got;
}

static void *wl_ring_producer(void *arg) {
  wl_ring_ctx_t *c = arg;
  const sa_bench_allocator_t *a = c->a;
  const wl_params_t *p = c->p;
  wl_queue_t *q = c->q;
  const size_t batch = p->slots != 0 ? p->slots : 1;
  const size_t span = p->size_span != 0 ? p->size_span : 1;
  wl_rng_t rng;
  wl_rng_seed(&rng, p->seed + c->index);
  pthread_mutex_lock(&q->lock);
  void **buf = q->pool[--q->pooled];
  pthread_mutex_unlock(&q->lock);
  size_t n = 0, made = 0;
  c->ops = c->blocks;
  while (made < c->blocks) {
    size_t size = p->min_size + (size_t)wl_rng_below(&rng, span);
    if (size == 0) size = 1;
    void *ptr = a->malloc(a->ctx, size);
    if (ptr == NULL) {
      c->ops = WL_FAILED;
      break;
    }
    memset(ptr, (int)(made & 0xff), size < WL_RING_WRITE ? size : WL_RING_WRITE);
    buf[n++] = ptr;
    made++;
    if (n == batch || made == c->blocks) {
      buf = wl_queue_push(q, buf, n);
      n = 0;
    }
  }
  for (size_t i = 0; i < n; i++) a->free(a->ctx, buf[i]); /* after a failure */
  wl_queue_producer_done(q, buf);
  return NULL;
}

static void *wl_ring_consumer(void *arg) {
  wl_ring_ctx_t *c = arg;
  const sa_bench_allocator_t *a = c->a;
  wl_queue_t *q = c->q;
  wl_batch_t b;
  void **done = NULL;
  int checkpoint = 0;
  while (wl_queue_pop(q, done, &b, &checkpoint)) {
    if (checkpoint) wl_call_checkpoint(c->p); /* about the most blocks in flight */
    for (size_t i = 0; i < b.n; i++) a->free(a->ctx, b.blocks[i]);
    done = b.blocks;
  }
  if (done != NULL) {
    pthread_mutex_lock(&q->lock);
    q->pool[q->pooled++] = done;
    pthread_mutex_unlock(&q->lock);
  }
  c->ops = 0;
  return NULL;
}

/* max(1, threads / 2) producers and as many consumers. */
static size_t wl_ring_side(const wl_params_t *p) {
  size_t side = wl_threads_of(p) / 2;
  return side != 0 ? side : 1;
}

size_t wl_xmalloc_ring_slots(const wl_params_t *p) {
  return (WL_RING_DEPTH + 2 * wl_ring_side(p)) * (p->slots != 0 ? p->slots : 1);
}

size_t wl_xmalloc_ring(const sa_bench_allocator_t *a, const wl_params_t *p) {
  const size_t side = wl_ring_side(p);
  const size_t batch = p->slots != 0 ? p->slots : 1;
  const size_t buffers = WL_RING_DEPTH + 2 * side;
  int owned;
  void **table = wl_scratch_get(p, buffers * batch, &owned);
  if (table == NULL) return WL_FAILED;

  wl_queue_t queue; /* ~2.5 KiB; the threads are joined before it goes */
  wl_queue_t *q = &queue;
  memset(q, 0, sizeof *q);
  pthread_mutex_init(&q->lock, NULL);
  pthread_cond_init(&q->nonempty, NULL);
  pthread_cond_init(&q->nonfull, NULL);
  for (size_t i = 0; i < buffers; i++) q->pool[q->pooled++] = table + i * batch;
  q->producers = side;
  q->batches_total = 0;

  wl_ring_ctx_t ctx[WL_THREADS_MAX];
  for (size_t i = 0; i < side; i++) {
    size_t blocks = p->count / side + (i < p->count % side);
    q->batches_total += (blocks + batch - 1) / batch;
    ctx[i] = (wl_ring_ctx_t){.a = a, .p = p, .q = q, .index = i, .blocks = blocks};
    ctx[side + i] = (wl_ring_ctx_t){.a = a, .p = p, .q = q, .index = side + i};
  }
  /* Consumers first, then producers: the two sides must run at once. */
  pthread_t tid[WL_THREADS_MAX];
  int started[WL_THREADS_MAX] = {0};
  size_t consumers = 0, producers = 0;
  for (size_t i = 0; i < side; i++)
    if (pthread_create(&tid[side + i], NULL, wl_ring_consumer, &ctx[side + i]) == 0) started[side + i] = 1, consumers++;
  for (size_t i = 0; i < side; i++)
    if (pthread_create(&tid[i], NULL, wl_ring_producer, &ctx[i]) == 0) started[i] = 1, producers++;
  if (producers < side) { /* consumers stop once the producers that run are done */
    pthread_mutex_lock(&q->lock);
    q->producers = producers;
    pthread_cond_broadcast(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
  }
  if (consumers == 0) wl_ring_consumer(&ctx[side]); /* drain here */
  for (size_t i = 0; i < 2 * side; i++)
    if (started[i]) pthread_join(tid[i], NULL);
  pthread_cond_destroy(&q->nonfull);
  pthread_cond_destroy(&q->nonempty);
  pthread_mutex_destroy(&q->lock);
  wl_scratch_put(table, owned);

  if (producers < side) return WL_FAILED;
  size_t ops = 0;
  for (size_t i = 0; i < side; i++) {
    if (ctx[i].ops == WL_FAILED) return WL_FAILED;
    ops += ctx[i].ops;
  }
  return ops;
}

/* The bad-free cases (see cases.h). Each runs in a process of its own (a
 * death test's child or the driver), so it may leave anything behind.
 *
 * Nothing here calls a libc function that allocates between the setup and
 * the bad call: messages go out with snprintf into a stack buffer and
 * write(2); threads synchronize with semaphores. */
#define _GNU_SOURCE
#include "tests/badfree/cases.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SMALL 48
#define MEDIUM 5000
#define LARGE (300 * 1024) /* above the default mmap_threshold (128 KiB) */

static const bf_ops_t *ops;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
  ssize_t unused = write(2, buf, (size_t)n);
  (void)unused;
}

/* The pointer the report must name; printed as error.c prints it. */
static void announce(const void *p) { say(BF_ANNOUNCE_PREFIX "0x%lx\n", (unsigned long)(uintptr_t)p); }

static void no_report(const char *call, const void *p) {
  say("badfree: no report: %s(0x%lx) returned\n", call, (unsigned long)(uintptr_t)p);
}

/* A live block the test owns, its bytes written (a block that was never
 * touched could hide a fault). */
static char *block(size_t size) {
  char *p = ops->malloc(size);
  if (p == NULL) {
    say("badfree: setup: malloc(%zu) returned NULL\n", size);
    _exit(2);
  }
  memset(p, 0x5a, size);
  return p;
}

static char *aligned_block(size_t alignment, size_t size) {
  char *p = ops->memalign(alignment, size);
  if (p == NULL || ((uintptr_t)p & (alignment - 1)) != 0) {
    say("badfree: setup: memalign(%zu, %zu) returned %p\n", alignment, size, (void *)p);
    _exit(2);
  }
  memset(p, 0x5a, size);
  return p;
}

static void bad_free(void *p) {
  announce(p);
  ops->free(p);
  no_report("free", p);
}

/* After a bad free was accepted: does malloc now hand one block out twice? */
static void aftermath(size_t size) {
  enum { N = 8 };
  char *got[N];
  for (int i = 0; i < N; i++) {
    got[i] = ops->malloc(size);
    if (got[i] == NULL) {
      say("badfree: then malloc(%zu) returned NULL\n", size);
      return;
    }
    for (int j = 0; j < i; j++) {
      if (got[j] == got[i]) {
        say("badfree: then malloc(%zu) handed 0x%lx out twice\n", size,
            (unsigned long)(uintptr_t)got[i]);
        return;
      }
    }
  }
  say("badfree: then %d mallocs of %zu bytes returned distinct blocks\n", N, size);
}

/* ======================================================================== */
/* Double frees                                                             */
/* ======================================================================== */

/* A live neighbour after p, so that p stays the start of a free block
 * (first_fit would otherwise merge it with the free space after it). */
static void double_free(size_t size) {
  char *p = block(size);
  char *guard = block(size);
  (void)guard;
  ops->free(p);
  bad_free(p);
}
static void double_free_48(void) { double_free(SMALL); }
static void double_free_5000(void) { double_free(MEDIUM); }
static void double_free_300k(void) { double_free(LARGE); }

/* The thread cases. Every thread is created before the first free (thread
 * creation allocates: its TLS vector could otherwise be handed p and make
 * the second free a valid one) and waits for its turn on a semaphore. The
 * blocks are 48 bytes: the first free puts p in the freeing thread's cache,
 * the second happens on another thread, whose own cache would take it. */
static sem_t s1, s2, s3, s4;
static char *shared;

static void sem_setup(void) {
  sem_init(&s1, 0, 0);
  sem_init(&s2, 0, 0);
  sem_init(&s3, 0, 0);
  sem_init(&s4, 0, 0);
}
static void sem_wait_all(sem_t *s) {
  while (sem_wait(s) != 0) {
  }
}

static void spawn(pthread_t *t, void *(*fn)(void *)) {
  if (pthread_create(t, NULL, fn, NULL) != 0) {
    say("badfree: setup: pthread_create failed\n");
    _exit(2);
  }
}

/* A allocates p and frees it; then B, while A lives, frees it again. */
static void *owner_first_a(void *arg) {
  (void)arg;
  sem_wait_all(&s1); /* B exists */
  shared = block(SMALL);
  ops->free(shared);
  sem_post(&s2);     /* p is in A's cache */
  sem_wait_all(&s3); /* stay alive until B has tried */
  return NULL;
}
static void *owner_first_b(void *arg) {
  (void)arg;
  sem_wait_all(&s2);
  bad_free(shared);
  sem_post(&s3);
  return NULL;
}
static void double_free_threads_owner_first(void) {
  sem_setup();
  pthread_t a, b;
  spawn(&a, owner_first_a);
  spawn(&b, owner_first_b);
  sem_post(&s1);
  pthread_join(b, NULL);
  pthread_join(a, NULL);
  aftermath(SMALL);
}

/* A allocates p; B frees it (into B's cache); then A, while B lives, frees
 * it again (into A's own cache, where it came from). */
static void *other_first_a(void *arg) {
  (void)arg;
  sem_wait_all(&s1); /* B exists */
  shared = block(SMALL);
  sem_post(&s2);
  sem_wait_all(&s3); /* B has freed it */
  bad_free(shared);
  sem_post(&s4);
  return NULL;
}
static void *other_first_b(void *arg) {
  (void)arg;
  sem_wait_all(&s2);
  ops->free(shared);
  sem_post(&s3);
  sem_wait_all(&s4); /* stay alive until A has tried */
  return NULL;
}
static void double_free_threads_other_first(void) {
  sem_setup();
  pthread_t a, b;
  spawn(&a, other_first_a);
  spawn(&b, other_first_b);
  sem_post(&s1);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  aftermath(SMALL);
}

/* A thread frees main's block and exits (its cache flushed); then main
 * frees it again. */
static void *free_shared(void *arg) {
  (void)arg;
  sem_wait_all(&s1);
  ops->free(shared);
  return NULL;
}
static void double_free_after_thread_exit(void) {
  sem_setup();
  pthread_t a;
  spawn(&a, free_shared);
  shared = block(SMALL);
  sem_post(&s1);
  pthread_join(a, NULL);
  bad_free(shared);
  aftermath(SMALL);
}

/* main frees p (into main's cache); a short-lived thread frees it again and
 * exits; then main mallocs. */
static void *bad_free_shared(void *arg) {
  (void)arg;
  sem_wait_all(&s1);
  bad_free(shared);
  return NULL;
}
static void double_free_main_then_short_thread(void) {
  sem_setup();
  pthread_t t;
  spawn(&t, bad_free_shared);
  shared = block(SMALL);
  ops->free(shared);
  sem_post(&s1);
  pthread_join(t, NULL);
  aftermath(SMALL);
}

/* realloc moves p (freeing it); then free(p). */
static void double_free_after_realloc_move(void) {
  char *p = block(SMALL);
  char *guard = block(SMALL);
  (void)guard;
  char *q = ops->realloc(p, MEDIUM);
  if (q == NULL || q == p) {
    say("badfree: setup: realloc(0x%lx, %d) returned 0x%lx, not a moved block\n",
        (unsigned long)(uintptr_t)p, MEDIUM, (unsigned long)(uintptr_t)q);
    _exit(2);
  }
  bad_free(p);
  aftermath(SMALL);
}

/* ======================================================================== */
/* Pointers that are not the start of a block                               */
/* ======================================================================== */

/* p + offset of a block of size bytes; a live block after it. */
static void interior(size_t size, long offset) {
  char *p = block(size);
  char *guard = block(size);
  (void)guard;
  bad_free(p + offset);
  aftermath(size);
}
static void interior_48_plus16(void) { interior(SMALL, 16); }
static void interior_48_plus32(void) { interior(SMALL, 32); }
static void interior_48_minus16(void) { interior(SMALL, -16); }
static void interior_48_plus4096(void) { interior(SMALL, 4096); }
static void interior_5000_plus16(void) { interior(MEDIUM, 16); }
static void interior_5000_plus32(void) { interior(MEDIUM, 32); }
static void interior_5000_minus16(void) { interior(MEDIUM, -16); }
static void interior_5000_plus4096(void) { interior(MEDIUM, 4096); }
static void interior_300k_plus16(void) { interior(LARGE, 16); }
static void interior_300k_plus32(void) { interior(LARGE, 32); }
static void interior_300k_minus16(void) { interior(LARGE, -16); }
static void interior_300k_plus4096(void) { interior(LARGE, 4096); }

static void memalign_interior(size_t alignment, size_t size) {
  char *p = aligned_block(alignment, size);
  bad_free(p + 16);
  aftermath(size);
}
static void memalign_64_48_plus16(void) { memalign_interior(64, SMALL); }
static void memalign_4096_5000_plus16(void) { memalign_interior(4096, MEDIUM); }
static void memalign_64_300k_plus16(void) { memalign_interior(64, LARGE); }

/* The first byte past a block's usable end. */
static void one_past_end(size_t size) {
  char *p = block(size);
  size_t usable = ops->usable_size(p);
  if (usable < size) {
    say("badfree: setup: usable size %zu of a %zu-byte block\n", usable, size);
    _exit(2);
  }
  bad_free(p + usable);
  aftermath(size);
}
static void one_past_end_48(void) { one_past_end(SMALL); }
static void one_past_end_5000(void) { one_past_end(MEDIUM); }
static void one_past_end_300k(void) { one_past_end(LARGE); }

/* ======================================================================== */
/* Pointers that are no memory of this heap                                 */
/* ======================================================================== */

static void stack_pointer(void) {
  char *keep = block(SMALL); /* the heap exists */
  (void)keep;
  _Alignas(16) char local[64];
  memset(local, 0, sizeof local);
  bad_free(local);
  __asm__ volatile("" : : "r"(local) : "memory");
}

static _Alignas(16) char global_buffer[64];
static void global_pointer(void) {
  char *keep = block(SMALL);
  (void)keep;
  bad_free(global_buffer + 16);
}

static void mmap_pointer(void) {
  char *keep = block(SMALL);
  (void)keep;
  char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) {
    say("badfree: setup: mmap failed\n");
    _exit(2);
  }
  bad_free(page);
}

static void other_heap_pointer(void) {
  char *keep = block(SMALL);
  (void)keep;
  char *p = ops->other_heap_malloc ? ops->other_heap_malloc(SMALL) : NULL;
  if (p == NULL) {
    say("badfree: setup: no other heap of this strategy\n");
    _exit(2);
  }
  bad_free(p);
}

/* A block of a heap destroyed since, freed into a live heap of the same
 * strategy (the free into the destroyed heap itself is left out: its
 * sa_heap_t is unmapped, see README.md). */
static void destroyed_heap_pointer(void) {
  char *keep = block(SMALL); /* the live heap's memory is mapped first */
  (void)keep;
  char *p = ops->destroyed_heap_block ? ops->destroyed_heap_block(SMALL) : NULL;
  if (p == NULL) {
    say("badfree: setup: no destroyed heap\n");
    _exit(2);
  }
  bad_free(p);
}

/* ======================================================================== */
/* realloc and malloc_usable_size of bad pointers                           */
/* ======================================================================== */

static void bad_realloc(void *p) {
  announce(p);
  void *q = ops->realloc(p, 100);
  say("badfree: no report: realloc(0x%lx, 100) returned 0x%lx\n", (unsigned long)(uintptr_t)p,
      (unsigned long)(uintptr_t)q);
}
static void bad_usable_size(void *p) {
  announce(p);
  size_t n = ops->usable_size(p);
  say("badfree: no report: malloc_usable_size(0x%lx) returned %zu\n",
      (unsigned long)(uintptr_t)p, n);
}

static char *freed_block(size_t size) {
  char *p = block(size);
  char *guard = block(size);
  (void)guard;
  ops->free(p);
  return p;
}
static void realloc_freed_48(void) { bad_realloc(freed_block(SMALL)); }
static void realloc_freed_5000(void) { bad_realloc(freed_block(MEDIUM)); }
static void realloc_interior_48(void) { bad_realloc(block(SMALL) + 16); }
static void realloc_interior_5000(void) { bad_realloc(block(MEDIUM) + 16); }
static void realloc_stack(void) {
  char *keep = block(SMALL);
  (void)keep;
  _Alignas(16) char local[64];
  memset(local, 0, sizeof local);
  bad_realloc(local);
  __asm__ volatile("" : : "r"(local) : "memory");
}
static void usable_size_freed_48(void) { bad_usable_size(freed_block(SMALL)); }
static void usable_size_freed_5000(void) { bad_usable_size(freed_block(MEDIUM)); }
static void usable_size_interior_48(void) { bad_usable_size(block(SMALL) + 16); }
static void usable_size_interior_5000(void) { bad_usable_size(block(MEDIUM) + 16); }
static void usable_size_stack(void) {
  char *keep = block(SMALL);
  (void)keep;
  _Alignas(16) char local[64];
  memset(local, 0, sizeof local);
  bad_usable_size(local);
  __asm__ volatile("" : : "r"(local) : "memory");
}

/* ======================================================================== */
/* The table                                                                */
/* ======================================================================== */

#define CASE(name, expect, scope, what) {#name, expect, scope, what, name}

const bf_case_t bf_cases[] = {
    CASE(double_free_48, BF_DOUBLE, BF_ALL, "free(p) twice, 48 B, same thread"),
    CASE(double_free_5000, BF_DOUBLE, BF_ALL, "free(p) twice, 5000 B, same thread"),
    CASE(double_free_300k, BF_DOUBLE, BF_ALL, "free(p) twice, 300 KiB (a large object)"),
    CASE(double_free_threads_owner_first, BF_DOUBLE, BF_ALL,
         "thread A mallocs and frees p (48 B); thread B frees p while A lives"),
    CASE(double_free_threads_other_first, BF_DOUBLE, BF_ALL,
         "thread A mallocs p (48 B); thread B frees p; A frees p while B lives"),
    CASE(double_free_after_thread_exit, BF_DOUBLE, BF_ALL,
         "a thread frees main's p (48 B) and exits; main frees p"),
    CASE(double_free_main_then_short_thread, BF_DOUBLE, BF_ALL,
         "main frees p (48 B); a short-lived thread frees p and exits; main mallocs"),
    CASE(double_free_after_realloc_move, BF_DOUBLE, BF_ALL,
         "realloc(p, 5000) moves a 48 B block; free(p)"),
    CASE(interior_48_plus16, BF_INTERIOR, BF_ALL, "free(p+16), 48 B block"),
    CASE(interior_48_plus32, BF_INTERIOR, BF_ALL, "free(p+32), 48 B block"),
    CASE(interior_48_minus16, BF_INTERIOR, BF_ALL, "free(p-16), 48 B block (before it)"),
    CASE(interior_48_plus4096, BF_OUTSIDE, BF_ALL, "free(p+4096), 48 B block (past it)"),
    CASE(interior_5000_plus16, BF_INTERIOR, BF_ALL, "free(p+16), 5000 B block"),
    CASE(interior_5000_plus32, BF_INTERIOR, BF_ALL, "free(p+32), 5000 B block"),
    CASE(interior_5000_minus16, BF_INTERIOR, BF_ALL, "free(p-16), 5000 B block (before it)"),
    CASE(interior_5000_plus4096, BF_INTERIOR, BF_ALL, "free(p+4096), 5000 B block"),
    CASE(interior_300k_plus16, BF_INTERIOR, BF_ALL, "free(p+16), 300 KiB block"),
    CASE(interior_300k_plus32, BF_INTERIOR, BF_ALL, "free(p+32), 300 KiB block"),
    CASE(interior_300k_minus16, BF_INTERIOR, BF_ALL, "free(p-16), 300 KiB block (its header)"),
    CASE(interior_300k_plus4096, BF_INTERIOR, BF_ALL, "free(p+4096), 300 KiB block"),
    CASE(memalign_64_48_plus16, BF_INTERIOR, BF_ALL, "free(p+16), memalign(64, 48)"),
    CASE(memalign_4096_5000_plus16, BF_INTERIOR, BF_ALL, "free(p+16), memalign(4096, 5000)"),
    CASE(memalign_64_300k_plus16, BF_INTERIOR, BF_ALL, "free(p+16), memalign(64, 300 KiB)"),
    CASE(one_past_end_48, BF_OUTSIDE, BF_ALL, "free(p + usable_size(p)), 48 B"),
    CASE(one_past_end_5000, BF_OUTSIDE, BF_ALL, "free(p + usable_size(p)), 5000 B"),
    CASE(one_past_end_300k, BF_OUTSIDE, BF_ALL, "free(p + usable_size(p)), 300 KiB"),
    CASE(stack_pointer, BF_FOREIGN, BF_ALL, "free of a stack array"),
    CASE(global_pointer, BF_FOREIGN, BF_ALL, "free of a global array + 16"),
    CASE(mmap_pointer, BF_FOREIGN, BF_ALL, "free of a page from mmap"),
    CASE(other_heap_pointer, BF_FOREIGN, BF_ALL, "free of another heap's block"),
    CASE(destroyed_heap_pointer, BF_FOREIGN, BF_API_ONLY,
         "free into a live heap of a block of a heap destroyed since"),
    CASE(realloc_freed_48, BF_REALLOC_FREED, BF_ALL, "realloc of a freed 48 B block"),
    CASE(realloc_freed_5000, BF_REALLOC_FREED, BF_ALL, "realloc of a freed 5000 B block"),
    CASE(realloc_interior_48, BF_REALLOC_INTERIOR, BF_ALL, "realloc(p+16), 48 B"),
    CASE(realloc_interior_5000, BF_REALLOC_INTERIOR, BF_ALL, "realloc(p+16), 5000 B"),
    CASE(realloc_stack, BF_REALLOC_FOREIGN, BF_ALL, "realloc of a stack array"),
    CASE(usable_size_freed_48, BF_USABLE_FREED, BF_ALL, "malloc_usable_size of a freed 48 B block"),
    CASE(usable_size_freed_5000, BF_USABLE_FREED, BF_ALL,
         "malloc_usable_size of a freed 5000 B block"),
    CASE(usable_size_interior_48, BF_USABLE_INTERIOR, BF_ALL, "malloc_usable_size(p+16), 48 B"),
    CASE(usable_size_interior_5000, BF_USABLE_INTERIOR, BF_ALL,
         "malloc_usable_size(p+16), 5000 B"),
    CASE(usable_size_stack, BF_USABLE_FOREIGN, BF_ALL, "malloc_usable_size of a stack array"),
};
#undef CASE

const size_t bf_case_count = sizeof bf_cases / sizeof bf_cases[0];

const bf_case_t *bf_case_find(const char *name) {
  for (size_t i = 0; i < bf_case_count; i++)
    if (strcmp(bf_cases[i].name, name) == 0) return &bf_cases[i];
  return NULL;
}

void bf_run(const bf_case_t *c, const bf_ops_t *o) {
  ops = o;
  alarm(20); /* a hang ends with SIGALRM */
  c->run();
}

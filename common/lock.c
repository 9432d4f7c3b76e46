/* The slow path of sa_mutex_lock_spinning (strategy.h): a contended strategy
 * lock taken from a front-end's batch call. */
#include <pthread.h>

#include "stratalloc/strategy.h"

static inline void sa_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

void sa_mutex_lock_contended(pthread_mutex_t *mutex) {
  /* As glibc's adaptive mutexes: spin up to twice the recent average that
   * it took (kept in the lock's __spins field, unused by default mutexes),
   * + 10, at most SA_MUTEX_SPINS; a lock whose owner keeps it stops
   * spinning and sleeps at once. */
  short *avg = &mutex->__data.__spins;
  int avg_now = __atomic_load_n(avg, __ATOMIC_RELAXED);
  int max = avg_now * 2 + 10 < SA_MUTEX_SPINS ? avg_now * 2 + 10 : SA_MUTEX_SPINS;
  int n = 0;
  for (;;) {
    if (n++ >= max) {
      pthread_mutex_lock(mutex);
      break;
    }
    sa_cpu_relax();
    /* Read before trying (glibc's lock word): a trylock is a write, and
     * spinning on writes bounces the line between the cores. */
    if (__atomic_load_n(&mutex->__data.__lock, __ATOMIC_RELAXED) == 0 &&
        pthread_mutex_trylock(mutex) == 0)
      break;
  }
  /* Under the lock now; other waiters read it unlocked, hence atomic. */
  __atomic_store_n(avg, (short)(avg_now + (n - avg_now) / 8), __ATOMIC_RELAXED);
}

void sa_mutex_init_zeroed(pthread_mutex_t *mutex) {
  static const pthread_mutex_t initial = PTHREAD_MUTEX_INITIALIZER;
  static const pthread_mutex_t zero;
  if (__builtin_memcmp(&initial, &zero, sizeof zero) != 0) pthread_mutex_init(mutex, NULL);
}

/* The workloads' own PRNG (xorshift64*): seeded, deterministic, the same
 * sequence on every machine and libc. Never rand(). */
#ifndef STRATALLOC_BENCH_WORKLOADS_RNG_H
#define STRATALLOC_BENCH_WORKLOADS_RNG_H

#include <stdint.h>

typedef struct wl_rng {
  uint64_t state;
} wl_rng_t;

static inline void wl_rng_seed(wl_rng_t *rng, uint64_t seed) {
  /* xorshift never leaves 0; mix the seed so that nearby seeds diverge. */
  uint64_t z = seed + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  rng->state = z != 0 ? z : 0x2545F4914F6CDD1Dull;
}

static inline uint64_t wl_rng_next(wl_rng_t *rng) {
  uint64_t x = rng->state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng->state = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform enough in [0, bound) for benchmark sizes and slots (bound > 0). */
static inline uint64_t wl_rng_below(wl_rng_t *rng, uint64_t bound) {
  return (wl_rng_next(rng) >> 11) % bound;
}

#endif /* STRATALLOC_BENCH_WORKLOADS_RNG_H */

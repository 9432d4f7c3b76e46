// Time per operation as the number of live blocks grows (1k .. 1M), for the
// system allocator and every registered strategy, in one run:
//
//   live_blocks/<allocator>/<live>
//
// Setup (untimed) allocates <live> blocks of 16..1024 bytes; each timed
// operation frees a random live block and allocates a new one of a random
// size in its slot (each block's first byte written, as a program would). A strategy whose cost grows with the heap (a first-fit
// list walk, a buddy's split/merge depth) shows it here; size classes stay
// flat. Registered from sa_registry[], so new strategies appear unchanged.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "bench/workloads/allocator.h"
#include "bench/workloads/rng.h"
#include "stratalloc/stratalloc.h"

namespace {

size_t RandomSize(wl_rng_t *rng) { return 16 + wl_rng_next(rng) % 1009; }

// Programs write what they allocate; an untouched block would move the
// first-touch page fault into whichever call first writes it (glibc's
// malloc writes a header, a headerless slab's free writes a link).
void *Touched(void *p) {
  if (p != nullptr) *static_cast<volatile char *>(p) = 1;
  return p;
}

void LiveBlocks(benchmark::State &state, const sa_strategy_t *strategy) {
  const size_t live = static_cast<size_t>(state.range(0));
  sa_bench_allocator_t allocator;
  sa_heap_t *heap = nullptr;
  if (sa_bench_allocator_open(&allocator, strategy, &heap) != 0) {
    state.SkipWithError("sa_heap_create failed");
    return;
  }
  std::vector<void *> slots(live);
  wl_rng_t rng;
  wl_rng_seed(&rng, 42);
  for (size_t i = 0; i < live; i++) slots[i] = Touched(allocator.malloc(allocator.ctx, RandomSize(&rng)));
  for (auto _ : state) {
    size_t i = wl_rng_next(&rng) % live;
    allocator.free(allocator.ctx, slots[i]);
    slots[i] = Touched(allocator.malloc(allocator.ctx, RandomSize(&rng)));
    benchmark::DoNotOptimize(slots[i]);
  }
  state.SetItemsProcessed(state.iterations());
  if (heap != nullptr) {
    sa_stats_t stats;
    sa_heap_stats(heap, &stats);
    state.counters["peak_mapped_bytes"] = static_cast<double>(stats.peak_mapped_bytes);
    state.counters["fragmentation_pct"] = stats.fragmentation_pct;
  }
  for (void *p : slots) allocator.free(allocator.ctx, p);
  if (heap != nullptr) sa_heap_destroy(heap);
}

void Register(const std::string &name, const sa_strategy_t *strategy) {
  benchmark::RegisterBenchmark(("live_blocks/" + name).c_str(), LiveBlocks, strategy)
      ->RangeMultiplier(10)
      ->Range(1000, 1000000)
      ->Unit(benchmark::kNanosecond);
}

}  // namespace

int main(int argc, char **argv) {
  Register("system", nullptr);
  for (size_t i = 0; sa_registry[i] != nullptr; i++) Register(sa_strategy_name(sa_registry[i]), sa_registry[i]);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

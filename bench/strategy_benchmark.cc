// Google Benchmark of every workload (//bench/workloads) on the system
// allocator and on a fresh heap of every registered strategy, in one run:
//
//   <workload>/<allocator>/<arg>     e.g. malloc_free_loop/first_fit/64
//
// Registered at startup from wl_workloads[] and sa_registry[], so a new
// workload or strategy appears here without code changes. Benchmarks are
// registered interleaved (system, then each strategy, for one workload and
// argument) so that a baseline and its competitors run close together.
//
// Counters:
//   items_per_second    allocation operations per second (of CPU time)
//   ops_per_iter        operations in one iteration (ratio.py divides by it)
//   minor_faults_per_iter
//                       page faults of this thread per iteration (getrusage):
//                       large ones mean the kernel's page faults, not the
//                       allocator's code, dominate the time
//   peak_mapped_bytes   stratalloc heaps: sa_heap_stats at the end of the run
//   fragmentation_pct   stratalloc heaps: external fragmentation at the end
//                       (everything freed: what stays fragmented)
//   peak_live_fragmentation_pct, peak_live_overhead_pct
//                       stratalloc heaps: fragmentation and memory overhead
//                       (mapped over allocated) at the workload's peak live
//                       set, from one extra untimed call
//   bytes_per_second    stratalloc heaps: usable bytes handed out per second
//
// Built with -DSA_BENCH_ONLY_STRATEGY="name" (//bench:benchmark_<name>, one
// per registered strategy): only that strategy, and the names drop it
// (<workload>/<arg>), so that two strategies' JSON files compare with
// /usr/share/benchmark/compare.py benchmarks a.json b.json.
//
// The system heap cannot be fresh: it is process-wide and keeps the state
// earlier benchmarks left (after random_sizes, glibc's realloc_grow runs ~2x
// slower, and malloc_trim(0) does not undo it). For system baselines, run one
// workload per process (--benchmark_filter='^<workload>/'), see README.md.
//
// Caveat: here glibc is called directly (not interposed) and the strategies
// through the sa_ API on an explicit heap; both go through the same adapter
// cost. Cross-allocator claims on the same entry points belong to the
// LD_PRELOAD driver (DESIGN.md, "How the parts are measured").
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>

#include <string>
#include <vector>

#include "bench/workloads/allocator.h"
#include "bench/workloads/workloads.h"
#include "stratalloc/stratalloc.h"

namespace {

struct PeakSample {
  sa_heap_t *heap;
  double fragmentation_pct;
  double overhead_pct;
  bool sampled;
};

long ThreadMinorFaults() {
  struct rusage usage;
  if (getrusage(RUSAGE_THREAD, &usage) != 0) return 0;
  return usage.ru_minflt;
}

void SampleAtPeak(void *arg) {
  auto *sample = static_cast<PeakSample *>(arg);
  sa_stats_t stats;
  sa_heap_stats(sample->heap, &stats);
  sample->fragmentation_pct = stats.fragmentation_pct;
  sample->overhead_pct = stats.overhead_pct;
  sample->sampled = true;
}

// One benchmark run: strategy == nullptr means the system allocator.
void RunWorkload(benchmark::State &state, const wl_workload_t *workload,
                 const sa_strategy_t *strategy) {
  wl_params_t params;
  wl_params_default(workload, &params);
  wl_params_set_arg(workload, &params, static_cast<size_t>(state.range(0)));
  // The workload's pointer table, owned here so that it is not timed.
  std::vector<void *> scratch(wl_scratch_slots(workload, &params));
  params.scratch = scratch.empty() ? nullptr : scratch.data();
  params.scratch_cap = scratch.size();

  sa_bench_allocator_t allocator;
  sa_heap_t *heap = nullptr;
  if (sa_bench_allocator_open(&allocator, strategy, &heap) != 0) {
    state.SkipWithError("sa_heap_create failed");
    return;
  }

  size_t ops = 0;
  const long faults_before = ThreadMinorFaults();
  for (auto _ : state) {
    size_t n = workload->run(&allocator, &params);
    benchmark::DoNotOptimize(n);
    if (n == WL_FAILED) {
      state.SkipWithError("allocation failed");
      break;
    }
    ops += n;
  }

  state.SetItemsProcessed(static_cast<int64_t>(ops));
  state.counters["ops_per_iter"] =
      benchmark::Counter(static_cast<double>(ops), benchmark::Counter::kAvgIterations);
  state.counters["minor_faults_per_iter"] = benchmark::Counter(
      static_cast<double>(ThreadMinorFaults() - faults_before), benchmark::Counter::kAvgIterations);
  if (heap != nullptr) {
    sa_stats_t stats;
    sa_heap_stats(heap, &stats);
    state.counters["peak_mapped_bytes"] = static_cast<double>(stats.peak_mapped_bytes);
    state.counters["fragmentation_pct"] = stats.fragmentation_pct;
    // Usable bytes handed out during the timed loop: bytes_per_second.
    state.SetBytesProcessed(static_cast<int64_t>(stats.total_allocated_bytes));
    if (!state.error_occurred()) {
      // Workloads that never hold more than one block have no checkpoint.
      PeakSample sample{heap, 0.0, 0.0, false};
      params.checkpoint = SampleAtPeak;
      params.checkpoint_arg = &sample;
      workload->run(&allocator, &params);
      if (sample.sampled) {
        state.counters["peak_live_fragmentation_pct"] = sample.fragmentation_pct;
        state.counters["peak_live_overhead_pct"] = sample.overhead_pct;
      }
    }
    sa_heap_destroy(heap);
  }
}

int RegisterAll() {
#ifdef SA_BENCH_ONLY_STRATEGY
  const sa_strategy_t *only = sa_strategy_find(SA_BENCH_ONLY_STRATEGY);
  if (only == nullptr) {
    fprintf(stderr, "strategy_benchmark: %s is not registered\n", SA_BENCH_ONLY_STRATEGY);
    abort();
  }
  for (const wl_workload_t *w = wl_workloads; w->name != nullptr; w++)
    for (size_t k = 0; k < WL_SWEEP_MAX && w->sweep[k] != 0; k++)
    {
      auto *b = benchmark::RegisterBenchmark(w->name, RunWorkload, w, only)->Arg(static_cast<int64_t>(w->sweep[k]));
      // Threads created inside the workload: the main thread's CPU time
      // misses their work, so rates use wall-clock time.
      if (w->defaults.threads > 0) b->UseRealTime();
    }
  return 0;
#endif
  std::vector<const sa_strategy_t *> allocators = {nullptr};  // nullptr: system
  for (size_t i = 0; sa_registry[i] != nullptr; i++) allocators.push_back(sa_registry[i]);

  for (const wl_workload_t *w = wl_workloads; w->name != nullptr; w++) {
    for (size_t k = 0; k < WL_SWEEP_MAX && w->sweep[k] != 0; k++) {
      for (const sa_strategy_t *s : allocators) {
        std::string name = std::string(w->name) + "/" +
                           (s == nullptr ? sa_bench_system_allocator()->name : sa_strategy_name(s));
        auto *b = benchmark::RegisterBenchmark(name.c_str(), RunWorkload, w, s)
                      ->Arg(static_cast<int64_t>(w->sweep[k]));
        if (w->defaults.threads > 0) b->UseRealTime();  // worker threads' time counts
      }
    }
  }
  return 0;
}

// Runs before main() (benchmark_main's), like the BENCHMARK() macros do.
const int registered = RegisterAll();

}  // namespace

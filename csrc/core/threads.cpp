// See [Note: process-wide thread count] and [Note: minimum work per thread] in core/threads.h.
#include "core/threads.h"

#include <omp.h>

#include <atomic>
#include <cstdint>

namespace dc {

namespace {
std::atomic<int> g_threads{0};          // 0: never set (the OpenMP default)
std::atomic<uint64_t> g_generation{0};  // bumped by every set_num_threads
thread_local uint64_t t_seen_generation = 0;
}  // namespace

void set_num_threads(int n) {
  g_threads.store(n, std::memory_order_relaxed);
  g_generation.fetch_add(1, std::memory_order_release);
  apply_num_threads();
}

int num_threads() {
  const int n = g_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : omp_get_max_threads();
}

void apply_num_threads() {
  const uint64_t gen = g_generation.load(std::memory_order_acquire);
  if (gen == t_seen_generation) return;
  t_seen_generation = gen;
  const int n = g_threads.load(std::memory_order_relaxed);
  if (n > 0) omp_set_num_threads(n);
}

int threads_for(double work, double per_thread) {
  const int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
  const double cap = work / per_thread;
  return cap >= nt ? nt : cap > 1 ? static_cast<int>(cap) : 1;
}

}  // namespace dc

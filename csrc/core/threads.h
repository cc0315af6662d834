// The number of OpenMP threads deepcore's kernels use, one setting for the whole process.
//
// [Note: process-wide thread count]
// omp_set_num_threads() sets the nthreads-var of the *calling* thread only: a Python thread
// started before or after it (threading.Thread, a data-loading or serving thread) keeps the
// OpenMP default, so kernels.set_num_threads(1) in the main thread left other threads' kernels
// on every core. torch.set_num_threads is process-wide; so is ours: set_num_threads() stores
// the count in one atomic with a generation number, and every binding applies it to its calling
// thread just before running a kernel (KernelScope in bindings/registry.h: one atomic load
// per call, and an omp_set_num_threads only when the setting changed since this thread last
// looked). A thread that is inside a kernel when the setting changes picks it up on its next call.
#pragma once

#include <cstdint>

namespace dc {

// Set the process-wide count (n >= 1; the caller validates).
void set_num_threads(int n);
// The count kernels use: the process-wide setting, else the calling thread's OpenMP default.
int num_threads();
// Apply the process-wide setting to the calling thread if it changed since the last call.
void apply_num_threads();

// [Note: minimum work per thread]
// A parallel region costs a fork/join: a few microseconds on a quiet machine, but up to
// milliseconds when another process holds a core, since the team waits for its slowest
// thread. So a compute-bound loop is split only as far as every thread gets enough work to
// amortise that: threads_for(work, per_thread) is the calling thread's thread count (1 inside
// a parallel region), capped at work / per_thread, and at least 1. Work is counted in the
// loop's own unit; GEMM and convolution count multiply-adds against kMacsPerThread (a 64^3
// product: ~10 us on one core), so a tiny call runs on the calling thread alone.
inline constexpr double kMacsPerThread = 64.0 * 64.0 * 64.0;
int threads_for(double work, double per_thread);

// [Note: serial small loops]
// `#pragma omp parallel for if (cond)` with cond false still enters libgomp, which makes a team
// of one for the region and wakes it through a futex system call: 0.6 us per region on this
// 2-core machine under load, where a whole 64-element bias_add call costs about 0.9 us. So a
// loop that is often too small for a team runs through parallel_for, which leaves the OpenMP
// runtime out entirely unless `parallel` (the caller's work threshold) holds:
//   parallel_for(tasks, tasks > 1, [&](int64_t t) { ... });
template <typename F>
void parallel_for(int64_t n, bool parallel, const F& f) {
  if (!parallel || n <= 1) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) f(i);
}

}  // namespace dc

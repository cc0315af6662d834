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

namespace dc {

// Set the process-wide count (n >= 1; the caller validates).
void set_num_threads(int n);
// The count kernels use: the process-wide setting, else the calling thread's OpenMP default.
int num_threads();
// Apply the process-wide setting to the calling thread if it changed since the last call.
void apply_num_threads();

}  // namespace dc

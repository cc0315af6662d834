// Shared pieces of the element-wise, row and channel kernels of csrc/cuda/ (activation.cu,
// softmax.cu, norm.cu, optim.cu): the stream of the call, grid sizes, math in the element type,
// block sums, and the per-channel reduction pattern.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "check.cuh"
#include "core/device_dispatch.h"

namespace dc::cuda {

// [Note: CUDA stream of a call] in core/device_dispatch.h.
inline cudaStream_t call_stream() { return reinterpret_cast<cudaStream_t>(dc::cuda_call_stream()); }

constexpr int kThreads = 256;  // threads per block of the element-wise and row kernels

// Blocks for a grid-stride loop over n elements (capped: each thread then takes several).
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(b, 1), 65535 * 8));
}

// A grid dimension that must hold `n` blocks: CUDA allows 2^31 - 1 along x.
inline unsigned grid_x(int64_t n, const char* what) {
  if (n > 2147483647)
    throw std::runtime_error(std::string(what) + ": too many rows for one CUDA launch");
  return static_cast<unsigned>(std::max<int64_t>(n, 1));
}

// Grid-stride loop over [0, n): DC_GRID_LOOP(i, n) body;
#define DC_GRID_LOOP(i, n)                                                  \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); \
       i += int64_t(blockDim.x) * gridDim.x)

// Math in the element type (float: the single-precision functions).
__device__ __forceinline__ float m_exp(float x) { return expf(x); }
__device__ __forceinline__ double m_exp(double x) { return exp(x); }
__device__ __forceinline__ float m_expm1(float x) { return expm1f(x); }
__device__ __forceinline__ double m_expm1(double x) { return expm1(x); }
__device__ __forceinline__ float m_log(float x) { return logf(x); }
__device__ __forceinline__ double m_log(double x) { return log(x); }
__device__ __forceinline__ float m_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double m_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float m_erfc(float x) { return erfcf(x); }
__device__ __forceinline__ double m_erfc(double x) { return erfc(x); }
__device__ __forceinline__ float m_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double m_sqrt(double x) { return sqrt(x); }

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// Sum of v over a 1-D block (blockDim.x a multiple of 32, at most 1024), returned to every
// thread. Every thread of the block must call it (it has barriers); `red` is 32 doubles of
// shared memory, reusable once the call returns.
__device__ __forceinline__ double block_sum(double v, double* red) {
  v = warp_sum(v);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  if (lane == 0) red[warp] = v;
  __syncthreads();
  double s = 0;
  for (int w = 0; w < warps; ++w) s += red[w];  // the same order in every thread
  __syncthreads();
  return s;
}

// [Note: per-channel reductions on the GPU]
// A tensor viewed as (outer, C, inner) with one statistic per channel c (bias and PReLU weight
// gradients, batch norm, layer norm's weight gradients). One block owns whole channels, so the
// sums need no atomics and no workspace, are deterministic, and the kernel that computes a
// channel's statistics can go on to use them (batch norm normalises in the same launch):
//   inner > 1 (NCHW):      block (1, 256), one channel per block, threads along the
//                          channel's (outer, inner) elements, consecutive in each row (coalesced);
//   inner == 1 (rows, channels last): block (32, 8), 32 channels per block, threadIdx.x along
//                          the channels of a row (coalesced), threadIdx.y along the rows.
// Each thread walks e = threadIdx.y, + blockDim.y, ... over the channel's outer * inner
// elements; chan_sum then adds the 256 (or 8 per channel) partial sums in shared memory in a
// fixed order. The price of owning channels: a layer with few channels runs few blocks (64
// channels: 64 of an H100's 132 multiprocessors), which is correct but not tuned.
struct ChannelShape {
  int64_t outer, C, inner;
};

inline dim3 channel_block(const ChannelShape& s) {
  return s.inner > 1 ? dim3(1, kThreads) : dim3(32, kThreads / 32);
}
inline dim3 channel_grid(const ChannelShape& s, const char* what) {
  return dim3(grid_x(s.inner > 1 ? s.C : (s.C + 31) / 32, what));
}

// This thread's channel (may be >= C in the last block of the inner == 1 layout).
__device__ __forceinline__ int64_t chan_of_thread() {
  return blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
}

// Flat index of the e-th element of channel c.
__device__ __forceinline__ int64_t chan_elem(const ChannelShape& s, int64_t e, int64_t c) {
  return s.inner == 1 ? e * s.C + c : (e / s.inner) * s.C * s.inner + c * s.inner + e % s.inner;
}

// f(flat index) over this thread's share of channel c's elements (none when c >= C).
template <typename F>
__device__ __forceinline__ void chan_for_each(const ChannelShape& s, int64_t c, F&& f) {
  if (c >= s.C) return;
  const int64_t count = s.outer * s.inner;
  for (int64_t e = threadIdx.y; e < count; e += blockDim.y) f(chan_elem(s, e, c));
}

// Sum over channel c's elements of term(flat index), in double, returned to every thread of
// the channel. Every thread of the block must call it (barriers); `red` is kThreads doubles of
// shared memory.
template <typename F>
__device__ double chan_sum(const ChannelShape& s, int64_t c, double* red, F&& term) {
  double acc = 0;
  chan_for_each(s, c, [&](int64_t i) { acc += term(i); });
  const int t = threadIdx.y * blockDim.x + threadIdx.x;
  red[t] = acc;
  __syncthreads();
  for (int h = blockDim.y / 2; h > 0; h /= 2) {
    if (threadIdx.y < h) red[t] += red[t + h * blockDim.x];
    __syncthreads();
  }
  const double r = red[threadIdx.x];
  __syncthreads();  // red is reused by the next call
  return r;
}

}  // namespace dc::cuda

// The float and double CUDA slots of `stub` (a DC_DEVICE_STUB in namespace dc), filled with
// fn<float> and fn<double>: DC_REGISTER_CUDA_FLOATS(act_forward_device_stub, dc::cuda::f);
#define DC_REGISTER_CUDA_FLOATS(stub, fn)                                    \
  static const bool DC_DEVICE_CONCAT(dc_cuda_registered_floats_, __LINE__) = \
      (dc::stub<float>.cuda = &fn<float>, dc::stub<double>.cuda = &fn<double>, true)

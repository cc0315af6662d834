// Pooling on the GPU: the CUDA slots of the pooling stubs of csrc/pool.h, same contract (NCHW
// planes; max with dilation, NaN propagating and the plane-local index of the first maximum;
// average with or without the padding in the divisor; global average; adaptive windows as
// PyTorch's; input gradients assigned).
//
// [Note: CUDA pooling]
// Forward passes: one thread per output element, looping over its window. Backward of average
// pooling (fixed and adaptive windows): one thread per INPUT element, summing dy / divisor over
// the windows that contain it (a gather: each dx written once, no atomics, no zero fill, and the
// result does not depend on scheduling). Backward of max pooling: dx zero-filled on the stream,
// then one thread per output adds its dy at its recorded index with atomicAdd (overlapping
// windows may pick the same winner). An index outside its plane, which max_pool2d_forward never
// produces, is skipped: reporting it, as the CPU driver does, would need the device to be
// synchronised, so on CUDA max_pool2d_backward always returns true. Element indices are 64-bit.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "check.cuh"
#include "core/device_dispatch.h"
#include "pool.h"

namespace dc::cuda {

namespace {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n elements.
unsigned blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 65535 * 16 ? b : 65535 * 16);
}

cudaStream_t call_stream() { return reinterpret_cast<cudaStream_t>(dc::cuda_call_stream()); }

#define DC_GRID_STRIDE(i, n)                                                \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); \
       i += int64_t(blockDim.x) * gridDim.x)

template <typename T>
__device__ __forceinline__ bool is_nan(T v) {
  return v != v;
}

template <typename T>
__global__ void max_pool_fwd_kernel(const PoolShape s, const T* __restrict__ x, T* __restrict__ y,
                                    int32_t* __restrict__ idx) {
  const int64_t PQ = s.P * s.Q, total = s.N * s.C * PQ;
  DC_GRID_STRIDE(o, total) {
    const int64_t plane = o / PQ, pq = o % PQ, p = pq / s.Q, q = pq % s.Q;
    const T* xp = x + plane * s.H * s.W;
    T best = -INFINITY;
    int64_t bi = -1;
    for (int64_t r = 0; r < s.R; ++r) {
      const int64_t h = p * s.sh - s.ph + r * s.dh;
      if (h < 0 || h >= s.H) continue;
      for (int64_t t = 0; t < s.S; ++t) {
        const int64_t w = q * s.sw - s.pw + t * s.dw;
        if (w < 0 || w >= s.W) continue;
        const T v = xp[h * s.W + w];
        if (bi < 0 || v > best || (is_nan(v) && !is_nan(best))) {
          best = v;
          bi = h * s.W + w;
        }
      }
    }
    y[o] = best;
    if (idx) idx[o] = static_cast<int32_t>(bi);
  }
}

// dx must be zero; dx[plane, idx] += dy for every output (indices outside the plane skipped;
// with a mask, only where mask > 0).
template <typename T>
__global__ void max_pool_bwd_kernel(int64_t planes, int64_t HW, int64_t PQ,
                                    const T* __restrict__ dy, const int32_t* __restrict__ idx,
                                    const T* __restrict__ mask, T* __restrict__ dx) {
  DC_GRID_STRIDE(o, planes * PQ) {
    const int64_t k = idx[o];
    if (k >= 0 && k < HW && (!mask || mask[o] > T(0))) atomicAdd(dx + (o / PQ) * HW + k, dy[o]);
  }
}

// The number of window elements inside the input along one axis: [start, start + R) & [0, H).
__device__ __forceinline__ int64_t inside(int64_t start, int64_t R, int64_t H) {
  const int64_t lo = start > 0 ? start : 0, hi = start + R < H ? start + R : H;
  return hi > lo ? hi - lo : 0;
}

template <typename T>
__global__ void avg_pool_fwd_kernel(const PoolShape s, const T* __restrict__ x, T* __restrict__ y,
                                    bool inc_pad) {
  const int64_t PQ = s.P * s.Q, total = s.N * s.C * PQ;
  DC_GRID_STRIDE(o, total) {
    const int64_t plane = o / PQ, pq = o % PQ, p = pq / s.Q, q = pq % s.Q;
    const T* xp = x + plane * s.H * s.W;
    const int64_t h0 = p * s.sh - s.ph, w0 = q * s.sw - s.pw;
    T acc = T(0);
    for (int64_t h = h0 > 0 ? h0 : 0; h < h0 + s.R && h < s.H; ++h)
      for (int64_t w = w0 > 0 ? w0 : 0; w < w0 + s.S && w < s.W; ++w) acc += xp[h * s.W + w];
    const int64_t div = inc_pad ? s.R * s.S : inside(h0, s.R, s.H) * inside(w0, s.S, s.W);
    y[o] = div ? acc / T(div) : T(0);
  }
}

// dx[h, w] = sum over the windows (p, q) containing (h, w) of dy[p, q] / divisor(p, q).
template <typename T>
__global__ void avg_pool_bwd_kernel(const PoolShape s, const T* __restrict__ dy, T* __restrict__ dx,
                                    bool inc_pad) {
  const int64_t HW = s.H * s.W, total = s.N * s.C * HW;
  DC_GRID_STRIDE(i, total) {
    const int64_t plane = i / HW, hw = i % HW, h = hw / s.W, w = hw % s.W;
    const T* g = dy + plane * s.P * s.Q;
    // windows p with p*sh - ph <= h < p*sh - ph + R
    const int64_t hp = h + s.ph, wp = w + s.pw;
    const int64_t p_lo = hp >= s.R ? (hp - s.R) / s.sh + 1 : 0, p_hi = hp / s.sh;
    const int64_t q_lo = wp >= s.S ? (wp - s.S) / s.sw + 1 : 0, q_hi = wp / s.sw;
    T acc = T(0);
    for (int64_t p = p_lo; p <= p_hi && p < s.P; ++p)
      for (int64_t q = q_lo; q <= q_hi && q < s.Q; ++q) {
        const int64_t h0 = p * s.sh - s.ph, w0 = q * s.sw - s.pw;
        const int64_t div = inc_pad ? s.R * s.S : inside(h0, s.R, s.H) * inside(w0, s.S, s.W);
        if (div) acc += g[p * s.Q + q] / T(div);
      }
    dx[i] = acc;
  }
}

// One warp per plane: y[plane] = mean of its HW elements (double accumulation).
template <typename T>
__global__ void global_avg_fwd_kernel(int64_t planes, int64_t HW, const T* __restrict__ x,
                                      T* __restrict__ y) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t plane = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32; plane < planes;
       plane += warps) {
    const T* xp = x + plane * HW;
    double acc = 0.0;
    for (int64_t i = lane; i < HW; i += 32) acc += double(xp[i]);
#pragma unroll
    for (int off = 16; off > 0; off /= 2) acc += __shfl_down_sync(0xffffffffu, acc, off);
    if (lane == 0) y[plane] = static_cast<T>(acc / double(HW));
  }
}

template <typename T>
__global__ void global_avg_bwd_kernel(int64_t planes, int64_t HW, const T* __restrict__ dy,
                                      T* __restrict__ dx) {
  DC_GRID_STRIDE(i, planes * HW) { dx[i] = dy[i / HW] / T(HW); }
}

// PyTorch's adaptive windows: output p pools [floor(p*H/P), ceil((p+1)*H/P)).
__device__ __forceinline__ int64_t a_start(int64_t p, int64_t H, int64_t P) { return p * H / P; }
__device__ __forceinline__ int64_t a_end(int64_t p, int64_t H, int64_t P) {
  return ((p + 1) * H + P - 1) / P;
}

template <typename T>
__global__ void adaptive_avg_fwd_kernel(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                                        const T* __restrict__ x, T* __restrict__ y) {
  DC_GRID_STRIDE(o, planes * P * Q) {
    const int64_t plane = o / (P * Q), pq = o % (P * Q), p = pq / Q, q = pq % Q;
    const T* xp = x + plane * H * W;
    const int64_t h0 = a_start(p, H, P), h1 = a_end(p, H, P);
    const int64_t w0 = a_start(q, W, Q), w1 = a_end(q, W, Q);
    T acc = T(0);
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) acc += xp[h * W + w];
    y[o] = acc / T((h1 - h0) * (w1 - w0));
  }
}

// dx[h, w] = sum over the adaptive windows containing (h, w) of dy / window size; the windows
// containing row h are p in [floor(h*P/H), ceil((h+1)*P/H) - 1].
template <typename T>
__global__ void adaptive_avg_bwd_kernel(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                                        const T* __restrict__ dy, T* __restrict__ dx) {
  DC_GRID_STRIDE(i, planes * H * W) {
    const int64_t plane = i / (H * W), hw = i % (H * W), h = hw / W, w = hw % W;
    const T* g = dy + plane * P * Q;
    const int64_t p_lo = h * P / H, p_hi = ((h + 1) * P + H - 1) / H - 1;
    const int64_t q_lo = w * Q / W, q_hi = ((w + 1) * Q + W - 1) / W - 1;
    T acc = T(0);
    for (int64_t p = p_lo; p <= p_hi && p < P; ++p) {
      const int64_t hs = a_end(p, H, P) - a_start(p, H, P);
      for (int64_t q = q_lo; q <= q_hi && q < Q; ++q) {
        const int64_t ws = a_end(q, W, Q) - a_start(q, W, Q);
        acc += g[p * Q + q] / T(hs * ws);
      }
    }
    dx[i] = acc;
  }
}

template <typename T>
__global__ void adaptive_max_fwd_kernel(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                                        const T* __restrict__ x, T* __restrict__ y,
                                        int32_t* __restrict__ idx) {
  DC_GRID_STRIDE(o, planes * P * Q) {
    const int64_t plane = o / (P * Q), pq = o % (P * Q), p = pq / Q, q = pq % Q;
    const T* xp = x + plane * H * W;
    const int64_t h0 = a_start(p, H, P), h1 = a_end(p, H, P);
    const int64_t w0 = a_start(q, W, Q), w1 = a_end(q, W, Q);
    T best = xp[h0 * W + w0];
    int64_t at = h0 * W + w0;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) {
        const T v = xp[h * W + w];
        if (v > best || is_nan(v)) {
          best = v;
          at = h * W + w;
        }
      }
    y[o] = best;
    if (idx) idx[o] = static_cast<int32_t>(at);
  }
}

#undef DC_GRID_STRIDE

template <typename Kernel, typename... Args>
void launch(const char* name, int64_t work, Kernel kernel, Args... args) {
  if (work <= 0) return;
  kernel<<<blocks_for(work), kThreads, 0, call_stream()>>>(args...);
  DC_CUDA_CHECK_LAUNCH(name);
}

}  // namespace

template <typename T>
void max_pool2d_forward(const PoolShape& s, const T* x, T* y, int32_t* idx) {
  launch("max_pool_fwd_kernel", s.N * s.C * s.P * s.Q, max_pool_fwd_kernel<T>, s, x, y, idx);
}

template <typename T>
bool max_pool2d_backward(const PoolShape& s, const T* dy, const int32_t* idx, const T* mask, T* dx,
                         bool, int32_t*) {
  const int64_t planes = s.N * s.C, HW = s.H * s.W, PQ = s.P * s.Q;
  if (planes * HW == 0) return true;
  DC_CUDA_CHECK(cudaMemsetAsync(dx, 0, sizeof(T) * planes * HW, call_stream()));
  launch("max_pool_bwd_kernel", planes * PQ, max_pool_bwd_kernel<T>, planes, HW, PQ, dy, idx, mask,
         dx);
  return true;
}

template <typename T>
void avg_pool2d_forward(const PoolShape& s, const T* x, T* y, bool count_include_pad) {
  launch("avg_pool_fwd_kernel", s.N * s.C * s.P * s.Q, avg_pool_fwd_kernel<T>, s, x, y,
         count_include_pad);
}

template <typename T>
void avg_pool2d_backward(const PoolShape& s, const T* dy, T* dx, bool count_include_pad) {
  launch("avg_pool_bwd_kernel", s.N * s.C * s.H * s.W, avg_pool_bwd_kernel<T>, s, dy, dx,
         count_include_pad);
}

template <typename T>
void global_avg_pool_forward(int64_t planes, int64_t HW, const T* x, T* y) {
  if (HW == 0) return;  // the binding never passes empty planes with planes > 0
  launch("global_avg_fwd_kernel", planes * 32, global_avg_fwd_kernel<T>, planes, HW, x, y);
}

template <typename T>
void global_avg_pool_backward(int64_t planes, int64_t HW, const T* dy, T* dx) {
  launch("global_avg_bwd_kernel", planes * HW, global_avg_bwd_kernel<T>, planes, HW, dy, dx);
}

template <typename T>
void adaptive_avg_pool2d_forward(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                                 const T* x, T* y) {
  launch("adaptive_avg_fwd_kernel", planes * P * Q, adaptive_avg_fwd_kernel<T>, planes, H, W, P, Q,
         x, y);
}

template <typename T>
void adaptive_avg_pool2d_backward(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                                  const T* dy, T* dx) {
  launch("adaptive_avg_bwd_kernel", planes * H * W, adaptive_avg_bwd_kernel<T>, planes, H, W, P, Q,
         dy, dx);
}

template <typename T>
void adaptive_max_pool2d_forward(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                                 const T* x, T* y, int32_t* idx) {
  launch("adaptive_max_fwd_kernel", planes * P * Q, adaptive_max_fwd_kernel<T>, planes, H, W, P, Q,
         x, y, idx);
}

DC_POOL_INSTANTIATIONS(float)
DC_POOL_INSTANTIATIONS(double)

}  // namespace dc::cuda

DC_REGISTER_CUDA(dc::max_pool2d_forward_device_stub<float>, &dc::cuda::max_pool2d_forward<float>);
DC_REGISTER_CUDA(dc::max_pool2d_forward_device_stub<double>, &dc::cuda::max_pool2d_forward<double>);
DC_REGISTER_CUDA(dc::max_pool2d_backward_device_stub<float>, &dc::cuda::max_pool2d_backward<float>);
DC_REGISTER_CUDA(dc::max_pool2d_backward_device_stub<double>,
                 &dc::cuda::max_pool2d_backward<double>);
DC_REGISTER_CUDA(dc::avg_pool2d_forward_device_stub<float>, &dc::cuda::avg_pool2d_forward<float>);
DC_REGISTER_CUDA(dc::avg_pool2d_forward_device_stub<double>, &dc::cuda::avg_pool2d_forward<double>);
DC_REGISTER_CUDA(dc::avg_pool2d_backward_device_stub<float>, &dc::cuda::avg_pool2d_backward<float>);
DC_REGISTER_CUDA(dc::avg_pool2d_backward_device_stub<double>,
                 &dc::cuda::avg_pool2d_backward<double>);
DC_REGISTER_CUDA(dc::global_avg_pool_forward_device_stub<float>,
                 &dc::cuda::global_avg_pool_forward<float>);
DC_REGISTER_CUDA(dc::global_avg_pool_forward_device_stub<double>,
                 &dc::cuda::global_avg_pool_forward<double>);
DC_REGISTER_CUDA(dc::global_avg_pool_backward_device_stub<float>,
                 &dc::cuda::global_avg_pool_backward<float>);
DC_REGISTER_CUDA(dc::global_avg_pool_backward_device_stub<double>,
                 &dc::cuda::global_avg_pool_backward<double>);
DC_REGISTER_CUDA(dc::adaptive_avg_pool2d_forward_device_stub<float>,
                 &dc::cuda::adaptive_avg_pool2d_forward<float>);
DC_REGISTER_CUDA(dc::adaptive_avg_pool2d_forward_device_stub<double>,
                 &dc::cuda::adaptive_avg_pool2d_forward<double>);
DC_REGISTER_CUDA(dc::adaptive_avg_pool2d_backward_device_stub<float>,
                 &dc::cuda::adaptive_avg_pool2d_backward<float>);
DC_REGISTER_CUDA(dc::adaptive_avg_pool2d_backward_device_stub<double>,
                 &dc::cuda::adaptive_avg_pool2d_backward<double>);
DC_REGISTER_CUDA(dc::adaptive_max_pool2d_forward_device_stub<float>,
                 &dc::cuda::adaptive_max_pool2d_forward<float>);
DC_REGISTER_CUDA(dc::adaptive_max_pool2d_forward_device_stub<double>,
                 &dc::cuda::adaptive_max_pool2d_forward<double>);

// The CUDA slots of the softmax stubs of csrc/softmax.h: softmax / log-softmax forward and
// backward along any axis, and the fused softmax cross-entropy (class indices or
// probabilities), forward and backward; float and double, the contracts of the CPU drivers
// ([Note: stable softmax]: rows shifted by their maximum, the loss from (m - x[t]) + log s,
// backward from the saved per-row (m, log s)).
// Rows (inner == 1, and every cross-entropy row): one warp per row, lanes striding along it;
// the row's (max, sum of exp) is accumulated online in one pass (s rescaled when the max
// grows) and combined across lanes by shuffles, then a second pass writes. Other axes
// (inner > 1): one thread per (outer, inner) column walking L, neighbouring threads on
// neighbouring columns (coalesced). A class target outside [0, C) (the binding checks labels of
// host arrays only: reading device memory there would synchronise) gives a NaN loss and NaN
// gradients for its row, never a read out of bounds. Launches on the stream of the call
// ([Note: CUDA stream of a call]), each checked.
#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"
#include "softmax.h"

namespace dc::cuda {

namespace {

constexpr int kWarpsPerBlock = 8;

// Online (max, sum exp(x - max)) of one more value.
template <typename T>
__device__ __forceinline__ void online_add(T& m, T& s, T v) {
  if (v > m) {
    s = s * m_exp(m - v) + T(1);
    m = v;
  } else {
    s += m_exp(v - m);
  }
}

// Merge two (max, sum) pairs; an empty pair has m = -inf, s = 0.
template <typename T>
__device__ __forceinline__ void online_merge(T& m, T& s, T m2, T s2) {
  if (m2 > m) {
    s = s * m_exp(m - m2) + s2;
    m = m2;
  } else if (s2 > T(0)) {
    s += s2 * m_exp(m2 - m);
  }
}

template <typename T>
__device__ __forceinline__ void warp_max_sum(T& m, T& s) {
  for (int off = 16; off > 0; off /= 2) {
    const T m2 = __shfl_xor_sync(0xffffffffu, m, off);
    const T s2 = __shfl_xor_sync(0xffffffffu, s, off);
    online_merge(m, s, m2, s2);
  }
}

// The (max, sum exp(x - max)) of row x[0, L), the same value in every lane.
template <typename T>
__device__ void row_max_sum(const T* x, int64_t L, int lane, T& m, T& s) {
  m = -INFINITY;
  s = T(0);
  for (int64_t l = lane; l < L; l += 32) online_add(m, s, x[l]);
  warp_max_sum(m, s);
}

template <typename T>
__global__ void softmax_rows_kernel(const T* x, T* y, int64_t rows, int64_t L, bool log) {
  const int lane = threadIdx.x % 32;
  const int64_t r = blockIdx.x * int64_t(kWarpsPerBlock) + threadIdx.x / 32;
  if (r >= rows) return;
  const T* xr = x + r * L;
  T* yr = y + r * L;
  T m, s;
  row_max_sum(xr, L, lane, m, s);
  const T log_s = m_log(s), inv_s = T(1) / s;
  for (int64_t l = lane; l < L; l += 32)
    yr[l] = log ? (xr[l] - m) - log_s : m_exp(xr[l] - m) * inv_s;
}

template <typename T>
__global__ void softmax_cols_kernel(const T* x, T* y, int64_t outer, int64_t L, int64_t inner,
                                    bool log) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= outer * inner) return;
  const int64_t o = c / inner, j = c % inner;
  const T* xc = x + o * L * inner + j;
  T* yc = y + o * L * inner + j;
  T m = -INFINITY, s = T(0);
  for (int64_t l = 0; l < L; ++l) online_add(m, s, xc[l * inner]);
  const T log_s = m_log(s), inv_s = T(1) / s;
  for (int64_t l = 0; l < L; ++l)
    yc[l * inner] = log ? (xc[l * inner] - m) - log_s : m_exp(xc[l * inner] - m) * inv_s;
}

// softmax: gx = y * (gy - sum(gy * y)); log_softmax: gx = gy - exp(y) * sum(gy)
template <typename T>
__global__ void softmax_back_rows_kernel(const T* y, const T* gy, T* gx, int64_t rows, int64_t L,
                                         bool log) {
  const int lane = threadIdx.x % 32;
  const int64_t r = blockIdx.x * int64_t(kWarpsPerBlock) + threadIdx.x / 32;
  if (r >= rows) return;
  const T* yr = y + r * L;
  const T* gr = gy + r * L;
  T* out = gx + r * L;
  T d = T(0);
  for (int64_t l = lane; l < L; l += 32) d += log ? gr[l] : gr[l] * yr[l];
  d = warp_sum(d);
  for (int64_t l = lane; l < L; l += 32)
    out[l] = log ? gr[l] - m_exp(yr[l]) * d : yr[l] * (gr[l] - d);
}

template <typename T>
__global__ void softmax_back_cols_kernel(const T* y, const T* gy, T* gx, int64_t outer, int64_t L,
                                         int64_t inner, bool log) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= outer * inner) return;
  const int64_t base = (c / inner) * L * inner + c % inner;
  T d = T(0);
  for (int64_t l = 0; l < L; ++l) {
    const int64_t i = base + l * inner;
    d += log ? gy[i] : gy[i] * y[i];
  }
  for (int64_t l = 0; l < L; ++l) {
    const int64_t i = base + l * inner;
    gx[i] = log ? gy[i] - m_exp(y[i]) * d : y[i] * (gy[i] - d);
  }
}

unsigned row_blocks(int64_t rows) {
  return grid_x((rows + kWarpsPerBlock - 1) / kWarpsPerBlock, "softmax");
}
unsigned col_blocks(int64_t cols) { return grid_x((cols + 255) / 256, "softmax"); }

template <typename T>
void softmax_forward_cuda(const T* x, T* y, int64_t outer, int64_t L, int64_t inner, bool log) {
  if (outer * L * inner <= 0) return;
  if (inner == 1) {
    softmax_rows_kernel<T>
        <<<row_blocks(outer), 32 * kWarpsPerBlock, 0, call_stream()>>>(x, y, outer, L, log);
    DC_CUDA_CHECK_LAUNCH("softmax_rows_kernel");
  } else {
    softmax_cols_kernel<T>
        <<<col_blocks(outer * inner), 256, 0, call_stream()>>>(x, y, outer, L, inner, log);
    DC_CUDA_CHECK_LAUNCH("softmax_cols_kernel");
  }
}

template <typename T>
void softmax_backward_cuda(const T* y, const T* gy, T* gx, int64_t outer, int64_t L, int64_t inner,
                           bool log) {
  if (outer * L * inner <= 0) return;
  if (inner == 1) {
    softmax_back_rows_kernel<T>
        <<<row_blocks(outer), 32 * kWarpsPerBlock, 0, call_stream()>>>(y, gy, gx, outer, L, log);
    DC_CUDA_CHECK_LAUNCH("softmax_back_rows_kernel");
  } else {
    softmax_back_cols_kernel<T>
        <<<col_blocks(outer * inner), 256, 0, call_stream()>>>(y, gy, gx, outer, L, inner, log);
    DC_CUDA_CHECK_LAUNCH("softmax_back_cols_kernel");
  }
}

// loss_i = (m - x[t]) + log s, or sum_c tp_c * ((m - x_c) + log s); stats_i = (m, log s)
template <typename T>
__global__ void ce_forward_kernel(const T* x, const int64_t* target, const T* tp, T* loss, T* stats,
                                  int64_t N, int64_t C) {
  const int lane = threadIdx.x % 32;
  const int64_t r = blockIdx.x * int64_t(kWarpsPerBlock) + threadIdx.x / 32;
  if (r >= N) return;
  const T* xr = x + r * C;
  T m, s;
  row_max_sum(xr, C, lane, m, s);
  const T log_s = m_log(s);
  T l;
  if (target) {
    const int64_t t = target[r];
    l = t >= 0 && t < C ? (m - xr[t]) + log_s : T(NAN);
  } else {
    const T* tr = tp + r * C;
    T acc = T(0);
    for (int64_t c = lane; c < C; c += 32) acc += tr[c] * ((m - xr[c]) + log_s);
    l = warp_sum(acc);
  }
  if (lane == 0) {
    loss[r] = l;
    stats[2 * r] = m;
    stats[2 * r + 1] = log_s;
  }
}

// gx_ic = g_i * scale * (softmax_ic * sum_c tp_ic - tp_ic), softmax_ic = exp((x - m) - log s)
template <typename T>
__global__ void ce_backward_kernel(const T* x, const int64_t* target, const T* tp, const T* stats,
                                   const T* g, int64_t g_stride, T scale, T* gx, int64_t N,
                                   int64_t C) {
  const int lane = threadIdx.x % 32;
  const int64_t r = blockIdx.x * int64_t(kWarpsPerBlock) + threadIdx.x / 32;
  if (r >= N) return;
  const T* xr = x + r * C;
  T* out = gx + r * C;
  const T m = stats[2 * r], log_s = stats[2 * r + 1];
  const T k = g[r * g_stride] * scale;
  if (target) {
    const int64_t t = target[r];
    const T bad = t >= 0 && t < C ? T(0) : T(NAN);
    for (int64_t c = lane; c < C; c += 32)
      out[c] = k * (m_exp((xr[c] - m) - log_s) - (c == t ? T(1) : T(0))) + bad;
  } else {
    const T* tr = tp + r * C;
    T sum_tp = T(0);
    for (int64_t c = lane; c < C; c += 32) sum_tp += tr[c];
    sum_tp = warp_sum(sum_tp);
    for (int64_t c = lane; c < C; c += 32)
      out[c] = k * (m_exp((xr[c] - m) - log_s) * sum_tp - tr[c]);
  }
}

template <typename T>
void cross_entropy_forward_cuda(const T* x, const int64_t* target, const T* target_prob, T* loss,
                                T* stats, int64_t N, int64_t C) {
  if (N <= 0) return;
  ce_forward_kernel<T><<<row_blocks(N), 32 * kWarpsPerBlock, 0, call_stream()>>>(
      x, target, target_prob, loss, stats, N, C);
  DC_CUDA_CHECK_LAUNCH("ce_forward_kernel");
}

template <typename T>
void cross_entropy_backward_cuda(const T* x, const int64_t* target, const T* target_prob,
                                 const T* stats, const T* g, int64_t g_stride, T scale, T* gx,
                                 int64_t N, int64_t C) {
  if (N <= 0 || C <= 0) return;
  ce_backward_kernel<T><<<row_blocks(N), 32 * kWarpsPerBlock, 0, call_stream()>>>(
      x, target, target_prob, stats, g, g_stride, scale, gx, N, C);
  DC_CUDA_CHECK_LAUNCH("ce_backward_kernel");
}

}  // namespace

}  // namespace dc::cuda

DC_REGISTER_CUDA_FLOATS(softmax_forward_device_stub, dc::cuda::softmax_forward_cuda);
DC_REGISTER_CUDA_FLOATS(softmax_backward_device_stub, dc::cuda::softmax_backward_cuda);
DC_REGISTER_CUDA_FLOATS(cross_entropy_forward_device_stub, dc::cuda::cross_entropy_forward_cuda);
DC_REGISTER_CUDA_FLOATS(cross_entropy_backward_device_stub, dc::cuda::cross_entropy_backward_cuda);

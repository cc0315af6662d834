// The CUDA slots of the norm stubs of csrc/norm.h: layer norm and batch norm, forward and
// backward, training and inference, float and double, the contracts of the CPU drivers
// (csrc/norm.cpp): mean and rstd = 1/sqrt(var + eps) (biased variance) saved for backward;
// parameter gradients accumulated (+=), input gradients assigned.
//   - layer norm: one block per row; the statistics are the CPU kernel's corrected two-pass
//     ones (mean m0, then the sums of d = x - m0 and d^2, m = m0 + mean(d), var = mean(d^2) -
//     mean(d)^2), accumulated in double. The weight and bias gradients are column sums over
//     the rows: a second launch, one block per 32 columns ([Note: per-channel reductions on
//     the GPU] with outer = rows, C = columns, inner = 1);
//   - batch norm: one block per channel (or per 32 channels when channels are last) computes
//     the channel's statistics (two passes, in double), updates the running statistics, and
//     normalises, all in one launch; backward likewise sums gy and gy * xhat and writes gx in
//     one launch. Inference reads the running statistics and writes mean / rstd as the CPU does.
// Launches on the stream of the call ([Note: CUDA stream of a call]), each checked; no
// workspace, no atomics (deterministic), no synchronisation.
#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"
#include "norm.h"

namespace dc::cuda {

namespace {

// ---- layer norm: x, y (M, N); w, b (N,) or null; mean, rstd (M,) ----

template <typename T>
__global__ void layer_norm_forward_kernel(const T* x, const T* w, const T* b, T* y, T* mean,
                                          T* rstd, int64_t N, T eps) {
  __shared__ double red[32];
  const int64_t r = blockIdx.x;
  const T* xr = x + r * N;
  T* yr = y + r * N;
  double s = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) s += double(xr[i]);
  const T m0 = T(block_sum(s, red) / double(N));
  double sd = 0, sd2 = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
    const double d = double(xr[i] - m0);
    sd += d;
    sd2 += d * d;
  }
  sd = block_sum(sd, red);
  sd2 = block_sum(sd2, red);
  const double dm = sd / double(N);
  const T m = T(double(m0) + dm);
  const double v = fmax(sd2 / double(N) - dm * dm, 0.0);
  const T rs = T(1.0 / sqrt(v + double(eps)));
  if (threadIdx.x == 0) {
    mean[r] = m;
    rstd[r] = rs;
  }
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
    T v_ = (xr[i] - m) * rs;
    if (w) v_ *= w[i];
    if (b) v_ += b[i];
    yr[i] = v_;
  }
}

template <typename T>
void layer_norm_forward_cuda(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t M,
                             int64_t N, T eps) {
  if (M <= 0 || N <= 0) return;
  layer_norm_forward_kernel<T><<<grid_x(M, "layer_norm_forward"), kThreads, 0, call_stream()>>>(
      x, w, b, y, mean, rstd, N, eps);
  DC_CUDA_CHECK_LAUNCH("layer_norm_forward_kernel");
}

// gx = rstd * (dn - mean(dn) - xhat * mean(dn * xhat)), dn = gy * w
template <typename T>
__global__ void layer_norm_backward_kernel(const T* gy, const T* x, const T* w, const T* mean,
                                           const T* rstd, T* gx, int64_t N) {
  __shared__ double red[32];
  const int64_t r = blockIdx.x;
  const T* xr = x + r * N;
  const T* gr = gy + r * N;
  T* out = gx + r * N;
  const T m = mean[r], rs = rstd[r];
  double as = 0, cs = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
    const T dn = w ? gr[i] * w[i] : gr[i];
    as += double(dn);
    cs += double(dn) * double((xr[i] - m) * rs);
  }
  const T a = T(block_sum(as, red) / double(N)), c = T(block_sum(cs, red) / double(N));
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
    const T xh = (xr[i] - m) * rs;
    const T dn = w ? gr[i] * w[i] : gr[i];
    out[i] = (dn - a - xh * c) * rs;
  }
}

// gw[j] += sum_r gy[r, j] * xhat[r, j];  gb[j] += sum_r gy[r, j]  (either may be null)
template <typename T>
__global__ void layer_norm_param_grad_kernel(const T* gy, const T* x, const T* mean, const T* rstd,
                                             T* gw, T* gb, ChannelShape s) {
  __shared__ double red[kThreads];
  const int64_t j = chan_of_thread();
  if (gw) {
    const double sw = chan_sum(s, j, red, [&](int64_t i) {
      const int64_t r = i / s.C;
      return double(gy[i]) * double((x[i] - mean[r]) * rstd[r]);
    });
    if (j < s.C && threadIdx.y == 0) gw[j] += T(sw);
  }
  if (gb) {
    const double sb = chan_sum(s, j, red, [&](int64_t i) { return double(gy[i]); });
    if (j < s.C && threadIdx.y == 0) gb[j] += T(sb);
  }
}

template <typename T>
void layer_norm_backward_cuda(const T* gy, const T* x, const T* w, const T* mean, const T* rstd,
                              T* gx, T* gw, T* gb, int64_t M, int64_t N) {
  if (M <= 0 || N <= 0) return;
  const cudaStream_t stream = call_stream();
  layer_norm_backward_kernel<T>
      <<<grid_x(M, "layer_norm_backward"), kThreads, 0, stream>>>(gy, x, w, mean, rstd, gx, N);
  DC_CUDA_CHECK_LAUNCH("layer_norm_backward_kernel");
  if (!gw && !gb) return;
  const ChannelShape s{M, N, 1};
  layer_norm_param_grad_kernel<T>
      <<<channel_grid(s, "layer_norm_backward"), channel_block(s), 0, stream>>>(gy, x, mean, rstd,
                                                                                gw, gb, s);
  DC_CUDA_CHECK_LAUNCH("layer_norm_param_grad_kernel");
}

// ---- batch norm: x, y viewed as (outer, C, inner); statistics per channel ----

template <typename T>
__global__ void batch_norm_forward_kernel(const T* x, const T* w, const T* b, T* y, T* mean,
                                          T* rstd, T* running_mean, T* running_var, bool training,
                                          T momentum, T eps, bool unbiased_var, ChannelShape s) {
  __shared__ double red[kThreads];
  const int64_t c = chan_of_thread();
  const int64_t count = s.outer * s.inner;
  T mc, rs;
  if (training) {
    const double sum = chan_sum(s, c, red, [&](int64_t i) { return double(x[i]); });
    const double md = count ? sum / double(count) : 0.0;
    const double v = chan_sum(s, c, red, [&](int64_t i) {
      const double d = double(x[i]) - md;
      return d * d;
    });
    const double var = count ? v / double(count) : 0.0;
    mc = T(md);
    rs = T(1.0 / sqrt(var + double(eps)));
    if (c < s.C && threadIdx.y == 0) {
      mean[c] = mc;
      rstd[c] = rs;
      const double mo = double(momentum);
      if (running_mean) running_mean[c] = T((1.0 - mo) * double(running_mean[c]) + mo * md);
      if (running_var) {
        const double rv = unbiased_var && count > 1 ? var * double(count) / double(count - 1) : var;
        running_var[c] = T((1.0 - mo) * double(running_var[c]) + mo * rv);
      }
    }
  } else {
    if (c >= s.C) return;  // no barriers on this path
    mc = running_mean[c];
    rs = T(1.0 / sqrt(double(running_var[c]) + double(eps)));
    if (threadIdx.y == 0) {
      mean[c] = mc;
      rstd[c] = rs;
    }
  }
  if (c >= s.C) return;
  // y = x * scale + shift, scale = rstd * w, shift = b - mean * scale (as the CPU driver)
  const T scale = rs * (w ? w[c] : T(1));
  const T shift = (b ? b[c] : T(0)) - mc * scale;
  chan_for_each(s, c, [&](int64_t i) { y[i] = x[i] * scale + shift; });
}

template <typename T>
void batch_norm_forward_cuda(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd,
                             T* running_mean, T* running_var, bool training, T momentum, T eps,
                             bool unbiased_var, int64_t outer, int64_t C, int64_t inner) {
  const ChannelShape s{outer, C, inner};
  if (C <= 0) return;
  batch_norm_forward_kernel<T>
      <<<channel_grid(s, "batch_norm_forward"), channel_block(s), 0, call_stream()>>>(
          x, w, b, y, mean, rstd, running_mean, running_var, training, momentum, eps, unbiased_var,
          s);
  DC_CUDA_CHECK_LAUNCH("batch_norm_forward_kernel");
}

// gx = k * (gy - a - xhat * d), k = w * rstd, a = mean(gy), d = mean(gy * xhat) (training;
// inference: a = d = 0); gw += sum(gy * xhat), gb += sum(gy)
template <typename T>
__global__ void batch_norm_backward_kernel(const T* gy, const T* x, const T* w, const T* mean,
                                           const T* rstd, T* gx, T* gw, T* gb, bool training,
                                           ChannelShape s) {
  __shared__ double red[kThreads];
  const int64_t c = chan_of_thread();
  const int64_t count = s.outer * s.inner;
  const T mc = c < s.C ? mean[c] : T(0), rs = c < s.C ? rstd[c] : T(0);
  const double sg = chan_sum(s, c, red, [&](int64_t i) { return double(gy[i]); });
  const double sgx = chan_sum(s, c, red, [&](int64_t i) {
    return double(gy[i]) * (double(x[i]) - double(mc)) * double(rs);
  });
  if (c >= s.C) return;
  if (threadIdx.y == 0) {
    if (gw) gw[c] += T(sgx);
    if (gb) gb[c] += T(sg);
  }
  const T k = (w ? w[c] : T(1)) * rs;
  const T a = training && count ? T(sg / double(count)) : T(0);
  const T d = training && count ? T(sgx / double(count)) : T(0);
  chan_for_each(s, c, [&](int64_t i) { gx[i] = k * (gy[i] - a - (x[i] - mc) * rs * d); });
}

template <typename T>
void batch_norm_backward_cuda(const T* gy, const T* x, const T* w, const T* mean, const T* rstd,
                              T* gx, T* gw, T* gb, bool training, int64_t outer, int64_t C,
                              int64_t inner) {
  const ChannelShape s{outer, C, inner};
  if (C <= 0) return;
  batch_norm_backward_kernel<T>
      <<<channel_grid(s, "batch_norm_backward"), channel_block(s), 0, call_stream()>>>(
          gy, x, w, mean, rstd, gx, gw, gb, training, s);
  DC_CUDA_CHECK_LAUNCH("batch_norm_backward_kernel");
}

}  // namespace

}  // namespace dc::cuda

DC_REGISTER_CUDA_FLOATS(layer_norm_forward_device_stub, dc::cuda::layer_norm_forward_cuda);
DC_REGISTER_CUDA_FLOATS(layer_norm_backward_device_stub, dc::cuda::layer_norm_backward_cuda);
DC_REGISTER_CUDA_FLOATS(batch_norm_forward_device_stub, dc::cuda::batch_norm_forward_cuda);
DC_REGISTER_CUDA_FLOATS(batch_norm_backward_device_stub, dc::cuda::batch_norm_backward_cuda);

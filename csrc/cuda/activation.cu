// The CUDA slots of the stubs of csrc/activation.h, float and double, the contracts of the CPU
// drivers (csrc/activation.cpp):
//   - act_forward / act_backward for every kind of [Note: the activation list], each formula
//     written as csrc/cpu/activation_kernels.cpp writes it (the stable forms: softplus as
//     max(z, 0) + log1p(exp(-|z|)), gelu_tanh as x * sigmoid(2u), sigmoid's derivative from
//     exp(-|z|)); the kind is a uniform run-time switch in a grid-stride loop (these kernels are
//     bound by memory, not by the branch). The swish beta gradient (want_dp0) would return a
//     sum to a host scalar, a device synchronisation per call: that case has no CUDA kernel
//     (NotImplementedError), and F.swish with a learnable beta sums on the device instead;
//   - PReLU and bias add forward (element-wise) and their parameter gradients, per-channel sums
//     as in [Note: per-channel reductions on the GPU] (cuda/common.cuh): deterministic, no
//     atomics, accumulated (+=) into the caller's zeroed array as the CPU drivers do;
//   - dropout forward / backward with the counter-based RNG of core/counter_rng.h ([Note:
//     dropout RNG]): element i keeps iff counter_bits(seed, i) >= threshold, the same function
//     as the CPU kernels, so a seed gives the same mask on either device.
// Launches go on the stream of the call ([Note: CUDA stream of a call]) and are checked ([Note:
// every launch is checked]); nothing here allocates or synchronises.
#include <cuda_runtime.h>

#include <cstdint>

#include "activation.h"
#include "common.cuh"
#include "core/counter_rng.h"

namespace dc::cuda {

namespace {

// sigmoid(z) and its derivative s(1 - s), both from e = exp(-|z|): no overflow, and the
// derivative keeps its relative accuracy where s is within rounding of 1.
template <typename T>
__device__ __forceinline__ void sigmoid_d(T z, T& s, T& ds) {
  const T e = m_exp(-fabs(z)), d = T(1) / (T(1) + e);
  s = z >= T(0) ? d : e * d;
  ds = e * d * d;
}

template <typename T>
__device__ __forceinline__ T sigmoid(T z) {
  T s, ds;
  sigmoid_d(z, s, ds);
  return s;
}

constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2/pi)
constexpr double kInvSqrt2 = 0.70710678118654752440;     // 1/sqrt(2)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;   // 1/sqrt(2 pi)
constexpr double kGeluTanhC = 0.044715;

// The switches below have a case per kind of [Note: the activation list]; a kind added there
// stops the CUDA build here until its two formulas are written.
static_assert(static_cast<int>(Act::count) == 12,
              "a new activation kind needs its formulas in act_value and act_grad below");

// y = f(x). p0, p1: the kind's parameters (activation.h).
template <typename T>
__device__ T act_value(Act k, T x, T p0, T p1) {
  switch (k) {
    case Act::sigmoid:
      return sigmoid(x);
    case Act::tanh:
      return tanh(x);
    case Act::relu:
      return x < T(0) ? T(0) : x;  // NaN stays NaN
    case Act::leaky_relu:
      return x > T(0) ? x : p0 * x;
    case Act::elu:
      return x > T(0) ? x : p0 * m_expm1(fmin(x, T(0)));
    case Act::softplus: {
      const T z = p0 * x;
      return z > p1 ? x : (fmax(z, T(0)) + m_log1p(m_exp(-fabs(z)))) / p0;
    }
    case Act::swish:
      return x * sigmoid(p0 * x);
    case Act::gelu:
      return x * T(0.5) * m_erfc(-x * T(kInvSqrt2));
    case Act::gelu_tanh: {
      const T u = T(kSqrt2OverPi) * (x + T(kGeluTanhC) * x * x * x);
      return x * sigmoid(u + u);
    }
    case Act::hard_sigmoid:
      return fmin(fmax(p0 * x + p1, T(0)), T(1));
    case Act::selu:
      return p1 * (x > T(0) ? x : p0 * m_expm1(fmin(x, T(0))));
    case Act::hard_swish:
      return x * fmin(fmax(x + T(3), T(0)), T(6)) * T(1.0 / 6.0);
    default:
      return T(NAN);
  }
}

// gy * dy/dx. `in` is y for the kinds that read their output (act_reads_output), else x
// ([Note: what backward reads]).
template <typename T>
__device__ T act_grad(Act k, T in, T gy, T p0, T p1) {
  switch (k) {
    case Act::sigmoid:
      return gy * in * (T(1) - in);
    case Act::tanh:
      return gy * (T(1) - in * in);
    case Act::relu:
      return in > T(0) ? gy : T(0);
    case Act::leaky_relu:
      return in > T(0) ? gy : p0 * gy;
    case Act::elu:
      return in > T(0) ? gy : gy * p0 * m_exp(fmin(in, T(0)));
    case Act::softplus: {
      const T z = p0 * in;
      return z > p1 ? gy : gy * sigmoid(z);
    }
    case Act::swish: {
      T s, ds;
      sigmoid_d(p0 * in, s, ds);
      return gy * (s + p0 * in * ds);
    }
    case Act::gelu: {
      const T cdf = T(0.5) * m_erfc(-in * T(kInvSqrt2));
      const T pdf = T(kInvSqrt2Pi) * m_exp(T(-0.5) * in * in);
      return gy * (cdf + in * pdf);
    }
    case Act::gelu_tanh: {
      // d/dx x*sigmoid(2u) = s + x * 2 s(1-s) * du/dx
      const T x2 = in * in;
      const T u = T(kSqrt2OverPi) * (in + T(kGeluTanhC) * x2 * in);
      const T du = T(2.0 * kSqrt2OverPi) * (T(1) + T(3.0 * kGeluTanhC) * x2);
      T s, ds;
      sigmoid_d(u + u, s, ds);
      return gy * (s + in * ds * du);
    }
    case Act::hard_sigmoid: {
      const T z = p0 * in + p1;
      return z > T(0) && z < T(1) ? gy * p0 : T(0);
    }
    case Act::selu:
      return gy * p1 * (in > T(0) ? T(1) : p0 * m_exp(fmin(in, T(0))));
    case Act::hard_swish:
      // 0 below -3, 1 above 3, (2x + 3) / 6 between, both ends included (as the CPU kernel)
      return in < T(-3) ? T(0) : (in > T(3) ? gy : gy * (in * T(1.0 / 3.0) + T(0.5)));
    default:
      return T(NAN);
  }
}

template <typename T>
__global__ void act_forward_kernel(Act k, const T* x, T* y, int64_t n, T p0, T p1) {
  DC_GRID_LOOP(i, n) y[i] = act_value(k, x[i], p0, p1);  // y may be x (read first)
}

template <typename T>
__global__ void act_backward_kernel(Act k, const T* in, const T* gy, T* gx, int64_t n, T p0, T p1) {
  DC_GRID_LOOP(i, n) gx[i] = act_grad(k, in[i], gy[i], p0, p1);  // gx may be gy or in
}

template <typename T>
void act_forward_cuda(Act kind, const T* x, T* y, int64_t n, T p0, T p1) {
  if (n <= 0) return;
  act_forward_kernel<T><<<blocks_for(n), kThreads, 0, call_stream()>>>(kind, x, y, n, p0, p1);
  DC_CUDA_CHECK_LAUNCH("act_forward_kernel");
}

template <typename T>
void act_backward_cuda(Act kind, const T* x, const T* y, const T* gy, T* gx, int64_t n, T p0, T p1,
                       T* dp0) {
  if (dp0)  // a host scalar: see the top of this file
    throw NoKernelError(
        "no CUDA kernel for activation_backward with want_dp0 (the swish beta gradient)");
  if (n <= 0) return;
  const T* in = act_reads_output(kind) ? y : x;
  act_backward_kernel<T>
      <<<blocks_for(n), kThreads, 0, call_stream()>>>(kind, in, gy, gx, n, p0, p1);
  DC_CUDA_CHECK_LAUNCH("act_backward_kernel");
}

// ---- per-channel ops: x viewed as (outer, C, inner) ----

template <typename T>
__global__ void prelu_forward_kernel(const T* x, const T* __restrict__ a, T* y, int64_t n,
                                     int64_t C, int64_t inner) {
  DC_GRID_LOOP(i, n) {
    const T v = x[i];
    y[i] = v > T(0) ? v : a[(i / inner) % C] * v;
  }
}

template <typename T>
void prelu_forward_cuda(const T* x, const T* a, T* y, int64_t outer, int64_t C, int64_t inner) {
  const int64_t n = outer * C * inner;
  if (n <= 0) return;
  prelu_forward_kernel<T><<<blocks_for(n), kThreads, 0, call_stream()>>>(x, a, y, n, C, inner);
  DC_CUDA_CHECK_LAUNCH("prelu_forward_kernel");
}

// gx = gy * (x > 0 ? 1 : a[c]); ga[c] += sum of gy * min(x, 0) over the channel. The sum's
// term also writes gx, so the channel is read once.
template <typename T>
__global__ void prelu_backward_kernel(const T* x, const T* __restrict__ a, const T* gy, T* gx,
                                      T* ga, ChannelShape s) {
  __shared__ double red[kThreads];
  const int64_t c = chan_of_thread();
  const T ac = c < s.C ? a[c] : T(0);
  const double sum = chan_sum(s, c, red, [&](int64_t i) {
    const T v = x[i], g = gy[i];
    gx[i] = v > T(0) ? g : ac * g;
    return v > T(0) ? 0.0 : double(g) * double(v);
  });
  if (c < s.C && threadIdx.y == 0) ga[c] += T(sum);
}

template <typename T>
void prelu_backward_cuda(const T* x, const T* a, const T* gy, T* gx, T* ga, int64_t outer,
                         int64_t C, int64_t inner) {
  const ChannelShape s{outer, C, inner};
  if (C <= 0) return;
  prelu_backward_kernel<T>
      <<<channel_grid(s, "prelu_backward"), channel_block(s), 0, call_stream()>>>(x, a, gy, gx, ga,
                                                                                  s);
  DC_CUDA_CHECK_LAUNCH("prelu_backward_kernel");
}

template <typename T>
__global__ void bias_add_kernel(const T* x, const T* __restrict__ b, T* y, int64_t n, int64_t C,
                                int64_t inner) {
  DC_GRID_LOOP(i, n) y[i] = x[i] + b[(i / inner) % C];  // y may be x
}

template <typename T>
void bias_add_forward_cuda(const T* x, const T* b, T* y, int64_t outer, int64_t C, int64_t inner) {
  const int64_t n = outer * C * inner;
  if (n <= 0) return;
  bias_add_kernel<T><<<blocks_for(n), kThreads, 0, call_stream()>>>(x, b, y, n, C, inner);
  DC_CUDA_CHECK_LAUNCH("bias_add_kernel");
}

// gb[c] += sum over (outer, inner) of gy[o, c, i]
template <typename T>
__global__ void bias_grad_kernel(const T* gy, T* gb, ChannelShape s) {
  __shared__ double red[kThreads];
  const int64_t c = chan_of_thread();
  const double sum = chan_sum(s, c, red, [&](int64_t i) { return double(gy[i]); });
  if (c < s.C && threadIdx.y == 0) gb[c] += T(sum);
}

template <typename T>
void bias_add_backward_cuda(const T* gy, T* gb, int64_t outer, int64_t C, int64_t inner) {
  const ChannelShape s{outer, C, inner};
  if (C <= 0) return;
  bias_grad_kernel<T>
      <<<channel_grid(s, "bias_grad"), channel_block(s), 0, call_stream()>>>(gy, gb, s);
  DC_CUDA_CHECK_LAUNCH("bias_grad_kernel");
}

// ---- dropout ([Note: dropout RNG]) ----

template <typename T>
__global__ void dropout_forward_kernel(const T* x, T* y, uint8_t* mask, int64_t n, uint64_t seed,
                                       uint32_t threshold, T scale) {
  DC_GRID_LOOP(i, n) {
    const bool keep = counter_bits(seed, static_cast<uint64_t>(i)) >= threshold;
    mask[i] = keep;
    y[i] = keep ? x[i] * scale : T(0);
  }
}

template <typename T>
void dropout_forward_cuda(const T* x, T* y, uint8_t* mask, int64_t n, uint64_t seed,
                          uint32_t threshold, T scale) {
  if (n <= 0) return;
  dropout_forward_kernel<T>
      <<<blocks_for(n), kThreads, 0, call_stream()>>>(x, y, mask, n, seed, threshold, scale);
  DC_CUDA_CHECK_LAUNCH("dropout_forward_kernel");
}

template <typename T>
__global__ void dropout_backward_kernel(const T* gy, const uint8_t* mask, T* gx, int64_t n,
                                        T scale) {
  DC_GRID_LOOP(i, n) gx[i] = mask[i] ? gy[i] * scale : T(0);
}

template <typename T>
void dropout_backward_cuda(const T* gy, const uint8_t* mask, T* gx, int64_t n, T scale) {
  if (n <= 0) return;
  dropout_backward_kernel<T><<<blocks_for(n), kThreads, 0, call_stream()>>>(gy, mask, gx, n, scale);
  DC_CUDA_CHECK_LAUNCH("dropout_backward_kernel");
}

}  // namespace

}  // namespace dc::cuda

DC_REGISTER_CUDA_FLOATS(act_forward_device_stub, dc::cuda::act_forward_cuda);
DC_REGISTER_CUDA_FLOATS(act_backward_device_stub, dc::cuda::act_backward_cuda);
DC_REGISTER_CUDA_FLOATS(prelu_forward_device_stub, dc::cuda::prelu_forward_cuda);
DC_REGISTER_CUDA_FLOATS(prelu_backward_device_stub, dc::cuda::prelu_backward_cuda);
DC_REGISTER_CUDA_FLOATS(bias_add_forward_device_stub, dc::cuda::bias_add_forward_cuda);
DC_REGISTER_CUDA_FLOATS(bias_add_backward_device_stub, dc::cuda::bias_add_backward_cuda);
DC_REGISTER_CUDA_FLOATS(dropout_forward_device_stub, dc::cuda::dropout_forward_cuda);
DC_REGISTER_CUDA_FLOATS(dropout_backward_device_stub, dc::cuda::dropout_backward_cuda);

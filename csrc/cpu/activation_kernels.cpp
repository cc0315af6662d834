// Activation forward/backward inner loops, one ISA copy (see [Note: one source, three ISAs]).
// Single-threaded over a contiguous chunk; csrc/activation.cpp splits the work across threads.
// Each formula is written once over V (see [Note: one formula, every width]).
#include <algorithm>

#include "activation.h"
#include "core/counter_rng.h"
#include "cpu/activation_math.h"

namespace dc {
namespace DC_ISA_NS {
namespace {

constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2/pi)
constexpr double kGeluTanhC = 0.044715;

// y = f(x). p0, p1: the kind's parameters (activation.h).
template <Act K, typename V>
inline V act_fwd(V x, V p0, V p1) {
  const V zero = bc<V>(0.0), one = bc<V>(1.0);
  if constexpr (K == Act::sigmoid) {
    return vsigmoid(x);
  } else if constexpr (K == Act::tanh) {
    return vtanh(x);
  } else if constexpr (K == Act::relu) {
    return x < zero ? zero : x;  // NaN stays NaN
  } else if constexpr (K == Act::leaky_relu) {
    return x > zero ? x : p0 * x;
  } else if constexpr (K == Act::elu) {
    return x > zero ? x : p0 * vexpm1_neg(vmin(x, zero));
  } else if constexpr (K == Act::softplus) {
    // log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)): never overflows; linear past threshold.
    const V z = p0 * x;
    const V sp = (vmax(z, zero) + vlog1p(vexp(-vabs(z)))) / p0;
    return z > p1 ? x : sp;
  } else if constexpr (K == Act::swish) {
    return x * vsigmoid(p0 * x);
  } else if constexpr (K == Act::gelu) {
    V cdf, pdf;  // see [Note: normal CDF]
    vnormal_cdf_pdf(x, cdf, pdf);
    return x * cdf;
  } else if constexpr (K == Act::gelu_tanh) {
    // 0.5 x (1 + tanh(u)) = x * sigmoid(2u): no cancellation of 1 + tanh(u) for x << 0
    const V u = bc<V>(kSqrt2OverPi) * (x + bc<V>(kGeluTanhC) * x * x * x);
    return x * vsigmoid(u + u);
  } else if constexpr (K == Act::hard_sigmoid) {
    return vmin(vmax(p0 * x + p1, zero), one);
  } else if constexpr (K == Act::selu) {
    return p1 * (x > zero ? x : p0 * vexpm1_neg(vmin(x, zero)));
  } else if constexpr (K == Act::hard_swish) {
    return x * vmin(vmax(x + bc<V>(3.0), zero), bc<V>(6.0)) * bc<V>(1.0 / 6.0);
  } else {
    static_assert(K == Act::sigmoid, "unhandled activation kind");
  }
}

// dy/dx * gy. `in` is y for the kinds that read their output (act_reads_output), else x.
template <Act K, typename V>
inline V act_bwd(V in, V gy, V p0, V p1) {
  const V zero = bc<V>(0.0), one = bc<V>(1.0);
  if constexpr (K == Act::sigmoid) {
    return gy * in * (one - in);
  } else if constexpr (K == Act::tanh) {
    return gy * (one - in * in);
  } else if constexpr (K == Act::relu) {
    return in > zero ? gy : zero;
  } else if constexpr (K == Act::leaky_relu) {
    return in > zero ? gy : p0 * gy;
  } else if constexpr (K == Act::elu) {
    return in > zero ? gy : gy * p0 * vexp(vmin(in, zero));
  } else if constexpr (K == Act::softplus) {
    const V z = p0 * in;
    return z > p1 ? gy : gy * vsigmoid(z);
  } else if constexpr (K == Act::swish) {
    V s, ds;
    vsigmoid_d(p0 * in, s, ds);
    return gy * (s + p0 * in * ds);
  } else if constexpr (K == Act::gelu) {
    V cdf, pdf;
    vnormal_cdf_pdf(in, cdf, pdf);
    return gy * (cdf + in * pdf);
  } else if constexpr (K == Act::gelu_tanh) {
    // d/dx x*sigmoid(2u) = s + x * 2 s(1-s) * du/dx, with s(1-s) from vsigmoid_d (stable)
    const V x2 = in * in;
    const V u = bc<V>(kSqrt2OverPi) * (in + bc<V>(kGeluTanhC) * x2 * in);
    const V du = bc<V>(2.0 * kSqrt2OverPi) * (one + bc<V>(3.0 * kGeluTanhC) * x2);
    V s, ds;
    vsigmoid_d(u + u, s, ds);
    return gy * (s + in * ds * du);
  } else if constexpr (K == Act::hard_sigmoid) {
    const V z = p0 * in + p1;
    return z > zero ? (z < one ? gy * p0 : zero) : zero;
  } else if constexpr (K == Act::selu) {
    return gy * p1 * (in > zero ? one : p0 * vexp(vmin(in, zero)));
  } else if constexpr (K == Act::hard_swish) {
    // 0 below -3, 1 above 3, (2x + 3) / 6 between, both ends included (PyTorch's choice at the
    // kinks: -0.5 at x = -3, 1.5 at x = 3)
    const V mid = gy * (in * bc<V>(1.0 / 3.0) + bc<V>(0.5));
    return in < bc<V>(-3.0) ? zero : (in > bc<V>(3.0) ? gy : mid);
  } else {
    static_assert(K == Act::sigmoid, "unhandled activation kind");
  }
}

template <Act K, typename T>
void fwd_loop(const T* x, T* y, int64_t n, T p0, T p1) {
  using V = typename Lanes<T>::V;
  const V v0 = bc<V>(p0), v1 = bc<V>(p1);
  for_each_vec<Lanes<T>::W>(
      n, [&](int64_t i, int c) { storen(y + i, act_fwd<K>(loadn(x + i, c), v0, v1), c); });
}

template <Act K, typename T>
double bwd_loop(const T* x, const T* y, const T* gy, T* gx, int64_t n, T p0, T p1, bool want_dp0) {
  using V = typename Lanes<T>::V;
  const V v0 = bc<V>(p0), v1 = bc<V>(p1);
  const T* in = act_reads_output(K) ? y : x;
  V dp = bc<V>(0.0);
  for_each_vec<Lanes<T>::W>(n, [&](int64_t i, int c) {
    const V xi = loadn(in + i, c), gi = loadn(gy + i, c);
    storen(gx + i, act_bwd<K>(xi, gi, v0, v1), c);
    if constexpr (K == Act::swish) {
      if (want_dp0) {  // d(x*sigmoid(b*x))/db = x^2 * s * (1 - s); zero-filled tail lanes add 0
        V s, ds;
        vsigmoid_d(v0 * xi, s, ds);
        dp += gi * xi * xi * ds;
      }
    }
  });
  return static_cast<double>(hsum(dp));
}

template <typename T>
void act_forward_kernel(Act kind, const T* x, T* y, int64_t n, T p0, T p1) {
  switch (kind) {
#define DC_CASE(k, reads_output) \
  case Act::k:                   \
    return fwd_loop<Act::k, T>(x, y, n, p0, p1);
    DC_ACTIVATIONS(DC_CASE)
#undef DC_CASE
    default:
      return;
  }
}

template <typename T>
double act_backward_kernel(Act kind, const T* x, const T* y, const T* gy, T* gx, int64_t n, T p0,
                           T p1, bool want_dp0) {
  switch (kind) {
#define DC_CASE(k, reads_output) \
  case Act::k:                   \
    return bwd_loop<Act::k, T>(x, y, gy, gx, n, p0, p1, want_dp0);
    DC_ACTIVATIONS(DC_CASE)
#undef DC_CASE
    default:
      return 0.0;
  }
}

// See [Note: dropout RNG] in core/counter_rng.h.
template <typename T>
void dropout_kernel(const T* x, T* y, uint8_t* mask, int64_t n, int64_t first, uint64_t seed,
                    uint32_t threshold, T scale) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const bool keep = counter_bits(seed, static_cast<uint64_t>(first + i)) >= threshold;
    mask[i] = keep;
    y[i] = keep ? x[i] * scale : T(0);
  }
}

// sum of x[0, n): four vector accumulators of float lanes (independent add chains), folded
// into double every kLaneTerms vectors of each ([Note: blocked sums]).
double sum_kernel_f32(const float* x, int64_t n) {
  constexpr int W = Lanes<float>::W;
  double total = 0;
  for (int64_t b0 = 0; b0 < n; b0 += 4 * W * kLaneTerms) {
    const int64_t b1 = std::min<int64_t>(n, b0 + 4 * W * kLaneTerms);
    vf a0 = vf{}, a1 = vf{}, a2 = vf{}, a3 = vf{};
    int64_t i = b0;
    for (; i + 4 * W <= b1; i += 4 * W) {
      a0 += load(x + i);
      a1 += load(x + i + W);
      a2 += load(x + i + 2 * W);
      a3 += load(x + i + 3 * W);
    }
    for (; i + W <= b1; i += W) a0 += load(x + i);
    if (i < b1) a1 += loadn(x + i, static_cast<int>(b1 - i));
    const vf a = (a0 + a1) + (a2 + a3);
    double part = 0;
    for (int j = 0; j < W; ++j) part += a[j];
    total += part;
  }
  return total;
}
double sum_kernel_f64(const double* x, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += x[i + k];
  for (; i < n; ++i) acc[0] += x[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

}  // namespace

DC_REGISTER_DISPATCH_T(sum_stub, float, &sum_kernel_f32);
DC_REGISTER_DISPATCH_T(sum_stub, double, &sum_kernel_f64);
DC_REGISTER_DISPATCH_T(dropout_stub, float, &dropout_kernel<float>);
DC_REGISTER_DISPATCH_T(dropout_stub, double, &dropout_kernel<double>);
DC_REGISTER_DISPATCH_T(act_forward_stub, float, &act_forward_kernel<float>);
DC_REGISTER_DISPATCH_T(act_forward_stub, double, &act_forward_kernel<double>);
DC_REGISTER_DISPATCH_T(act_backward_stub, float, &act_backward_kernel<float>);
DC_REGISTER_DISPATCH_T(act_backward_stub, double, &act_backward_kernel<double>);

}  // namespace DC_ISA_NS
}  // namespace dc

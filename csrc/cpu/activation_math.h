// Vector math for the element-wise and row-wise kernels in csrc/cpu/ (activations, softmax,
// norms). Included only from csrc/cpu/*.cpp, so it is compiled once per ISA and everything
// lives in namespace dc::DC_ISA_NS (see [Note: one source, three ISAs] in core/dispatch.h).
//
// [Note: one formula, every width]
// Each formula is written once as a template over V, the "value" type:
//   - V = vf, a GCC vector of float as wide as the ISA (4 lanes SSE2, 8 AVX2, 16 AVX-512),
//     with our own polynomial exp/log/tanh (Cephes-style, ~1-3 ulp in float32) and normal CDF
//     (see [Note: normal CDF]), so the float32 path is SIMD on every ISA without relying on
//     libmvec or -ffast-math;
//   - V = double, one lane, with the <cmath> functions: the float64 path exists for gradient
//     checks and float64 models, where exactness matters more than speed.
// GCC lowers the vector types to SSE/AVX2/AVX-512 instructions according to the flags of the
// ISA copy; comparisons give lane masks and `m ? a : b` is a blend, so the same source reads as
// scalar code.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "core/dispatch.h"  // DC_ISA_NS

#ifndef DC_ISA_LEVEL
#error "activation_math.h is for csrc/cpu/ files only"
#endif

namespace dc {
namespace DC_ISA_NS {

typedef float vf __attribute__((vector_size(kVecBytes)));
typedef int32_t vi __attribute__((vector_size(kVecBytes)));

// Lanes of the value type used for element type T (float: a full vector; double: a scalar).
template <typename T>
struct Lanes;
template <>
struct Lanes<float> {
  using V = vf;
  static constexpr int W = kVecBytes / 4;
};
template <>
struct Lanes<double> {
  using V = double;
  static constexpr int W = 1;
};

// ---------------------------------------------------------------- broadcast, load, store
template <typename V>
inline V bc(double s);
template <>
inline vf bc<vf>(double s) {
  return vf{} + static_cast<float>(s);
}
template <>
inline double bc<double>(double s) {
  return s;
}

// Load n <= W elements (the rest of the lanes are zero), store the first n lanes.
inline vf loadn(const float* p, int n) {
  vf v = vf{};
  std::memcpy(&v, p, sizeof(float) * n);
  return v;
}
inline vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
// n <= W elements, the other lanes set to `fill` (e.g. -inf for a max).
inline vf loadn_fill(const float* p, int n, float fill) {
  vf v = vf{} + fill;
  std::memcpy(&v, p, sizeof(float) * n);
  return v;
}
inline void storen(float* p, vf v, int n) { std::memcpy(p, &v, sizeof(float) * n); }
inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
inline double loadn(const double* p, int) { return *p; }
inline double load(const double* p) { return *p; }
inline double loadn_fill(const double* p, int, double) { return *p; }
inline void storen(double* p, double v, int) { *p = v; }
inline void store(double* p, double v) { *p = v; }

// Horizontal reductions of the first n lanes (n = W for a full vector). A full vector is
// folded in halves (16 -> 8 -> 4 lanes: two vector ops instead of 12 scalar ones), which is
// what short rows (softmax / cross-entropy over 10 or 32 classes) spend their time on.
typedef float vf4 __attribute__((vector_size(16)));
template <typename Op>
inline float fold(vf v, Op op) {
  vf4 q;
#if DC_ISA_LEVEL >= 1
  typedef float vf8 __attribute__((vector_size(32)));
  vf8 h;
#if DC_ISA_LEVEL == 2
  vf8 a, b;
  std::memcpy(&a, &v, 32);
  std::memcpy(&b, reinterpret_cast<const char*>(&v) + 32, 32);
  h = op(a, b);
#else
  h = v;
#endif
  vf4 c, d;
  std::memcpy(&c, &h, 16);
  std::memcpy(&d, reinterpret_cast<const char*>(&h) + 16, 16);
  q = op(c, d);
#else
  q = v;
#endif
  return op(op(q[0], q[1]), op(q[2], q[3]));
}
inline float hsum(vf v, int n = Lanes<float>::W) {
  if (n == Lanes<float>::W) return fold(v, [](auto a, auto b) { return a + b; });
  float s = 0.f;
  for (int i = 0; i < n; ++i) s += v[i];
  return s;
}
inline float hmax(vf v, int n = Lanes<float>::W) {
  if (n == Lanes<float>::W) return fold(v, [](auto a, auto b) { return b > a ? b : a; });
  float m = v[0];
  for (int i = 1; i < n; ++i) m = v[i] > m ? v[i] : m;
  return m;
}
inline double hsum(double v, int = 1) { return v; }
inline double hmax(double v, int = 1) { return v; }

// ---------------------------------------------------------------- lane-wise helpers
// A NaN in the FIRST argument of vmax/vmin propagates
// (b > a and b < a are false for NaN a), so vexp(NaN) = NaN through its clamps, elu(NaN) = NaN.
inline vf vmax(vf a, vf b) { return b > a ? b : a; }
inline vf vmin(vf a, vf b) { return b < a ? b : a; }
inline vf vabs(vf a) { return a < 0.f ? -a : a; }
inline double vmax(double a, double b) { return b > a ? b : a; }
inline double vmin(double a, double b) { return b < a ? b : a; }
inline double vabs(double a) { return std::fabs(a); }

// Round to nearest (ties to even) for |x| < 2^22: adding and subtracting 1.5*2^23 leaves the
// integer part (the compiler may not fold it: we never build with -ffast-math).
inline vf vround(vf x) {
  const vf magic = bc<vf>(12582912.0);
  return (x + magic) - magic;
}

// exp: Cephes expf. x = n*ln2 + r, |r| <= ln2/2; exp(r) by a degree-6 polynomial; 2^n built in
// the exponent bits. Below -87.3 the true result is subnormal: flushed to 0. Above 88.72: inf.
inline vf vexp(vf x) {
  const vf hi = bc<vf>(88.3762626647949), lo = bc<vf>(-87.3365447505531);
  vf xc = vmin(vmax(x, lo), hi);
  vf n = vround(xc * bc<vf>(1.44269504088896341));
  vf r = xc - n * bc<vf>(0.693359375);
  r = r - n * bc<vf>(-2.12194440e-4);
  vf z = r * r;
  vf y = bc<vf>(1.9875691500E-4);
  y = y * r + bc<vf>(1.3981999507E-3);
  y = y * r + bc<vf>(8.3334519073E-3);
  y = y * r + bc<vf>(4.1665795894E-2);
  y = y * r + bc<vf>(1.6666665459E-1);
  y = y * r + bc<vf>(5.0000001201E-1);
  y = y * z + r + bc<vf>(1.0);
  vi e = (__builtin_convertvector(n, vi) + 127) << 23;
  y = y * (vf)e;
  y = x < lo ? bc<vf>(0.0) : y;
  y = x > bc<vf>(88.72283905206835) ? bc<vf>(std::numeric_limits<float>::infinity()) : y;
  return y;
}
inline double vexp(double x) { return std::exp(x); }

// log for x > 0 (finite, normal): Cephes logf. x = m * 2^e with m in [sqrt(1/2), sqrt(2)).
inline vf vlog(vf x) {
  vi bits = (vi)x;
  vi e = ((bits >> 23) & 0xff) - 126;
  vf m = (vf)((bits & 0x007fffff) | 0x3f000000);  // mantissa in [0.5, 1)
  vf ef = __builtin_convertvector(e, vf);
  vi small = m < bc<vf>(0.707106781186547524);
  ef = small ? ef - bc<vf>(1.0) : ef;
  m = small ? m + m - bc<vf>(1.0) : m - bc<vf>(1.0);
  vf z = m * m;
  vf y = bc<vf>(7.0376836292E-2);
  y = y * m + bc<vf>(-1.1514610310E-1);
  y = y * m + bc<vf>(1.1676998740E-1);
  y = y * m + bc<vf>(-1.2420140846E-1);
  y = y * m + bc<vf>(1.4249322787E-1);
  y = y * m + bc<vf>(-1.6668057665E-1);
  y = y * m + bc<vf>(2.0000714765E-1);
  y = y * m + bc<vf>(-2.4999993993E-1);
  y = y * m + bc<vf>(3.3333331174E-1);
  y = y * m * z;
  y = y + ef * bc<vf>(-2.12194440e-4);
  y = y - bc<vf>(0.5) * z;
  return m + y + ef * bc<vf>(0.693359375);
}
inline double vlog(double x) { return std::log(x); }

// log1p(u) for u >= 0 from log: log(w) * u / (w - 1) with w = 1 + u corrects the rounding of w
// (Goldberg), so tiny u keep their relative accuracy.
inline vf vlog1p(vf u) {
  vf w = u + bc<vf>(1.0);
  vf d = w - bc<vf>(1.0);
  return d == bc<vf>(0.0) ? u : vlog(w) * (u / d);
}
inline double vlog1p(double u) { return std::log1p(u); }

// expm1 for x <= 0: Taylor series where exp(x) - 1 would cancel (|x| < 0.5), else exp(x) - 1.
inline vf vexpm1_neg(vf x) {
  vf p = bc<vf>(1.0 / 40320);
  p = p * x + bc<vf>(1.0 / 5040);
  p = p * x + bc<vf>(1.0 / 720);
  p = p * x + bc<vf>(1.0 / 120);
  p = p * x + bc<vf>(1.0 / 24);
  p = p * x + bc<vf>(1.0 / 6);
  p = p * x + bc<vf>(0.5);
  p = p * x * x + x;
  return x > bc<vf>(-0.5) ? p : vexp(x) - bc<vf>(1.0);
}
inline double vexpm1_neg(double x) { return std::expm1(x); }

// tanh: Cephes tanhf. An odd polynomial near 0 (where 1 - 2/(e+1) would cancel), else
// 1 - 2/(exp(2|x|) + 1) with the sign restored; exp overflowing to inf gives exactly 1.
inline vf vtanh(vf x) {
  vf a = vabs(x);
  vf z = x * x;
  vf p = bc<vf>(-5.70498872745E-3);
  p = p * z + bc<vf>(2.06390887954E-2);
  p = p * z + bc<vf>(-5.37397155531E-2);
  p = p * z + bc<vf>(1.33314422036E-1);
  p = p * z + bc<vf>(-3.33332819422E-1);
  p = p * z * x + x;
  vf e = vexp(a + a);
  vf t = bc<vf>(1.0) - bc<vf>(2.0) / (e + bc<vf>(1.0));
  t = x < bc<vf>(0.0) ? -t : t;
  return a < bc<vf>(0.625) ? p : t;
}
inline double vtanh(double x) { return std::tanh(x); }

// Logistic sigmoid, stable both ways: e = exp(-|x|) never overflows.
template <typename V>
inline V vsigmoid(V x) {
  V e = vexp(-vabs(x));
  V r = bc<V>(1.0) / (bc<V>(1.0) + e);
  return x >= bc<V>(0.0) ? r : e * r;
}

// sigmoid s and its derivative s(1-s) = e/(1+e)^2 (e = exp(-|x|)), both without cancellation:
// 1 - s computed directly loses all its digits once s rounds to 1.
template <typename V>
inline void vsigmoid_d(V x, V& s, V& ds) {
  V e = vexp(-vabs(x));
  V r = bc<V>(1.0) / (bc<V>(1.0) + e);
  s = x >= bc<V>(0.0) ? r : e * r;
  ds = e * r * r;
}

// [Note: normal CDF] Phi(x) and phi(x) for GELU with one exp. With z = |x|/sqrt(2) and
// E = exp(-z^2) (= sqrt(2 pi) phi(x)), erfc(z) = E * t * h(t), t = 1/(1 + 0.4 z), where h is a
// degree-10 polynomial fitted (Chebyshev, weighted for relative error) to erfcx(z)/t over all
// z >= 0: relative error 7e-9 in exact arithmetic, ~2e-7 evaluated in float32. So
// Phi(-|x|) = E t h(t) / 2 keeps its relative accuracy in the far tail (gelu of x << 0), and
// backward gets phi from the same E (PyTorch's erf has absolute error 1.5e-7, and backward
// pays a second exp).
inline void vnormal_cdf_pdf(vf x, vf& cdf, vf& pdf) {
  const vf z = vabs(x) * bc<vf>(0.70710678118654752440);
  const vf t = bc<vf>(1.0) / (bc<vf>(1.0) + bc<vf>(0.4) * z);
  vf h = bc<vf>(-2.950756467e-02);
  h = h * t + bc<vf>(1.419324379e-01);
  h = h * t + bc<vf>(-2.387485910e-01);
  h = h * t + bc<vf>(1.414503947e-01);
  h = h * t + bc<vf>(-4.975511464e-02);
  h = h * t + bc<vf>(8.523322238e-02);
  h = h * t + bc<vf>(1.186326694e-01);
  h = h * t + bc<vf>(1.718025945e-01);
  h = h * t + bc<vf>(2.076080304e-01);
  h = h * t + bc<vf>(2.256760818e-01);
  h = h * t + bc<vf>(2.256758327e-01);
  const vf e = vexp(-(z * z));
  const vf q = bc<vf>(0.5) * e * t * h;  // Phi(-|x|)
  cdf = x >= bc<vf>(0.0) ? bc<vf>(1.0) - q : q;
  pdf = bc<vf>(0.39894228040143267794) * e;
}
inline void vnormal_cdf_pdf(double x, double& cdf, double& pdf) {
  cdf = 0.5 * std::erfc(-x * 0.70710678118654752440);
  pdf = 0.39894228040143267794 * std::exp(-0.5 * x * x);
}

// ---------------------------------------------------------------- loops
// Call f(offset, count) over [0, n) in steps of W; the last call may have count < W.
template <int W, typename F>
inline void for_each_vec(int64_t n, F&& f) {
  int64_t i = 0;
  for (; i + W <= n; i += W) f(i, W);
  if (i < n) f(i, static_cast<int>(n - i));
}

// [Note: blocked sums]
// A float accumulator stops growing once it is 2^24 times the terms it adds (the sum of 2^28
// ones stuck at 2^24 made global average pooling return 0.5), and long before that every add
// rounds (2^20 values 0.1 summed lane-wise lost 1e-3; layer norm of a constant row returned
// non-zero outputs). So every float reduction over a row, a column or a window of unbounded
// length lets one float lane add at most kLaneTerms terms, then folds the lane sums into a
// double: the inner loops are unchanged (vector adds at full speed; a fold every kLaneTerms
// vectors costs a few percent at most), the error of a result is that of a kLaneTerms-term
// float sum (at most 256 * 2^-24 ~ 1.5e-5 relative, for adversarial data such as a constant;
// typically far less) whatever the length, and the double total is exact to 2^53 terms.
// Row sums fold every kLaneTerms vectors (blocked_sums; `omp simd` loops every kLaneTerms * 4
// elements, 4 being the narrowest SIMD width), column partials (layer norm's weight gradient,
// softmax along a non-last axis) every kLaneTerms rows, average pooling every kLaneTerms taps.
// The double paths need none of this.
constexpr int64_t kLaneTerms = 256;

// out[k] = sum over i in [0, n) of the k-th term of i, for K sums at once: term(i, c, acc) adds
// its K terms (vectors, c valid lanes; lanes past c are ignored) into acc[0..K).
template <typename T, int K, typename F>
inline void blocked_sums(int64_t n, double* out, F&& term) {
  using V = typename Lanes<T>::V;
  constexpr int W = Lanes<T>::W;
  constexpr int64_t block = kLaneTerms * W;  // (only a row's last block has a partial vector)
  for (int k = 0; k < K; ++k) out[k] = 0;
  for (int64_t b0 = 0; b0 < n; b0 += block) {
    const int64_t m = n - b0 < block ? n - b0 : block;
    V acc[K];
    double tail[K];
    for (int k = 0; k < K; ++k) acc[k] = bc<V>(0.0), tail[k] = 0;
    for_each_vec<W>(m, [&](int64_t i, int c) {
      if (c == W) {
        term(b0 + i, c, acc);
        return;
      }
      V part[K];
      for (int k = 0; k < K; ++k) part[k] = bc<V>(0.0);
      term(b0 + i, c, part);
      for (int k = 0; k < K; ++k) tail[k] += static_cast<double>(hsum(part[k], c));
    });
    for (int k = 0; k < K; ++k) out[k] += static_cast<double>(hsum(acc[k])) + tail[k];
  }
}

// sum over i in [0, n) of term(i, c) (a vector, c valid lanes), in double.
template <typename T, typename F>
inline double blocked_sum(int64_t n, F&& term) {
  double s;
  blocked_sums<T, 1>(n, &s, [&](int64_t i, int c, auto* acc) { acc[0] += term(i, c); });
  return s;
}

// ---------------------------------------------------------------- row reductions
// (softmax, cross-entropy and attention rows)
template <typename T>
using VecT = typename Lanes<T>::V;

// max of a contiguous row (tail lanes filled with -inf so they never win).
template <typename T>
T row_max(const T* x, int64_t L) {
  using V = VecT<T>;
  const T ninf = -std::numeric_limits<T>::infinity();
  V acc = bc<V>(ninf);
  for_each_vec<Lanes<T>::W>(L,
                            [&](int64_t i, int c) { acc = vmax(acc, loadn_fill(x + i, c, ninf)); });
  return static_cast<T>(hmax(acc));
}

// Row sums are blocked ([Note: blocked sums] above) and returned in double.
// sum exp(x - m) over a row; when e is non-null the exponentials are stored there too.
template <typename T>
double row_sum_exp(const T* x, T m, T* e, int64_t L) {
  using V = VecT<T>;
  const V vm = bc<V>(m);
  return blocked_sum<T>(L, [&](int64_t i, int c) {
    const V v = vexp(loadn(x + i, c) - vm);
    if (e) storen(e + i, v, c);
    return v;
  });
}

// sum a*b over a row.
template <typename T>
double row_dot(const T* a, const T* b, int64_t L) {
  return blocked_sum<T>(L, [&](int64_t i, int c) { return loadn(a + i, c) * loadn(b + i, c); });
}

}  // namespace DC_ISA_NS
}  // namespace dc

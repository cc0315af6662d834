// Layer-norm row kernels, one ISA copy (see [Note: one source, three ISAs]). Plain loops with
// `omp simd`: the compiler vectorises them at this copy's width; the statistics are two-pass
// (mean, then the mean of squared deviations, corrected by the mean deviation), which stays
// accurate when |mean| >> std, and
// each row sum is blocked ([Note: blocked sums]: float lanes within blocks of kBlock elements,
// the blocks added in double), so long rows do not saturate.
#include <algorithm>
#include <cmath>
#include <utility>

#include "cpu/activation_math.h"  // kLaneTerms
#include "norm.h"

namespace dc {
namespace DC_ISA_NS {
namespace {

// At most kLaneTerms terms per lane of a SIMD width of 4 or more.
constexpr int64_t kBlock = 4 * kLaneTerms;

// sum over i in [0, n) of f(i) (a T), vectorised within blocks, the blocks added in double.
template <typename T, typename F>
inline double row_sum(int64_t n, F&& f) {
  double total = 0;
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t b1 = n - b0 < kBlock ? n : b0 + kBlock;
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = b0; i < b1; ++i) s += f(i);
    total += static_cast<double>(s);
  }
  return total;
}

// Two such sums in one pass: {sum of f(i), sum of g(i)}.
template <typename T, typename F, typename G>
inline std::pair<double, double> row_sums(int64_t n, F&& f, G&& g) {
  double tf = 0, tg = 0;
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t b1 = n - b0 < kBlock ? n : b0 + kBlock;
    T sf = 0, sg = 0;
#pragma omp simd reduction(+ : sf, sg)
    for (int64_t i = b0; i < b1; ++i) {
      sf += f(i);
      sg += g(i);
    }
    tf += static_cast<double>(sf);
    tg += static_cast<double>(sg);
  }
  return {tf, tg};
}

template <typename T>
void forward_rows(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows,
                  int64_t N, T eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * N;
    T* yr = y + r * N;
    // corrected two-pass: the second pass also sums the deviations from the first mean m0,
    // whose mean is m0's own rounding error (a constant row then normalises to exactly 0)
    const T m0 = static_cast<T>(row_sum<T>(N, [&](int64_t i) { return xr[i]; }) / double(N));
    const auto [sd, sd2] = row_sums<T>(
        N, [&](int64_t i) { return xr[i] - m0; },
        [&](int64_t i) { return (xr[i] - m0) * (xr[i] - m0); });
    const double dm = sd / double(N);
    const T m = static_cast<T>(double(m0) + dm);
    const double v = std::max(sd2 / double(N) - dm * dm, 0.0);
    const T rs = static_cast<T>(1.0 / std::sqrt(v + double(eps)));
    mean[r] = m;
    rstd[r] = rs;
    if (w && b) {
#pragma omp simd
      for (int64_t i = 0; i < N; ++i) yr[i] = (xr[i] - m) * rs * w[i] + b[i];
    } else if (w) {
#pragma omp simd
      for (int64_t i = 0; i < N; ++i) yr[i] = (xr[i] - m) * rs * w[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < N; ++i) yr[i] = (xr[i] - m) * rs + (b ? b[i] : T(0));
    }
  }
}

template <typename T>
void backward_rows(const T* gy, const T* x, const T* w, const T* mean, const T* rstd, T* gx,
                   T* gw_part, T* gb_part, int64_t rows, int64_t N) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * N;
    const T* gr = gy + r * N;
    T* gxr = gx + r * N;
    const T m = mean[r], rs = rstd[r];
    // means over the row of dnorm = gy * w and dnorm * xhat (blocked like row_sums, written
    // out: through row_sums' two lambdas this loop measured ~3% slower)
    double as = 0, cs = 0;
    for (int64_t b0 = 0; b0 < N; b0 += kBlock) {
      const int64_t b1 = N - b0 < kBlock ? N : b0 + kBlock;
      T ab = 0, cb = 0;
#pragma omp simd reduction(+ : ab, cb)
      for (int64_t i = b0; i < b1; ++i) {
        const T dn = w ? gr[i] * w[i] : gr[i];
        ab += dn;
        cb += dn * (xr[i] - m) * rs;
      }
      as += static_cast<double>(ab);
      cs += static_cast<double>(cb);
    }
    const T a = static_cast<T>(as / double(N)), c = static_cast<T>(cs / double(N));
#pragma omp simd
    for (int64_t i = 0; i < N; ++i) {
      const T xh = (xr[i] - m) * rs;
      const T dn = w ? gr[i] * w[i] : gr[i];
      gxr[i] = (dn - a - xh * c) * rs;
    }
    if (gw_part) {
#pragma omp simd
      for (int64_t i = 0; i < N; ++i) gw_part[i] += gr[i] * (xr[i] - m) * rs;
    }
    if (gb_part) {
#pragma omp simd
      for (int64_t i = 0; i < N; ++i) gb_part[i] += gr[i];
    }
  }
}

template <typename T>
const LayerNormKernels<T>* kernels() {
  static const LayerNormKernels<T> k = {&forward_rows<T>, &backward_rows<T>};
  return &k;
}

}  // namespace

DC_REGISTER_DISPATCH_T(layer_norm_stub, float, &kernels<float>);
DC_REGISTER_DISPATCH_T(layer_norm_stub, double, &kernels<double>);

}  // namespace DC_ISA_NS
}  // namespace dc

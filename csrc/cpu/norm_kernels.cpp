// Layer-norm row kernels, one ISA copy (see [Note: one source, three ISAs]). Plain loops with
// `omp simd`: the compiler vectorises them at this copy's width; the statistics are two-pass
// (mean, then the mean of squared deviations), which stays accurate when |mean| >> std.
#include <cmath>

#include "norm.h"

namespace dc {
namespace DC_ISA_NS {
namespace {

template <typename T>
void forward_rows(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows,
                  int64_t N, T eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * N;
    T* yr = y + r * N;
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < N; ++i) s += xr[i];
    const T m = s / static_cast<T>(N);
    T v = 0;
#pragma omp simd reduction(+ : v)
    for (int64_t i = 0; i < N; ++i) v += (xr[i] - m) * (xr[i] - m);
    const T rs = T(1) / std::sqrt(v / static_cast<T>(N) + eps);
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
    // means over the row of dnorm = gy * w and dnorm * xhat
    T a = 0, c = 0;
#pragma omp simd reduction(+ : a, c)
    for (int64_t i = 0; i < N; ++i) {
      const T dn = w ? gr[i] * w[i] : gr[i];
      a += dn;
      c += dn * (xr[i] - m) * rs;
    }
    a /= static_cast<T>(N);
    c /= static_cast<T>(N);
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

DC_REGISTER_DISPATCH(layer_norm_f32_stub, &kernels<float>);
DC_REGISTER_DISPATCH(layer_norm_f64_stub, &kernels<double>);

}  // namespace DC_ISA_NS
}  // namespace dc

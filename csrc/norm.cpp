// Layer-norm and batch-norm drivers. Layer norm: threads over rows, per-ISA row kernels in
// csrc/cpu/norm_kernels.cpp. Batch norm: per-channel statistics and maps with channel_sums /
// channel_map (activation.h); it is a few memory-bound passes, where the baseline build's
// vectorisation already runs at memory speed, so it has no per-ISA copy.
#include "norm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "activation.h"

namespace dc {

namespace {

template <typename T>
const LayerNormKernels<T>& ln_kernels() {
  return *layer_norm_stub<T>();
}

}  // namespace

template <typename T>
void layer_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t M,
                        int64_t N, T eps) {
  const auto& k = ln_kernels<T>();
  for_row_tasks(M, N, [&](int64_t r, int64_t n) {
    k.forward_rows(x + r * N, w, b, y + r * N, mean + r, rstd + r, n, N, eps);
  });
}

template <typename T>
void layer_norm_backward(const T* gy, const T* x, const T* w, const T* mean, const T* rstd, T* gx,
                         T* gw, T* gb, int64_t M, int64_t N) {
  const auto& k = ln_kernels<T>();
  const int64_t per = rows_per_task(N), tasks = (M + per - 1) / per;
  const int nt = tasks > 1 ? omp_get_max_threads() : 1;
  // each thread sums gw / gb of its rows into its own partial row (no atomics; deterministic
  // for a fixed thread count), then the partials are added up. The kernel's partials are in T,
  // so they are folded into double ones every kFoldRows rows ([Note: blocked sums], whose
  // kLaneTerms this is: the driver does not see csrc/cpu/activation_math.h).
  constexpr int64_t kFoldRows = 256;
  const size_t width = gw || gb ? static_cast<size_t>(2 * N) : 0;
  std::vector<T> part(nt * width, T(0));
  std::vector<double> wide(nt * width, 0.0);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const size_t off = static_cast<size_t>(omp_get_thread_num()) * width;
    T* mine = width ? part.data() + off : nullptr;
    double* mine_wide = wide.data() + off;
    int64_t since = 0;  // rows in `mine` since the last fold
    const auto fold = [&] {
      for (size_t i = 0; i < width; ++i) mine_wide[i] += static_cast<double>(mine[i]), mine[i] = 0;
      since = 0;
    };
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t end = std::min(t * per + per, M);
      for (int64_t r = t * per; r < end;) {
        const int64_t n = width ? std::min(end - r, kFoldRows - since) : end - r;
        k.backward_rows(gy + r * N, x + r * N, w, mean + r, rstd + r, gx + r * N,
                        gw ? mine : nullptr, gb ? mine + N : nullptr, n, N);
        r += n;
        if (width && (since += n) == kFoldRows) fold();
      }
    }
    if (width) fold();
  }
  for (size_t i = 0; i < width; ++i) {
    double sum = 0;
    for (int th = 0; th < nt; ++th) sum += wide[static_cast<size_t>(th) * width + i];
    T* g = i < static_cast<size_t>(N) ? gw : gb;
    if (g) g[i % N] += static_cast<T>(sum);
  }
}

template <typename T>
void batch_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, T* running_mean,
                        T* running_var, bool training, T momentum, T eps, bool unbiased_var,
                        int64_t outer, int64_t C, int64_t inner) {
  const int64_t count = outer * inner;
  if (training) {
    std::vector<double> s(C), v(C), md(C);
    channel_sums(outer, C, inner, s.data(), [&](int64_t i, int64_t) { return double(x[i]); });
    for (int64_t c = 0; c < C; ++c) md[c] = count ? s[c] / double(count) : 0.0;
    channel_sums(outer, C, inner, v.data(), [&](int64_t i, int64_t c) {
      const double d = double(x[i]) - md[c];
      return d * d;
    });
    for (int64_t c = 0; c < C; ++c) {
      const double var = count ? v[c] / double(count) : 0.0;
      mean[c] = static_cast<T>(md[c]);
      rstd[c] = static_cast<T>(1.0 / std::sqrt(var + double(eps)));
      if (running_mean)
        running_mean[c] =
            static_cast<T>((1.0 - double(momentum)) * running_mean[c] + double(momentum) * md[c]);
      if (running_var) {
        const double rv = unbiased_var && count > 1 ? var * double(count) / double(count - 1) : var;
        running_var[c] =
            static_cast<T>((1.0 - double(momentum)) * running_var[c] + double(momentum) * rv);
      }
    }
  } else {
    for (int64_t c = 0; c < C; ++c) {
      mean[c] = running_mean[c];
      rstd[c] = static_cast<T>(1.0 / std::sqrt(double(running_var[c]) + double(eps)));
    }
  }
  // y = x * scale[c] + shift[c] with scale = rstd * w, shift = b - mean * scale
  std::vector<T> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    scale[c] = rstd[c] * (w ? w[c] : T(1));
    shift[c] = (b ? b[c] : T(0)) - mean[c] * scale[c];
  }
  const T* sc = scale.data();
  const T* sh = shift.data();
  channel_map(outer, C, inner, [&](int64_t i, int64_t c) { y[i] = x[i] * sc[c] + sh[c]; });
}

template <typename T>
void batch_norm_backward(const T* gy, const T* x, const T* w, const T* mean, const T* rstd, T* gx,
                         T* gw, T* gb, bool training, int64_t outer, int64_t C, int64_t inner) {
  const int64_t count = outer * inner;
  std::vector<double> sg(C), sgx(C);  // sum gy, sum gy * xhat
  channel_sums(outer, C, inner, sg.data(), [&](int64_t i, int64_t) { return double(gy[i]); });
  channel_sums(outer, C, inner, sgx.data(), [&](int64_t i, int64_t c) {
    return double(gy[i]) * (double(x[i]) - mean[c]) * rstd[c];
  });
  // gx = k[c] * (gy - a[c] - xhat * d[c]), k = w * rstd; eval: a = d = 0
  std::vector<T> kc(C), ac(C), dc_(C);
  for (int64_t c = 0; c < C; ++c) {
    kc[c] = (w ? w[c] : T(1)) * rstd[c];
    ac[c] = training && count ? static_cast<T>(sg[c] / double(count)) : T(0);
    dc_[c] = training && count ? static_cast<T>(sgx[c] / double(count)) : T(0);
    if (gw) gw[c] += static_cast<T>(sgx[c]);
    if (gb) gb[c] += static_cast<T>(sg[c]);
  }
  const T *kp = kc.data(), *ap = ac.data(), *dp = dc_.data();
  channel_map(outer, C, inner, [&](int64_t i, int64_t c) {
    gx[i] = kp[c] * (gy[i] - ap[c] - (x[i] - mean[c]) * rstd[c] * dp[c]);
  });
}

#define DC_INSTANTIATE(T)                                                                         \
  template void layer_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*, int64_t, int64_t, \
                                      T);                                                         \
  template void layer_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*,  \
                                       T*, int64_t, int64_t);                                     \
  template void batch_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*, T*, T*, bool, T,  \
                                      T, bool, int64_t, int64_t, int64_t);                        \
  template void batch_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*,  \
                                       T*, bool, int64_t, int64_t, int64_t);
DC_INSTANTIATE(float)
DC_INSTANTIATE(double)
#undef DC_INSTANTIATE

}  // namespace dc

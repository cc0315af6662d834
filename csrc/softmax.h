// Softmax, log-softmax and fused softmax cross-entropy.
//
// [Note: stable softmax] Every row is shifted by its maximum before exp, so no exp overflows:
// softmax = exp(x - m) / s and log_softmax = x - (m + log s) with s = sum exp(x - m) >= 1.
// log_softmax is (x - m) - log s, never x - (m + log s): near |x| ~ 1e4 the float32 rounding of
// m + log s alone is ~5e-4. Cross-entropy likewise is loss = (m - x[target]) + log s, without
// forming probabilities, so logits of 1e4 give accurate finite losses; backward rebuilds
// softmax = exp((x - m) - log s) from the saved per-row (m, log s) (two floats per row, not a
// copy of the logits).
//
// Tensors are viewed as (outer, L, inner) with the softmax taken along L: inner == 1 is the
// last axis (rows), inner > 1 any other axis (the inner positions become SIMD lanes).
#pragma once

#include <cstdint>

#include "core/dispatch.h"
#ifndef DC_ISA_LEVEL
#include "core/device_dispatch.h"
#endif

namespace dc {

// The per-ISA inner kernels, single-threaded; softmax.cpp does the threading.
template <typename T>
struct SoftmaxKernels {
  // rows contiguous rows of length L.
  void (*forward_rows)(const T* x, T* y, int64_t rows, int64_t L, bool log);
  void (*backward_rows)(const T* y, const T* gy, T* gx, int64_t rows, int64_t L, bool log);
  // One (L, inner) slice, lanes [0, n) with n <= kSoftmaxBlock; x, y point at lane 0.
  void (*forward_cols)(const T* x, T* y, int64_t L, int64_t inner, int64_t n, bool log);
  void (*backward_cols)(const T* y, const T* gy, T* gx, int64_t L, int64_t inner, int64_t n,
                        bool log);
  // rows of logits x (rows, C) with class targets t (or probabilities tp (rows, C)).
  void (*ce_forward_rows)(const T* x, const int64_t* t, const T* tp, T* loss, T* stats,
                          int64_t rows, int64_t C);
  void (*ce_backward_rows)(const T* x, const int64_t* t, const T* tp, const T* stats, const T* g,
                           int64_t g_stride, T scale, T* gx, int64_t rows, int64_t C);
};
constexpr int64_t kSoftmaxBlock = 256;

// x, y are (outer, L, inner); y = softmax(x) (or log_softmax) along L.
template <typename T>
void softmax_forward(const T* x, T* y, int64_t outer, int64_t L, int64_t inner, bool log);
// y is the saved forward output; gx is assigned.
//   softmax:     gx = y * (gy - sum_L(gy * y))
//   log_softmax: gx = gy - exp(y) * sum_L(gy)
template <typename T>
void softmax_backward(const T* y, const T* gy, T* gx, int64_t outer, int64_t L, int64_t inner,
                      bool log);

// x is (N, C) logits; exactly one of target (N,) class indices in [0, C) (checked by the
// binding) and target_prob (N, C) is non-null. loss (N,) = lse - x[target] or
// sum_c tp * (lse - x); stats (N, 2) = (row max, log sum exp(x - max)) is saved for backward.
template <typename T>
void cross_entropy_forward(const T* x, const int64_t* target, const T* target_prob, T* loss,
                           T* stats, int64_t N, int64_t C);
// gx (N, C), assigned: g_i * scale * (softmax(x_i) * sum_c tp_ic - tp_i) where g_i =
// g[i * g_stride] (g_stride 0: one gradient for all rows, as for a mean) and tp the one-hot
// target in the index case.
template <typename T>
void cross_entropy_backward(const T* x, const int64_t* target, const T* target_prob, const T* stats,
                            const T* g, int64_t g_stride, T scale, T* gx, int64_t N, int64_t C);

#ifndef DC_ISA_LEVEL
// Device stubs of the drivers above ([Note: device dispatch] in core/device_dispatch.h).
DC_DEVICE_STUB(softmax_forward, "softmax_forward");
DC_DEVICE_STUB(softmax_backward, "softmax_backward");
DC_DEVICE_STUB(cross_entropy_forward, "cross_entropy_forward");
DC_DEVICE_STUB(cross_entropy_backward, "cross_entropy_backward");
#endif

namespace ref {
// csrc/ref/activation_ref.cpp: the obvious loops in double, for tests.
template <typename T>
void softmax_forward(const T* x, T* y, int64_t outer, int64_t L, int64_t inner, bool log);
template <typename T>
void cross_entropy_forward(const T* x, const int64_t* target, T* loss, int64_t N, int64_t C);
}  // namespace ref

}  // namespace dc

// Each ISA copy returns its table of kernels (global scope: see core/dispatch.h).
DC_DECLARE_DISPATCH_T(softmax_stub, const dc::SoftmaxKernels<T>*());

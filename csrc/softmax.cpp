// Softmax / cross-entropy drivers: threading over rows or (slice, lane-block) tiles, inner loops
// in csrc/cpu/softmax_kernels.cpp. See softmax.h.
#include "softmax.h"

#include <algorithm>
#include <type_traits>

#include "activation.h"  // for_row_tasks
#include "core/threads.h"

namespace dc {

namespace {

template <typename T>
const SoftmaxKernels<T>& kernels() {
  return *softmax_stub<T>();
}

// Run f(slice, first_lane, n_lanes) over (outer, inner) in tiles of kSoftmaxBlock lanes.
template <typename F>
void for_col_tasks(int64_t outer, int64_t L, int64_t inner, const F& f) {
  const int64_t blocks = (inner + kSoftmaxBlock - 1) / kSoftmaxBlock;
  const int64_t tasks = outer * blocks;
  parallel_for(tasks, tasks * L * kSoftmaxBlock > 16384, [&](int64_t t) {
    const int64_t o = t / blocks, j = (t % blocks) * kSoftmaxBlock;
    f(o, j, std::min(kSoftmaxBlock, inner - j));
  });
}

}  // namespace

template <typename T>
void softmax_forward(const T* x, T* y, int64_t outer, int64_t L, int64_t inner, bool log) {
  const auto& k = kernels<T>();
  if (inner == 1) {
    for_row_tasks(outer, L,
                  [&](int64_t r, int64_t n) { k.forward_rows(x + r * L, y + r * L, n, L, log); });
  } else {
    for_col_tasks(outer, L, inner, [&](int64_t o, int64_t j, int64_t n) {
      const int64_t off = o * L * inner + j;
      k.forward_cols(x + off, y + off, L, inner, n, log);
    });
  }
}

template <typename T>
void softmax_backward(const T* y, const T* gy, T* gx, int64_t outer, int64_t L, int64_t inner,
                      bool log) {
  const auto& k = kernels<T>();
  if (inner == 1) {
    for_row_tasks(outer, L, [&](int64_t r, int64_t n) {
      k.backward_rows(y + r * L, gy + r * L, gx + r * L, n, L, log);
    });
  } else {
    for_col_tasks(outer, L, inner, [&](int64_t o, int64_t j, int64_t n) {
      const int64_t off = o * L * inner + j;
      k.backward_cols(y + off, gy + off, gx + off, L, inner, n, log);
    });
  }
}

template <typename T>
void cross_entropy_forward(const T* x, const int64_t* target, const T* target_prob, T* loss,
                           T* stats, int64_t N, int64_t C) {
  const auto& k = kernels<T>();
  for_row_tasks(N, C, [&](int64_t r, int64_t n) {
    k.ce_forward_rows(x + r * C, target ? target + r : nullptr,
                      target_prob ? target_prob + r * C : nullptr, loss + r, stats + 2 * r, n, C);
  });
}

template <typename T>
void cross_entropy_backward(const T* x, const int64_t* target, const T* target_prob, const T* stats,
                            const T* g, int64_t g_stride, T scale, T* gx, int64_t N, int64_t C) {
  const auto& k = kernels<T>();
  for_row_tasks(N, C, [&](int64_t r, int64_t n) {
    k.ce_backward_rows(x + r * C, target ? target + r : nullptr,
                       target_prob ? target_prob + r * C : nullptr, stats + 2 * r, g + r * g_stride,
                       g_stride, scale, gx + r * C, n, C);
  });
}

#define DC_INSTANTIATE(T)                                                                         \
  template void softmax_forward<T>(const T*, T*, int64_t, int64_t, int64_t, bool);                \
  template void softmax_backward<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, bool);     \
  template void cross_entropy_forward<T>(const T*, const int64_t*, const T*, T*, T*, int64_t,     \
                                         int64_t);                                                \
  template void cross_entropy_backward<T>(const T*, const int64_t*, const T*, const T*, const T*, \
                                          int64_t, T, T*, int64_t, int64_t);
DC_INSTANTIATE(float)
DC_INSTANTIATE(double)
#undef DC_INSTANTIATE

}  // namespace dc

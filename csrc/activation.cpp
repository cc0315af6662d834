// Activation, PReLU and bias-add drivers: threading here, SIMD inner loops in
// csrc/cpu/activation_kernels.cpp (one copy per ISA). See activation.h.
#include "activation.h"

#include <algorithm>

namespace dc {

namespace {

// Elements per task: large enough that a task outlasts the OpenMP hand-off, small enough
// (64 KiB of float32) that x, y and gy of one task stay in L2.
constexpr int64_t kChunk = 16384;

}  // namespace

template <typename T>
void act_forward(Act kind, const T* x, T* y, int64_t n, T p0, T p1) {
  auto fn = act_forward_stub<T>.get();
  const int64_t tasks = (n + kChunk - 1) / kChunk;
  parallel_for(tasks, tasks > 1, [&](int64_t t) {
    const int64_t b = t * kChunk;
    fn(kind, x + b, y + b, std::min(kChunk, n - b), p0, p1);
  });
}

template <typename T>
void act_backward(Act kind, const T* x, const T* y, const T* gy, T* gx, int64_t n, T p0, T p1,
                  T* dp0) {
  auto fn = act_backward_stub<T>.get();
  const int64_t tasks = (n + kChunk - 1) / kChunk;
  const auto task = [&](int64_t t) {
    const int64_t b = t * kChunk;
    return fn(kind, x ? x + b : nullptr, y ? y + b : nullptr, gy + b, gx + b,
              std::min(kChunk, n - b), p0, p1, dp0 != nullptr);
  };
  double acc = 0.0;
  if (tasks <= 1) {  // [Note: serial small loops]
    if (tasks == 1) acc = task(0);
  } else {
#pragma omp parallel for schedule(static) reduction(+ : acc)
    for (int64_t t = 0; t < tasks; ++t) acc += task(t);
  }
  if (dp0) *dp0 = static_cast<T>(acc);
}

template <typename T>
void dropout_forward(const T* x, T* y, uint8_t* mask, int64_t n, uint64_t seed, uint32_t threshold,
                     T scale) {
  auto fn = dropout_stub<T>.get();
  const int64_t tasks = (n + kChunk - 1) / kChunk;
  parallel_for(tasks, tasks > 1, [&](int64_t t) {
    const int64_t b = t * kChunk;
    fn(x + b, y + b, mask + b, std::min(kChunk, n - b), b, seed, threshold, scale);
  });
}

template <typename T>
void dropout_backward(const T* gy, const uint8_t* mask, T* gx, int64_t n, T scale) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) gx[i] = mask[i] ? gy[i] * scale : T(0);
}

template <typename T>
void prelu_forward(const T* x, const T* a, T* y, int64_t outer, int64_t C, int64_t inner) {
  channel_map(outer, C, inner, [&](int64_t i, int64_t c) {
    const T v = x[i];
    y[i] = v > T(0) ? v : a[c] * v;
  });
}

template <typename T>
void prelu_backward(const T* x, const T* a, const T* gy, T* gx, T* ga, int64_t outer, int64_t C,
                    int64_t inner) {
  channel_map(outer, C, inner,
              [&](int64_t i, int64_t c) { gx[i] = x[i] > T(0) ? gy[i] : a[c] * gy[i]; });
  std::vector<double> sums(C);
  channel_sums(outer, C, inner, sums.data(), [&](int64_t i, int64_t) {
    return x[i] > T(0) ? 0.0 : static_cast<double>(gy[i]) * x[i];
  });
  for (int64_t c = 0; c < C; ++c) ga[c] += static_cast<T>(sums[c]);
}

template <typename T>
void bias_add_forward(const T* x, const T* b, T* y, int64_t outer, int64_t C, int64_t inner) {
  channel_map(outer, C, inner, [&](int64_t i, int64_t c) { y[i] = x[i] + b[c]; });
}

template <typename T>
void bias_add_backward(const T* gy, T* gb, int64_t outer, int64_t C, int64_t inner) {
  std::vector<double> sums(C);
  channel_sums(
      outer, C, inner, sums.data(), [&](int64_t i, int64_t) { return double(gy[i]); },
      [&](int64_t base, int64_t) { return row_sum(gy + base, inner); });  // vector row sums
  for (int64_t c = 0; c < C; ++c) gb[c] += static_cast<T>(sums[c]);
}

#define DC_INSTANTIATE(T)                                                                   \
  template void act_forward<T>(Act, const T*, T*, int64_t, T, T);                           \
  template void act_backward<T>(Act, const T*, const T*, const T*, T*, int64_t, T, T, T*);  \
  template void prelu_forward<T>(const T*, const T*, T*, int64_t, int64_t, int64_t);        \
  template void prelu_backward<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t,   \
                                  int64_t);                                                 \
  template void bias_add_forward<T>(const T*, const T*, T*, int64_t, int64_t, int64_t);     \
  template void bias_add_backward<T>(const T*, T*, int64_t, int64_t, int64_t);              \
  template void dropout_forward<T>(const T*, T*, uint8_t*, int64_t, uint64_t, uint32_t, T); \
  template void dropout_backward<T>(const T*, const uint8_t*, T*, int64_t, T);
DC_INSTANTIATE(float)
DC_INSTANTIATE(double)
#undef DC_INSTANTIATE

}  // namespace dc

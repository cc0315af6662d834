// Interpolation drivers: the per-axis source tables (computed once per call, see
// csrc/interpolate.h for the definitions) and threading over chunks of planes; the plane
// kernels are in csrc/cpu/interpolate_kernels.cpp.
#include "interpolate.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/threads.h"

namespace dc {

namespace {

template <typename T>
const InterpKernels<T>* interp_kernels() {
  return interp_stub<T>();
}

// Source indices and weights along one axis (lam is the weight of i1).
template <typename T>
struct InterpAxis {
  std::vector<int64_t> i0, i1;
  std::vector<T> lam;
};

// PyTorch's compute_scales_value: 1 / scale_factor when one was given, else in / out, in S.
template <typename S>
S scales_value(double scale, int64_t in, int64_t out) {
  return scale > 0 ? static_cast<S>(1.0 / scale) : static_cast<S>(in) / static_cast<S>(out);
}

template <typename T>
InterpAxis<T> interp_axis(int64_t in, int64_t out, InterpMode mode, bool align_corners,
                          double scale, bool shortcuts) {
  InterpAxis<T> a{std::vector<int64_t>(out), std::vector<int64_t>(out), std::vector<T>(out, T(0))};
  if (mode == InterpMode::linear && in == out) {  // PyTorch copies such an axis, whatever
    for (int64_t o = 0; o < out; ++o) a.i0[o] = a.i1[o] = o;  // the scale factor (lam = 0)
    return a;
  }
  if (mode == InterpMode::linear) {
    const T sc = align_corners ? (out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0))
                               : scales_value<T>(scale, in, out);
    for (int64_t o = 0; o < out; ++o) {
      T src = align_corners ? sc * static_cast<T>(o) : sc * (static_cast<T>(o) + T(0.5)) - T(0.5);
      if (src < T(0)) src = T(0);
      const int64_t i0 = std::min(static_cast<int64_t>(std::floor(src)), in - 1);
      a.i0[o] = i0;
      a.i1[o] = i0 + (i0 < in - 1 ? 1 : 0);
      a.lam[o] = std::min(std::max(src - static_cast<T>(i0), T(0)), T(1));
    }
    return a;
  }
  const float sc = scales_value<float>(scale, in, out);
  for (int64_t o = 0; o < out; ++o) {
    int64_t i;
    if (mode == InterpMode::nearest_exact)
      i = static_cast<int64_t>(std::floor((static_cast<float>(o) + 0.5f) * sc));
    else if (shortcuts && out == in)
      i = o;
    else if (shortcuts && out == 2 * in)
      i = o >> 1;
    else
      i = static_cast<int64_t>(std::floor(static_cast<float>(o) * sc));
    a.i0[o] = a.i1[o] = std::min(i, in - 1);
  }
  return a;
}

struct Tables {
  template <typename T>
  static void run(const InterpShape& s, bool backward, const T* in, T* out) {
    const auto h = interp_axis<T>(s.H, s.P, s.mode, s.align_corners, s.scale_h, s.shortcuts);
    const auto w = interp_axis<T>(s.W, s.Q, s.mode, s.align_corners, s.scale_w, s.shortcuts);
    const InterpTables<T> t{h.i0.data(), h.i1.data(),  w.i0.data(),
                            w.i1.data(), h.lam.data(), w.lam.data()};
    const auto* k = interp_kernels<T>();
    const int64_t HW = s.H * s.W, PQ = s.P * s.Q;
    // chunks of planes of ~64K elements (input + output), every thread given many to balance
    const int64_t work = std::max<int64_t>(HW + PQ, 1);
    const int64_t per = std::max<int64_t>(1, 65536 / work);
    const int64_t chunks = (s.planes + per - 1) / per;
    parallel_for(chunks, s.planes * work > 32768, [&](int64_t c) {
      const int64_t i0 = c * per, n = std::min(per, s.planes - i0);
      if (backward)
        k->backward(s, t, n, in + i0 * PQ, out + i0 * HW);
      else
        k->forward(s, t, n, in + i0 * HW, out + i0 * PQ);
    });
  }
};

}  // namespace

template <typename T>
void interpolate_forward(const InterpShape& s, const T* x, T* y) {
  if (s.planes * s.P * s.Q == 0) return;
  Tables::run<T>(s, false, x, y);
}

template <typename T>
void interpolate_backward(const InterpShape& s, const T* dy, T* dx) {
  if (s.planes * s.H * s.W == 0) return;
  Tables::run<T>(s, true, dy, dx);
}

#define DC_INSTANTIATE_INTERP(T)                                          \
  template void interpolate_forward<T>(const InterpShape&, const T*, T*); \
  template void interpolate_backward<T>(const InterpShape&, const T*, T*);
DC_INSTANTIATE_INTERP(float)
DC_INSTANTIATE_INTERP(double)
#undef DC_INSTANTIATE_INTERP

}  // namespace dc

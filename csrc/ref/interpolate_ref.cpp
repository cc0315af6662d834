// Reference interpolation: csrc/interpolate.h's definition evaluated per output element (the
// source coordinate recomputed every time, no tables). Always built; tests compare the
// kernels against it.
#include <algorithm>
#include <cmath>

#include "interpolate.h"

namespace dc::ref {

namespace {

// Source index pair and the weight of the second, for output index o along one axis.
template <typename T>
void source(int64_t o, int64_t in, int64_t out, InterpMode mode, bool align_corners, double scale,
            bool shortcuts, int64_t* i0, int64_t* i1, T* lam) {
  *lam = T(0);
  if (mode == InterpMode::linear && in == out) {  // an axis of unchanged size is copied
    *i0 = *i1 = o;
    return;
  }
  if (mode == InterpMode::linear) {
    T sc;
    if (align_corners)
      sc = out > 1 ? T(in - 1) / T(out - 1) : T(0);
    else
      sc = scale > 0 ? T(1.0 / scale) : T(in) / T(out);
    const T src = align_corners ? sc * T(o) : std::max(sc * (T(o) + T(0.5)) - T(0.5), T(0));
    *i0 = std::min<int64_t>(static_cast<int64_t>(std::floor(src)), in - 1);
    *i1 = *i0 < in - 1 ? *i0 + 1 : *i0;
    *lam = std::clamp(src - T(*i0), T(0), T(1));
    return;
  }
  const float sc = scale > 0 ? float(1.0 / scale) : float(in) / float(out);
  int64_t i;
  if (mode == InterpMode::nearest_exact)
    i = static_cast<int64_t>(std::floor((float(o) + 0.5f) * sc));
  else if (shortcuts && out == in)
    i = o;
  else if (shortcuts && out == 2 * in)
    i = o / 2;
  else
    i = static_cast<int64_t>(std::floor(float(o) * sc));
  *i0 = *i1 = std::min(i, in - 1);
}

// f(p, q, h, w, weight) for each of the (up to 4) taps of output (p, q).
template <typename T, typename F>
void taps(const InterpShape& s, int64_t p, int64_t q, F&& f) {
  int64_t h0, h1, w0, w1;
  T lh, lw;
  source<T>(p, s.H, s.P, s.mode, s.align_corners, s.scale_h, s.shortcuts, &h0, &h1, &lh);
  source<T>(q, s.W, s.Q, s.mode, s.align_corners, s.scale_w, s.shortcuts, &w0, &w1, &lw);
  f(h0, w0, (T(1) - lh) * (T(1) - lw));
  if (s.mode != InterpMode::linear) return;  // nearest: the one source, weight 1
  f(h0, w1, (T(1) - lh) * lw);
  f(h1, w0, lh * (T(1) - lw));
  f(h1, w1, lh * lw);
}

}  // namespace

template <typename T>
void interpolate_forward(const InterpShape& s, const T* x, T* y) {
  for (int64_t i = 0; i < s.planes; ++i)
    for (int64_t p = 0; p < s.P; ++p)
      for (int64_t q = 0; q < s.Q; ++q) {
        double acc = 0;
        taps<T>(s, p, q, [&](int64_t h, int64_t w, T wt) {
          acc += double(wt) * double(x[(i * s.H + h) * s.W + w]);
        });
        y[(i * s.P + p) * s.Q + q] = static_cast<T>(acc);
      }
}

template <typename T>
void interpolate_backward(const InterpShape& s, const T* dy, T* dx) {
  std::fill(dx, dx + s.planes * s.H * s.W, T(0));
  for (int64_t i = 0; i < s.planes; ++i)
    for (int64_t p = 0; p < s.P; ++p)
      for (int64_t q = 0; q < s.Q; ++q) {
        const T g = dy[(i * s.P + p) * s.Q + q];
        taps<T>(s, p, q,
                [&](int64_t h, int64_t w, T wt) { dx[(i * s.H + h) * s.W + w] += wt * g; });
      }
}

template void interpolate_forward<float>(const InterpShape&, const float*, float*);
template void interpolate_forward<double>(const InterpShape&, const double*, double*);
template void interpolate_backward<float>(const InterpShape&, const float*, float*);
template void interpolate_backward<double>(const InterpShape&, const double*, double*);

}  // namespace dc::ref

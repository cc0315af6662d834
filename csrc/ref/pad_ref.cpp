// Reference padding: csrc/pad.h's definitions one output element at a time, each source found
// by stepping the reflection / wrap until it lands inside the axis (the drivers use
// pad_source's closed form and precomputed maps). Single-threaded; always built; tests compare
// the drivers against them.
#include <algorithm>
#include <vector>

#include "pad.h"

namespace dc::ref {

namespace {

// The input index output position o of axis d reads, or -1 (fill).
int64_t source(const PadGeometry& g, int64_t d, int64_t o) {
  const int64_t n = g.in_shape[d], b = g.widths[2 * d], a = g.widths[2 * d + 1];
  const int64_t c0 = b < 0 ? -b : 0;
  const int64_t nc = n - c0 - (a < 0 ? -a : 0);
  int64_t i = o - (b > 0 ? b : 0);  // relative to the cropped start
  if (i < 0 || i >= nc) {
    if (nc == 0 || g.mode == PadMode::constant) return -1;
    switch (g.mode) {
      case PadMode::edge:
        i = i < 0 ? 0 : nc - 1;
        break;
      case PadMode::wrap:
        while (i < 0) i += nc;
        while (i >= nc) i -= nc;
        break;
      case PadMode::reflect:
        if (nc == 1) {
          i = 0;
          break;
        }
        while (i < 0 || i >= nc) i = i < 0 ? -i : 2 * (nc - 1) - i;
        break;
      case PadMode::symmetric:
        while (i < 0 || i >= nc) i = i < 0 ? -i - 1 : 2 * nc - 1 - i;
        break;
      default:
        return -1;
    }
  }
  return c0 + i;
}

// f(output flat index, input flat index or -1) over every output element in order.
template <typename F>
void each_output(const PadGeometry& g, F&& f) {
  const int64_t nd = g.ndim();
  int64_t total = 1;
  for (int64_t s : g.out_shape) total *= s;
  std::vector<int64_t> coord(static_cast<size_t>(nd), 0);
  for (int64_t e = 0; e < total; ++e) {
    int64_t rem = e;
    for (int64_t d = nd - 1; d >= 0; --d) {
      coord[d] = rem % g.out_shape[d];
      rem /= g.out_shape[d];
    }
    int64_t in = 0;
    for (int64_t d = 0; d < nd && in >= 0; ++d) {
      const int64_t s = source(g, d, coord[d]);
      in = s < 0 ? -1 : in * g.in_shape[d] + s;
    }
    f(e, in);
  }
}

}  // namespace

template <typename E>
void pad_forward(const PadGeometry& g, const E* x, E* y, const E* fill) {
  each_output(g, [&](int64_t o, int64_t i) { y[o] = i < 0 ? (fill ? *fill : E(0)) : x[i]; });
}

template <typename T>
void pad_backward(const PadGeometry& g, const T* dy, T* dx) {
  int64_t n = 1;
  for (int64_t s : g.in_shape) n *= s;
  std::fill(dx, dx + n, T(0));
  each_output(g, [&](int64_t o, int64_t i) {
    if (i >= 0) dx[i] += dy[o];
  });
}

DC_PAD_INSTANTIATIONS

}  // namespace dc::ref

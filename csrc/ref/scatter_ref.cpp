// Reference gather / scatter: csrc/scatter.h's definitions one element at a time, in index
// order, single-threaded. Always built; tests compare the threaded drivers against them.
#include <cmath>
#include <limits>
#include <type_traits>

#include "scatter.h"

namespace dc::ref {

template <typename T>
bool gather(const GatherShape& s, const int64_t* index, const T* x, const Slices& xs, T* y,
            int64_t* bad) {
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t k = 0; k < s.inner; ++k) {
        const int64_t e = (o * s.m + i) * s.inner + k, j = index[e];
        if (j < 0 || j >= s.len) {
          *bad = j;
          return false;
        }
        y[e] = x[xs.base[o] + j * xs.axis_stride + xs.off[k]];
      }
  return true;
}

template <typename T>
bool scatter(const GatherShape& s, ScatterOp op, bool include_self, const int64_t* index,
             const T* src, const Slices& ss, T* out, const Slices& os, int64_t* bad) {
  const int64_t n = s.outer * s.m * s.inner;
  for (int64_t e = 0; e < n; ++e)
    if (index[e] < 0 || index[e] >= s.len) {
      *bad = index[e];
      return false;
    }
  auto dest = [&](int64_t o, int64_t i, int64_t k) -> T& {
    return out[os.base[o] + index[(o * s.m + i) * s.inner + k] * os.axis_stride + os.off[k]];
  };
  constexpr bool has_inf = std::numeric_limits<T>::has_infinity;
  const T lo = has_inf ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
  const T hi = has_inf ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max();
  if (!include_self && op != ScatterOp::assign)
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t i = 0; i < s.m; ++i)
        for (int64_t k = 0; k < s.inner; ++k)
          dest(o, i, k) = op == ScatterOp::sum    ? T(0)
                          : op == ScatterOp::prod ? T(1)
                          : op == ScatterOp::max  ? lo
                                                  : hi;
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t k = 0; k < s.inner; ++k) {
        T& d = dest(o, i, k);
        const T v = src[ss.base[o] + i * ss.axis_stride + ss.off[k]];
        bool nan_v = false, nan_d = false;
        if constexpr (std::is_floating_point_v<T>) {
          nan_v = std::isnan(v);
          nan_d = std::isnan(d);
        }
        switch (op) {
          case ScatterOp::assign:
            d = v;
            break;
          case ScatterOp::sum:
            d = d + v;
            break;
          case ScatterOp::prod:
            d = d * v;
            break;
          case ScatterOp::max:
            if (!nan_d && (nan_v || v > d)) d = v;
            break;
          case ScatterOp::min:
            if (!nan_d && (nan_v || v < d)) d = v;
            break;
        }
      }
  return true;
}

#define DC_INSTANTIATE_SCATTER_REF(T)                                                      \
  template bool gather<T>(const GatherShape&, const int64_t*, const T*, const Slices&, T*, \
                          int64_t*);                                                       \
  template bool scatter<T>(const GatherShape&, ScatterOp, bool, const int64_t*, const T*,  \
                           const Slices&, T*, const Slices&, int64_t*);
DC_INSTANTIATE_SCATTER_REF(float)
DC_INSTANTIATE_SCATTER_REF(double)
DC_INSTANTIATE_SCATTER_REF(int32_t)
DC_INSTANTIATE_SCATTER_REF(int64_t)
#undef DC_INSTANTIATE_SCATTER_REF

}  // namespace dc::ref

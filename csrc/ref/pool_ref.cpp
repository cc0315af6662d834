// Reference pooling: the definitions of csrc/pool.h as nested loops. Always built; tests
// compare the vectorised kernels against them.
#include <cmath>

#include "pool.h"

namespace dc::ref {

// y (N,C,P,Q) and idx (plane-local h*W + w of the first maximum) are assigned.
template <typename T>
void max_pool2d_forward(const PoolShape& s, const T* x, T* y, int32_t* idx) {
  for (int64_t i = 0; i < s.N * s.C; ++i)
    for (int64_t p = 0; p < s.P; ++p)
      for (int64_t q = 0; q < s.Q; ++q) {
        T best = -INFINITY;
        int64_t bi = -1;
        for (int64_t r = 0; r < s.R; ++r)
          for (int64_t t = 0; t < s.S; ++t) {
            const int64_t h = p * s.sh - s.ph + r * s.dh, w = q * s.sw - s.pw + t * s.dw;
            if (h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
            const T v = x[(i * s.H + h) * s.W + w];
            if (bi < 0 || v > best || (std::isnan(v) && !std::isnan(best))) {
              best = v;
              bi = h * s.W + w;
            }
          }
        y[(i * s.P + p) * s.Q + q] = best;
        if (idx) idx[(i * s.P + p) * s.Q + q] = static_cast<int32_t>(bi);
      }
}

template <typename T>
void avg_pool2d_forward(const PoolShape& s, const T* x, T* y, bool count_include_pad) {
  for (int64_t i = 0; i < s.N * s.C; ++i)
    for (int64_t p = 0; p < s.P; ++p)
      for (int64_t q = 0; q < s.Q; ++q) {
        double acc = 0.0;
        int64_t cnt = 0;
        for (int64_t r = 0; r < s.R; ++r)
          for (int64_t t = 0; t < s.S; ++t) {
            const int64_t h = p * s.sh - s.ph + r, w = q * s.sw - s.pw + t;
            if (h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
            acc += x[(i * s.H + h) * s.W + w];
            ++cnt;
          }
        const int64_t div = count_include_pad ? s.R * s.S : cnt;
        y[(i * s.P + p) * s.Q + q] = static_cast<T>(div ? acc / double(div) : 0.0);
      }
}

// dx (N,C,H,W) is assigned: each output spreads dy / divisor over its window.
template <typename T>
void avg_pool2d_backward(const PoolShape& s, const T* dy, T* dx, bool count_include_pad) {
  for (int64_t i = 0; i < s.N * s.C * s.H * s.W; ++i) dx[i] = T(0);
  for (int64_t i = 0; i < s.N * s.C; ++i)
    for (int64_t p = 0; p < s.P; ++p)
      for (int64_t q = 0; q < s.Q; ++q) {
        int64_t cnt = 0;
        for (int64_t r = 0; r < s.R; ++r)
          for (int64_t t = 0; t < s.S; ++t) {
            const int64_t h = p * s.sh - s.ph + r, w = q * s.sw - s.pw + t;
            cnt += (h >= 0 && h < s.H && w >= 0 && w < s.W);
          }
        const int64_t div = count_include_pad ? s.R * s.S : cnt;
        if (!div) continue;
        const T g = dy[(i * s.P + p) * s.Q + q] / T(div);
        for (int64_t r = 0; r < s.R; ++r)
          for (int64_t t = 0; t < s.S; ++t) {
            const int64_t h = p * s.sh - s.ph + r, w = q * s.sw - s.pw + t;
            if (h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
            dx[(i * s.H + h) * s.W + w] += g;
          }
      }
}

#define DC_INSTANTIATE_POOL_REF(T)                                               \
  template void max_pool2d_forward<T>(const PoolShape&, const T*, T*, int32_t*); \
  template void avg_pool2d_forward<T>(const PoolShape&, const T*, T*, bool);     \
  template void avg_pool2d_backward<T>(const PoolShape&, const T*, T*, bool);
DC_INSTANTIATE_POOL_REF(float)
DC_INSTANTIATE_POOL_REF(double)
#undef DC_INSTANTIATE_POOL_REF

}  // namespace dc::ref
